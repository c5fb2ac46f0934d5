"""`build_plugin`: real builds of real plugins with hatchling, and what stops a bad one.

Builds run with ``isolation=False`` (hatchling is in the dev environment) except the
one marked slow, which makes a fresh environment from the package index.
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from pluginctl.builder import BuildEvent, BuildResult, build_plugin
from pluginctl.errors import BuildError, ManifestError, PluginDefinitionError
from pluginctl.project import PluginProject
from pluginctl.wheel_contents import check_wheel

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
FIXTURES = Path(__file__).parent / "fixtures" / "plugins"


def copy_of(source: Path, tmp_path: Path) -> Path:
    """A copy of a plugin project, without anything a build or a test run left in it."""
    ignore = shutil.ignore_patterns("dist", "__pycache__", ".pytest_cache", "*.egg-info")
    return shutil.copytree(source, tmp_path / source.name, ignore=ignore)


def edited(project: Path, file: str, old: str, new: str) -> Path:
    """``project`` with ``old`` replaced by ``new`` in ``file``."""
    target = project / file
    text = target.read_text(encoding="utf-8")
    assert old in text, (file, old)
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    return project


def build(path: Path, **options: object) -> tuple[BuildResult, list[BuildEvent]]:
    events: list[BuildEvent] = []
    result = build_plugin(path, isolation=False, on_event=events.append, **options)  # type: ignore[arg-type]  # options are build_plugin's keywords
    return result, events


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    return copy_of(EXAMPLES / "hello", tmp_path)


# -- what a good build makes ------------------------------------------------------------


def test_hello_builds_an_sdist_and_a_wheel_holding_the_plugin_files(hello: Path) -> None:
    result, _ = build(hello)
    assert (result.name, result.version) == ("hello", "0.1.0")
    assert result.sdist.path == hello / "dist" / "hello-0.1.0.tar.gz"
    assert result.wheel.path == hello / "dist" / "hello-0.1.0-py3-none-any.whl"
    assert sorted(p.name for p in (hello / "dist").iterdir()) == [
        "hello-0.1.0-py3-none-any.whl",
        "hello-0.1.0.tar.gz",
    ]
    with zipfile.ZipFile(result.wheel.path) as wheel:
        names = set(wheel.namelist())
        assert wheel.read("hello/plugin.toml") == (hello / "hello/plugin.toml").read_bytes()
    assert {"hello/plugin.toml", "hello/plugin.py", "hello/static/index.html"} <= names
    assert result.checked == (
        "hello/plugin.toml",
        "hello/static/index.html",
        "hello/static/style.css",
        "hello/plugin.py",
    )
    with tarfile.open(result.sdist.path) as sdist:
        assert "hello-0.1.0/hello/plugin.toml" in sdist.getnames()
    assert result.warnings == ()
    assert result.wheel.size == result.wheel.path.stat().st_size


def test_each_step_starts_then_finishes_in_order(hello: Path) -> None:
    _, events = build(hello)
    steps = [(event.step, event.finished) for event in events]
    assert steps == [
        (step, finished)
        for step in ("validate", "sdist", "wheel", "registrations", "check")
        for finished in (False, True)
    ]
    assert events[2].message == "building the sdist with hatchling.build"
    assert events[5].message == "built hello-0.1.0-py3-none-any.whl"


def test_out_dir_takes_the_files_and_the_project_stays_clean(hello: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "nested"
    result, _ = build(hello, out_dir=out)
    assert result.wheel.path.parent == out
    assert result.sdist.path.parent == out
    assert not (hello / "dist").exists()
    assert not list(hello.rglob("__pycache__"))


def test_notes_wheel_holds_its_migrations_and_static_files(tmp_path: Path) -> None:
    notes = copy_of(EXAMPLES / "notes", tmp_path)
    result, _ = build(notes)
    migrations = sorted(p.name for p in (notes / "notes/migrations").glob("*.py"))
    assert migrations
    for name in migrations:
        assert f"notes/migrations/{name}" in result.checked
    assert any(name.startswith("notes/static/") for name in result.checked)


def src_layout(tmp_path: Path) -> Path:
    """The src-layout fixture, made importable (the fixture proves discovery never imports it)."""
    project = copy_of(FIXTURES / "src-layout", tmp_path)
    (project / "src/src_layout/__init__.py").write_text("", encoding="utf-8")
    return project


def test_a_src_layout_plugin_with_a_dynamic_version_builds(tmp_path: Path) -> None:
    result, _ = build(src_layout(tmp_path))
    assert result.checked[0] == "src_layout/plugin.toml"
    assert result.wheel.path.name.startswith(f"src_layout-{result.version}-")
    assert result.warnings == ()  # the wheel's version was compared, so no "dynamic" warning


# -- reproducible builds ----------------------------------------------------------------


def test_two_builds_with_source_date_epoch_are_byte_identical(
    hello: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    first, _ = build(hello, out_dir=tmp_path / "first")
    second, _ = build(hello, out_dir=tmp_path / "second")
    assert first.wheel.path.read_bytes() == second.wheel.path.read_bytes()
    assert first.sdist.path.read_bytes() == second.sdist.path.read_bytes()
    assert (first.wheel.sha256, first.sdist.sha256) == (second.wheel.sha256, second.sdist.sha256)
    with zipfile.ZipFile(first.wheel.path) as wheel:
        assert wheel.getinfo("hello/plugin.toml").date_time[:3] == (2023, 11, 14)

    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")
    later, _ = build(hello, out_dir=tmp_path / "later")
    assert later.wheel.sha256 != first.wheel.sha256  # the epoch reached the backend


# -- row 26: plugin.toml at build time --------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (('name = "hello"', 'name = "hello'), ("", "not valid TOML", "fix the TOML syntax")),
        (('static = "static"', 'statics = "static"'), ("statics", "unknown key", "static")),
        (('tags = ["example", "http"]', 'tags = "example"'), ("tags", "list", "")),
        (('name = "hello"', 'name = "hullo"'), ("name", "differs from the entry", "same name")),
        (('version = "0.1.0"', 'version = "0.2.0"'), ("version", "differs", 'version = "0.1.0"')),
    ],
    ids=["bad-toml", "unknown-key", "wrong-type", "name-mismatch", "version-mismatch"],
)
def test_a_bad_plugin_toml_stops_the_build_naming_file_key_and_fix(
    hello: Path, edit: tuple[str, str], expected: tuple[str, str, str]
) -> None:
    edited(hello, "hello/plugin.toml", *edit)
    key, fragment, hint = expected
    events: list[BuildEvent] = []
    with pytest.raises(ManifestError) as raised:
        build_plugin(hello, isolation=False, on_event=events.append)
    problem = raised.value.problems[0]  # a name mismatch shows in pyproject.toml too
    assert problem.file == str(hello / "hello" / "plugin.toml")
    assert problem.key == key
    assert fragment in problem.message
    assert problem.hint is not None
    assert hint in problem.hint
    assert [event.step for event in events] == ["validate"]  # the backend never ran
    assert not (hello / "dist").exists()


def test_plugin_toml_and_pyproject_disagreeing_on_the_version_stops_the_build(
    tmp_path: Path,
) -> None:
    project = copy_of(FIXTURES / "wrong-version", tmp_path)
    with pytest.raises(ManifestError, match=r"'1\.0\.0' differs from the distribution's version"):
        build_plugin(project, isolation=False)
    assert not (project / "dist").exists()


def test_a_dynamic_version_that_differs_from_plugin_toml_is_caught_in_the_wheel(
    tmp_path: Path,
) -> None:
    project = src_layout(tmp_path)
    edited(project, "pyproject.toml", 'path = "src/src_layout/plugin.toml"', 'path = "v.py"')
    (project / "v.py").write_text('version = "9.9.9"\n', encoding="utf-8")
    with pytest.raises(BuildError, match=r"has version '9\.9\.9', but plugin\.toml says") as raised:
        build_plugin(project, isolation=False)
    assert raised.value.hint is not None
    assert 'set version = "9.9.9"' in raised.value.hint
    assert not (project / "dist").exists()


# -- the wheel's contents ---------------------------------------------------------------


def test_static_files_the_wheel_leaves_out_are_each_named(tmp_path: Path) -> None:
    with pytest.raises(BuildError) as raised:
        build_plugin(FIXTURES / "static-left-out", isolation=False, out_dir=tmp_path / "dist")
    message = raised.value.message
    assert "static_left_out-1.0.0-py2.py3-none-any.whl lacks 2 file(s)" in message
    assert "  - static_left_out/static/app.css\n" in message
    assert message.endswith("  - static_left_out/static/index.html")  # it is in the sdist
    assert raised.value.hint is not None
    assert "[tool.hatch.build]" in raised.value.hint
    assert 'artifacts = ["static_left_out/static/**"]' in raised.value.hint
    assert not (tmp_path / "dist").exists()  # a wheel that fails the check is not kept


def test_a_file_the_sdist_leaves_out_is_missing_from_the_wheel_built_from_it(hello: Path) -> None:
    edited(
        hello,
        "pyproject.toml",
        "[tool.pytest.ini_options]",
        '[tool.hatch.build.targets.sdist]\nexclude = ["hello/static/style.css"]\n\n'
        "[tool.pytest.ini_options]",
    )
    with pytest.raises(BuildError, match=r"hello/static/style\.css \(not in the sdist either\)"):
        build_plugin(hello, isolation=False)


def test_a_wheel_whose_plugin_toml_differs_from_the_source_is_refused(
    hello: Path, tmp_path: Path
) -> None:
    result, _ = build(hello)
    rewritten = tmp_path / result.wheel.path.name
    with zipfile.ZipFile(result.wheel.path) as source, zipfile.ZipFile(rewritten, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, data + b"# edited\n" if info.filename.endswith(".toml") else data)
    project = PluginProject.from_path(hello)
    with pytest.raises(BuildError, match=r"hello/plugin\.toml in .* differs from"):
        check_wheel(
            rewritten,
            project=project,
            manifest=project.load_manifest(),
            sdist_root=hello,
            backend="hatchling.build",
        )


def test_a_wheel_without_the_entry_point_is_refused(hello: Path, tmp_path: Path) -> None:
    result, _ = build(hello)
    stripped = tmp_path / result.wheel.path.name
    with zipfile.ZipFile(result.wheel.path) as source, zipfile.ZipFile(stripped, "w") as target:
        for info in source.infolist():
            if not info.filename.endswith("entry_points.txt"):
                target.writestr(info, source.read(info))
    project = PluginProject.from_path(hello)
    with pytest.raises(
        BuildError, match=r"does not declare the entry point hello = 'hello\.plugin"
    ):
        check_wheel(
            stripped,
            project=project,
            manifest=project.load_manifest(),
            sdist_root=hello,
            backend="hatchling.build",
        )


# -- the plugin's registrations ---------------------------------------------------------


def test_a_registration_the_manifest_does_not_declare_stops_the_build(hello: Path) -> None:
    with (hello / "hello/plugin.py").open("a", encoding="utf-8") as file:
        file.write('\n\n@plugin.export("undeclared")\ndef undeclared() -> int:\n    return 1\n')
    with pytest.raises(PluginDefinitionError, match="export 'undeclared' is not declared"):
        build_plugin(hello, isolation=False)
    assert not (hello / "dist").exists()


def test_a_plugin_whose_dependencies_are_not_installed_here_still_builds(hello: Path) -> None:
    edited(
        hello,
        "hello/plugin.py",
        "from pluginctl import Plugin\n",
        "from pluginctl import Plugin\nimport surely_not_installed_anywhere\n",
    )
    result, _ = build(hello)
    [warning] = result.warnings
    assert warning.severity == "warning"
    assert "imports 'surely_not_installed_anywhere', which is not installed here" in warning.message
    assert warning.hint is not None
    assert "pip install -e ." in warning.hint
    assert result.wheel.path.is_file()


def test_a_plugin_that_fails_to_import_for_its_own_reasons_does_not_build(hello: Path) -> None:
    edited(hello, "hello/plugin.py", "plugin = Plugin()\n", "plugin = Plugin()\n1 / 0\n")
    with pytest.raises(PluginDefinitionError, match="ZeroDivisionError"):
        build_plugin(hello, isolation=False)


# -- the backend ------------------------------------------------------------------------


FAILING_BACKEND = """
import sys

def get_requires_for_build_sdist(config_settings=None):
    return []

def build_sdist(sdist_directory, config_settings=None):
    print("custom backend: reading the sources")
    sys.stderr.write("custom backend: no sdist today\\n")
    raise SystemExit(3)
"""


def test_a_failing_backend_is_named_with_its_last_output(hello: Path) -> None:
    edited(
        hello,
        "pyproject.toml",
        'requires = ["hatchling>=1.25"]\nbuild-backend = "hatchling.build"',
        'requires = []\nbuild-backend = "failing_backend"\nbackend-path = ["."]',
    )
    (hello / "failing_backend.py").write_text(FAILING_BACKEND, encoding="utf-8")
    with pytest.raises(BuildError) as raised:
        build_plugin(hello, isolation=False)
    message = raised.value.message
    assert message.startswith("the build backend failing_backend failed to build the sdist")
    assert "\n  custom backend: reading the sources" in message
    assert message.endswith("\n  custom backend: no sdist today")
    assert raised.value.hint is not None
    assert "-vv" in raised.value.hint


DYNAMIC_BACKEND = """
def get_requires_for_build_sdist(config_settings=None):
    return ["surely-not-a-plugin-helper>=2"]

def build_sdist(sdist_directory, config_settings=None):
    import surely_not_a_plugin_helper  # what it asked for, and is not here
"""


def test_a_dynamic_build_requirement_missing_here_is_named_when_the_build_fails(
    hello: Path,
) -> None:
    """Without isolation the backend is asked what else it needs only once it failed."""
    edited(
        hello,
        "pyproject.toml",
        'requires = ["hatchling>=1.25"]\nbuild-backend = "hatchling.build"',
        'requires = []\nbuild-backend = "dynamic_backend"\nbackend-path = ["."]',
    )
    (hello / "dynamic_backend.py").write_text(DYNAMIC_BACKEND, encoding="utf-8")
    with pytest.raises(BuildError, match="needs surely-not-a-plugin-helper>=2, not installed"):
        build_plugin(hello, isolation=False)


def test_a_backend_that_is_not_installed_here_is_a_clear_error(hello: Path) -> None:
    edited(hello, "pyproject.toml", '"hatchling>=1.25"', '"surely-not-a-backend>=1"')
    with pytest.raises(BuildError, match="needs surely-not-a-backend>=1, not installed") as raised:
        build_plugin(hello, isolation=False)
    assert raised.value.hint is not None
    assert "pip install 'surely-not-a-backend>=1'" in raised.value.hint


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_an_isolated_build_installs_the_backend_in_a_fresh_environment(hello: Path) -> None:
    events: list[BuildEvent] = []
    result = build_plugin(hello, on_event=events.append)
    assert events[2] == BuildEvent(
        "environment", False, "creating an isolated environment: hatchling>=1.25"
    )
    assert events[3].step == "environment"
    assert events[3].finished
    assert result.checked[0] == "hello/plugin.toml"
    assert result.wheel.path.is_file()
