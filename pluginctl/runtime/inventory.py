"""What a host would run, without starting anything: for ``pluginctl list`` and ``info``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pluginctl.errors import UserError
from pluginctl.runtime.admission import discover_for_host
from pluginctl.runtime.resolution import plan

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from pluginctl.runtime.discovery import PluginSource
    from pluginctl.runtime.host_config import HostConfig

__all__ = ["Entry", "inventory", "lookup"]


@dataclass(frozen=True, slots=True)
class Entry:
    """One plugin found: its state before start, and why it cannot start if it cannot.

    ``state`` is ``resolved`` (will start), ``disabled``, ``broken`` (its files are
    wrong) or ``unresolved`` (a dependency or version problem).
    """

    name: str
    state: str
    location: str
    source: PluginSource | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        data: dict[str, object] = {
            "name": self.name,
            "state": self.state,
            "location": self.location,
            "reason": self.reason,
        }
        if self.source is not None:
            manifest = self.source.manifest
            data |= {
                "version": self.source.version,
                "origin": self.source.origin,
                "description": manifest.description,
                "permissions": list(manifest.permissions),
                "dependencies": dict(manifest.dependencies),
            }
        return data


def inventory(config: HostConfig, *, sources: Sequence[Path] = ()) -> list[Entry]:
    """Every plugin ``config`` (plus ``sources``) names, with the state it would start in."""
    report = discover_for_host(config, sources=sources)
    enabled = [p.name for p in report.plugins if config.is_enabled(p.name)]
    start = plan(report.plugins, enabled=enabled, broken=report.broken)
    reasons = {p.plugin: str(p) for p in [*start.problems, *start.blocked]}
    entries = [_entry(p, config, reasons) for p in report.plugins]
    entries += [Entry(p.name, "broken", p.location, reason=str(p.error)) for p in report.problems]
    return sorted(entries, key=lambda entry: entry.name)


def lookup(entries: Sequence[Entry], name: str) -> Entry:
    """The entry called ``name``.

    Raises:
        UserError: naming the plugins that exist when ``name`` is not one of them.
    """
    for entry in entries:
        if entry.name == name:
            return entry
    known = ", ".join(entry.name for entry in entries) or "none"
    raise UserError(
        f"no plugin named {name!r} is installed or given with --plugin (found: {known})",
        hint=f"install it (pluginctl install {name}; pluginctl search --show {name} shows the"
        " registry's releases), or pass its source directory with --plugin PATH",
    )


def _entry(source: PluginSource, config: HostConfig, reasons: dict[str, str]) -> Entry:
    if not config.is_enabled(source.name):
        return Entry(source.name, "disabled", source.location, source, "disabled in pluginctl.toml")
    if source.name in reasons:
        return Entry(source.name, "unresolved", source.location, source, reasons[source.name])
    return Entry(source.name, "resolved", source.location, source)
