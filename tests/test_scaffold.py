"""pluginctl.scaffold: creating a plugin project from the bundled cookiecutter template."""

from __future__ import annotations

import io
import itertools
import re
import sys
import tomllib
from typing import TYPE_CHECKING

import pytest
import yaml
from packaging.specifiers import SpecifierSet

from pluginctl import scaffold
from pluginctl._version import __version__
from pluginctl.errors import ScaffoldError
from pluginctl.manifest import Manifest
from pluginctl.project import PluginProject
from pluginctl.scaffold import FEATURES, CreatedPlugin, create_plugin, find_template

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import CliRunner

ALL_COMBINATIONS = [
    combo for size in range(len(FEATURES) + 1) for combo in itertools.combinations(FEATURES, size)
]


def tree(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for directories)."""
    return {
        str(path.relative_to(root)): None if path.is_dir() else path.read_bytes()
        for path in sorted(root.rglob("*"))
    }


def create(
    output_dir: Path,
    name: str = "demo",
    *,
    features: list[str] | None = None,
    author: str | None = None,
    description: str | None = None,
    force: bool = False,
) -> CreatedPlugin:
    """``pluginctl create NAME --no-input`` with these options."""
    return create_plugin(
        name,
        output_dir=output_dir,
        features=features,
        author=author,
        description=description,
        no_input=True,
        force=force,
    )


def feed_stdin(monkeypatch: pytest.MonkeyPatch, *answers: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{a}\n" for a in answers)))


# -- names ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("My Plugin!", "is not a valid plugin name"),
        ("class", "Python keyword"),
        ("1plugin", "is not a valid plugin name"),
        ("", "must not be empty"),
        ("-x", "is not a valid plugin name"),
        ("double--hyphen", "is not a valid plugin name"),
        ("x" * 65, "longer than 64 characters"),
        ("json", "standard library"),
        ("pluginctl", "would clash with pluginctl itself"),
        ("tests", "would clash with the project's tests directory"),
    ],
)
def test_a_bad_name_creates_nothing(tmp_path: Path, name: str, message: str) -> None:
    (tmp_path / "keep.txt").write_text("untouched")
    before = tree(tmp_path)
    with pytest.raises(ScaffoldError, match=message) as caught:
        create(tmp_path, name)
    assert caught.value.hint
    assert tree(tmp_path) == before


def test_a_bad_name_fails_before_the_output_dir_is_made(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError):
        create_plugin("Bad Name", output_dir=tmp_path / "new", no_input=True)
    assert not (tmp_path / "new").exists()


def test_no_input_needs_a_name(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="name is required") as caught:
        create_plugin(None, output_dir=tmp_path, no_input=True)
    assert caught.value.hint == "pass it: pluginctl create NAME --no-input"
    assert list(tmp_path.iterdir()) == []


# -- target directory -------------------------------------------------------------------


def test_an_existing_directory_is_kept_without_force(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "mine.txt").write_text("precious")
    before = tree(tmp_path)
    with pytest.raises(ScaffoldError, match="already exists") as caught:
        create(tmp_path)
    assert "--force" in str(caught.value.hint)
    assert tree(tmp_path) == before


def test_an_existing_file_is_kept_without_force(tmp_path: Path) -> None:
    (tmp_path / "demo").write_text("a file")
    with pytest.raises(ScaffoldError, match=r"the file .* already exists"):
        create(tmp_path)
    assert (tmp_path / "demo").read_text() == "a file"


def test_force_replaces_an_existing_directory(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "old.txt").write_text("old")
    created = create(tmp_path, force=True)
    assert not (created.path / "old.txt").exists()
    assert (created.path / "pyproject.toml").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]  # no staging left behind


def test_force_keeps_the_old_directory_when_rendering_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    (out / "demo").mkdir(parents=True)
    (out / "demo" / "old.txt").write_text("old")
    before = tree(out)
    template = broken_template(tmp_path / "template")
    monkeypatch.setattr(scaffold, "find_template", lambda: template)
    with pytest.raises(ScaffoldError, match=r"template .* is broken"):
        create(out, force=True)
    assert tree(out) == before


def test_output_dir_is_created_when_missing(tmp_path: Path) -> None:
    created = create(tmp_path / "a" / "b")
    assert created.path == (tmp_path / "a" / "b" / "demo").absolute()
    assert (created.path / "pyproject.toml").is_file()


def test_an_output_dir_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("")
    with pytest.raises(ScaffoldError, match="is a file"):
        create(tmp_path / "out")


def broken_template(path: Path) -> Path:
    project = path / "{{cookiecutter.name}}"
    project.mkdir(parents=True)
    (path / "cookiecutter.json").write_text(
        '{"name": "x", "description": "", "author": "", "__package": "x"}'
    )
    (project / "good.txt").write_text("fine")
    (project / "zz_bad.txt").write_text("{{ cookiecutter.missing }}")
    return path


def test_a_failure_mid_render_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    template = broken_template(tmp_path / "template")
    monkeypatch.setattr(scaffold, "find_template", lambda: template)
    with pytest.raises(ScaffoldError, match="is broken") as caught:
        create(out)
    assert "zz_bad.txt" in str(caught.value)
    assert "has no attribute 'missing'" in str(caught.value)
    assert list(out.iterdir()) == []


def test_an_invalid_generated_manifest_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match=r"plugin.toml would be invalid: description: is 600"):
        create(tmp_path, description="x" * 600)
    assert list(tmp_path.iterdir()) == []


# -- features ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ([], ()),
        ([""], ()),
        (["routes"], ("routes",)),
        (["static,routes", "db"], ("routes", "db", "static")),
        ([" Admin , db ,"], ("db", "admin")),
        (["db,db"], ("db",)),
    ],
)
def test_parse_features(given: list[str], expected: tuple[str, ...]) -> None:
    assert scaffold.parse_features(given) == expected


def test_an_unknown_feature_names_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="unknown feature 'auth'") as caught:
        create(tmp_path, features=["routes,auth"])
    assert "valid features: routes, db, admin, static" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("features", ALL_COMBINATIONS, ids=lambda combo: "-".join(combo) or "base")
def test_every_combination_renders_a_valid_project(
    tmp_path: Path, features: tuple[str, ...]
) -> None:
    created = create(tmp_path, "my-plugin", features=list(features))
    assert created == CreatedPlugin(
        tmp_path.absolute() / "my-plugin", "my-plugin", "my_plugin", features
    )
    project = PluginProject.from_path(created.path)
    manifest = Manifest.from_path(project.manifest_path)
    assert (project.name, project.entry_point) == ("my-plugin", "my_plugin.plugin:plugin")
    assert manifest.version == project.version
    assert manifest.exports == (["greet", "greeted"] if "db" in features else ["greet"])
    assert manifest.config["salutation"].default == "Hello"
    package = project.package_dir
    assert (manifest.routes is not None) == ("routes" in features)
    assert (manifest.admin is not None) == ("admin" in features)
    assert (manifest.static == "static") == ("static" in features)
    assert (manifest.migrations == "migrations") == ("db" in features)
    assert (package / "static" / "index.html").is_file() == ("static" in features)
    assert (package / "migrations" / "0001_initial.py").is_file() == ("db" in features)
    expected_permissions = {
        "routes": ["routes"],
        "db": ["db:read", "db:write"],
        "admin": ["admin"],
        "static": ["static"],
    }
    assert sorted(manifest.permissions) == sorted(
        p for feature in features for p in expected_permissions[feature]
    )
    assert_clean_rendering(created.path)


def test_migrate_up_works_in_a_project_just_created_with_db(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = create(tmp_path, "keeper", features=["db"])
    monkeypatch.chdir(created.path)  # as its author types it, in the new project
    data = ("--data-dir", str(tmp_path / "data"))
    up = cli("migrate", "up", *data)
    assert up.exit_code == 0, up.stderr
    assert "0001  Create the greetings table." in up.stdout
    status = cli("migrate", "status", *data, "--json")
    assert status.exit_code == 0, status.stderr
    found = status.json()
    assert isinstance(found, dict)
    assert (found["current"], found["pending"]) == ("0001", [])


def assert_clean_rendering(root: Path) -> None:
    """No Jinja left over, no empty directories, no blank-line noise from conditionals."""
    files = [path for path in root.rglob("*") if path.is_file()]
    assert {p.name for p in files} >= {"README.md", "CHANGELOG.md", ".gitignore", "ci.yml"}
    for path in root.rglob("*"):
        assert "{" not in path.name
        assert "%" not in path.name
        if path.is_dir():
            assert any(path.iterdir()), f"empty directory {path}"
    for path in files:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(root)
        assert "{%" not in text, name
        assert "cookiecutter" not in text, name
        assert text.endswith("\n"), name
        assert not text.endswith("\n\n"), name
        assert not text.startswith("\n"), name
        blank_lines_allowed = 2 if path.suffix == ".py" else 1
        assert "\n" * (blank_lines_allowed + 2) not in text, name
        assert " \n" not in text, name


def test_the_ci_workflow_installs_the_test_extra_and_runs_pluginctl_test(tmp_path: Path) -> None:
    text = (create(tmp_path).path / ".github" / "workflows" / "ci.yml").read_text()
    workflow = yaml.safe_load(text)
    steps = workflow["jobs"]["test"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    assert runs == ["python -m pip install -e '.[test]'", "pluginctl validate", "pluginctl test"]
    setup = next(step for step in steps if step.get("uses", "").startswith("actions/setup-python"))
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"


def test_a_long_name_renders(tmp_path: Path) -> None:
    name = "a" + "-b" * 31 + "c"
    created = create(tmp_path, name)
    assert Manifest.from_path(created.path / created.package).name == name


# -- text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "description",
    ['Says "hi" to C:\\ people', "Uses {{ braces }} and {% tags %}", "Café ☕ 'quoted'"],
)
def test_descriptions_are_kept_exactly(tmp_path: Path, description: str) -> None:
    created = create(tmp_path, description=description, author='Ada "the" Lovelace')
    pyproject = tomllib.loads((created.path / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["description"] == description
    assert pyproject["project"]["authors"] == [{"name": 'Ada "the" Lovelace'}]
    assert Manifest.from_path(created.path / "demo").description == description


def test_without_an_author_pyproject_has_none(tmp_path: Path) -> None:
    pyproject = tomllib.loads((create(tmp_path).path / "pyproject.toml").read_text())
    assert "authors" not in pyproject["project"]


def test_multi_line_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ScaffoldError, match=re.escape(r"description 'two\nlines' must be one line")
    ):
        create(tmp_path, description="two\nlines")
    with pytest.raises(ScaffoldError, match=r"author .* must be one line"):
        create(tmp_path, author="tab\tin name")
    assert list(tmp_path.iterdir()) == []


def test_the_project_depends_on_this_pluginctl(tmp_path: Path) -> None:
    created = create(tmp_path)
    pyproject = tomllib.loads((created.path / "pyproject.toml").read_text())
    (requirement,) = pyproject["project"]["dependencies"]
    assert requirement.startswith("pluginctl>=")
    assert __version__ in SpecifierSet(requirement.removeprefix("pluginctl"))
    assert __version__ in SpecifierSet(Manifest.from_path(created.path / "demo").host)
    assert pyproject["project"]["optional-dependencies"]["test"][0].startswith("pytest")


def test_to_dict(tmp_path: Path) -> None:
    created = create(tmp_path, features=["db"])
    assert created.to_dict() == {
        "path": str(tmp_path.absolute() / "demo"),
        "name": "demo",
        "package": "demo",
        "features": ["db"],
    }


# -- prompting --------------------------------------------------------------------------


def test_interactive_mode_asks_for_what_was_not_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_stdin(monkeypatch, "asked-name", "Asked description", "y", "", "n", "yes")
    created = create_plugin(None, output_dir=tmp_path, author="Given Author")
    assert (created.name, created.features) == ("asked-name", ("routes", "static"))
    asked = capsys.readouterr().out
    assert "[1/6] Plugin name" in asked
    assert "Author" not in asked
    pyproject = tomllib.loads((created.path / "pyproject.toml").read_text())
    assert pyproject["project"]["description"] == "Asked description"
    assert pyproject["project"]["authors"] == [{"name": "Given Author"}]


def test_interactive_mode_with_everything_given_asks_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_stdin(monkeypatch)
    created = create_plugin(
        "demo", output_dir=tmp_path, author="A", description="D", features=["admin"]
    )
    assert created.features == ("admin",)
    assert capsys.readouterr().out == ""


def test_a_bad_name_at_the_prompt_fails_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_stdin(monkeypatch, "Bad Name", "description never read")
    with pytest.raises(ScaffoldError, match="not a valid plugin name"):
        create_plugin(None, output_dir=tmp_path)
    assert sys.stdin.readline() == "description never read\n"
    assert list(tmp_path.iterdir()) == []


def test_input_ending_early_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_stdin(monkeypatch, "fine-name")
    with pytest.raises(ScaffoldError, match="input ended before 'description'"):
        create_plugin(None, output_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


# -- template location ------------------------------------------------------------------


def test_the_template_is_found_in_this_checkout() -> None:
    template = find_template()
    assert (template / "cookiecutter.json").is_file()
    assert template in (root / "plugin" for root in scaffold.TEMPLATE_ROOTS)


def test_the_wheel_location_comes_first(tmp_path: Path) -> None:
    wheel, checkout = tmp_path / "pluginctl" / "_templates", tmp_path / "templates"
    for root in (wheel, checkout):
        (root / "plugin").mkdir(parents=True)
        (root / "plugin" / "cookiecutter.json").write_text("{}")
    assert find_template(roots=(wheel, checkout)) == wheel / "plugin"
    (wheel / "plugin" / "cookiecutter.json").unlink()
    assert find_template(roots=(wheel, checkout)) == checkout / "plugin"


def test_a_missing_template_is_a_clear_error(tmp_path: Path) -> None:
    roots = (tmp_path / "a", tmp_path / "b")
    with pytest.raises(ScaffoldError, match="template is missing") as caught:
        find_template(roots=roots)
    assert str(tmp_path / "a" / "plugin") in str(caught.value)
    assert str(tmp_path / "b" / "plugin") in str(caught.value)
    assert "reinstall pluginctl" in str(caught.value.hint)
