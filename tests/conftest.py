"""Fixtures shared by the whole suite."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from pluginctl.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
FIXTURE_PLUGINS = FIXTURES / "plugins"


@dataclass(frozen=True)
class CliResult:
    """What one in-process ``pluginctl`` run returned and printed."""

    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        return json.loads(self.stdout)


CliRunner = Callable[..., CliResult]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """Run ``pluginctl ARGS...`` in this process; returns exit code, stdout and stderr."""
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "dumb")

    def run(*args: str | Path) -> CliResult:
        capsys.readouterr()
        code = main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return CliResult(code, out, err)

    return run


@pytest.fixture
def fixture_plugin() -> Callable[[str], Path]:
    """The path of a fixture plugin project under tests/fixtures/plugins/."""

    def find(case: str) -> Path:
        path = FIXTURE_PLUGINS / case
        assert path.is_dir(), f"no fixture plugin {case!r}"
        return path

    return find


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str | None:
    """None (each plugin's SQLite file) or the URL of a fresh, real PostgreSQL database.

    A test taking it runs on both backends; without PostgreSQL on the machine the
    second run skips, except in CI, where it fails.
    """
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url
