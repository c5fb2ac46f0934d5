"""Discovery: plugins from source directories in this process, installed ones in a fresh venv.

The installed cases build real wheels of fixture projects, install them with uv into
a new virtual environment next to a wheel of this checkout, and run discovery there
in a subprocess, so the plugins come through real entry points and RECORD files.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from pluginctl.errors import ManifestError, ProjectError, ResolutionError
from pluginctl.runtime.discovery import discover, load_source
from tests.conftest import FIXTURE_PLUGINS
from tests.test_template import find_uv, fresh_venv, run
from tests.test_template import pluginctl_wheel as pluginctl_wheel  # noqa: PLC0414  # re-export: pytest finds the fixture here

TRAP = FIXTURE_PLUGINS / "import-trap"
SRC_LAYOUT = FIXTURE_PLUGINS / "src-layout"


def copy_fixture(case: str, dest: Path) -> Path:
    return Path(
        shutil.copytree(
            FIXTURE_PLUGINS / case, dest / case, ignore=shutil.ignore_patterns("__pycache__")
        )
    )


# ---------------------------------------------------------------- sources, in process


def test_a_source_plugin_is_read_without_importing_its_code() -> None:
    plugin = load_source(TRAP / "import_trap" / "plugin.py")  # any path inside the project
    assert (plugin.name, plugin.version, plugin.origin) == ("import-trap", "1.0.0", "source")
    assert plugin.entry_point == "import_trap.plugin:plugin"
    assert (plugin.module, plugin.attribute) == ("import_trap.plugin", "plugin")
    assert plugin.import_root == TRAP
    assert plugin.package_dir == TRAP / "import_trap"
    assert plugin.manifest_path.is_file()
    assert plugin.location == str(TRAP)
    assert plugin.distribution == "import-trap"
    assert "import_trap" not in sys.modules  # its __init__ raises when imported


def test_a_src_layout_with_a_dynamic_version_takes_the_manifest_version() -> None:
    plugin = load_source(SRC_LAYOUT)
    assert plugin.version == "2.0.0"
    assert plugin.import_root == SRC_LAYOUT / "src"
    assert plugin.package_dir == SRC_LAYOUT / "src" / "src_layout"
    assert plugin.manifest.dependencies == {"import-trap": ">=1.0,<2"}


def test_a_source_whose_manifest_version_differs_from_pyproject_is_refused() -> None:
    with pytest.raises(ManifestError) as caught:
        load_source(FIXTURE_PLUGINS / "wrong-version")
    (problem,) = caught.value.problems
    assert problem.file.endswith("wrong_version/plugin.toml")
    assert problem.key == "version"
    assert problem.message.startswith("'1.0.0' differs from the version '1.1.0' in ")
    assert problem.hint == 'set version = "1.1.0" in plugin.toml, or change [project].version'


def test_a_source_whose_manifest_name_differs_from_the_entry_point_is_refused(
    tmp_path: Path,
) -> None:
    copy = copy_fixture("import-trap", tmp_path)
    manifest = copy / "import_trap" / "plugin.toml"
    manifest.write_text(manifest.read_text().replace('"import-trap"', '"trap"'))
    with pytest.raises(ManifestError) as caught:
        load_source(copy)
    (problem,) = caught.value.problems
    assert problem.key == "name"
    assert problem.message == (
        f"'trap' differs from the entry point name 'import-trap' in {copy / 'pyproject.toml'}"
    )


def test_a_directory_that_is_not_a_plugin_project_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"no pyproject\.toml"):
        load_source(tmp_path)


def test_a_broken_source_manifest_raises_at_once() -> None:
    with pytest.raises(ManifestError) as caught:
        discover(sources=[TRAP, FIXTURE_PLUGINS / "bad-manifest"], include_installed=False)
    (problem,) = caught.value.problems
    assert (problem.key, problem.message) == ("permisions", "unknown key")
    assert problem.hint == "did you mean 'permissions'?"


def test_sources_are_sorted_by_name_and_the_same_project_twice_is_one_plugin() -> None:
    report = discover(sources=[SRC_LAYOUT, TRAP, TRAP / "import_trap"], include_installed=False)
    assert [p.name for p in report.plugins] == ["import-trap", "src-layout"]
    assert report.problems == []
    assert report.get("src-layout") is report.plugins[1]
    assert report.get("missing") is None


def test_two_source_directories_with_the_same_plugin_name_are_an_error() -> None:
    with pytest.raises(ResolutionError) as caught:
        discover(
            sources=[FIXTURE_PLUGINS / "twin-a", FIXTURE_PLUGINS / "twin-b"],
            include_installed=False,
        )
    assert caught.value.message == (
        f"plugin 'twin' is given twice: by {FIXTURE_PLUGINS / 'twin-a'}"
        f" and by {FIXTURE_PLUGINS / 'twin-b'}"
    )
    assert caught.value.hint is not None
    assert "--plugin" in caught.value.hint


# ---------------------------------------------------------------- installed, in a fresh venv

INSTALLED = ["import-trap", "wrong-version", "bad-manifest", "twin-a", "twin-b"]
PROBE = """
import json, logging, sys
from pathlib import Path
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(message)s")
from pluginctl.runtime.discovery import discover
from pluginctl.runtime.resolution import resolve
report = discover(sources=[Path(p) for p in sys.argv[1:]])
print(json.dumps({
    "plugins": [
        {
            "name": p.name,
            "version": p.version,
            "origin": p.origin,
            "location": p.location,
            "distribution": p.distribution,
            "package_dir": str(p.package_dir),
            "import_root": None if p.import_root is None else str(p.import_root),
        }
        for p in report.plugins
    ],
    "problems": [
        {
            "name": p.name,
            "location": p.location,
            "error": type(p.error).__name__,
            "message": p.error.message,
            "hint": p.error.hint,
        }
        for p in report.problems
    ],
    "broken": sorted(report.broken),
    "order": [p.name for p in resolve(report.plugins, broken=report.broken)],
    "imported": sorted(set(sys.modules) & {"import_trap", "src_layout", "twin_a", "twin_b"}),
}))
"""


class Environment:
    """A venv with pluginctl and the fixture plugins installed: five wheels, one editable."""

    def __init__(self, root: Path, python: Path, sources: Path) -> None:
        self.root = root
        self.python = python
        self.sources = sources

    def discover(self, *sources: Path) -> tuple[dict[str, Any], str]:
        done = run(self.python, "-I", "-c", PROBE, *sources, cwd=self.root)
        found: dict[str, Any] = json.loads(done.stdout)  # the JSON printed by PROBE
        return found, done.stderr


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory, pluginctl_wheel: Path) -> Environment:
    root = tmp_path_factory.mktemp("installed")
    sources = root / "sources"
    wheels = root / "wheels"
    uv = find_uv()
    for case in INSTALLED:
        copy = copy_fixture(case, sources)
        run(uv, "build", "--wheel", "--quiet", "--out-dir", wheels, copy)
    python = fresh_venv(root / "venv", pluginctl_wheel, *sorted(wheels.glob("*.whl")))
    # An editable install lists no package files: discovery must ask the import system.
    editable = copy_fixture("src-layout", sources)
    run(uv, "pip", "install", "--quiet", "--python", python, "--editable", editable)
    return Environment(root, python, sources)


def by_name(items: list[dict[str, object]]) -> dict[object, dict[str, object]]:
    return {item["name"]: item for item in items}


@pytest.mark.slow
@pytest.mark.xdist_group("installed-plugins")
def test_installed_plugins_are_found_without_importing_any_plugin_code(
    environment: Environment,
) -> None:
    found, _ = environment.discover()
    plugins = by_name(found["plugins"])
    assert list(plugins) == ["import-trap", "src-layout"]
    trap = plugins["import-trap"]
    assert trap["origin"] == "installed"
    assert trap["version"] == "1.0"  # the distribution's; plugin.toml says 1.0.0, equal in PEP 440
    assert trap["location"] == "distribution import-trap 1.0"
    assert trap["import_root"] is None
    site_packages = environment.root / "venv" / "lib"
    assert Path(str(trap["package_dir"])).is_relative_to(site_packages)
    editable = plugins["src-layout"]
    assert editable["package_dir"] == str(environment.sources / "src-layout/src/src_layout")
    assert editable["version"] == "2.0.0"
    assert found["imported"] == []  # both packages raise at import
    assert found["order"] == ["import-trap", "src-layout"]


@pytest.mark.slow
@pytest.mark.xdist_group("installed-plugins")
def test_broken_installed_plugins_are_reported_and_do_not_hide_the_others(
    environment: Environment,
) -> None:
    found, _ = environment.discover()
    problems = by_name(found["problems"])
    assert list(problems) == ["bad-manifest", "twin", "wrong-version"]
    assert found["broken"] == ["bad-manifest", "twin", "wrong-version"]

    bad = problems["bad-manifest"]
    assert bad["error"] == "ManifestError"
    assert str(bad["message"]).endswith("bad_manifest/plugin.toml: permisions: unknown key")
    assert bad["hint"] == "did you mean 'permissions'?"

    twin = problems["twin"]
    assert twin["error"] == "ResolutionError"
    assert twin["message"] == (
        "plugin 'twin' is installed twice: by distribution twin-a 1.0.0"
        " and by distribution twin-b 1.0.0"
    )
    assert twin["location"] == "distribution twin-a 1.0.0 and distribution twin-b 1.0.0"
    assert "pip uninstall twin-a" in str(twin["hint"])

    wrong = problems["wrong-version"]
    assert wrong["error"] == "ManifestError"
    assert str(wrong["message"]).endswith(
        "version: '1.0.0' differs from the version '1.1.0'"
        " in the installed distribution wrong-version"
    )
    assert "pip install -U wrong-version" in str(wrong["hint"])


@pytest.mark.slow
@pytest.mark.xdist_group("installed-plugins")
def test_a_source_directory_shadows_the_installed_plugin_of_its_name(
    environment: Environment,
) -> None:
    trap_source = environment.sources / "import-trap"
    found, log = environment.discover(trap_source, environment.sources / "twin-a")
    plugins = by_name(found["plugins"])
    assert list(plugins) == ["import-trap", "src-layout", "twin"]
    assert plugins["import-trap"]["origin"] == "source"
    assert plugins["import-trap"]["import_root"] == str(trap_source)
    assert plugins["twin"]["distribution"] == "twin-a"
    assert list(by_name(found["problems"])) == ["bad-manifest", "wrong-version"]
    assert (
        f"INFO plugin 'import-trap' from {trap_source} shadows the installed one"
        " (distribution import-trap 1.0)"
    ) in log
    assert "INFO plugin 'twin' from" in log
    assert found["imported"] == []
