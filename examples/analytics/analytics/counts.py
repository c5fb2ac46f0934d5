"""What analytics counts: route hits per plugin and route, events per publisher and topic.

`Tally` is plain data in memory. It takes the host's ``host.traffic`` payloads
(`Tally.add_traffic`) and single events (`Tally.add_event`), and crosses to the
key-value store and to the next version on a hot reload as `Tally.to_dict` /
`Tally.from_dict`. Its size is bounded whatever it is sent: at most `MAX_KEYS` plugins
(or publishers), and `MAX_KEYS` routes (or topics) each; past that, counts go under
`OTHER`.

Example:
    >>> tally = Tally(since="2026-01-01T00:00:00+00:00")
    >>> tally.add_traffic({"interval_s": 10.0, "plugins": {"notes": {"route:GET /notes": 3}}})
    3
    >>> tally.add_event("notes", "notes.created")
    >>> tally.totals("routes"), tally.totals("events")
    ({'notes': 3}, {'notes': 1})
    >>> Tally.from_dict(tally.to_dict()) == tally
    True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

#: The most plugins, and the most routes or topics of one plugin, counted one by one.
MAX_KEYS = 200
#: Where counts go past `MAX_KEYS`.
OTHER = "(other)"
_ROUTE = "route:"

Kind = Literal["routes", "events"]


@dataclass(eq=True)
class Tally:
    """Route hits and events, counted since ``since`` (ISO 8601).

    Attributes:
        since: When counting began.
        routes: Hits by plugin, then by route (``GET /notes``).
        events: Events by publisher (``host`` for the host's own), then by topic.
    """

    since: str
    routes: dict[str, dict[str, int]] = field(default_factory=dict)
    events: dict[str, dict[str, int]] = field(default_factory=dict)

    def add_traffic(self, payload: object) -> int:
        """Count a ``host.traffic`` payload; how many hits it held (0 for one malformed)."""
        plugins = payload.get("plugins") if isinstance(payload, dict) else None
        if not isinstance(plugins, dict):
            return 0
        added = 0
        for plugin, routes in plugins.items():
            if not isinstance(plugin, str) or not isinstance(routes, dict):
                continue
            for method, count in routes.items():
                if isinstance(method, str) and method.startswith(_ROUTE) and _is_count(count):
                    _add(self.routes, plugin, method.removeprefix(_ROUTE), count)
                    added += count
        return added

    def add_event(self, publisher: str, topic: str) -> None:
        """Count one event ``topic`` from ``publisher``."""
        _add(self.events, publisher, topic, 1)

    def totals(self, kind: Kind) -> dict[str, int]:
        """Hits (``routes``) or events (``events``) per plugin."""
        table = self.routes if kind == "routes" else self.events
        return {name: sum(counts.values()) for name, counts in table.items()}

    def of(self, kind: Kind, plugin: str) -> dict[str, int]:
        """One plugin's hits per route, or events per topic."""
        table = self.routes if kind == "routes" else self.events
        return dict(table.get(plugin, {}))

    def to_dict(self) -> dict[str, object]:
        """Plain data, for the key-value store, a reload and ``GET /stats``."""
        return {
            "since": self.since,
            "routes": {name: dict(counts) for name, counts in self.routes.items()},
            "events": {name: dict(counts) for name, counts in self.events.items()},
        }

    @classmethod
    def from_dict(cls, data: object, *, since: str = "") -> Tally:
        """The tally `to_dict` made; a fresh one counting from ``since`` if ``data`` is not one."""
        if not isinstance(data, dict) or not isinstance(data.get("since"), str):
            return cls(since=since)
        return cls(
            since=data["since"],
            routes=_table(data.get("routes")),
            events=_table(data.get("events")),
        )


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _add(table: dict[str, dict[str, int]], name: str, key: str, count: int) -> None:
    if name not in table and len(table) >= MAX_KEYS:
        name = OTHER
    counts = table.setdefault(name, {})
    if key not in counts and len(counts) >= MAX_KEYS:
        key = OTHER
    counts[key] = counts.get(key, 0) + count


def _table(data: object) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    if isinstance(data, dict):
        for name, counts in data.items():
            if isinstance(name, str) and isinstance(counts, dict):
                for key, count in counts.items():
                    if isinstance(key, str) and _is_count(count):
                        _add(table, name, key, count)
    return table
