"""A plugin's SQLite database: one file in its data directory, guarded by an authorizer.

SQLite asks an authorizer about every action of a statement while preparing it. The
plugin's connection answers with `PluginAuthorizer`, which refuses, whatever the
spelling of the statement:

- ``ATTACH`` and ``DETACH`` (and so ``VACUUM INTO``, which attaches its target): a
  plugin reaches its own file and nothing else;
- ``load_extension()``;
- transaction statements the host did not issue itself;
- pragmas that change how the database works (``journal_mode``, ``writable_schema``...);
  the ones that only describe it (``table_info``, ``index_list``...) are allowed;
- with ``writable=False`` (the plugin holds ``db:read`` only), every write.

Migrations run on a connection of their own with ``migration=True``: schema changes
and the host's transactions are allowed there, the file boundary still holds.

Example:
    >>> import sqlite3
    >>> connection = sqlite3.connect(":memory:", isolation_level=None)
    >>> connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY)")  # doctest: +ELLIPSIS
    <sqlite3.Cursor object at ...>
    >>> connection.set_authorizer(PluginAuthorizer(writable=False))
    >>> connection.execute("SELECT count(*) FROM notes").fetchone()
    (0,)
    >>> connection.execute("INSERT INTO notes DEFAULT VALUES")
    Traceback (most recent call last):
    ...
    sqlite3.DatabaseError: not authorized
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["BUSY_TIMEOUT_MS", "PluginAuthorizer", "configure", "database_path", "open_engine"]

#: How long a statement waits for another connection's write lock before failing.
BUSY_TIMEOUT_MS = 5000

_OK, _DENY = sqlite3.SQLITE_OK, sqlite3.SQLITE_DENY
_WRITES = frozenset(
    {
        sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE,
        sqlite3.SQLITE_CREATE_INDEX, sqlite3.SQLITE_CREATE_TABLE, sqlite3.SQLITE_CREATE_TRIGGER,
        sqlite3.SQLITE_CREATE_VIEW, sqlite3.SQLITE_CREATE_TEMP_INDEX,
        sqlite3.SQLITE_CREATE_TEMP_TABLE, sqlite3.SQLITE_CREATE_TEMP_TRIGGER,
        sqlite3.SQLITE_CREATE_TEMP_VIEW, sqlite3.SQLITE_CREATE_VTABLE,
        sqlite3.SQLITE_DROP_INDEX, sqlite3.SQLITE_DROP_TABLE, sqlite3.SQLITE_DROP_TRIGGER,
        sqlite3.SQLITE_DROP_VIEW, sqlite3.SQLITE_DROP_TEMP_INDEX, sqlite3.SQLITE_DROP_TEMP_TABLE,
        sqlite3.SQLITE_DROP_TEMP_TRIGGER, sqlite3.SQLITE_DROP_TEMP_VIEW,
        sqlite3.SQLITE_DROP_VTABLE, sqlite3.SQLITE_ALTER_TABLE, sqlite3.SQLITE_REINDEX,
        sqlite3.SQLITE_ANALYZE,
    }
)  # fmt: skip
_OUTSIDE = frozenset({sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH})
_TRANSACTION = frozenset({sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT})
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_schema", "sqlite_temp_master"})
#: Pragmas that describe the database, with or without an argument naming a table.
_DESCRIBING_PRAGMAS = frozenset(
    {
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
        "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
        "collation_list", "function_list", "compile_options", "database_list",
    }
)  # fmt: skip
#: Pragmas readable without an argument (with one, they would change the database).
_READABLE_PRAGMAS = frozenset(
    {"user_version", "schema_version", "page_count", "freelist_count", "data_version"}
)
_REFUSED_FUNCTIONS = frozenset({"load_extension"})


class PluginAuthorizer:
    """SQLite's authorizer for one plugin's connection (see the module docstring).

    Args:
        writable: Allow writes (the plugin holds ``db:write``).
        migration: The connection runs migrations: schema changes and transaction
            statements are allowed, everything outside the file still refused.

    Attributes:
        host_speaking: Set while the host itself issues ``BEGIN``/``COMMIT``/``ROLLBACK``.
        refused: What the last refusal was, for the error message.
    """

    __slots__ = ("host_speaking", "migration", "refused", "writable")

    def __init__(self, *, writable: bool, migration: bool = False) -> None:
        self.writable = writable or migration
        self.migration = migration
        self.host_speaking = False
        self.refused = ""

    def __call__(  # noqa: PLR0911  # one answer per kind of action reads best
        self,
        action: int,
        arg1: str | None,
        arg2: str | None,
        database: str | None,
        trigger: str | None,
    ) -> int:
        if action in _OUTSIDE:
            return self._deny("ATTACH and DETACH: a plugin reaches only its own database")
        if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in _REFUSED_FUNCTIONS:
            return self._deny(f"{arg2}(): plugins cannot load extensions")
        if action in _TRANSACTION:
            if self.host_speaking or self.migration:
                return _OK
            return self._deny("transaction statements: the host owns transactions")
        if action == sqlite3.SQLITE_PRAGMA:
            return self._pragma(arg1 or "", arg2)
        if action in _WRITES and not self.writable:
            if arg1 in _SCHEMA_TABLES and action == sqlite3.SQLITE_UPDATE:
                return _OK  # SQLite reading its own schema, not the plugin writing
            return self._deny("writes: the plugin holds db:read only")
        return _OK

    def _pragma(self, name: str, argument: str | None) -> int:
        name = name.lower()
        if self.migration or name in _DESCRIBING_PRAGMAS:
            return _OK
        if name in _READABLE_PRAGMAS and argument is None:
            return _OK
        return self._deny(f"PRAGMA {name}: the host sets how the database works")

    def _deny(self, what: str) -> int:
        self.refused = what
        return _DENY


def database_path(data_dir: Path) -> Path:
    """Where the plugin whose data directory is ``data_dir`` keeps its database.

    Beside that directory, not in it: the plugin's worker may write its data directory
    (and so plant a symlink there), never this one. ``plugins/notes`` keeps its database
    in ``plugins/notes.db/db.sqlite3`` (no plugin name holds a dot).

    Example:
        >>> from pathlib import Path
        >>> str(database_path(Path("/srv/data/plugins/notes")))
        '/srv/data/plugins/notes.db/db.sqlite3'
    """
    return data_dir.with_name(data_dir.name + ".db") / "db.sqlite3"


def open_engine(
    path: Path, *, writable: bool, migration: bool = False, static: bool = False
) -> Engine:
    """A SQLAlchemy engine on the SQLite file ``path``, every connection guarded.

    Each connection runs in WAL mode with ``synchronous=NORMAL`` and foreign keys on.
    On a ``migration`` engine, SQLAlchemy's transactions are real SQLite transactions
    (we issue ``BEGIN IMMEDIATE``, so DDL in a migration rolls back with the rest); the
    runtime's engine only lends raw connections, whose transactions the host begins.
    ``static`` keeps one connection for every use (the sandboxed migration runner's).
    """
    from sqlalchemy import create_engine, event

    _refuse_links(path)
    options: dict[str, object] = {}
    if static:
        from sqlalchemy.pool import StaticPool

        options["poolclass"] = StaticPool
    engine = create_engine(f"sqlite:///{path}", connect_args={"cached_statements": 256}, **options)

    @event.listens_for(engine, "connect")
    def _configure(connection: sqlite3.Connection, record: ConnectionPoolEntry) -> None:
        record.info["authorizer"] = configure(connection, writable=writable, migration=migration)

    if migration:  # the runtime begins its transactions on the raw connection itself

        @event.listens_for(engine, "begin")
        def _begin(connection: object) -> None:
            from sqlalchemy.engine import Connection

            assert isinstance(connection, Connection)
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _refuse_links(path: Path) -> None:
    """Make ``path``'s directory (mode 0700), and refuse a database that is not a plain file."""
    import os
    import stat

    from pluginctl.errors import UserError

    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    for each in (path.parent, path):
        try:
            found = os.lstat(each)
        except FileNotFoundError:
            continue
        plain = (
            stat.S_ISDIR(found.st_mode)
            if each == path.parent
            else stat.S_ISREG(found.st_mode) and found.st_nlink == 1  # no hard link in
        )
        if not plain:
            raise UserError(
                f"{each} is not a plain {'directory' if each == path.parent else 'file'}"
                " (a symlink?): pluginctl opens a plugin's database only where it made it",
                hint=f"move {each} aside and start the plugin again",
            )


def configure(
    connection: sqlite3.Connection, *, writable: bool, migration: bool = False
) -> PluginAuthorizer:
    """Set up a fresh connection: autocommit driver, WAL, limits, the authorizer last.

    The engine keeps the authorizer in the connection's ``info["authorizer"]``.
    """
    connection.isolation_level = None  # transactions are begun by the host, explicitly
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA trusted_schema = OFF")
    authorizer = PluginAuthorizer(writable=writable, migration=migration)
    connection.set_authorizer(authorizer)
    return authorizer
