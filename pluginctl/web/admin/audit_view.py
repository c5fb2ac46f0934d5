"""The audit log as the admin UI shows it: the newest records, filtered.

Only the end of the file is read (`TAIL_BYTES`), from the back, so a log of any size
opens at once; records older than that are left to ``jq`` and the file itself.

Example:
    >>> import tempfile, pathlib
    >>> from pluginctl.runtime.audit import AuditLog
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl"
    >>> with AuditLog(path) as audit:
    ...     audit.record("plugin.active", plugin="shop", pid=7)
    ...     audit.record("permission.denied", plugin="shop", permission="kv")
    ...     audit.record("plugin.failed", plugin="blog", reason="exit code 3")
    >>> [r.event for r in recent_records(path, AuditFilter(plugin="shop"))]
    ['permission.denied', 'plugin.active']
    >>> [(r.plugin, r.details) for r in problems(path, limit=5)]
    [('blog', [('reason', 'exit code 3')])]
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

__all__ = [
    "PROBLEM_EVENTS",
    "TAIL_BYTES",
    "AuditFilter",
    "AuditRow",
    "RecentProblems",
    "problems",
    "recent_records",
]

#: How much of the end of the audit log the admin UI reads.
TAIL_BYTES = 8 * 1024 * 1024
#: The records the dashboard lists as problems.
PROBLEM_EVENTS = frozenset(
    {
        "breaker.opened",
        "config.invalid",
        "migration.failed",
        "plugin.failed",
        "plugin.reload_failed",
        "plugin.restart_scheduled",
        "plugin.unhealthy",
        "worker.killed",
    }
)
# How a problem's line names its event (the log's JSON is compact): `problems` looks
# for these in the whole tail at once instead of parsing every line.
_PROBLEM_NEEDLES = tuple(f'"event":"{event}"' for event in sorted(PROBLEM_EVENTS))
_MAX_LIMIT = 1000
_MAX_FIELD_CHARS = 2000


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """Which records to show: every given part must match.

    Attributes:
        plugin: The plugin's exact name.
        event: An event name, or a family ending in ``.`` or ``*`` (``plugin.*``).
        text: Words that must appear in the record's JSON, any case.
        limit: At most this many records (1 to 1000).
    """

    plugin: str = ""
    event: str = ""
    text: str = ""
    limit: int = 200

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> AuditFilter:
        """The filter a query string asks for; nonsense falls back to the defaults."""
        try:
            limit = int(query.get("limit", "200"))
        except ValueError:
            limit = 200
        return cls(
            plugin=query.get("plugin", "").strip()[:100],
            event=query.get("event", "").strip()[:100],
            text=query.get("q", "").strip()[:200],
            limit=max(1, min(_MAX_LIMIT, limit)),
        )

    def matches(self, record: dict[str, object], line: str) -> bool:
        """Whether ``record`` (read from ``line``) passes."""
        if self.plugin and record.get("plugin") != self.plugin:
            return False
        event = str(record.get("event", ""))
        if self.event:
            family = self.event.rstrip("*")
            if family.endswith(".") and not event.startswith(family):
                return False
            if not family.endswith(".") and event != self.event:
                return False
        return not self.text or all(word in line.lower() for word in self.text.lower().split())


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One record, ready to show: its time, event, plugin and other fields as text."""

    ts: str
    event: str
    plugin: str
    details: list[tuple[str, str]]


def recent_records(path: Path, chosen: AuditFilter) -> list[AuditRow]:
    """The newest records of the audit log at ``path`` that ``chosen`` lets through."""
    rows: list[AuditRow] = []
    for line in _lines_from_the_end(path):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a torn line
        if isinstance(record, dict) and chosen.matches(record, line):
            rows.append(_row(record))
            if len(rows) >= chosen.limit:
                break
    return rows


class RecentProblems:
    """The latest problem records, kept in memory as the host writes them.

    `seed` reads the ones already in the file (once, at start); `record` is an
    `pluginctl.runtime.audit.AuditLog` listener. The dashboard, polled every two
    seconds, reads this instead of the file.

    Example:
        >>> recent = RecentProblems()
        >>> recent.record({"ts": "t1", "event": "plugin.failed", "plugin": "a", "reason": "x"})
        >>> recent.record({"ts": "t2", "event": "plugin.active", "plugin": "a"})
        >>> [(r.ts, r.event) for r in recent.rows(limit=5)]
        [('t1', 'plugin.failed')]
    """

    def __init__(self, *, keep: int = 200) -> None:
        self._rows: deque[AuditRow] = deque(maxlen=keep)

    def seed(self, path: Path) -> None:
        """Start with the newest problem records of the audit log at ``path``."""
        self._rows.extend(reversed(problems(path, limit=self._rows.maxlen or 200)))

    def record(self, entry: dict[str, object]) -> None:
        """Keep ``entry`` if it is a problem (called in the recording thread)."""
        if entry.get("event") in PROBLEM_EVENTS:
            self._rows.append(_row(json.loads(json.dumps(entry, default=str))))

    def rows(self, *, limit: int, plugin: str = "") -> list[AuditRow]:
        """The newest ``limit`` problems (of ``plugin``, when given), newest first."""
        found = []
        for row in reversed(list(self._rows)):
            if not plugin or row.plugin == plugin:
                found.append(row)
                if len(found) >= limit:
                    break
        return found


def problems(path: Path, *, limit: int) -> list[AuditRow]:
    """The newest records that say something went wrong (`PROBLEM_EVENTS`)."""
    rows: list[AuditRow] = []
    for line in _lines_from_the_end(path, naming=_PROBLEM_NEEDLES):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("event") not in PROBLEM_EVENTS:
            continue
        rows.append(_row(record))
        if len(rows) >= limit:
            break
    return rows


def _row(record: dict[str, object]) -> AuditRow:
    details = [
        (str(key), _field(value))
        for key, value in record.items()
        if key not in ("ts", "event", "plugin")
    ]
    return AuditRow(
        str(record.get("ts", "")),
        str(record.get("event", "")),
        str(record.get("plugin") or ""),
        details,
    )


def _field(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _MAX_FIELD_CHARS else text[:_MAX_FIELD_CHARS] + " …"


def _lines_from_the_end(path: Path, *, naming: Sequence[str] = ()) -> list[str]:
    """The last `TAIL_BYTES` of the file as lines, newest first (a cut first line dropped).

    With ``naming``, only the lines that hold one of those strings, found by searching
    the whole text: far quicker than looking at each of the tail's lines.
    """
    try:
        with path.open("rb") as file:
            size = file.seek(0, os.SEEK_END)
            start = max(0, size - TAIL_BYTES)
            file.seek(start)
            data = file.read()
    except FileNotFoundError:
        return []
    text = data.decode("utf-8", errors="replace")
    if not naming:  # records end at "\n" only: a record's text may hold U+2028 or U+0085
        lines = text.split("\n")
        if start:
            lines = lines[1:]
        return [line for line in reversed(lines) if line]
    first = (text.find("\n") + 1 or len(text)) if start else 0
    starts: set[int] = set()
    for needle in naming:
        at = text.find(needle, first)
        while at != -1:
            starts.add(text.rfind("\n", 0, at) + 1)
            at = text.find(needle, at + len(needle))
    ends = ((begin, text.find("\n", begin)) for begin in sorted(starts, reverse=True))
    return [text[begin : end if end != -1 else len(text)] for begin, end in ends]
