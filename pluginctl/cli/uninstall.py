"""``pluginctl uninstall``: remove installed plugins from this environment."""

from __future__ import annotations

from typing import Annotated

import typer

from pluginctl.cli.install import Yes

__all__ = ["uninstall"]


def uninstall(
    names: Annotated[list[str], typer.Argument(metavar="NAME...", help="Plugins to remove.")],
    *,
    yes: Yes = False,
) -> None:
    """Uninstall plugins from this environment (their data directories are kept)."""
    from pluginctl.installation import uninstall as remove
    from pluginctl.registry.updates import installed_plugins

    installed = installed_plugins()
    missing = [name for name in names if _normal(name) not in installed]
    if missing:
        raise typer.BadParameter(f"not installed plugins: {', '.join(missing)}", param_hint="NAME")
    if not yes and not typer.confirm(f"Uninstall {', '.join(names)}?", default=False):
        raise typer.Exit(1)
    remove([installed[_normal(name)].name for name in names])
    _out(f"[green]uninstalled[/] {', '.join(names)}")


def _normal(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _out(text: str) -> None:
    from pluginctl.cli._output import console

    console().print(text)
