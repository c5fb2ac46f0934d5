"""``pluginctl list`` and ``pluginctl info``: the plugins a host would run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pluginctl.cli.run import ConfigPath, PluginPaths

if TYPE_CHECKING:
    from pluginctl.runtime.inventory import Entry

__all__ = ["info", "list_plugins"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Installed = Annotated[
    bool, typer.Option("--installed/--no-installed", help="Include installed plugins.")
]


def _entries(config: Path | None, plugin: list[Path] | None, *, installed: bool) -> list[Entry]:
    from pluginctl.cli._hostconfig import load_host_config
    from pluginctl.runtime.inventory import inventory

    return inventory(load_host_config(config, installed=installed), sources=plugin or [])


def list_plugins(
    *,
    plugin: PluginPaths = None,
    config: ConfigPath = None,
    installed: Installed = True,
    json_output: JsonFlag = False,
) -> None:
    """List the plugins found: version, state before start, permissions."""
    from rich.markup import escape
    from rich.table import Table

    from pluginctl.cli._output import console, print_json

    entries = _entries(config, plugin, installed=installed)
    if json_output:
        print_json([entry.to_dict() for entry in entries])
        return
    table = Table("plugin", "version", "state", "permissions", "from", box=None, pad_edge=False)
    for entry in entries:
        data = entry.to_dict()
        permissions = data.get("permissions")
        table.add_row(
            escape(entry.name),
            escape(str(data.get("version", "-"))),
            _coloured(entry.state),
            escape(", ".join(map(str, permissions)) if isinstance(permissions, list) else "-"),
            escape(entry.location),
        )
    console().print(table if entries else "no plugins found (pass --plugin PATH)")


def info(
    name: Annotated[str, typer.Argument(help="The plugin's name.")],
    *,
    plugin: PluginPaths = None,
    config: ConfigPath = None,
    installed: Installed = True,
    json_output: JsonFlag = False,
) -> None:
    """Show one plugin: where it is, what it may do, what it needs, why it would not start."""
    from rich.markup import escape

    from pluginctl.cli._output import console, print_json
    from pluginctl.runtime.inventory import lookup

    entry = lookup(_entries(config, plugin, installed=installed), name)
    data = entry.to_dict()
    if entry.source is not None:
        data["manifest"] = entry.source.manifest.to_dict()
    if json_output:
        print_json(data)
        return
    out = console()
    version = escape(str(data.get("version", "")))
    out.print(f"[bold]{escape(entry.name)}[/] {version}  {_coloured(entry.state)}")
    for key in ("description", "location", "origin", "permissions", "dependencies", "reason"):
        value = data.get(key)
        if value:
            shown = (
                ", ".join(f"{k} {v}" for k, v in value.items())
                if isinstance(value, dict)
                else (", ".join(map(str, value)) if isinstance(value, list) else str(value))
            )
            out.print(f"  {key:<13} {escape(shown)}")


def _coloured(state: str) -> str:
    colour = {"resolved": "green", "disabled": "dim", "broken": "red", "unresolved": "yellow"}
    return f"[{colour.get(state, 'white')}]{state}[/]"
