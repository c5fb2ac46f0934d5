"""``pluginctl enable`` and ``pluginctl disable``: an operator's say over a running plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pluginctl.cli._hosts import ConfigPath, DataDir, HostToken, HostUrl, hosts

if TYPE_CHECKING:
    from pluginctl.runtime.host_client import HostClient

__all__ = ["disable", "enable"]

PluginName = Annotated[str, typer.Argument(help="The plugin's name.", show_default=False)]


def enable(
    name: PluginName,
    *,
    config: ConfigPath = None,
    data_dir: DataDir = None,
    url: HostUrl = None,
    token: HostToken = None,
) -> None:
    """Start a stopped plugin again in the running host, or close an active one's breakers.

    A plugin disabled by a crash loop or by `pluginctl disable` starts with a clean
    crash record.
    """
    _act(name, "enable", hosts(config, data_dir, url, token))


def disable(
    name: PluginName,
    *,
    config: ConfigPath = None,
    data_dir: DataDir = None,
    url: HostUrl = None,
    token: HostToken = None,
) -> None:
    """Stop a plugin in the running host and keep it stopped until `pluginctl enable`."""
    _act(name, "disable", hosts(config, data_dir, url, token))


def _act(name: str, action: str, clients: list[HostClient]) -> None:
    from rich.markup import escape

    from pluginctl.cli._output import console

    for client in clients:
        answer = client.act(name, action)
        line = f"{escape(name)} is {answer.get('state', '?')} in the host at {escape(client.url)}"
        problem = answer.get("last_error")
        console().print(line + (f": {escape(str(problem))}" if problem else ""))
