"""The marketplace over a registry's index: search, lists, project pages, ratings, updates.

Everything here reads (or, for ratings and featuring, writes) the SQLite index of
`pluginctl.registry.index`; no HTTP. `pluginctl.registry.api` serves it as JSON and
``pluginctl search`` calls it directly. Results are typed structs with ``to_dict``.

What a plugin project shows is its *listing*: its newest release that is not yanked
(a yanked release never counts as the latest). Text search is FTS5 over the
listing's name, summary, description and tags, ranked by bm25; the user's text is
never FTS5 syntax: each word is quoted and the last one matches as a prefix, so
``"``, ``*``, ``NEAR(`` or ``OR`` are words like any other, or nothing.

Project pages (`project_page`), ratings (`rate`) and update checks (`updates`) live
in modules of their own and are re-exported here.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from pluginctl.registry.index import Index
    >>> index = Index(Path(tempfile.mkdtemp()) / "index.sqlite3")
    >>> search(index, 'NEAR(" OR *').total
    0
    >>> match_expression('auth "tok')
    '"auth" "tok"*'
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, get_args

import msgspec
from packaging.utils import canonicalize_name

from pluginctl.errors import RegistryError
from pluginctl.registry._result import Result
from pluginctl.registry.host_range import admits, normalise_version
from pluginctl.registry.project_page import FileInfo, ProjectPage, ProjectVersion, project_page
from pluginctl.registry.rating import NO_RATING, Rating, rate, ratings_of
from pluginctl.registry.update_check import Update, updates

if TYPE_CHECKING:
    from pluginctl.registry.index import Index
    from pluginctl.registry.store import RegistryStore

__all__ = [
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_QUERY_CHARS",
    "SORTS",
    "FileInfo",
    "Hit",
    "ProjectPage",
    "ProjectVersion",
    "Rating",
    "SearchPage",
    "Sort",
    "TrustedKey",
    "Update",
    "admits",
    "featured",
    "match_expression",
    "popular",
    "project_page",
    "rate",
    "recent",
    "search",
    "set_featured",
    "trusted_keys",
    "updates",
]

Sort = Literal["relevance", "downloads", "recent"]
SORTS: tuple[str, ...] = get_args(Sort)
#: The longest search text taken, in characters.
MAX_QUERY_CHARS = 200
#: The most words of a search text that count; the rest are dropped.
MAX_TERMS = 12
#: The most hits one page holds.
MAX_LIMIT = 100
#: The deepest a page may start.
MAX_OFFSET = 10_000
_WORD = re.compile(r"\w+")
#: bm25 weights of the search columns: name counts most, then tags, summary, description.
_BM25 = "bm25(search, 0.0, 10.0, 4.0, 1.0, 6.0, 0.0, 0.0)"


class Hit(Result, frozen=True, kw_only=True):
    """One project found, as its listing shows it.

    Attributes:
        project: The normalised name.
        name: The name as published.
        version: The newest release that is not yanked.
        host: That release's pluginctl range ("" admits every version).
        uploaded: The project's newest upload, in seconds since the epoch.
    """

    project: str
    name: str
    summary: str
    category: str
    tags: tuple[str, ...]
    version: str
    host: str
    downloads: int
    uploaded: float
    rating: Rating
    featured: bool


class SearchPage(Result, frozen=True, kw_only=True):
    """One page of hits, and how many there are in all."""

    total: int
    limit: int
    offset: int
    hits: tuple[Hit, ...]


class TrustedKey(Result, frozen=True, kw_only=True):
    """A public key the registry trusts to sign plugins, and for which projects."""

    id: str
    name: str
    public_key: str
    projects: tuple[str, ...]
    status: str
    not_before: str | None = None
    not_after: str | None = None


# ---------------------------------------------------------------- searching


@dataclass(frozen=True, slots=True)
class _Filters:
    match: str | None = None
    category: str | None = None
    tag: str | None = None
    host: str | None = None
    featured_only: bool = False


def search(
    index: Index,
    query: str = "",
    *,
    category: str | None = None,
    tag: str | None = None,
    host_version: str | None = None,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
) -> SearchPage:
    """The plugin projects matching ``query`` and the filters, one page of them.

    Args:
        index: The registry's index.
        query: Words to find in names, summaries, descriptions and tags (all of them;
            the last as a prefix). Empty finds every project.
        category: Only projects of this category.
        tag: Only projects with this tag.
        host_version: Only projects whose latest release admits this pluginctl version.
        sort: ``relevance`` (bm25; without words: featured, then downloads),
            ``downloads`` or ``recent`` (newest upload first).
        limit: At most this many hits (1 to `MAX_LIMIT`).
        offset: Skip this many hits first (0 to `MAX_OFFSET`).

    Raises:
        RegistryError: a parameter breaks its rule (the message names it).
    """
    _check_page(sort, limit, offset)
    filters = _Filters(
        match=match_expression(_checked_query(query)),
        category=category or None,
        tag=tag.lower() if tag else None,
        host=_checked_host(host_version),
    )
    return _page(index, filters, sort=sort, limit=limit, offset=offset)


def featured(index: Index, *, limit: int = 20, host_version: str | None = None) -> list[Hit]:
    """The projects the registry's owner features, most downloaded first."""
    _check_page("downloads", limit, 0)
    filters = _Filters(host=_checked_host(host_version), featured_only=True)
    return list(_page(index, filters, sort="downloads", limit=limit, offset=0).hits)


def popular(index: Index, *, limit: int = 20, host_version: str | None = None) -> list[Hit]:
    """The most downloaded projects."""
    _check_page("downloads", limit, 0)
    filters = _Filters(host=_checked_host(host_version))
    return list(_page(index, filters, sort="downloads", limit=limit, offset=0).hits)


def recent(index: Index, *, limit: int = 20, host_version: str | None = None) -> list[Hit]:
    """The projects with the newest uploads."""
    _check_page("recent", limit, 0)
    filters = _Filters(host=_checked_host(host_version))
    return list(_page(index, filters, sort="recent", limit=limit, offset=0).hits)


def match_expression(query: str) -> str | None:
    """The FTS5 MATCH expression for a user's text: its words quoted, the last a prefix.

    Only words count (letters, digits); everything else separates them, so no text
    is FTS5 syntax. None when there is no word.

    Example:
        >>> match_expression('NEAR(a b) OR "c*')
        '"NEAR" "a" "b" "OR" "c"*'
        >>> match_expression('" * ()') is None
        True
    """
    words = _WORD.findall(query)[:MAX_TERMS]
    if not words:
        return None
    return " ".join(f'"{word}"' for word in words) + "*"


def _checked_query(query: str) -> str:
    if len(query) > MAX_QUERY_CHARS:
        raise RegistryError(
            f"q: the search text is {len(query)} characters; the limit is {MAX_QUERY_CHARS}",
            hint="search for fewer, more telling words",
        )
    return query


def _checked_host(host_version: str | None) -> str | None:
    return None if host_version is None else normalise_version(host_version)


def _check_page(sort: str, limit: int, offset: int) -> None:
    if sort not in SORTS:
        raise RegistryError(f"sort: {sort[:32]!r} is not one of {', '.join(SORTS)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise RegistryError(f"limit: {limit} is not from 1 to {MAX_LIMIT}")
    if not 0 <= offset <= MAX_OFFSET:
        raise RegistryError(f"offset: {offset} is not from 0 to {MAX_OFFSET}")


_HIT_COLUMNS = (
    "l.project, l.display, l.summary, l.category, l.tags, l.version, l.host, l.downloads,"
    " l.uploaded, l.featured"
)
_HOST_COUNTED = "l.host IN (SELECT value FROM json_each(?))"
_HOST_SCANNED = "+l.host IN (SELECT value FROM json_each(?))"
_LISTED = "FROM listings l"
_MATCHED = "FROM search JOIN listings l ON l.id = search.rowid"
_ORDER = {
    "downloads": "l.downloads DESC, l.project",
    "recent": "l.uploaded DESC, l.project",
}


def _page(index: Index, filters: _Filters, *, sort: str, limit: int, offset: int) -> SearchPage:
    with index.reading() as db:
        hosts = None if filters.host is None else _admitted_hosts(db, filters.host)
        source, counted, params = _where(filters, hosts, counting=True)
        _, where, _ = _where(filters, hosts, counting=False)
        order = _order(filters, sort)
        # the clauses are constants of this module; every value is a parameter
        try:
            (total,) = db.execute(f"SELECT COUNT(*) {source} {counted}", params).fetchone()
            rows = db.execute(
                f"SELECT {_HIT_COLUMNS} {source} {where} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        except sqlite3.OperationalError as exc:  # never reached with quoted words: a guard
            raise RegistryError(f"q: the search text cannot be searched for ({exc})") from None
        ratings = ratings_of(db, [row["project"] for row in rows])
    hits = tuple(_hit(row, ratings.get(row["project"])) for row in rows)
    return SearchPage(total=total, limit=limit, offset=offset, hits=hits)


def _where(
    filters: _Filters, hosts: list[str] | None, *, counting: bool
) -> tuple[str, str, list[object]]:
    """The FROM and WHERE clauses of a search, and their parameters.

    Counting, the host ranges are looked up by their index; fetching a page, rows are
    read in the order of the page's index and the host checked on each (``+l.host``),
    which stops at the page's end: most ranges admit most versions.
    """
    source = _LISTED
    clauses: list[str] = []
    params: list[object] = []
    if filters.match is not None:
        source = _MATCHED
        clauses.append("search MATCH ?")
        params.append(filters.match)
    if filters.category is not None:
        clauses.append("l.category = ?")
        params.append(filters.category)
    if filters.tag is not None:
        clauses.append("l.project IN (SELECT project FROM listing_tags WHERE tag = ?)")
        params.append(filters.tag)
    if hosts is not None:
        clauses.append(_HOST_COUNTED if counting else _HOST_SCANNED)
        params.append(msgspec.json.encode(hosts).decode())
    if filters.featured_only:
        clauses.append("l.featured = 1")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    return source, where, params


def _admitted_hosts(db: sqlite3.Connection, host_version: str) -> list[str]:
    """The host ranges listed that admit ``host_version``: few, whatever the projects."""
    ranges = [row[0] for row in db.execute("SELECT DISTINCT host FROM listings")]
    return [spec for spec in ranges if admits(spec, host_version)]


def _order(filters: _Filters, sort: str) -> str:
    if sort in _ORDER:
        return _ORDER[sort]
    if filters.match is not None:
        return f"{_BM25}, l.downloads DESC, l.project"
    return "l.featured DESC, l.downloads DESC, l.project"


def _hit(row: sqlite3.Row, rating: Rating | None) -> Hit:
    return Hit(
        project=row["project"],
        name=row["display"],
        summary=row["summary"],
        category=row["category"],
        tags=tuple(msgspec.json.decode(row["tags"], type=list[str])),
        version=row["version"],
        host=row["host"],
        downloads=row["downloads"],
        uploaded=row["uploaded"],
        rating=rating or NO_RATING,
        featured=bool(row["featured"]),
    )


# ---------------------------------------------------------------- owner and users


def set_featured(index: Index, project: str, *, on: bool = True) -> None:
    """Feature ``project`` (or stop featuring it, with ``on=False``).

    Raises:
        RegistryError: no such project.
    """
    name = canonicalize_name(project)
    if not index.set_featured(name, featured=on):
        raise RegistryError(
            f"{name} is not in this registry", hint=f"pluginctl search {name} lists what is"
        )


def trusted_keys(store: RegistryStore) -> list[TrustedKey]:
    """The public keys this registry trusts: id, owner, key, projects, status."""
    return [
        TrustedKey(
            id=stored.entry.id,
            name=stored.entry.name,
            public_key=stored.entry.public_key,
            projects=tuple(stored.entry.projects),
            status=stored.entry.status,
            not_before=None if stored.entry.not_before is None else str(stored.entry.not_before),
            not_after=None if stored.entry.not_after is None else str(stored.entry.not_after),
        )
        for stored in store.trust().entries()
    ]
