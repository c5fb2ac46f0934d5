from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pluginctl.validation import validate_project

FIXTURES = Path(__file__).parent / "fixtures" / "plugins"
MANIFEST = "good_plugin/plugin.toml"


def edited_good(tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the good fixture with ``old`` replaced by ``new`` in ``file``."""
    copy = shutil.copytree(FIXTURES / "good", tmp_path / "good")
    target = copy / file
    text = target.read_text()
    assert old in text
    target.write_text(text.replace(old, new))
    return copy


def test_a_good_plugin_passes() -> None:
    report = validate_project(FIXTURES / "good", scan=False)
    assert report.problems == []
    assert report.passed(strict=True)
    assert report.registrations is not None
    assert report.registrations.exports == ["lookup", "count"]
    data = report.to_dict()
    assert data["ok"] is True
    assert data["name"] == "good-plugin"


def test_validation_leaves_no_bytecode_in_the_tree(tmp_path: Path) -> None:
    copy = shutil.copytree(FIXTURES / "good", tmp_path / "good")
    validate_project(copy, scan=False)
    assert not list(copy.rglob("__pycache__"))


def test_every_mismatch_is_reported() -> None:
    report = validate_project(FIXTURES / "mismatch", scan=False)
    found = {(p.key, p.message.split(" (")[0]) for p in report.errors}
    assert ("version", "'1.0.0' differs from the distribution's version '2.0.0'") in found
    assert any(key == "static" and "does not exist" in message for key, message in found)
    assert ("@plugin.export", "export 'undeclared' is not declared in plugin.toml") in found
    assert not report.passed()


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("import-error", "KeyError: 'timeout'"),
        ("import-exit", "exited with code 3"),
        ("not-a-plugin", "'plugin' is dict, not a Plugin"),
    ],
)
def test_plugins_that_fail_to_import(case: str, fragment: str) -> None:
    report = validate_project(FIXTURES / case, scan=False)
    [problem] = report.errors
    assert fragment in problem.message
    assert problem.hint
    assert report.registrations is None


def test_a_plugin_that_hangs_on_import_is_cut_off() -> None:
    report = validate_project(FIXTURES / "hangs", scan=False, import_timeout_s=1.0)
    [problem] = report.errors
    assert "took longer than 1 s" in problem.message


def test_manifest_problems_stop_the_import_but_not_the_report(tmp_path: Path) -> None:
    copy = edited_good(tmp_path, MANIFEST, "memory_mb", "memry_mb")
    report = validate_project(copy, scan=False)
    assert [(p.key, p.hint) for p in report.errors] == [
        ("limits.memry_mb", "did you mean 'memory_mb'?")
    ]
    assert report.registrations is None


def test_host_range_that_excludes_this_version(tmp_path: Path) -> None:
    copy = edited_good(tmp_path, MANIFEST, 'host = ">=0.1,<1"', 'host = ">=5"')
    [problem] = validate_project(copy, scan=False).errors
    assert problem.key == "host"
    assert "excludes this pluginctl" in problem.message


def test_missing_host_range_is_a_warning(tmp_path: Path) -> None:
    copy = edited_good(tmp_path, MANIFEST, 'host = ">=0.1,<1"\n', "")
    report = validate_project(copy, scan=False)
    assert report.passed()
    assert not report.passed(strict=True)
    assert [p.key for p in report.warnings] == ["host"]


def test_names_must_agree(tmp_path: Path) -> None:
    copy = edited_good(tmp_path, "pyproject.toml", 'name = "good-plugin"', 'name = "other"')
    [problem] = validate_project(copy, scan=False).errors
    assert problem.key == "project.name"
    assert problem.hint == 'set name = "good-plugin" in [project]'
