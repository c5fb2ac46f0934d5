"""How the CLI shows things: rich for people, JSON for machines, ``error:``/``hint:`` for errors."""

from __future__ import annotations

import json
import sys
import traceback
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from pluginctl.errors import PluginctlError, Problem

__all__ = ["console", "err_console", "print_json", "render_problem", "report_bug", "report_error"]

_consoles: dict[str, Console] = {}


def console() -> Console:
    """The console for results (stdout)."""
    return _console("out", stderr=False)


def err_console() -> Console:
    """The console for errors and progress (stderr)."""
    return _console("err", stderr=True)


def _console(key: str, *, stderr: bool) -> Console:
    if key not in _consoles:
        from rich.console import Console

        _consoles[key] = Console(stderr=stderr, highlight=False, soft_wrap=True)
    return _consoles[key]


def print_json(data: object) -> None:
    """Write ``data`` as JSON on stdout, one document, no colour."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def render_problem(problem: Problem) -> None:
    """Print one problem as ``error: location: message`` plus its hint."""
    from rich.markup import escape

    style = "red" if problem.severity == "error" else "yellow"
    err_console().print(f"[bold {style}]{problem.severity}:[/] {escape(str(problem))}")
    if problem.hint:
        err_console().print(f"  [bold cyan]hint:[/] {escape(problem.hint)}")


def report_error(exc: PluginctlError) -> None:
    """Print a user error: what went wrong and what to do, no traceback."""
    from rich.markup import escape

    problems = getattr(exc, "problems", ())
    if len(problems) > 1:
        for problem in problems:
            render_problem(problem)
        return
    err_console().print(f"[bold red]error:[/] {escape(exc.message)}")
    if exc.hint:
        err_console().print(f"[bold cyan]hint:[/] {escape(exc.hint)}")


def report_bug(exc: BaseException, *, verbose: bool) -> None:
    """Print an unexpected exception: a short traceback, or the whole one with ``-v``."""
    frames = traceback.extract_tb(exc.__traceback__)
    shown = frames if verbose else frames[-3:]
    lines = traceback.format_list(shown) + traceback.format_exception_only(exc)
    err = err_console()
    err.print(
        "[bold red]internal error[/] (a bug in pluginctl, please report it):", highlight=False
    )
    err.out("".join(lines).rstrip(), highlight=False)
    if not verbose:
        err.print("rerun with -v for the whole traceback")
