from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

import pytest

from tests.conftest import FIXTURE_PLUGINS, CliRunner

if TYPE_CHECKING:
    from pathlib import Path

SUITE = """
def test_passes():
    assert 1 + 1 == 2

def test_fails():
    assert 1 + 1 == 3
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = shutil.copytree(FIXTURE_PLUGINS / "good", tmp_path / "good")
    (root / "tests").mkdir()
    (root / "tests" / "test_suite.py").write_text(SUITE)
    return root


def test_exit_code_is_pytests(cli: CliRunner, project: Path) -> None:
    common = ("test", "--path", project, "-p", "no:cacheprovider", "-q")
    assert cli(*common, "-k", "passes").exit_code == 0
    assert cli(*common, "-k", "fails").exit_code == 1
    assert cli(*common, "-k", "nothing_matches").exit_code == 5


def test_arguments_reach_pytest(cli: CliRunner, project: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    result = cli("test", "--path", project, "--", "-k", "passes", f"--junitxml={report}")
    assert result.exit_code == 0
    assert 'tests="1"' in report.read_text()


def test_runs_from_a_directory_inside_the_project(
    cli: CliRunner, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "good_plugin")
    assert cli("test", "-k", "passes", "-p", "no:cacheprovider").exit_code == 0


def test_outside_a_project_is_a_user_error(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("test", "--path", tmp_path)
    assert result.exit_code == 1
    assert "error: no pyproject.toml" in result.stderr
    assert "hint:" in result.stderr
