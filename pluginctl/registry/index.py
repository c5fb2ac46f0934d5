"""The registry's SQLite index: files with the hashes recorded at publish time, and more.

One database file beside the files it describes. It records every file's sha256,
size, upload time and uploader, its yank state and downloads; tombstones for every
file name ever published (a name is never reused, even after a file is gone); the
marketplace's facts about each plugin (category, tags, host range, permissions,
signers) with an FTS5 table to search them; upload tokens (only their sha256);
ratings; and which projects the owner features.

Each plugin project with a release that is not yanked has one *listing*: its newest
such release's version, summary, category, tags and host range, its newest upload,
its downloads and whether it is featured (copied from ``projects``, so search reads
one table), and the FTS5 ``search`` row (of the same rowid) holding that release's
text. `refresh_listing` rebuilds a project's listing in the transaction
that publishes or yanks one of its files, so the marketplace reads it as it is.

Writers take SQLite's write lock at once (``BEGIN IMMEDIATE``), so concurrent
publishers of one file queue, and exactly one of them records it.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from pluginctl.registry.distfile import DistFile

__all__ = ["FileRow", "Index", "refresh_listing"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS projects (
    name TEXT PRIMARY KEY,
    display TEXT NOT NULL,
    created REAL NOT NULL,
    featured INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS files (
    filename TEXT PRIMARY KEY,
    project TEXT NOT NULL REFERENCES projects (name),
    version TEXT NOT NULL,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    metadata_sha256 TEXT NOT NULL,
    signed INTEGER NOT NULL,
    requires_python TEXT NOT NULL,
    summary TEXT NOT NULL,
    uploaded REAL NOT NULL,
    uploader TEXT NOT NULL,
    yanked INTEGER NOT NULL DEFAULT 0,
    yank_reason TEXT NOT NULL DEFAULT '',
    downloads INTEGER NOT NULL DEFAULT 0,
    plugin TEXT
);
CREATE INDEX IF NOT EXISTS files_by_project ON files (project);
CREATE TABLE IF NOT EXISTS tombstones (
    filename TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    published REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL UNIQUE,
    projects TEXT NOT NULL,
    created REAL NOT NULL,
    revoked REAL
);
CREATE TABLE IF NOT EXISTS ratings (
    project TEXT NOT NULL,
    token TEXT NOT NULL,
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    PRIMARY KEY (project, token)
);
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5 (
    project UNINDEXED, name, summary, description, tags, category UNINDEXED,
    host UNINDEXED, tokenize = 'unicode61'
);
CREATE TABLE IF NOT EXISTS listings (
    id INTEGER PRIMARY KEY,
    project TEXT NOT NULL UNIQUE REFERENCES projects (name),
    display TEXT NOT NULL,
    featured INTEGER NOT NULL,
    version TEXT NOT NULL,
    summary TEXT NOT NULL,
    category TEXT NOT NULL,
    tags TEXT NOT NULL,
    host TEXT NOT NULL,
    uploaded REAL NOT NULL,
    downloads INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS listings_by_category ON listings (category);
CREATE INDEX IF NOT EXISTS listings_by_host ON listings (host);
CREATE INDEX IF NOT EXISTS listings_by_rank ON listings (featured DESC, downloads DESC, project);
CREATE INDEX IF NOT EXISTS listings_by_downloads ON listings (downloads DESC, project);
CREATE INDEX IF NOT EXISTS listings_by_uploaded ON listings (uploaded DESC, project);
CREATE TABLE IF NOT EXISTS listing_tags (
    tag TEXT NOT NULL,
    project TEXT NOT NULL,
    PRIMARY KEY (tag, project)
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class FileRow:
    """One published file as the index records it."""

    filename: str
    project: str
    version: str
    kind: str
    sha256: str
    size: int
    metadata_sha256: str
    signed: bool
    requires_python: str
    summary: str
    uploaded: float
    uploader: str
    yanked: bool
    yank_reason: str
    downloads: int
    plugin: dict[str, object] | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> FileRow:
        """A row of the ``files`` table."""
        plugin = json.loads(row["plugin"]) if row["plugin"] else None
        return cls(
            filename=row["filename"],
            project=row["project"],
            version=row["version"],
            kind=row["kind"],
            sha256=row["sha256"],
            size=row["size"],
            metadata_sha256=row["metadata_sha256"],
            signed=bool(row["signed"]),
            requires_python=row["requires_python"],
            summary=row["summary"],
            uploaded=row["uploaded"],
            uploader=row["uploader"],
            yanked=bool(row["yanked"]),
            yank_reason=row["yank_reason"],
            downloads=row["downloads"],
            plugin=plugin,
        )


class Index:
    """The index database at ``path``, created on first use.

    Reads go through one connection per thread, kept open (a server answers many
    requests; opening SQLite for each costs more than the query); each write opens
    its own connection and transaction.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        with self._connect() as db:
            db.execute("PRAGMA journal_mode = WAL")
            listed = db.execute("SELECT 1 FROM sqlite_master WHERE name = 'listings'").fetchone()
            db.executescript(_SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta (name, value) VALUES ('pages', 0)")
        if listed is None:
            self.rebuild_listings()  # an index written before listings existed

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        return db

    def _connect(self) -> contextlib.closing[sqlite3.Connection]:
        return contextlib.closing(self._open())

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """This thread's connection for queries (each statement sees the latest commit)."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._open()
        yield db

    def pages_generation(self) -> int:
        """A number that changes whenever a simple page would: a publish, a yank."""
        with self.reading() as db:
            row = db.execute("SELECT value FROM meta WHERE name = 'pages'").fetchone()
        return int(row["value"]) if row is not None else 0

    @staticmethod
    def pages_changed(db: sqlite3.Connection) -> None:
        """Mark the simple pages stale (inside a `writing` transaction)."""
        db.execute("UPDATE meta SET value = value + 1 WHERE name = 'pages'")

    @contextlib.contextmanager
    def writing(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, holding SQLite's write lock from its start."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # ---------------------------------------------------------------- files

    @staticmethod
    def tombstoned(db: sqlite3.Connection, dist: DistFile) -> str | None:
        """The name of a file published before as ``dist`` (spelled alike or not), or None.

        It may be gone since; `pluginctl.registry.distfile.file_identity` says which
        names are one file.
        """
        from pluginctl.registry.distfile import file_identity

        identity = file_identity(dist.filename)
        rows = db.execute("SELECT filename FROM tombstones WHERE project = ?", (dist.project,))
        names = (str(row["filename"]) for row in rows)
        return next((name for name in names if file_identity(name) == identity), None)

    @staticmethod
    def record(
        db: sqlite3.Connection,
        dist: DistFile,
        *,
        metadata_sha256: str,
        signed: bool,
        uploader: str,
        now: float,
    ) -> None:
        """Record ``dist`` (inside a `writing` transaction), its tombstone and its search row."""
        db.execute(
            "INSERT INTO projects (name, display, created) VALUES (?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET display = excluded.display",
            (dist.project, dist.name, now),
        )
        plugin = None if dist.plugin is None else json.dumps(_facts(dist))
        db.execute(
            "INSERT INTO files (filename, project, version, kind, sha256, size,"
            " metadata_sha256, signed, requires_python, summary, uploaded, uploader, plugin)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                dist.filename,
                dist.project,
                dist.version,
                dist.kind,
                dist.sha256,
                dist.size,
                metadata_sha256,
                int(signed),
                dist.requires_python,
                dist.summary,
                now,
                uploader,
                plugin,
            ),
        )
        db.execute(
            "INSERT INTO tombstones (filename, project, published) VALUES (?, ?, ?)",
            (dist.filename, dist.project, now),
        )
        refresh_listing(db, dist.project)
        Index.pages_changed(db)

    def files(self, project: str) -> list[FileRow]:
        """Every file of ``project`` (normalised), oldest first."""
        with self.reading() as db:
            rows = db.execute(
                "SELECT * FROM files WHERE project = ? ORDER BY uploaded, filename", (project,)
            ).fetchall()
        return [FileRow.from_row(row) for row in rows]

    def file(self, filename: str) -> FileRow | None:
        """The file called ``filename``, or None."""
        with self.reading() as db:
            row = db.execute("SELECT * FROM files WHERE filename = ?", (filename,)).fetchone()
        return None if row is None else FileRow.from_row(row)

    def all_files(self) -> list[FileRow]:
        """Every file, by project and upload time."""
        with self.reading() as db:
            rows = db.execute("SELECT * FROM files ORDER BY project, uploaded").fetchall()
        return [FileRow.from_row(row) for row in rows]

    def projects(self) -> list[tuple[str, str]]:
        """Every project: (normalised name, name as published), sorted."""
        with self.reading() as db:
            rows = db.execute("SELECT name, display FROM projects ORDER BY name").fetchall()
        return [(row["name"], row["display"]) for row in rows]

    def count_download(self, filename: str, times: int = 1) -> None:
        """``times`` more downloads of ``filename`` (and of its project's listing)."""
        self.count_downloads({filename: times})

    def count_downloads(self, counts: Mapping[str, int]) -> None:
        """Add downloads to each file of ``counts``, and to its project's listing, at once."""
        with self.writing() as db:
            for filename, times in counts.items():
                db.execute(
                    "UPDATE files SET downloads = downloads + ? WHERE filename = ?",
                    (times, filename),
                )
                db.execute(
                    "UPDATE listings SET downloads = downloads + ?"
                    " WHERE project = (SELECT project FROM files WHERE filename = ?)",
                    (times, filename),
                )

    def set_featured(self, project: str, *, featured: bool) -> bool:
        """Feature ``project`` (normalised) or stop; whether there is such a project."""
        with self.writing() as db:
            cursor = db.execute(
                "UPDATE projects SET featured = ? WHERE name = ?", (int(featured), project)
            )
            db.execute(
                "UPDATE listings SET featured = ? WHERE project = ?", (int(featured), project)
            )
            return cursor.rowcount > 0

    def set_yanked(self, project: str, version: str, *, yanked: bool, reason: str) -> int:
        """Yank (or un-yank) every file of ``project`` ``version``; how many there were.

        A version is matched as installers read it: ``1``, ``1.0`` and ``1.0.0`` are one.
        """
        with self.writing() as db:
            rows = db.execute("SELECT DISTINCT version FROM files WHERE project = ?", (project,))
            same = [row["version"] for row in rows if _same_version(row["version"], version)]
            cursor = db.executemany(
                "UPDATE files SET yanked = ?, yank_reason = ? WHERE project = ? AND version = ?",
                [(int(yanked), reason if yanked else "", project, v) for v in same],
            )
            refresh_listing(db, project)
            self.pages_changed(db)
            return cursor.rowcount if same else 0

    def rebuild_listings(self) -> None:
        """Rebuild every project's listing and search row from the files."""
        with self.writing() as db:
            db.execute("DELETE FROM search")
            db.execute("DELETE FROM listings")
            db.execute("DELETE FROM listing_tags")
            for row in db.execute("SELECT name FROM projects").fetchall():
                refresh_listing(db, row["name"])


def _same_version(recorded: str, asked: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(recorded) == Version(asked)
    except InvalidVersion:
        return recorded == asked


def _facts(dist: DistFile) -> dict[str, object]:
    facts = dist.plugin
    assert facts is not None
    return {
        "category": facts.category,
        "tags": list(facts.tags),
        "host": facts.host,
        "permissions": list(facts.permissions),
        "description": facts.description,
        "signers": list(facts.signers),
    }


def refresh_listing(db: sqlite3.Connection, project: str) -> None:
    """Rebuild ``project``'s listing and search row (inside a `writing` transaction).

    The newest plugin release that is not yanked gives the facts; a project with none
    (a library, or every release yanked) has no listing and is not found by search.
    """
    old = db.execute("SELECT id FROM listings WHERE project = ?", (project,)).fetchone()
    if old is not None:
        db.execute("DELETE FROM search WHERE rowid = ?", (old["id"],))
        db.execute("DELETE FROM listings WHERE id = ?", (old["id"],))
        db.execute("DELETE FROM listing_tags WHERE project = ?", (project,))
    rows = db.execute(
        "SELECT version, summary, uploaded, yanked, downloads, plugin FROM files WHERE project = ?",
        (project,),
    ).fetchall()
    newest = _newest_plugin_release(rows)
    if newest is None:
        return
    facts = json.loads(newest["plugin"])
    tags = [str(tag) for tag in facts.get("tags", [])]
    live = [row["uploaded"] for row in rows if not row["yanked"]]
    owner = db.execute("SELECT display, featured FROM projects WHERE name = ?", (project,))
    display, featured = owner.fetchone()
    cursor = db.execute(
        "INSERT INTO listings (project, display, featured, version, summary, category, tags,"
        " host, uploaded, downloads) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            project,
            display,
            featured,
            newest["version"],
            newest["summary"],
            str(facts.get("category", "")),
            json.dumps(tags),
            str(facts.get("host", "")),
            max(live),
            sum(row["downloads"] for row in rows),
        ),
    )
    db.executemany(
        "INSERT OR IGNORE INTO listing_tags (tag, project) VALUES (?, ?)",
        [(tag, project) for tag in tags],
    )
    db.execute(
        "INSERT INTO search (rowid, project, name, summary, description, tags, category, host)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            cursor.lastrowid,
            project,
            str(display).replace("-", " ").replace("_", " "),
            newest["summary"],
            str(facts.get("description", "")),
            " ".join(tags),
            str(facts.get("category", "")),
            str(facts.get("host", "")),
        ),
    )


def _newest_plugin_release(rows: list[sqlite3.Row]) -> sqlite3.Row | None:
    from packaging.version import Version

    live = [row for row in rows if row["plugin"] and not row["yanked"]]
    return max(live, key=lambda row: Version(row["version"]), default=None)
