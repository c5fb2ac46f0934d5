"""Run a plugin project's own test suite with pytest, in a child process.

``pluginctl test`` uses this; the exit code is pytest's, so CI reads it as it would
read pytest's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pluginctl.errors import UserError
from pluginctl.project import PluginProject

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["DATABASE_URL_ENV", "JSON_SUMMARY_ENV", "SuiteResult", "run_plugin_tests"]

#: Where pluginctl's pytest plugin writes the run's JSON summary, when set.
JSON_SUMMARY_ENV = "PLUGINCTL_TEST_JSON"
#: The PostgreSQL URL pluginctl's pytest plugin runs the plugins' databases on, when set
#: (kept out of pytest's command line, which every user of the machine can read).
DATABASE_URL_ENV = "PLUGINCTL_TEST_DATABASE_URL"


@dataclass(frozen=True, slots=True)
class SuiteResult:
    """How a plugin's test run ended.

    Attributes:
        exit_code: pytest's exit code.
        summary: The JSON summary (counts, failures, duration), when one was asked for.
    """

    exit_code: int
    summary: dict[str, object] | None = None


def run_plugin_tests(
    path: Path,
    *,
    pytest_args: Sequence[str] = (),
    summary: bool = False,
    database_url: str | None = None,
) -> SuiteResult:
    """Run pytest on the plugin project at ``path``.

    The project is found from ``path`` (its directory or any file inside it); pytest
    runs in the project's root with this interpreter, so the plugin must be installed
    in this environment (``pip install -e '.[test]'``). pluginctl's pytest plugin
    gives the tests their real-host fixtures. With ``summary``, pytest's output goes
    to stderr and the result carries the run's JSON summary.

    With ``database_url``, the plugins under test keep their ``api.db`` data in their
    own schemas of that PostgreSQL database instead of SQLite files; each test drops
    the plugin's schema before it starts, so it must be a database for tests.

    Raises:
        ProjectError: when ``path`` is not a plugin project.
        UserError: when pytest is not installed in this environment, or
            ``database_url`` is not a usable PostgreSQL URL.
    """
    project = PluginProject.from_path(path)
    if not _has_pytest():
        raise UserError(
            f"pytest is not installed in {sys.prefix}, so {project.name}'s tests cannot run",
            hint="install the project's test extra: pip install -e '.[test]'",
        )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", "1")}
    if database_url is not None:
        from pluginctl.data.postgres import admin_url

        admin_url(database_url)  # a URL the host cannot use fails here, before pytest
        env[DATABASE_URL_ENV] = database_url
    command = [sys.executable, "-m", "pytest", *pytest_args]
    if not summary:
        code = subprocess.run(command, cwd=project.root, env=env, check=False).returncode
        return SuiteResult(code)
    with tempfile.TemporaryDirectory(prefix="pluginctl-test-") as scratch:
        target = Path(scratch) / "summary.json"
        env[JSON_SUMMARY_ENV] = str(target)
        code = subprocess.run(
            command, cwd=project.root, env=env, check=False, stdout=sys.stderr.fileno()
        ).returncode
        found = json.loads(target.read_text(encoding="utf-8")) if target.is_file() else None
    if found is None:  # pytest ended before its session finished (a usage error)
        found = {"exit_code": code, "tests": 0, "failures": []}
    return SuiteResult(code, found)


def _has_pytest() -> bool:
    from importlib.util import find_spec

    return find_spec("pytest") is not None
