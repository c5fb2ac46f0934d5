"""What the audit log keeps of an event, and how it is searched: pure functions.

Every event becomes one `Entry`: when it happened, its topic and *family* (the
topic less its last word: ``host.plugin`` for ``host.plugin.failed``, ``notes``
for ``notes.created``), the plugin it is about and who published it, and the
payload as JSON. A host event's payload is the host's audit record, ``{"ts",
"event", "plugin", ...}``: its time and plugin are the record's. Another plugin's
event is about that plugin, at the time it came in.

Example:
    >>> record = {"ts": "2026-05-01T10:00:00Z", "event": "plugin.failed", "plugin": "notes"}
    >>> entry = entry_of("host.plugin.failed", "host", record, now="later")
    >>> entry.ts, entry.family, entry.plugin, entry.publisher
    ('2026-05-01T10:00:00Z', 'host.plugin', 'notes', 'host')
    >>> entry_of("notes.created", "notes", {"id": 1}, now="2026-05-01T10:00:01Z").family
    'notes'
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import msgspec

if TYPE_CHECKING:
    from collections.abc import Mapping

#: The most records one answer holds.
MAX_LIMIT = 1000
_MAX_PAYLOAD_CHARS = 20_000  # a longer payload is kept cut, as a string
_Text = Annotated[str, msgspec.Meta(max_length=200)]


class Entry(msgspec.Struct, frozen=True):
    """One event as the ``records`` table keeps it."""

    ts: str
    topic: str
    family: str
    plugin: str
    publisher: str
    payload: str


class Record(msgspec.Struct, frozen=True):
    """One stored record, as the routes and the query answer it (``payload`` parsed)."""

    id: int
    ts: str
    topic: str
    family: str
    plugin: str
    publisher: str
    payload: object


class Filters(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Which records to show: every filter is optional (``""`` and ``0`` mean any).

    Attributes:
        plugin: Records about this plugin.
        family: Of this family (``host.plugin``, ``notes``).
        q: Holding this text in the topic or the payload, case-blind.
        limit: The most records to answer.
        before: Only records older than this id (the ``next_before`` of a previous page).
    """

    plugin: _Text = ""
    family: _Text = ""
    q: _Text = ""
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_LIMIT)] = 50
    before: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] = 0

    @classmethod
    def parse(cls, given: object) -> Filters:
        """Filters from a query string's mapping or a request's payload.

        Raises:
            ValueError: saying which filter is wrong and why.
        """
        try:
            return msgspec.convert({} if given is None else given, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise ValueError(f"not a filter: {exc}") from None

    def params(self) -> dict[str, object]:
        """The parameters of the statements that filter records (in `audit_log.plugin`)."""
        return {
            "plugin": self.plugin,
            "family": self.family,
            "pattern": search_pattern(self.q),
            "before": self.before,
            "limit": self.limit,
        }

    def query(self) -> dict[str, str]:
        """The filters that are set, as a query string's mapping (for links)."""
        chosen = {"plugin": self.plugin, "family": self.family, "q": self.q}
        return {name: value for name, value in chosen.items() if value}


def family_of(topic: str) -> str:
    """The topic less its last word; a one-word topic is its own family.

    Example:
        >>> family_of("host.breaker.opened"), family_of("ping")
        ('host.breaker', 'ping')
    """
    return topic.rpartition(".")[0] or topic


def entry_of(topic: str, publisher: str, payload: object, *, now: str) -> Entry:
    """The `Entry` for an event published on ``topic`` by ``publisher``, come in ``now``."""
    ts, plugin = now, publisher
    if publisher == "host" and isinstance(payload, dict):  # the host's own audit record
        ts = str(payload.get("ts") or now)
        plugin = str(payload.get("plugin") or "host")
    return Entry(ts, topic, family_of(topic), plugin, publisher, _json(payload))


def record_of(row: Mapping[str, object]) -> Record:
    """A row of the ``records`` table with its payload parsed."""
    text = str(row["payload"])
    try:
        payload = json.loads(text)
    except ValueError:  # cut when it was stored
        payload = text
    return msgspec.convert({**row, "payload": payload}, Record)


def search_pattern(text: str) -> str:
    r"""A ``LIKE ... ESCAPE '\'`` pattern for ``text`` anywhere in a lowercased column.

    Example:
        >>> search_pattern(" Failed "), search_pattern("50%"), search_pattern("")
        ('%failed%', '%50\\%%', '%%')
    """
    escaped = text.strip().lower().replace("\\", "\\\\")
    return "%" + escaped.replace("%", "\\%").replace("_", "\\_") + "%"


def _json(payload: object) -> str:
    text = json.dumps(payload, ensure_ascii=False, default=str, sort_keys=True)
    if len(text) <= _MAX_PAYLOAD_CHARS:
        return text
    return json.dumps(text[: _MAX_PAYLOAD_CHARS - 1] + "…", ensure_ascii=False)
