"""``pluginctl test``: run a plugin's own test suite."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["run_tests"]


def run_tests(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Option("--path", help="The plugin project (default: the current directory)."),
    ] = Path(),
) -> None:
    """Run the plugin's tests with pytest; every other argument goes to pytest.

    Example: pluginctl test -k greet --junitxml=report.xml
    (put pytest's arguments after -- when they clash with these options).
    The exit code is pytest's.
    """
    from pluginctl.suite import run_plugin_tests

    code = run_plugin_tests(path, pytest_args=ctx.args)
    raise typer.Exit(code)
