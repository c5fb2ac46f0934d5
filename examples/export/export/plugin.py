"""Downloads of other plugins' data: notes, and the audit log, as CSV, JSON or XLSX.

Routes, under ``/plugins/export``:

- ``GET /notes.csv``, ``/notes.json``, ``/notes.xlsx``: every note. The notes come
  from the ``notes`` plugin's export ``all_notes``, a page at a time, through
  ``api.plugins.call``: a hard dependency (``[dependencies] notes``), so the host
  starts notes first and refuses to start export without it.
- ``GET /audit.csv`` (``.json``, ``.xlsx``) ``?plugin=&family=&q=``: the audit
  log's records, newest first, asked for with ``api.events.request("audit-log.query",
  ...)``: a soft dependency. Without audit-log running the answer is a ``503``
  saying so, and everything else works.
- ``GET /``: the downloads there are.

Each file is an attachment (``Content-Disposition``) with its format's media type.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from export.formats import FORMATS, Column, Table
from pluginctl import Plugin, PluginctlError, Response, UserError

if TYPE_CHECKING:
    from pluginctl import Request

plugin = Plugin()

#: The largest file sent: a reply crosses from the worker to the host in one frame,
#: and the host ends a worker whose frame is over its limit (16 MiB by default).
MAX_FILE_BYTES = 15 * 1024 * 1024
#: The most audit records one file holds (newest first).
MAX_AUDIT_ROWS = 50_000

NOTES = (
    Column("id", "int", 6),
    Column("title", width=32),
    Column("body", width=60),
    Column("word_count", "int", 11),
    Column("created_at", "time", 20),
    Column("updated_at", "time", 20),
)
AUDIT = (
    Column("id", "int", 8),
    Column("ts", "time", 20),
    Column("topic", width=28),
    Column("family", width=16),
    Column("plugin", width=16),
    Column("publisher", width=12),
    Column("payload", width=80),
)
_AUDIT_FILTERS = ("plugin", "family", "q")


class Unavailable(Exception):
    """The data cannot be had: the status to answer and why."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def error(status: int, reason: str) -> Response:
    return Response.json({"error": reason}, status=status)


async def notes_rows(api: Any) -> list[dict[str, object]]:
    """Every note, oldest first, read from notes a page at a time."""
    rows: list[dict[str, object]] = []
    after = 0
    while True:
        try:
            page = await api.plugins.call("notes", "all_notes", after=after)
        except PluginctlError as exc:
            raise Unavailable(503, f"notes cannot be read: {exc}") from None
        rows.extend(page["notes"])
        if page["next_after"] is None:
            return rows
        after = page["next_after"]


async def audit_rows(api: Any, filters: dict[str, str]) -> list[dict[str, object]]:
    """The audit log's records that ``filters`` choose, newest first, by request."""
    rows: list[dict[str, object]] = []
    before = 0
    while len(rows) < MAX_AUDIT_ROWS:
        ask = {**filters, "limit": 1000, "before": before}
        try:
            page = await api.events.request("audit-log.query", ask, timeout_s=5.0)
        except UserError as exc:  # nobody subscribes: audit-log is not running
            raise Unavailable(503, f"the audit log is not running: {exc}") from None
        except PluginctlError as exc:  # it answered with a failure, or not in time
            raise Unavailable(502, f"the audit log did not answer: {exc}") from None
        if not isinstance(page, dict):  # only listeners (analytics) answered, with None
            raise Unavailable(503, "the audit log is not running: nobody answered")
        rows.extend(page["records"])
        if page["next_before"] is None:
            break
        before = page["next_before"]
    return rows[:MAX_AUDIT_ROWS]


async def download(table: Table, fmt: str, api: Any) -> Response:
    """``table`` as a file in ``fmt``, or an error when it is too large to send."""
    media_type, write = FORMATS[fmt]
    body = await asyncio.to_thread(write, table)  # XLSX takes a while: not on the loop
    if len(body) > MAX_FILE_BYTES:
        size_mib = len(body) / 1024 / 1024
        return error(507, f"the file would be {size_mib:.1f} MiB, over the 15 MiB one reply holds")
    api.log.info("exported", table=table.name, format=fmt, rows=len(table.rows), bytes=len(body))
    headers = {
        "content-disposition": f'attachment; filename="{table.name}.{fmt}"',
        "cache-control": "no-store",  # the data changes; never serve an old copy
    }
    return Response(body, headers=headers, media_type=media_type)


def unknown_format(fmt: str) -> Response:
    return error(404, f"there is no {fmt!r} format: choose one of {', '.join(FORMATS)}")


@plugin.route("GET", "/")
async def index(request: Request, api: Any) -> dict[str, object]:
    """The downloads this plugin offers."""
    base = f"/plugins/{api.plugin}"
    return {"downloads": [f"{base}/{name}.{fmt}" for name in ("notes", "audit") for fmt in FORMATS]}


@plugin.route("GET", "/notes.{format}")
async def notes_file(request: Request, api: Any) -> Response:
    """Every note as ``notes.csv``, ``notes.json`` or ``notes.xlsx``."""
    fmt = request.path_params["format"]
    if fmt not in FORMATS:
        return unknown_format(fmt)
    try:
        rows = await notes_rows(api)
    except Unavailable as exc:
        return error(exc.status, exc.reason)
    return await download(Table("notes", NOTES, rows), fmt, api)


@plugin.route("GET", "/audit.{format}")
async def audit_file(request: Request, api: Any) -> Response:
    """The audit log as ``audit.csv``, ``.json`` or ``.xlsx``, filtered as its panel is."""
    fmt = request.path_params["format"]
    if fmt not in FORMATS:
        return unknown_format(fmt)
    filters = {name: request.query[name] for name in _AUDIT_FILTERS if name in request.query}
    try:
        rows = await audit_rows(api, filters)
    except Unavailable as exc:
        return error(exc.status, exc.reason)
    return await download(Table("audit", AUDIT, rows), fmt, api)
