"""The typer application: global options and the list of commands."""

from __future__ import annotations

from typing import Annotated

import typer

from pluginctl._version import __version__
from pluginctl.cli import (
    build,
    control,
    create,
    dev,
    doctor,
    install,
    keys,
    list_plugins,
    migrate,
    publish,
    registry,
    run,
    run_tests,
    search,
    sign,
    status,
    uninstall,
    update,
    validate,
    verify,
)
from pluginctl.cli._lazy import lazy_group

__all__ = ["app"]

app = typer.Typer(
    name="pluginctl",
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


app.command("create")(create.create)
app.command("validate")(validate.validate)
app.command("build")(build.build)
app.command("dev")(dev.dev)
app.command("run")(run.run)
app.command("list")(list_plugins.list_plugins)
app.command("info")(list_plugins.info)
app.command("status")(status.status)
app.command("enable")(control.enable)
app.command("disable")(control.disable)
app.command("doctor")(doctor.doctor)
app.add_typer(lazy_group(migrate.app))
app.add_typer(lazy_group(keys.app))
app.add_typer(lazy_group(registry.app))
app.command("sign")(sign.sign)
app.command("verify")(verify.verify)
app.command("install")(install.install)
app.command("update")(update.update)
app.command("outdated")(update.outdated)
app.command("uninstall")(uninstall.uninstall)
app.command("publish")(publish.publish)
app.command("search")(search.search)
_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}
app.command("test", context_settings=_PASS_THROUGH)(run_tests.run_tests)
