"""The typer application: global options, and the root group that lists the commands.

The commands themselves are in `pluginctl.cli._commands`; `LazyRoot` builds each
one only when it is used.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pluginctl._version import __version__
from pluginctl.cli._lazy import LazyRoot

__all__ = ["app"]

app = typer.Typer(
    name="pluginctl",
    cls=LazyRoot,
    help="Scaffold, validate, run and ship Python plugins.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"pluginctl {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    verbose: Annotated[
        int,
        typer.Option(
            "--verbose", "-v", count=True, show_default=False, help="Say more; -vv for debug logs."
        ),
    ] = 0,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_show_version,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """pluginctl: the toolchain for Python plugins."""
    if verbose:
        import logging

        from rich.logging import RichHandler

        level = logging.DEBUG if verbose > 1 else logging.INFO
        from pluginctl.cli._output import err_console

        handler = RichHandler(console=err_console(), show_path=False)
        logging.basicConfig(level=level, format="%(name)s: %(message)s", handlers=[handler])
