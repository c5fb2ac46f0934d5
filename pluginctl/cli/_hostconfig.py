"""How every host command finds its ``pluginctl.toml`` and applies its options."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pluginctl.runtime.host_config import HostConfig

__all__ = ["DatabaseUrl", "TestDatabaseUrl", "load_host_config"]

_DATABASE_URL_ENV = "PLUGINCTL_DATABASE_URL"

#: ``--database-url``, shared by every command that reaches plugins' databases.
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar=_DATABASE_URL_ENV,
        show_envvar=True,
        help="PostgreSQL URL for plugin data (default: database_url in pluginctl.toml,"
        " else a SQLite file per plugin).",
    ),
]
#: ``--database-url`` of ``pluginctl test``, which never reads pluginctl.toml.
AdminSwitch = Annotated[
    bool,
    typer.Option(
        "--admin/--no-admin",
        help="Serve the admin UI at /admin (its token is in the data directory).",
    ),
]

TestDatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        envvar=_DATABASE_URL_ENV,
        show_envvar=True,
        help="PostgreSQL URL for the plugin's data under test (default: a SQLite file);"
        " each test drops the plugin's schema there first.",
    ),
]


def load_host_config(
    path: Path | None,
    *,
    data_dir: Path | None = None,
    installed: bool = True,
    database_url: str | None = None,
) -> HostConfig:
    """The host config at ``path`` (or ./pluginctl.toml, or the defaults), with overrides.

    ``database_url`` (from ``--database-url`` or ``PLUGINCTL_DATABASE_URL``) replaces the
    file's.
    """
    from pluginctl.runtime.host_config import HostConfig

    found = path or HostConfig.find(Path.cwd())
    config = HostConfig.from_path(found) if found else HostConfig.default()
    changes: dict[str, object] = {}
    if data_dir is not None:
        changes["data_dir"] = data_dir.resolve()
    if not installed:
        changes["installed"] = False
    if database_url:
        changes["database_url"] = database_url
    return dataclasses.replace(config, **changes) if changes else config  # type: ignore[arg-type]
