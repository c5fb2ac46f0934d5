"""Import a plugin in a child process and report what it registers.

``pluginctl validate`` never imports plugin code into its own process: a plugin may
hang, exit or print on import. It runs ``python -m pluginctl.introspect IMPORT_ROOT
ENTRY_POINT``, which answers with one JSON document on stdout.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from pluginctl.errors import PluginDefinitionError, Problem
from pluginctl.plugin import Plugin, Registrations

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["Inspection", "inspect_entry_point"]


@dataclass(frozen=True, slots=True)
class Inspection:
    """What importing a plugin showed: its registrations, or the problems that stopped it."""

    registrations: Registrations | None
    problems: tuple[Problem, ...]


class _Report(msgspec.Struct, kw_only=True):
    registrations: Registrations | None = None
    problems: list[tuple[str, str, str, str | None, str]] = []


def inspect_entry_point(
    import_root: Path, entry_point: str, *, source: str, timeout_s: float = 30.0
) -> Inspection:
    """Import ``entry_point`` (``module:attribute``) from ``import_root`` in a child process.

    Args:
        import_root: The directory that holds the plugin's top-level package.
        entry_point: ``module:attribute`` naming the ``Plugin`` object.
        source: How to name the plugin in problems (usually pyproject.toml's path).
        timeout_s: How long the import may take.
    """
    command = [sys.executable, "-B", "-m", "pluginctl.introspect", str(import_root), entry_point]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONSAFEPATH": "1"}
    try:
        done = subprocess.run(
            command, capture_output=True, timeout=timeout_s, check=False, env=env, cwd=import_root
        )
    except subprocess.TimeoutExpired:
        return _failed(
            source,
            f"importing {entry_point} took longer than {timeout_s:g} s",
            "remove slow work (network, sleeps) from module import time",
        )
    try:
        report = msgspec.json.decode(done.stdout.splitlines()[-1], type=_Report)
    except (msgspec.DecodeError, msgspec.ValidationError, IndexError):
        output = (done.stderr or done.stdout).decode(errors="replace").strip()[-2000:]
        return _failed(
            source,
            f"importing {entry_point} exited with code {done.returncode}: {output or 'no output'}",
            "fix the error shown; the plugin must import cleanly",
        )
    problems = tuple(Problem(*fields) for fields in report.problems)
    return Inspection(report.registrations, problems)


def _failed(source: str, message: str, hint: str) -> Inspection:
    return Inspection(None, (Problem(source, "entry point", message, hint=hint),))


def _inspect_here(import_root: str, entry_point: str) -> _Report:
    """Import the plugin in this process and check it against its manifest."""
    sys.path.insert(0, import_root)
    module_name, _, attribute = entry_point.partition(":")
    where = f"entry point {entry_point}"
    try:
        plugin = getattr(importlib.import_module(module_name), attribute, None)
    except PluginDefinitionError as exc:
        return _Report(problems=[_fields(p) for p in exc.problems])
    except BaseException as exc:  # noqa: BLE001  # any failure of plugin code is a finding
        text = "".join(traceback.format_exception(exc)).strip()
        problem = Problem(module_name, where, f"import failed:\n{text}", hint="fix the error above")
        return _Report(problems=[_fields(problem)])
    if not isinstance(plugin, Plugin):
        problem = Problem(
            module_name,
            where,
            f"{attribute!r} is {type(plugin).__name__}, not a Plugin",
            hint=f"define  {attribute} = Plugin()  in {module_name}",
        )
        return _Report(problems=[_fields(problem)])
    from pluginctl.errors import ManifestError

    try:
        problems = plugin.check(plugin.load_manifest())
    except ManifestError:
        problems = []  # the caller reports manifest problems itself
    return _Report(registrations=plugin.registrations(), problems=[_fields(p) for p in problems])


def _fields(problem: Problem) -> tuple[str, str, str, str | None, str]:
    return (problem.file, problem.key, problem.message, problem.hint, problem.severity)


if __name__ == "__main__":
    _report = _inspect_here(sys.argv[1], sys.argv[2])
    sys.stdout.flush()
    sys.stdout.write("\n" + msgspec.json.encode(_report).decode() + "\n")
