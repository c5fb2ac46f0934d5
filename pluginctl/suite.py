"""Run a plugin project's own test suite with pytest, in a child process.

``pluginctl test`` uses this; the exit code is pytest's, so CI reads it as it would
read pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

from pluginctl.errors import UserError
from pluginctl.project import PluginProject

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["run_plugin_tests"]


def run_plugin_tests(path: Path, *, pytest_args: Sequence[str] = ()) -> int:
    """Run pytest on the plugin project at ``path`` and return pytest's exit code.

    The project is found from ``path`` (its directory or any file inside it); pytest
    runs in the project's root with this interpreter, so the plugin must be installed
    in this environment (``pip install -e '.[test]'``).

    Raises:
        ProjectError: when ``path`` is not a plugin project.
        UserError: when pytest is not installed in this environment.
    """
    project = PluginProject.from_path(path)
    if not _has_pytest():
        raise UserError(
            f"pytest is not installed in {sys.prefix}, so {project.name}'s tests cannot run",
            hint="install the project's test extra: pip install -e '.[test]'",
        )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", "1")}
    command = [sys.executable, "-m", "pytest", *pytest_args]
    return subprocess.run(command, cwd=project.root, env=env, check=False).returncode


def _has_pytest() -> bool:
    from importlib.util import find_spec

    return find_spec("pytest") is not None
