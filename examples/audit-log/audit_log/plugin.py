"""An audit log of the host's lifecycle events and other plugins' events, in ``api.db``.

It subscribes to ``host.**`` — the host's lifecycle records, ``host.plugin.failed``,
``host.breaker.opened``, ``host.migration.applied``, ... — and to what ``notes`` and
``greeter`` publish, and keeps each event as one row (`audit_log.records.Entry`).
The ``host.traffic`` reports are left out: they are figures, which ``analytics``
counts, not events. Past ``max_records`` rows, each new one deletes the oldest.

Read it three ways, with the same filters (`audit_log.records.Filters`):

- ``GET /records?plugin=notes&family=host.plugin&q=failed&limit=50&before=ID``:
  ``{"records": [...], "total": N, "next_before": ID or null}``, newest first;
- the admin panel ``main``: the filters as a form, the counts, a page of records;
- ``api.events.request("audit-log.query", {"plugin": "notes", "limit": 100})`` from
  another plugin (with ``events:publish:audit-log.query``): the same answer as the
  route. The ``export`` example asks this way, so it runs with or without this plugin.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from audit_log.panel import refused, render
from audit_log.records import Filters, Record, entry_of, record_of
from pluginctl import Plugin, Response

if TYPE_CHECKING:
    from pluginctl import Request

plugin = Plugin()

#: The host's traffic reports: figures for analytics, not records.
TRAFFIC = "host.traffic"
#: The most plugins and families the panel's menus list.
MAX_FACETS = 200


def now() -> str:
    """The time as the host writes it in its records: ``2026-05-01T10:00:00.123Z``."""
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


# -- keeping ------------------------------------------------------------------------------


async def keep(event: Any, api: Any) -> None:
    """Store ``event`` as one record, and delete the oldest past ``max_records``."""
    entry = entry_of(event.topic, event.publisher, event.payload, now=now())
    new_id = await api.db.fetch_value(
        "INSERT INTO records (ts, topic, family, plugin, publisher, payload)"
        " VALUES (:ts, :topic, :family, :plugin, :publisher, :payload) RETURNING id",
        msgspec.to_builtins(entry),
    )
    oldest_kept = int(new_id) - int(api.config["max_records"])
    if oldest_kept > 0:
        await api.db.execute("DELETE FROM records WHERE id <= :id", {"id": oldest_kept})


@plugin.on("host.**")
async def host_event(event: Any, api: Any) -> None:
    """A host lifecycle event: its payload is the host's audit record."""
    if event.topic != TRAFFIC:
        await keep(event, api)


@plugin.on("notes.*")
@plugin.on("greeter.*")
async def plugin_event(event: Any, api: Any) -> None:
    """An event another plugin published."""
    await keep(event, api)


# -- reading ------------------------------------------------------------------------------


async def find(api: Any, filters: Filters) -> tuple[list[Record], int, int | None]:
    """The records ``filters`` choose (newest first), how many match in all, the next page."""
    params = filters.params()
    rows = await api.db.fetch_all(
        "SELECT id, ts, topic, family, plugin, publisher, payload FROM records"
        " WHERE (:plugin = '' OR plugin = :plugin) AND (:family = '' OR family = :family)"
        " AND (lower(topic) LIKE :pattern ESCAPE '\\' OR lower(payload) LIKE :pattern ESCAPE '\\')"
        " AND (:before = 0 OR id < :before)"
        " ORDER BY id DESC LIMIT :limit",
        {**params, "limit": filters.limit + 1},  # one more: is there an older page?
    )
    matching = await api.db.fetch_value(
        "SELECT count(*) FROM records"
        " WHERE (:plugin = '' OR plugin = :plugin) AND (:family = '' OR family = :family)"
        " AND (lower(topic) LIKE :pattern ESCAPE '\\' OR lower(payload) LIKE :pattern ESCAPE '\\')",
        {name: params[name] for name in ("plugin", "family", "pattern")},
    )
    records = [record_of(row) for row in rows[: filters.limit]]
    more = len(rows) > filters.limit
    return records, int(matching), records[-1].id if more else None


async def answer(api: Any, filters: Filters) -> dict[str, object]:
    """What the route and a request answer for ``filters``."""
    records, matching, next_before = await find(api, filters)
    return {"records": msgspec.to_builtins(records), "total": matching, "next_before": next_before}


@plugin.route("GET", "/records")
async def list_records(request: Request, api: Any) -> Response:
    """A page of records: ``{"records": [...], "total": N, "next_before": ID or null}``."""
    try:
        filters = Filters.parse(request.query)
    except ValueError as exc:
        return Response.json({"error": str(exc)}, status=422)
    return Response.json(await answer(api, filters))


@plugin.on("audit-log.query")
async def query(event: Any, api: Any) -> dict[str, object]:
    """Another plugin's question (``api.events.request``): filters in, a page out.

    Filters that are not filters raise, and the asking plugin gets the reason.
    """
    return await answer(api, Filters.parse(event.payload))


async def facet(api: Any, column: str) -> dict[str, int]:
    """How many records each plugin (``column="plugin"``) or family has."""
    sql = {
        "plugin": "SELECT plugin AS name, count(*) AS n FROM records GROUP BY plugin"
        " ORDER BY plugin LIMIT :most",
        "family": "SELECT family AS name, count(*) AS n FROM records GROUP BY family"
        " ORDER BY family LIMIT :most",
    }[column]
    rows = await api.db.fetch_all(sql, {"most": MAX_FACETS})
    return {str(row["name"]): int(row["n"]) for row in rows}


@plugin.admin_panel("main")
async def panel(request: Request, api: Any) -> str:
    """The records chosen with the panel's filters, a page at a time, and the counts."""
    try:
        filters = Filters.parse(request.query)
    except ValueError as exc:
        return refused(str(exc))
    records, matching, next_before = await find(api, filters)
    return render(
        records,
        filters=filters,
        matching=matching,
        plugins=await facet(api, "plugin"),
        families=await facet(api, "family"),
        next_before=next_before,
    )
