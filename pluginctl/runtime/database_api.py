"""``api.db`` as plugin code sees it: statements with named parameters, rows back.

Parameters are written ``:name`` in the SQL and passed as a mapping; they are bound
by the database, never pasted into the SQL, so they cannot inject anything. Rows come
back as dicts, or as instances of a type given with ``as_type`` (a msgspec Struct, a
dataclass, a TypedDict...), converted by msgspec::

    class Note(msgspec.Struct):
        id: int
        title: str


    sql = "SELECT id, title FROM notes WHERE id = :id"
    note = await api.db.fetch_one(sql, {"id": 1}, as_type=Note)

Statements grouped in a transaction are applied together or not at all; the host owns
it, so a worker that dies inside one leaves nothing behind::

    async with api.db.transaction():
        await api.db.execute("INSERT INTO notes (title) VALUES (:t)", {"t": "a"})
        await api.db.execute("UPDATE stats SET notes = notes + 1")

Inside the ``async with`` block, every ``api.db`` call of the task belongs to the
transaction; leaving the block commits, an exception rolls back (and propagates).
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, overload

import msgspec

from pluginctl.errors import UserError

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Awaitable, Callable, Mapping, Sequence
    from types import TracebackType

__all__ = ["Database", "ExecuteResult", "SyncDatabase", "SyncTransaction", "Transaction"]

T = TypeVar("T")
_FETCH_NONE, _FETCH_ONE, _FETCH_ALL = 0, 1, 2
_CURRENT: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "pluginctl_db_transaction", default=None
)


@dataclass(frozen=True, slots=True)
class ExecuteResult:
    """What a statement changed.

    Attributes:
        rowcount: Rows inserted, updated or deleted (-1 when the database does not say).
        last_row_id: SQLite's rowid of the last inserted row; None on PostgreSQL (use
            ``RETURNING id`` with `Database.fetch_one` on both).
    """

    rowcount: int
    last_row_id: int | None


class Database:
    """The plugin's own database (permissions ``db:read``; ``db:write`` for writes)."""

    def __init__(self, call: Callable[..., Awaitable[object]]) -> None:
        self._call = call

    async def execute(self, sql: str, params: Mapping[str, object] | None = None) -> ExecuteResult:
        """Run a statement that returns no rows (INSERT, UPDATE, DELETE)."""
        return _execute_result(await self._run(sql, params, _FETCH_NONE, _CURRENT.get()))

    async def execute_many(self, sql: str, params: Sequence[Mapping[str, object]]) -> int:
        """Run ``sql`` once per mapping, in one transaction; the rows changed in all."""
        result = await self._call("db.run_many", sql, [dict(p) for p in params], _CURRENT.get())
        return result if isinstance(result, int) else 0

    @overload
    async def fetch_one(
        self, sql: str, params: Mapping[str, object] | None = None, *, as_type: None = None
    ) -> dict[str, object] | None: ...

    @overload
    async def fetch_one(
        self, sql: str, params: Mapping[str, object] | None = None, *, as_type: type[T]
    ) -> T | None: ...

    async def fetch_one(
        self,
        sql: str,
        params: Mapping[str, object] | None = None,
        *,
        as_type: type[T] | None = None,
    ) -> dict[str, object] | T | None:
        """The first row of a query, or None when it has none."""
        rows = _rows(await self._run(sql, params, _FETCH_ONE, _CURRENT.get()), as_type)
        return rows[0] if rows else None

    @overload
    async def fetch_all(
        self, sql: str, params: Mapping[str, object] | None = None, *, as_type: None = None
    ) -> list[dict[str, object]]: ...

    @overload
    async def fetch_all(
        self, sql: str, params: Mapping[str, object] | None = None, *, as_type: type[T]
    ) -> list[T]: ...

    async def fetch_all(
        self,
        sql: str,
        params: Mapping[str, object] | None = None,
        *,
        as_type: type[T] | None = None,
    ) -> list[dict[str, object]] | list[T]:
        """Every row of a query (at most 100,000: page through more with LIMIT)."""
        return _rows(await self._run(sql, params, _FETCH_ALL, _CURRENT.get()), as_type)

    async def fetch_value(self, sql: str, params: Mapping[str, object] | None = None) -> object:
        """The first column of the first row, or None: ``SELECT count(*) ...``."""
        result = await self._run(sql, params, _FETCH_ONE, _CURRENT.get())
        rows = _wire_rows(result)[1]
        return rows[0][0] if rows and rows[0] else None

    def transaction(self) -> Transaction:
        """An async context manager: the statements inside commit together, or not at all."""
        return Transaction(self._call)

    async def _run(
        self, sql: str, params: Mapping[str, object] | None, fetch: int, tx: int | None
    ) -> object:
        return await self._call("db.run", sql, None if params is None else dict(params), tx, fetch)


class Transaction:
    """One transaction, opened by `Database.transaction`."""

    def __init__(self, call: Callable[..., Awaitable[object]]) -> None:
        self._call = call
        self._id: int | None = None
        self._token: contextvars.Token[int | None] | None = None

    async def __aenter__(self) -> Transaction:
        _refuse_nested()
        number = await self._call("db.begin")
        assert isinstance(number, int), f"db.begin answered {number!r}"
        self._id = number
        self._token = _CURRENT.set(number)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._token is not None
        _CURRENT.reset(self._token)
        await self._call("db.rollback" if exc_type is not None else "db.commit", self._id)


class SyncDatabase:
    """``api.db`` for sync handlers: the same methods, blocking the handler's thread."""

    def __init__(self, database: Database, loop: asyncio.AbstractEventLoop) -> None:
        self._database = database
        self._call = database._call  # the same transport, driven from another thread
        self._loop = loop

    def execute(self, sql: str, params: Mapping[str, object] | None = None) -> ExecuteResult:
        """See `Database.execute`."""
        return _execute_result(self._run(sql, params, _FETCH_NONE))

    def execute_many(self, sql: str, params: Sequence[Mapping[str, object]]) -> int:
        """See `Database.execute_many`."""
        rows = [dict(p) for p in params]
        result = self.block(self._call("db.run_many", sql, rows, _CURRENT.get()))
        return result if isinstance(result, int) else 0

    def fetch_one(
        self,
        sql: str,
        params: Mapping[str, object] | None = None,
        *,
        as_type: type[T] | None = None,
    ) -> dict[str, object] | T | None:
        """See `Database.fetch_one`."""
        rows = _rows(self._run(sql, params, _FETCH_ONE), as_type)
        return rows[0] if rows else None

    def fetch_all(
        self,
        sql: str,
        params: Mapping[str, object] | None = None,
        *,
        as_type: type[T] | None = None,
    ) -> list[dict[str, object]] | list[T]:
        """See `Database.fetch_all`."""
        return _rows(self._run(sql, params, _FETCH_ALL), as_type)

    def fetch_value(self, sql: str, params: Mapping[str, object] | None = None) -> object:
        """See `Database.fetch_value`."""
        rows = _wire_rows(self._run(sql, params, _FETCH_ONE))[1]
        return rows[0][0] if rows and rows[0] else None

    def transaction(self) -> SyncTransaction:
        """A context manager (``with``): see `Database.transaction`."""
        return SyncTransaction(self)

    def _run(self, sql: str, params: Mapping[str, object] | None, fetch: int) -> object:
        tx = _CURRENT.get()  # this thread's transaction, read here, not on the loop
        return self.block(self._database._run(sql, params, fetch, tx))

    def block(self, awaitable: Awaitable[object]) -> object:
        """Wait in this thread for ``awaitable``, run on the worker's event loop."""
        import asyncio

        async def run() -> object:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()


class SyncTransaction:
    """One transaction of a sync handler, opened by `SyncDatabase.transaction`."""

    def __init__(self, database: SyncDatabase) -> None:
        self._database = database
        self._id: int | None = None
        self._token: contextvars.Token[int | None] | None = None

    def __enter__(self) -> SyncTransaction:
        _refuse_nested()
        number = self._database.block(self._database._call("db.begin"))
        assert isinstance(number, int), f"db.begin answered {number!r}"
        self._id = number
        self._token = _CURRENT.set(number)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._token is not None
        _CURRENT.reset(self._token)
        verb = "db.rollback" if exc_type is not None else "db.commit"
        self._database.block(self._database._call(verb, self._id))


def _refuse_nested() -> None:
    if _CURRENT.get() is not None:
        raise UserError(
            "api.db.transaction() was opened inside another transaction",
            hint="use the transaction already open: its statements commit together",
        )


def _execute_result(result: object) -> ExecuteResult:
    if isinstance(result, list) and len(result) == 2:
        rowcount, last = result
        return ExecuteResult(
            rowcount if isinstance(rowcount, int) else -1, last if isinstance(last, int) else None
        )
    return ExecuteResult(-1, None)


def _wire_rows(result: object) -> tuple[list[str], list[list[object]]]:
    if isinstance(result, list) and len(result) == 2:
        columns, rows = result
        if isinstance(columns, list) and isinstance(rows, list):
            return [str(c) for c in columns], rows
    return [], []


@overload
def _rows(result: object, as_type: None) -> list[dict[str, object]]: ...
@overload
def _rows(result: object, as_type: type[T]) -> list[T]: ...
@overload
def _rows(result: object, as_type: type[T] | None) -> list[dict[str, object]] | list[T]: ...
def _rows(result: object, as_type: type[T] | None) -> list[dict[str, object]] | list[T]:
    columns, rows = _wire_rows(result)
    records = [dict(zip(columns, row, strict=False)) for row in rows]
    if as_type is None:
        return records
    return msgspec.convert(records, list[as_type], strict=False)  # type: ignore[valid-type]  # a runtime type
