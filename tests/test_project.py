from __future__ import annotations

import re
from pathlib import Path

import pytest

from pluginctl.errors import ProjectError
from pluginctl.project import PluginProject

FIXTURES = Path(__file__).parent / "fixtures" / "plugins"


def write_project(root: Path, body: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(body)
    return root


ENTRY = '[project.entry-points."pluginctl.plugins"]\n'


def test_reads_a_flat_layout() -> None:
    project = PluginProject.from_path(FIXTURES / "good")
    assert project.name == "good-plugin"
    assert project.distribution == "good-plugin"
    assert project.version == "1.2.0"
    assert project.module == "good_plugin.plugin"
    assert project.attribute == "plugin"
    assert project.package_dir == FIXTURES / "good" / "good_plugin"
    assert project.manifest_path.name == "plugin.toml"
    assert project.load_manifest().version == "1.2.0"


def test_finds_the_root_from_a_file_inside(tmp_path: Path) -> None:
    project = PluginProject.from_path(FIXTURES / "good" / "good_plugin" / "plugin.py")
    assert project.root == FIXTURES / "good"


def test_reads_a_src_layout_and_dynamic_version(tmp_path: Path) -> None:
    write_project(
        tmp_path, f'[project]\nname = "x"\ndynamic = ["version"]\n{ENTRY}x = "x.plugin:plugin"\n'
    )
    (tmp_path / "src" / "x").mkdir(parents=True)
    project = PluginProject.from_path(tmp_path)
    assert project.package_dir == tmp_path / "src" / "x"
    assert project.import_root == tmp_path / "src"
    assert project.version is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("[project\n", "not valid TOML"),
        ("[tool.x]\n", "no [project] table"),
        ('[project]\nname = "x"\n', "declares no pluginctl.plugins entry point"),
        (f'[project]\nname = "x"\n{ENTRY}a = "a:p"\nb = "b:p"\n', "declares 2 plugins"),
        (f'[project]\nname = "x"\n{ENTRY}x = "x.plugin"\n', "is not 'module:attribute'"),
        (f'[project]\nname = "x"\n{ENTRY}x = "x-y.plugin:p"\n', "is not 'module:attribute'"),
        (f'[project]\nname = "x"\n{ENTRY}x = "missing.plugin:p"\n', "package 'missing'"),
    ],
)
def test_broken_projects_are_explained(tmp_path: Path, body: str, fragment: str) -> None:
    write_project(tmp_path, body)
    with pytest.raises(ProjectError, match=re.escape(fragment)) as caught:
        PluginProject.from_path(tmp_path)
    assert caught.value.hint


def test_no_pyproject_anywhere(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match=r"no pyproject\.toml") as caught:
        PluginProject.from_path(tmp_path)
    assert caught.value.hint is not None
    assert "pluginctl create" in caught.value.hint


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="does not exist"):
        PluginProject.from_path(tmp_path / "nope")
