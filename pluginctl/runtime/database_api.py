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

import asyncio
import contextvars
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, overload

import msgspec

from pluginctl.errors import DatabaseError, UserError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence
    from types import TracebackType

__all__ = ["Database", "ExecuteResult", "SyncDatabase", "SyncTransaction", "Transaction"]

T = TypeVar("T")
_FETCH_NONE, _FETCH_ONE, _FETCH_ALL = 0, 1, 2
_BEGIN = "begin"  # as a statement's transaction: begin one, run the statement in it


class _Open:
    """A transaction the plugin opened; the host's id for it once its first statement ran.

    The host begins the transaction with its first statement, in one round trip.
    """

    __slots__ = ("failed", "first", "number")

    def __init__(self) -> None:
        self.number: int | None = None
        self.first: asyncio.Lock | None = None  # made on the worker's loop, when needed
        self.failed: BaseException | None = None  # a statement failed: the host rolled it back

    def check(self) -> None:
        """Raise if a statement of this transaction failed (it is rolled back)."""
        if self.failed is not None:
            raise DatabaseError(
                f"the transaction was rolled back: a statement in it failed ({self.failed})",
                kind="transaction",
                hint="a transaction applies all of its statements or none: let the error"
                " leave the 'async with api.db.transaction()' block, then try it again",
            )


_CURRENT: contextvars.ContextVar[_Open | None] = contextvars.ContextVar(
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
        return await self._run_many(sql, params, _CURRENT.get())

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
        return Transaction(self)

    async def _run(
        self, sql: str, params: Mapping[str, object] | None, fetch: int, tx: _Open | None
    ) -> object:
        bound = None if params is None else dict(params)
        if tx is None:
            return await self._call("db.run", sql, bound, None, fetch)
        tx.check()
        try:
            return await self._run_in(tx, sql, bound, fetch)
        except Exception as exc:
            tx.failed = exc  # the host rolled the transaction back with the statement
            raise

    async def _run_in(
        self, tx: _Open, sql: str, bound: dict[str, object] | None, fetch: int
    ) -> object:
        if tx.number is None:
            tx.first = tx.first or asyncio.Lock()
            async with tx.first:  # one statement begins it; the others wait for its id
                if tx.number is None:
                    answer = await self._call("db.run", sql, bound, _BEGIN, fetch)
                    assert isinstance(answer, list), f"db.run answered {answer!r}"
                    number, result = answer
                    assert isinstance(number, int), f"db.run began {number!r}"
                    tx.number = number
                    return result
        return await self._call("db.run", sql, bound, tx.number, fetch)

    async def _run_many(
        self, sql: str, params: Sequence[Mapping[str, object]], tx: _Open | None
    ) -> int:
        rows = [dict(p) for p in params]
        if tx is None:
            result = await self._call("db.run_many", sql, rows, None)
            return result if isinstance(result, int) else 0
        tx.check()
        try:
            if tx.number is None:
                begun = await self._call("db.begin")
                assert isinstance(begun, int), f"db.begin answered {begun!r}"
                tx.number = begun
            result = await self._call("db.run_many", sql, rows, tx.number)
        except Exception as exc:
            tx.failed = exc
            raise
        return result if isinstance(result, int) else 0

    async def _end(self, tx: _Open, *, commit: bool) -> None:
        if tx.failed is not None:  # rolled back already
            if commit:  # the block ended as if all went well: say that it did not
                tx.check()
            return
        if tx.number is not None:  # a transaction that ran nothing has nothing to end
            await self._call("db.commit" if commit else "db.rollback", tx.number)


class Transaction:
    """One transaction, opened by `Database.transaction`."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._open = _Open()
        self._token: contextvars.Token[_Open | None] | None = None

    async def __aenter__(self) -> Transaction:
        _refuse_nested()
        self._token = _CURRENT.set(self._open)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._token is not None
        _CURRENT.reset(self._token)
        await self._database._end(self._open, commit=exc_type is None)


class SyncDatabase:
    """``api.db`` for sync handlers: the same methods, blocking the handler's thread."""

    def __init__(self, database: Database, loop: asyncio.AbstractEventLoop) -> None:
        self._database = database  # the same transport, driven from another thread
        self._loop = loop

    def execute(self, sql: str, params: Mapping[str, object] | None = None) -> ExecuteResult:
        """See `Database.execute`."""
        return _execute_result(self._run(sql, params, _FETCH_NONE))

    def execute_many(self, sql: str, params: Sequence[Mapping[str, object]]) -> int:
        """See `Database.execute_many`."""
        result = self.block(self._database._run_many(sql, params, _CURRENT.get()))
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

    def end(self, tx: _Open, *, commit: bool) -> None:
        """Commit or roll back ``tx`` (see `SyncTransaction`)."""
        self.block(self._database._end(tx, commit=commit))

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
        self._open = _Open()
        self._token: contextvars.Token[_Open | None] | None = None

    def __enter__(self) -> SyncTransaction:
        _refuse_nested()
        self._token = _CURRENT.set(self._open)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._token is not None
        _CURRENT.reset(self._token)
        self._database.end(self._open, commit=exc_type is None)


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
