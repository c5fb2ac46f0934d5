"""Notes kept in the plugin's own database with ``api.db``, served as JSON, and a page.

Routes, under ``/plugins/notes``:

- ``GET /notes?limit=20&offset=0``: a page of notes, newest first, with the total;
- ``POST /notes`` with ``{"title": ..., "body": ...}``: the new note, ``201``;
- ``GET /notes/{id}``: one note;
- ``PATCH /notes/{id}`` with ``title``, ``body`` or both: the changed note;
- ``DELETE /notes/{id}``: ``204``.

A note that does not exist is a ``404``; a body that is not JSON a ``400``; JSON that
is not a note (a missing title, a number for a title, an unknown field) a ``422``.
Each error is ``{"error": "..."}``, saying what was wrong.

Each change is published as an event: ``notes.created``, ``notes.updated`` and
``notes.deleted``, with ``{"id": ..., "title": ...}``. Other plugins call the export
``all_notes`` for every note as plain data, a page at a time, and the admin UI shows
the panel ``main``: the notes, searched with ``?q=``, and their counts.

The same SQL runs on SQLite (the default) and on PostgreSQL (``pluginctl run
--database-url``): named ``:parameters``, ``RETURNING``, ``LIMIT``/``OFFSET``, and
timestamps the plugin writes itself as ISO 8601 text.
"""

from __future__ import annotations

import datetime
import json
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlsplit

import msgspec

from notes.panel import PANEL_ROWS, Counts, PanelNote, render
from pluginctl import Plugin, Response

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pluginctl import Request

plugin = Plugin()

#: The most notes one page holds (``?limit=``), and how many it holds by default.
MAX_PAGE, DEFAULT_PAGE = 100, 20
MAX_OFFSET = 2**31 - 1  # what every database takes as an OFFSET
#: The largest id a note can have (a 64-bit integer); a larger one in a URL names no note.
MAX_ID = 2**63 - 1

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Body = Annotated[str, msgspec.Meta(max_length=20_000)]


class Note(msgspec.Struct):
    """A note as the database holds it and the routes send it."""

    id: int
    title: str
    body: str
    word_count: int
    created_at: str
    updated_at: str


class NewNote(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``POST /notes``."""

    title: Title
    body: Body = ""


class NoteChanges(msgspec.Struct, forbid_unknown_fields=True):
    """The body of ``PATCH /notes/{id}``: the fields to change."""

    title: Title | msgspec.UnsetType = msgspec.UNSET
    body: Body | msgspec.UnsetType = msgspec.UNSET


T = TypeVar("T", NewNote, NoteChanges)


class Refused(Exception):
    """The request cannot be served as it was sent: its status and the reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# -- pure functions: the tests call them directly ----------------------------------------


def word_count(text: str) -> int:
    """How many words ``text`` has (migration 0002 counts existing notes the same way)."""
    return len(text.split())


def now() -> str:
    """The time as the notes table keeps it: ISO 8601, UTC, to the second."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def decode(body: bytes, into: type[T]) -> T:
    """The request body as ``into``; `Refused` (400 or 422) when it is not one."""
    try:
        found = msgspec.json.decode(body, type=into)
    except msgspec.ValidationError as exc:  # JSON, but not a note
        raise Refused(422, f"not a note: {exc}") from None
    except msgspec.DecodeError:
        raise Refused(400, "the body is not JSON") from None
    title = getattr(found, "title", msgspec.UNSET)
    if isinstance(title, str) and not title.strip():
        raise Refused(422, "not a note: the title is blank - at `$.title`")
    for name in ("title", "body"):
        if "\x00" in str(getattr(found, name, "")):  # SQLite keeps it, PostgreSQL refuses it
            raise Refused(422, f"not a note: the {name} holds a NUL character - at `$.{name}`")
    return found


def note_id(request: Request) -> int | None:
    """The id in the URL (``{id:int}``), or None when no note can have it."""
    number = int(request.path_params["id"])
    return number if number <= MAX_ID else None


def page_of(query: Mapping[str, str]) -> tuple[int, int]:
    """``limit`` and ``offset`` from the query string; `Refused` (422) when out of range."""
    limit = _whole(query, "limit", default=DEFAULT_PAGE, least=1, most=MAX_PAGE)
    return limit, _whole(query, "offset", default=0, least=0, most=MAX_OFFSET)


def _whole(query: Mapping[str, str], name: str, *, default: int, least: int, most: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not (text.isascii() and text.isdigit() and least <= int(text) <= most):
        raise Refused(422, f"?{name}= takes a whole number from {least} to {most}")
    return int(text)


def search_pattern(query: str) -> str:
    r"""A ``LIKE`` pattern for ``query`` anywhere in a lowercased text, matched as written.

    ``%``, ``_`` and ``\`` in the query stand for themselves (with ``ESCAPE '\'``);
    an empty query matches every note. ``lower()`` folds every letter on PostgreSQL
    and ASCII letters on SQLite.

    Example:
        >>> search_pattern(" Milk "), search_pattern("100%"), search_pattern("")
        ('%milk%', '%100\\%%', '%%')
    """
    escaped = query.strip().lower().replace("\\", "\\\\")
    return "%" + escaped.replace("%", "\\%").replace("_", "\\_") + "%"


def cors_headers(request: Request) -> dict[str, str]:
    """What lets the plugin's own page read the answer, and no other site's page.

    The gateway serves every plugin page sandboxed, in an opaque origin, so the page's
    ``fetch()`` calls are cross-origin requests from ``Origin: null``, which any
    sandboxed page anywhere may send. So they are allowed only when the browser's
    ``Referer`` names the host the request is for: the page came from this host.
    No page on another site can make its browser say that.
    """
    headers = {"vary": "origin, referer"}  # the answer depends on them: caches must know
    if request.headers.get("origin") != "null":
        return headers
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc and referer.netloc == request.headers.get("host"):
        headers["access-control-allow-origin"] = "null"
    return headers


def reply(
    request: Request,
    data: object = None,
    *,
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON answer (no body for a 204), readable by the plugin's page."""
    every = {**cors_headers(request), **(headers or {})}
    if status == 204:
        return Response(b"", status=204, headers=every)
    return Response(json.dumps(data), status=status, headers=every, media_type="application/json")


def refusal(request: Request, refused: Refused) -> Response:
    return reply(request, {"error": refused.reason}, status=refused.status)


def missing(request: Request) -> Response:
    note_id = request.path_params["id"]
    return reply(request, {"error": f"there is no note {note_id}"}, status=404)


# -- routes --------------------------------------------------------------------------------


@plugin.route("GET", "/notes")
async def list_notes(request: Request, api: Any) -> Response:
    """A page of notes, newest first: ``{"notes": [...], "total": N, "next_offset": ...}``."""
    try:
        limit, offset = page_of(request.query)
    except Refused as refused:
        return refusal(request, refused)
    found = await api.db.fetch_all(
        "SELECT id, title, body, word_count, created_at, updated_at FROM notes"
        " ORDER BY id DESC LIMIT :limit OFFSET :offset",
        {"limit": limit, "offset": offset},
        as_type=Note,
    )
    total = await api.db.fetch_value("SELECT count(*) FROM notes")
    more = offset + len(found) < total
    return reply(
        request,
        {
            "notes": msgspec.to_builtins(found),
            "total": total,
            "limit": limit,
            "offset": offset,
            "next_offset": offset + len(found) if more else None,
        },
    )


@plugin.route("POST", "/notes")
async def create_note(request: Request, api: Any) -> Response:
    """Add a note: ``201`` with the note, and its URL in ``Location``."""
    try:
        new = decode(request.body, NewNote)
    except Refused as refused:
        return refusal(request, refused)
    stamp = now()
    note = await api.db.fetch_one(
        "INSERT INTO notes (title, body, word_count, created_at, updated_at)"
        " VALUES (:title, :body, :words, :stamp, :stamp)"
        " RETURNING id, title, body, word_count, created_at, updated_at",
        {
            "title": new.title.strip(),
            "body": new.body,
            "words": word_count(new.body),
            "stamp": stamp,
        },
        as_type=Note,
    )
    await api.events.publish("notes.created", {"id": note.id, "title": note.title})
    where = {"location": f"/plugins/{api.plugin}/notes/{note.id}"}
    return reply(request, msgspec.to_builtins(note), status=201, headers=where)


@plugin.route("GET", "/notes/{id:int}")
async def read_note(request: Request, api: Any) -> Response:
    """One note, or ``404``."""
    number = note_id(request)
    if number is None:
        return missing(request)
    note = await api.db.fetch_one(
        "SELECT id, title, body, word_count, created_at, updated_at FROM notes WHERE id = :id",
        {"id": number},
        as_type=Note,
    )
    return missing(request) if note is None else reply(request, msgspec.to_builtins(note))


@plugin.route("PATCH", "/notes/{id:int}")
async def update_note(request: Request, api: Any) -> Response:
    """Change a note's title, body or both; the note as it is now, or ``404``."""
    try:
        changes = decode(request.body, NoteChanges)
    except Refused as refused:
        return refusal(request, refused)
    if changes == NoteChanges():
        return refusal(request, Refused(422, "nothing to change: give a title, a body or both"))
    number = note_id(request)
    if number is None:
        return missing(request)
    body = None if changes.body is msgspec.UNSET else changes.body
    title = None if changes.title is msgspec.UNSET else changes.title.strip()
    note = await api.db.fetch_one(
        "UPDATE notes SET title = COALESCE(:title, title), body = COALESCE(:body, body),"
        " word_count = COALESCE(:words, word_count), updated_at = :stamp WHERE id = :id"
        " RETURNING id, title, body, word_count, created_at, updated_at",
        {
            "id": number,
            "title": title,
            "body": body,
            "words": None if body is None else word_count(body),
            "stamp": now(),
        },
        as_type=Note,
    )
    if note is None:
        return missing(request)
    await api.events.publish("notes.updated", {"id": note.id, "title": note.title})
    return reply(request, msgspec.to_builtins(note))


@plugin.route("DELETE", "/notes/{id:int}")
async def delete_note(request: Request, api: Any) -> Response:
    """Delete a note: ``204``, or ``404``."""
    number = note_id(request)
    if number is None:
        return missing(request)
    gone = await api.db.fetch_one(
        "DELETE FROM notes WHERE id = :id RETURNING id, title", {"id": number}
    )
    if gone is None:
        return missing(request)
    await api.events.publish("notes.deleted", {"id": gone["id"], "title": gone["title"]})
    return reply(request, status=204)


@plugin.route("OPTIONS", "/notes")
@plugin.route("OPTIONS", "/notes/{id:int}")
async def preflight(request: Request, api: Any) -> Response:
    """The browser's question before the page's POST, PATCH or DELETE (see `cors_headers`)."""
    headers = cors_headers(request)
    if "access-control-allow-origin" in headers:
        headers["access-control-allow-methods"] = "GET, POST, PATCH, DELETE"
        headers["access-control-allow-headers"] = "content-type"
        headers["access-control-max-age"] = "600"
    return Response(b"", status=204, headers=headers)


# -- for other plugins and the admin UI ------------------------------------------------


@plugin.export("all_notes")
async def all_notes(*, after: int = 0, limit: int = MAX_PAGE, api: Any) -> dict[str, object]:
    """Every note, oldest first, a page at a time, as plain data.

    ``{"notes": [...], "next_after": ID}``: each note as ``GET /notes/{id}`` answers
    it, the ``limit`` (1 to 100) notes whose id is past ``after``; ``next_after`` is
    the ``after`` of the next page, None on the last. Pages keep each answer well
    under the host's frame limit (16 MiB): at most 100 notes of 20,000 characters.
    """
    if not 1 <= limit <= MAX_PAGE or not 0 <= after <= MAX_ID:
        raise ValueError(f"all_notes takes 1 <= limit <= {MAX_PAGE} and 0 <= after <= {MAX_ID}")
    found = await api.db.fetch_all(
        "SELECT id, title, body, word_count, created_at, updated_at FROM notes"
        " WHERE id > :after ORDER BY id LIMIT :limit",
        {"after": after, "limit": limit + 1},  # one more: is there a next page?
        as_type=Note,
    )
    page = found[:limit]
    more = len(found) > limit
    return {"notes": msgspec.to_builtins(page), "next_after": page[-1].id if more else None}


@plugin.admin_panel("main")
async def panel(request: Request, api: Any) -> str:
    """The notes whose title or text hold ``?q=`` (all without it), newest first, counted."""
    query = request.query.get("q", "")[:200]
    pattern = {"pattern": search_pattern(query)}
    totals = await api.db.fetch_one(
        "SELECT count(*) AS notes, COALESCE(sum(word_count), 0) AS words FROM notes"
    )
    matching = await api.db.fetch_value(
        "SELECT count(*) FROM notes"
        " WHERE lower(title) LIKE :pattern ESCAPE '\\' OR lower(body) LIKE :pattern ESCAPE '\\'",
        pattern,
    )
    found = await api.db.fetch_all(
        "SELECT id, title, body, word_count, updated_at FROM notes"
        " WHERE lower(title) LIKE :pattern ESCAPE '\\' OR lower(body) LIKE :pattern ESCAPE '\\'"
        " ORDER BY id DESC LIMIT :rows",
        {**pattern, "rows": PANEL_ROWS},
        as_type=PanelNote,
    )
    counts = Counts(notes=totals["notes"], words=int(totals["words"]), matching=matching)
    return render(found, counts, query=query.strip())
