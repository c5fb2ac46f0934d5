"""The ``db`` suite's in-process anchor: the stdlib ``sqlite3`` on a file, pluginctl's pragmas.

`InProcessSqlite` opens a database file the way pluginctl opens a plugin's (WAL,
``synchronous=NORMAL``, the driver in autocommit so that transactions are explicit),
and runs the suite's statements with nothing in between: no process boundary, no
event loop, no checks.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> with InProcessSqlite(Path(tempfile.mkdtemp()) / "anchor.sqlite3") as lite:
    ...     lite.setup(["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"])
    ...     lite.load("INSERT INTO t (id, v) VALUES (:id, :v)", [{"id": 1, "v": "a"}])
    ...     lite.journal_mode(), lite.value("SELECT v FROM t WHERE id = 1")
    ...     len(lite.query_us("SELECT v FROM t WHERE id = :id", [1, 1]))
    ...     len(lite.insert_transactions_us("INSERT INTO t (v) VALUES (:v)", [{"v": "b"}]))
    ...     lite.value("SELECT count(*) FROM t")
    ('wal', 'a')
    2
    1
    2
"""

from __future__ import annotations

import sqlite3
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from types import TracebackType

__all__ = ["InProcessSqlite"]


class InProcessSqlite:
    """A SQLite file opened in this process with the pragmas pluginctl uses for a plugin's.

    Args:
        path: The database file (created).
    """

    def __init__(self, path: Path) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None)
        self._connection.execute("PRAGMA journal_mode = WAL")
        self._connection.execute("PRAGMA synchronous = NORMAL")

    def __enter__(self) -> InProcessSqlite:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._connection.close()

    def setup(self, statements: Sequence[str]) -> None:
        """Run each of ``statements`` (the schema)."""
        for statement in statements:
            self._connection.execute(statement)

    def load(self, sql: str, rows: Sequence[Mapping[str, object]]) -> None:
        """Insert ``rows`` with ``sql``, in one transaction."""
        with self._connection:
            self._connection.execute("BEGIN")
            self._connection.executemany(sql, rows)

    def journal_mode(self) -> str:
        """The journal mode in effect (``wal``)."""
        return str(self.value("PRAGMA journal_mode"))

    def value(self, sql: str) -> object:
        """The first column of the first row of ``sql``."""
        row = self._connection.execute(sql).fetchone()
        return None if row is None else row[0]

    def row(self, sql: str, key: int) -> tuple[object, ...] | None:
        """The row ``sql`` finds for ``:id`` = ``key``."""
        found = self._connection.execute(sql, {"id": key}).fetchone()
        return None if found is None else tuple(found)

    def query_us(self, sql: str, keys: Sequence[int]) -> list[float]:
        """Run ``sql`` with ``:id`` = each of ``keys``, fetching its row; microseconds each."""
        clock = time.perf_counter_ns
        execute = self._connection.execute
        timings = []
        for key in keys:
            params = {"id": key}
            start = clock()
            execute(sql, params).fetchone()
            timings.append((clock() - start) / 1e3)
        return timings

    def insert_transactions_us(self, sql: str, rows: Sequence[Mapping[str, object]]) -> list[float]:
        """Insert each row in its own transaction (``BEGIN IMMEDIATE``, ``COMMIT``); us each."""
        clock = time.perf_counter_ns
        execute = self._connection.execute
        timings = []
        for row in rows:
            start = clock()
            execute("BEGIN IMMEDIATE")
            execute(sql, row)
            execute("COMMIT")
            timings.append((clock() - start) / 1e3)
        return timings
