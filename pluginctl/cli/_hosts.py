"""How ``status``, ``enable`` and ``disable`` pick the running host(s) to talk to."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pluginctl.cli.run import ConfigPath

if TYPE_CHECKING:
    from pluginctl.runtime.host_client import HostClient

__all__ = ["ConfigPath", "DataDir", "HostToken", "HostUrl", "hosts"]

DataDir = Annotated[Path | None, typer.Option(help="The data directory of the host to talk to.")]
HostUrl = Annotated[
    str | None, typer.Option(help="Talk to the host at this URL instead (with --token).")
]
HostToken = Annotated[
    str | None,
    typer.Option(envvar="PLUGINCTL_HOST_TOKEN", help="The control token of --url's host."),
]


def hosts(
    config: Path | None, data_dir: Path | None, url: str | None, token: str | None
) -> list[HostClient]:
    """The host at ``url``, or every host running with the config's data directory."""
    from pluginctl.cli._hostconfig import load_host_config
    from pluginctl.runtime.host_client import HostClient

    if url is not None:
        return [HostClient.at(url, token)]
    return HostClient.find(load_host_config(config, data_dir=data_dir).data_dir)
