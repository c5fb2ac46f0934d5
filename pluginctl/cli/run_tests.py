"""``pluginctl test``: run a plugin's own test suite."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pluginctl.cli._hostconfig import TestDatabaseUrl

__all__ = ["run_tests"]


def run_tests(
    ctx: typer.Context,
    path: Annotated[
        Path | None,
        typer.Option("--path", help="The plugin project (default: the current directory)."),
    ] = None,
    json_output: Annotated[
        bool,
        typer.Option(
            "--json", help="Print a JSON summary on stdout (pytest's own output goes to stderr)."
        ),
    ] = False,
    database_url: TestDatabaseUrl = None,
) -> None:
    """Run the plugin's tests with pytest, with real-host fixtures; other arguments go to pytest.

    Example: pluginctl test -k greet --junitxml=report.xml
    A first argument that is a project directory (it holds pyproject.toml) is the
    project: pluginctl test ../demo -k greet. Put pytest's arguments after -- when
    they clash with these options. With --database-url, api.db runs on PostgreSQL
    and each test drops the plugin's schema first: give a database for tests.
    The exit code is pytest's.
    """
    from pluginctl.suite import run_plugin_tests

    args = list(ctx.args)
    if path is None and args and not args[0].startswith("-") and _is_project(Path(args[0])):
        path = Path(args.pop(0))
    result = run_plugin_tests(
        path or Path(), pytest_args=args, summary=json_output, database_url=database_url
    )
    if result.summary is not None:
        from pluginctl.cli._output import print_json

        print_json(result.summary)
    raise typer.Exit(result.exit_code)


def _is_project(path: Path) -> bool:
    return (path / "pyproject.toml").is_file()
