"""Update checks: for each installed plugin, the newest release it may update to.

Only releases that are not yanked and whose ``host`` range admits the running
pluginctl count. A registry whose newest such release is *older* than the one
installed reports a downgrade, and never offers it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pluginctl.errors import RegistryError
from pluginctl.registry._result import Result
from pluginctl.registry.host_range import admits, normalise_version

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Mapping

    from pluginctl.registry.index import Index

__all__ = ["Update", "updates"]


class Update(Result, frozen=True, kw_only=True):
    """What the registry has for one installed plugin.

    Attributes:
        name: The normalised name.
        installed: The version installed.
        latest: The newest wheel release, not yanked, admitting the host; or None.
        available: Whether ``latest`` is newer than ``installed``: an update to offer.
        downgrade: Whether ``latest`` is older than ``installed``: never offered.
        yanked: Whether the installed version is yanked here; ``yank_reason`` says why.
    """

    name: str
    installed: str
    latest: str | None
    available: bool
    downgrade: bool
    yanked: bool = False
    yank_reason: str = ""


def updates(index: Index, installed: Mapping[str, str], *, host_version: str) -> list[Update]:
    """For each installed plugin (name to version), by name, what to update to.

    Plugins this registry does not know have ``latest`` None.

    Raises:
        RegistryError: a version, installed or the host's, is not PEP 440.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> from pluginctl.registry.index import Index
        >>> index = Index(Path(tempfile.mkdtemp()) / "i.sqlite3")
        >>> updates(index, {"Demo": "1.0"}, host_version="0.1.0")[0].latest is None
        True
    """
    host = normalise_version(host_version)
    checked = [(canonicalize_name(name), _version(name, v)) for name, v in installed.items()]
    with index.reading() as db:
        return [_update(db, name, version, host) for name, version in sorted(checked)]


def _version(name: str, version: str) -> Version:
    try:
        return Version(version)
    except InvalidVersion:
        raise RegistryError(
            f"installed: {name[:64]}'s version {version[:64]!r} is not a version (PEP 440)",
            hint="send the versions installed, as pluginctl list --json shows them",
        ) from None


def _update(db: sqlite3.Connection, name: str, installed: Version, host: str) -> Update:
    rows = db.execute(
        "SELECT version, yanked, yank_reason, plugin FROM files"
        " WHERE project = ? AND kind = 'wheel'",
        (name,),
    ).fetchall()
    compatible = [
        Version(row["version"])
        for row in rows
        if not row["yanked"] and admits(_host_range(row["plugin"]), host)
    ]
    latest = max(compatible, default=None)
    mine = [row for row in rows if Version(row["version"]) == installed]
    return Update(
        name=name,
        installed=str(installed),
        latest=None if latest is None else str(latest),
        available=latest is not None and latest > installed,
        downgrade=latest is not None and latest < installed,
        yanked=bool(mine) and all(row["yanked"] for row in mine),
        yank_reason=next((row["yank_reason"] for row in mine if row["yank_reason"]), ""),
    )


def _host_range(plugin: str | None) -> str:
    if not plugin:
        return ""
    facts = msgspec.json.decode(plugin)
    return str(facts.get("host", "")) if isinstance(facts, dict) else ""
