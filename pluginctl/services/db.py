"""``api.db``: the statements a plugin sends, run by the host on the plugin's own database.

The plugin never holds a connection. Its worker sends a statement and its parameters
over RPC; the host checks the statement (`pluginctl.data.classify`: one statement, a
read or a write, ``db:write`` for a write), runs it with the parameters bound (never
pasted into the SQL) and sends back plain rows. Transactions live in the host too: a
worker that dies, or a transaction left open past its deadline, is rolled back, so
nothing is ever half-written.

On SQLite the host runs statements inline on its event loop (a primary-key lookup takes
microseconds, less than handing it to a thread) on one connection per plugin; an open
transaction holds that connection, and the plugin's other statements wait for it to
end. On PostgreSQL each statement runs in a thread on a pooled connection, logged in
as the plugin's own role; a transaction keeps its connection until it ends.

Parameters are named, ``:name`` in the SQL, on both backends.
"""

from __future__ import annotations

import asyncio
import datetime
import functools
import itertools
import logging
import math
import sqlite3
import threading
import time
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING

from pluginctl.data.statements import classify
from pluginctl.errors import DatabaseError, PermissionDenied, StatementRefused

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Mapping

    from sqlalchemy.engine import Engine
    from sqlalchemy.pool import PoolProxiedConnection

    from pluginctl.data.sqlite import PluginAuthorizer
    from pluginctl.data.target import DatabaseTarget
    from pluginctl.runtime.policy import Policy

__all__ = ["MAX_ROWS", "SQLITE_STATEMENT_S", "DatabaseSession", "PluginDatabase"]

logger = logging.getLogger(__name__)

#: The most rows one fetch returns; more is an error that says to use LIMIT.
MAX_ROWS = 100_000
#: The longest a plugin's SQLite statement may run: the host runs them on its event loop.
SQLITE_STATEMENT_S = 0.25
_PROGRESS_EVERY = 10_000  # SQLite virtual machine steps between looks at the clock

_FETCH_NONE, _FETCH_ONE, _FETCH_ALL = 0, 1, 2
_BEGIN = "begin"  # a statement's transaction: begin one for it (its first statement)
_KINDS = {
    "IntegrityError": "integrity",
    "ProgrammingError": "programming",
    "NotSupportedError": "programming",
    "DataError": "data",
    "OperationalError": "operational",
    "InternalError": "operational",
    "InterfaceError": "operational",
}
_SCALARS = (str, int, float, bytes, bool, type(None))
_SQLITE_MISTAKES = ("no such ", "near ", "table ", "incomplete input", "unrecognized token")
_ROLE_REFUSALS = ("25006", "42501")  # read-only transaction; insufficient privilege
_QUERY_CANCELED = "57014"
_REMEMBERED_SQL_CHARS = 2000  # longer statements are classified anew each time


class PluginDatabase:
    """One plugin's database as the host serves it to the plugin's workers.

    Args:
        target: Where the database is.
        writable: The plugin holds ``db:write`` (else ``db:read`` only).
        transaction_timeout_s: How long a transaction may stay open before the host
            rolls it back (the plugin's call deadline: a transaction lives in one call).
    """

    def __init__(
        self, target: DatabaseTarget, *, writable: bool, transaction_timeout_s: float
    ) -> None:
        self.target = target
        self.plugin = target.plugin
        self.writable = writable
        self.transaction_timeout_s = transaction_timeout_s
        self._engine: Engine | None = None
        self._opening = threading.Lock()  # statements on PostgreSQL open it from threads
        self._sqlite: _SqliteLane | None = None
        self._writer = asyncio.Lock()  # SQLite: held by the open transaction
        self._transactions: dict[int, _Transaction] = {}
        self._ids = itertools.count(1)
        self.watch = _Watch(target.plugin, transaction_timeout_s)  # PostgreSQL's statements
        self._expired: dict[int, str] = {}
        self._rollbacks: set[asyncio.Task[None]] = set()  # held until they end

    # -- the plugin's statements -------------------------------------------------

    def run(
        self,
        sql: str,
        params: Mapping[str, object],
        tx: object,
        fetch: int,
        *,
        owner: DatabaseSession | None = None,
    ) -> object:
        """Run one checked statement: answered inline when it can be, else a coroutine.

        ``tx`` must be a transaction ``owner`` opened (when an owner is given).
        """
        if tx is not None:
            transaction = self._transaction(tx, owner)
            try:
                result = transaction.run(sql, params, fetch)
            except Exception as exc:
                self._doom(transaction, exc)
                raise
            if asyncio.iscoroutine(result):
                return self._awaited_in(transaction, result)
            return result
        if self.target.path is not None:
            lane = self._sqlite_lane()
            if self._writer.locked():  # a transaction holds the connection: wait for it
                return self._run_after_transaction(lane, sql, params, fetch)
            return lane.run(sql, params, fetch)
        self.watch.arm()
        return asyncio.to_thread(self._run_once, sql, params, fetch)

    async def begin(self, owner: DatabaseSession) -> int:
        """Open a transaction for ``owner``'s worker; its id."""
        number = next(self._ids)
        if self.target.path is not None:
            await self._writer.acquire()
            try:
                sqlite_lane = self._sqlite_lane()
                sqlite_lane.begin()
            except BaseException:
                self._writer.release()
                raise
            lane: _SqliteLane | _PostgresLane = sqlite_lane
        else:
            lane = _PostgresLane(await asyncio.to_thread(self._open_engine().raw_connection), self)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.transaction_timeout_s, self._expire, number)
        self._transactions[number] = _Transaction(number, lane, owner, timer)
        owner.transactions.add(number)
        return number

    async def finish(
        self, tx: object, *, commit: bool, owner: DatabaseSession | None = None
    ) -> None:
        """Commit (or roll back) the transaction ``tx`` (one ``owner`` opened, if given)."""
        transaction = self._transaction(tx, owner)
        self._forget(transaction)
        try:
            await transaction.end(commit=commit)
        finally:
            self._release(transaction)

    async def abort(self, owner: DatabaseSession, reason: str) -> None:
        """Roll back every transaction ``owner``'s worker left open (it has ended)."""
        for number in sorted(owner.transactions):
            transaction = self._transactions.get(number)
            if transaction is not None:
                self._retire(transaction, reason)
                await self._roll_back(transaction)

    def close(self) -> None:
        """Roll back what is open and close every connection."""
        for transaction in list(self._transactions.values()):
            self._forget(transaction)
            transaction.lane_rollback_quietly()
            self._release(transaction)
        if self._sqlite is not None:
            self._sqlite.close()
        with self._opening:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
                self._sqlite = None

    def session(self, policy: Policy) -> DatabaseSession:
        """A session for one worker, checked by ``policy``: its statements and transactions."""
        if policy.grants("db:write") != self.writable:
            self.close()  # the permissions changed (a reload): roll back, reconnect as the new
            self.writable = policy.grants("db:write")
        return DatabaseSession(self, policy)

    # -- inside ----------------------------------------------------------------------

    def _transaction(self, tx: object, owner: DatabaseSession | None = None) -> _Transaction:
        transaction = self._transactions.get(tx) if isinstance(tx, int) else None
        if transaction is not None and (owner is None or transaction.owner is owner):
            return transaction  # another worker's transaction is not this one's to use
        reason = self._expired.get(tx) if isinstance(tx, int) else None
        raise DatabaseError(
            f"transaction {tx!r} of plugin {self.plugin!r} is no longer open"
            + (f": {reason}" if reason else ""),
            kind="transaction",
            hint="run the statements again in a new api.db.transaction(); one transaction"
            f" lives at most {self.transaction_timeout_s:g} s (limits.call_timeout_s)",
        )

    async def _awaited_in(
        self, transaction: _Transaction, pending: Coroutine[object, None, object]
    ) -> object:
        try:
            return await pending
        except Exception as exc:
            self._doom(transaction, exc)
            raise

    def _doom(self, transaction: _Transaction, exc: BaseException) -> None:
        """A statement of ``transaction`` failed: roll the whole transaction back, now.

        On both backends alike: PostgreSQL would refuse the rest of it anyway, and a
        transaction applies all of its statements or none.
        """
        if self._transactions.get(transaction.number) is transaction:  # not ended already
            self._retire(transaction, f"rolled back: a statement in it failed ({exc})")
            self._roll_back_soon(transaction)

    def _expire(self, number: int) -> None:
        transaction = self._transactions.get(number)
        if transaction is None:
            return
        limit = self.transaction_timeout_s
        self._retire(transaction, f"rolled back after {limit:g} s open (limits.call_timeout_s)")
        logger.warning("plugin %s: transaction %d expired, rolled back", self.plugin, number)
        self._roll_back_soon(transaction)

    def _retire(self, transaction: _Transaction, reason: str) -> None:
        """Take ``transaction`` out of use at once; later statements in it get ``reason``."""
        self._forget(transaction)
        self._expired[transaction.number] = reason

    def _roll_back_soon(self, transaction: _Transaction) -> None:
        task = asyncio.ensure_future(self._roll_back(transaction))
        self._rollbacks.add(task)
        task.add_done_callback(self._rollbacks.discard)

    async def _roll_back(self, transaction: _Transaction) -> None:
        """Roll a retired transaction back and give its connection (or the lock) back."""
        try:
            await transaction.end(commit=False)
        except DatabaseError as exc:
            logger.warning(
                "plugin %s: rolling back transaction %d: %s", self.plugin, transaction.number, exc
            )
        finally:
            self._release(transaction)

    def _forget(self, transaction: _Transaction) -> None:
        self._transactions.pop(transaction.number, None)
        transaction.owner.transactions.discard(transaction.number)
        transaction.timer.cancel()
        if len(self._expired) > 1000:  # remember recent reasons only
            for number in sorted(self._expired)[:500]:
                del self._expired[number]

    def _release(self, transaction: _Transaction) -> None:
        if isinstance(transaction.lane, _PostgresLane):
            transaction.lane.close()
        elif self._writer.locked():
            self._writer.release()

    async def _run_after_transaction(
        self, lane: _SqliteLane, sql: str, params: Mapping[str, object], fetch: int
    ) -> object:
        async with self._writer:
            return lane.run(sql, params, fetch)

    def _run_once(self, sql: str, params: Mapping[str, object], fetch: int) -> object:
        lane = _PostgresLane(self._open_engine().raw_connection(), self)
        try:
            result = lane.run(sql, params, fetch)
            lane.commit()
        except BaseException:
            lane.rollback()
            raise
        finally:
            lane.close()
        return result

    def open(self) -> None:
        """Connect now (on PostgreSQL: set up the schema and roles), not on the first statement.

        Blocking: the host calls it in a thread when it starts the plugin.

        Raises:
            UserError: the database cannot be reached or set up; the plugin cannot start.
        """
        from sqlalchemy.exc import DBAPIError

        try:
            engine = self._open_engine()
            engine.raw_connection().close()  # one round trip: the server answers, we may log in
        except DBAPIError as exc:
            raise DatabaseError(
                f"cannot reach the database of plugin {self.plugin!r}"
                f" ({self.target.describe()}): {exc.orig}",
                kind="operational",
                hint="check that the database server runs and that the URL is right",
            ) from None

    def engine(self) -> Engine:
        """The engine the plugin's statements run on (opened on first use; blocking)."""
        return self._open_engine()

    def _open_engine(self) -> Engine:
        with self._opening:
            if self._engine is None:
                self._engine = self.target.engine(writable=self.writable)
            return self._engine

    def _sqlite_lane(self) -> _SqliteLane:
        if self._sqlite is None:
            self._sqlite = _SqliteLane(self._open_engine().raw_connection(), self)
        return self._sqlite

    def failure(self, exc: Exception, authorizer: PluginAuthorizer | None = None) -> Exception:
        """The error the plugin sees for the driver's ``exc``."""
        refused = ""
        if authorizer is not None:
            refused, authorizer.refused = authorizer.refused, ""
        if refused:
            if refused.startswith("writes"):
                return PermissionDenied(self.plugin, "db:write")
            return StatementRefused(
                f"api.db does not run {refused}",
                hint="a plugin reads and writes its own tables; the host configures the database",
            )
        state = getattr(exc, "sqlstate", None)
        if state in _ROLE_REFUSALS and not self.writable:
            return PermissionDenied(self.plugin, "db:write")
        kind = next(
            (_KINDS[cls.__name__] for cls in type(exc).__mro__ if cls.__name__ in _KINDS),
            "operational",
        )
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if kind == "operational" and message.startswith(_SQLITE_MISTAKES):
            kind = "programming"  # SQLite files the plugin's own mistakes as operational
        return DatabaseError(f"plugin {self.plugin!r}: {message}", kind=kind, hint=_HINTS.get(kind))


_HINTS = {
    "programming": "check the SQL, the table's name (is its migration applied? pluginctl"
    " migrate status) and that every :name has a parameter",
    "integrity": "the row breaks a constraint (a unique key, NOT NULL, a foreign key)",
}


class DatabaseSession:
    """One worker's use of its plugin's database: ``db.*`` requests, its transactions.

    Every request needs ``db:read`` (counted against the ``db`` rate limit); a write
    statement needs ``db:write`` too. When the worker's channel closes, `close` rolls
    back what it left open.
    """

    def __init__(self, database: PluginDatabase, policy: Policy) -> None:
        self.database = database
        self.transactions: set[int] = set()
        self._policy = policy

    def handle(self, method: str, args: list[object]) -> object:
        """Serve one ``db.*`` request."""
        self._policy.check("db:read", family="db")
        database = self.database
        if method == "db.run":
            sql, params, tx, fetch = _unpack(args, 4)
            if type(fetch) is not int or fetch not in (_FETCH_NONE, _FETCH_ONE, _FETCH_ALL):
                raise StatementRefused(f"api.db has no fetch mode {fetch!r}")
            checked = self._checked(sql, params)
            if tx == _BEGIN:  # a transaction's first statement: begin it, in one round trip
                return self._begin_and_run(*checked, fetch)
            return database.run(*checked, tx, fetch, owner=self)
        if method == "db.run_many":
            sql, rows, tx = _unpack(args, 3)
            return self._run_many(sql, rows, tx)
        if method == "db.begin":
            return database.begin(self)
        if method in ("db.commit", "db.rollback"):
            tx = _unpack(args, 1)[0]
            return database.finish(tx, commit=method == "db.commit", owner=self)
        raise LookupError(f"the host API has no method {method!r}")

    def _checked(self, sql: object, params: object) -> tuple[str, Mapping[str, object]]:
        if not isinstance(sql, str):
            raise StatementRefused(f"api.db takes SQL as a str, not {type(sql).__name__}")
        if _kind(sql) == "write":
            self._policy.require("db:write")
        return sql, _parameters(params)

    async def _begin_and_run(
        self, sql: str, params: Mapping[str, object], fetch: int
    ) -> list[object]:
        """``[transaction id, result]``; when the statement fails, no transaction is left."""
        number = await self.database.begin(self)
        try:
            result = self.database.run(sql, params, number, fetch, owner=self)
            if asyncio.iscoroutine(result):
                result = await result
        except BaseException:
            if number in self.transactions:  # a failed statement has rolled it back already
                await self.database.finish(number, commit=False, owner=self)
            raise
        return [number, result]

    async def _run_many(self, sql: object, rows: object, tx: object) -> int:
        if not isinstance(rows, list):
            raise StatementRefused("api.db.execute_many takes a list of parameter mappings")
        text, _ = self._checked(sql, None)
        own = tx is None
        number = await self.database.begin(self) if own else tx
        try:
            total = 0
            for params in rows:
                result = self.database.run(
                    text, _parameters(params), number, _FETCH_NONE, owner=self
                )
                if asyncio.iscoroutine(result):
                    result = await result
                total += _rowcount(result)
        except BaseException:
            if own and number in self.transactions:  # not rolled back by a failed statement
                await self.database.finish(number, commit=False, owner=self)
            raise
        if own:
            await self.database.finish(number, commit=True, owner=self)
        return total

    async def close(self, reason: str) -> None:
        """The worker is gone: roll back its transactions."""
        if self.transactions:
            await self.database.abort(self, reason)


class _Transaction:
    __slots__ = ("lane", "number", "owner", "timer")

    def __init__(
        self,
        number: int,
        lane: _SqliteLane | _PostgresLane,
        owner: DatabaseSession,
        timer: asyncio.TimerHandle,
    ) -> None:
        self.number, self.lane, self.owner, self.timer = number, lane, owner, timer

    def run(self, sql: str, params: Mapping[str, object], fetch: int) -> object:
        if isinstance(self.lane, _SqliteLane):
            return self.lane.run(sql, params, fetch)
        self.owner.database.watch.arm()
        return asyncio.to_thread(self.lane.run, sql, params, fetch)

    async def end(self, *, commit: bool) -> None:
        lane = self.lane
        if isinstance(lane, _SqliteLane):
            lane.end(commit=commit)
        else:
            await asyncio.to_thread(lane.commit if commit else lane.rollback)

    def lane_rollback_quietly(self) -> None:
        try:
            if isinstance(self.lane, _SqliteLane):
                self.lane.end(commit=False)
            else:
                self.lane.rollback()
        except DatabaseError as exc:
            logger.warning("rolling back transaction %d: %s", self.number, exc)


class _SqliteLane:
    """The plugin's one SQLite connection, its authorizer at hand."""

    def __init__(self, fairy: PoolProxiedConnection, database: PluginDatabase) -> None:
        self._fairy = fairy
        connection = fairy.driver_connection
        assert isinstance(connection, sqlite3.Connection)
        self._connection = connection
        self._authorizer: PluginAuthorizer = fairy.info["authorizer"]
        self._database = database
        self._budget_s = min(SQLITE_STATEMENT_S, database.transaction_timeout_s)
        self._deadline = math.inf
        connection.set_progress_handler(self._past_deadline, _PROGRESS_EVERY)

    def _past_deadline(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0  # non-zero stops the statement

    def run(self, sql: str, params: object, fetch: int) -> object:
        self._deadline = time.monotonic() + self._budget_s
        try:
            cursor = self._connection.execute(sql, params)  # type: ignore[arg-type]  # checked
            try:
                return _result(cursor, fetch, convert=False)
            finally:
                cursor.close()  # ends a statement left unread (INSERT ... RETURNING)
        except sqlite3.OperationalError as exc:
            if str(exc) == "interrupted":
                raise self._stopped() from None
            raise self._database.failure(exc, self._authorizer) from None
        except sqlite3.Error as exc:
            raise self._database.failure(exc, self._authorizer) from None
        finally:
            self._deadline = math.inf

    def _stopped(self) -> DatabaseError:
        return DatabaseError(
            f"plugin {self._database.plugin!r}: the statement ran past {self._budget_s:g} s"
            " and was stopped (on SQLite the host runs statements on its event loop, where"
            " none may run longer)",
            kind="operational",
            hint="make it cheaper: an index on what it filters by, LIMIT and paging, or"
            " smaller transactions; or run the host on PostgreSQL (--database-url)",
        )

    def close(self) -> None:
        self._fairy.close()

    def begin(self) -> None:
        self._host_says("BEGIN IMMEDIATE")

    def end(self, *, commit: bool) -> None:
        if not commit and not self._connection.in_transaction:
            return  # SQLite rolled it back itself (a statement was stopped, the disk was full)
        self._host_says("COMMIT" if commit else "ROLLBACK")

    def _host_says(self, sql: str) -> None:
        self._authorizer.host_speaking = True
        try:
            self._connection.execute(sql)
        except sqlite3.Error as exc:
            raise self._database.failure(exc, self._authorizer) from None
        finally:
            self._authorizer.host_speaking = False


class _PostgresLane:
    """One pooled PostgreSQL connection, for one statement or one transaction."""

    def __init__(self, fairy: PoolProxiedConnection, database: PluginDatabase) -> None:
        self._fairy = fairy
        self._database = database

    def run(self, sql: str, params: Mapping[str, object], fetch: int) -> object:
        compiled, names = _compiled(sql)
        missing = [name for name in names if name not in params]
        if missing:
            raise DatabaseError(
                f"plugin {self._database.plugin!r}: no value for the parameter :{missing[0]}",
                kind="programming",
                hint=_HINTS["programming"],
            )
        cursor = self._fairy.cursor()
        watch = self._database.watch
        watch.running(self)
        try:
            # binary=True: the extended protocol, where the server takes one statement only
            cursor.execute(compiled, {name: params[name] for name in names}, binary=True)  # type: ignore[call-arg]  # psycopg's cursor, behind the DBAPI type
            return _result(cursor, fetch, convert=True)
        except Exception as exc:
            if not _is_driver_error(exc):
                raise
            if getattr(exc, "sqlstate", None) == _QUERY_CANCELED and watch.stopped(self):
                raise watch.too_long() from None
            raise self._database.failure(exc) from None
        finally:
            watch.done(self)
            cursor.close()

    def cancel(self) -> None:
        """Ask the server to stop the statement running on this connection (any thread)."""
        connection = self._fairy.driver_connection
        cancel = getattr(connection, "cancel", None)
        if cancel is not None:
            cancel()

    def commit(self) -> None:
        self._call(self._fairy.commit)

    def rollback(self) -> None:
        self._call(self._fairy.rollback)

    def close(self) -> None:
        self._fairy.close()

    def _call(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:
            if not _is_driver_error(exc):
                raise
            raise self._database.failure(exc) from None


class _Watch:
    """Stops a plugin's PostgreSQL statements that run past its call deadline.

    The statements run in threads; the host's loop looks at them every quarter second
    while any runs, and cancels, through the server, one past its deadline. A plugin
    cannot turn this off (``set_config('statement_timeout', ...)`` changes nothing here).
    """

    _EVERY_S = 0.25

    def __init__(self, plugin: str, limit_s: float) -> None:
        self._plugin = plugin
        self._limit_s = limit_s
        self._deadlines: dict[_PostgresLane, float] = {}
        self._stopped: set[_PostgresLane] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        """From the loop, before a statement is handed to a thread: look while any runs."""
        if self._timer is None:
            self._loop = asyncio.get_running_loop()
            self._timer = self._loop.call_later(self._EVERY_S, self._look)

    def running(self, lane: _PostgresLane) -> None:
        """From the statement's thread: watch it (and make sure the loop keeps looking)."""
        self._deadlines[lane] = time.monotonic() + self._limit_s
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.arm)

    def done(self, lane: _PostgresLane) -> None:
        self._deadlines.pop(lane, None)
        self._stopped.discard(lane)

    def stopped(self, lane: _PostgresLane) -> bool:
        return lane in self._stopped

    def too_long(self) -> DatabaseError:
        return DatabaseError(
            f"plugin {self._plugin!r}: the statement ran past {self._limit_s:g} s (its call"
            " deadline, limits.call_timeout_s) and was cancelled",
            kind="operational",
            hint="make it cheaper (an index, LIMIT and paging), or raise limits.call_timeout_s",
        )

    def _look(self) -> None:
        self._timer = None
        now = time.monotonic()
        for lane, deadline in list(self._deadlines.items()):
            if deadline < now and lane not in self._stopped:
                self._stopped.add(lane)
                assert self._loop is not None
                self._loop.run_in_executor(None, lane.cancel)
        if self._deadlines:
            self.arm()


def _is_driver_error(exc: Exception) -> bool:
    import psycopg

    return isinstance(exc, psycopg.Error)


_COMPILED: dict[str, tuple[str, tuple[str, ...]]] = {}


def _compiled(sql: str) -> tuple[str, tuple[str, ...]]:
    """``sql`` with ``:name`` parameters in psycopg's style, and the names (cached)."""
    found = _COMPILED.get(sql)
    if found is None:
        from sqlalchemy import text
        from sqlalchemy.dialects import postgresql

        compiled = text(sql).compile(dialect=postgresql.dialect(paramstyle="pyformat"))  # type: ignore[no-untyped-call]  # sqlalchemy's dialect constructor is untyped
        found = (compiled.string, tuple(compiled.params))
        if len(sql) <= 4096:  # statements worth remembering are short; the rest compile anew
            if len(_COMPILED) > 4096:
                _COMPILED.clear()
            _COMPILED[sql] = found
    return found


def _kind(sql: str) -> str:
    """``classify(sql).kind``, remembered for the statements a plugin sends again and again.

    Reading a statement takes `classify` about 25 us for a short SELECT, a quarter of
    a whole ``fetch_one``. A statement it refuses raises every time (a raise is never
    remembered), and a long one is read every time, so the memory stays small.
    """
    if len(sql) > _REMEMBERED_SQL_CHARS:
        return classify(sql).kind
    return _remembered_kind(sql)


@functools.lru_cache(maxsize=512)
def _remembered_kind(sql: str) -> str:
    return classify(sql).kind


def _parameters(params: object) -> Mapping[str, object]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise StatementRefused(
            f"api.db parameters must be a mapping of names to values, not {type(params).__name__}",
            hint="write :name in the SQL and pass {'name': value}",
        )
    for name, value in params.items():
        if isinstance(value, datetime.datetime):  # aware ones cross as themselves
            params = {**params, name: value.isoformat()}  # the same text on both backends
        elif not isinstance(name, str) or not isinstance(value, _SCALARS):
            raise StatementRefused(
                f"api.db parameter {name!r} is a {type(value).__name__}; parameters are"
                " str, int, float, bool, bytes, None or a datetime (sent as ISO 8601 text)",
                hint="store structured data as JSON text: json.dumps(value)",
            )
    return params


def _unpack(args: list[object], count: int) -> list[object]:
    if len(args) != count:
        raise StatementRefused(f"api.db request with {len(args)} arguments, not {count}")
    return args


def _rowcount(result: object) -> int:
    if isinstance(result, list) and result and isinstance(result[0], int):
        return max(result[0], 0)
    return 0


def _result(cursor: object, fetch: int, *, convert: bool) -> object:
    """The wire form: ``[rowcount, lastrowid]``, or ``[columns, rows]`` for a fetch."""
    description = getattr(cursor, "description", None)
    if fetch == _FETCH_NONE:
        return [getattr(cursor, "rowcount", -1), getattr(cursor, "lastrowid", None)]
    columns = [column[0] for column in description] if description else []
    if fetch == _FETCH_ONE:
        row = cursor.fetchone() if description else None  # type: ignore[attr-defined]  # DBAPI
        rows = [] if row is None else [row]
    else:
        rows = cursor.fetchmany(MAX_ROWS + 1) if description else []  # type: ignore[attr-defined]  # DBAPI
        if len(rows) > MAX_ROWS:
            raise DatabaseError(
                f"the query returned more than {MAX_ROWS:,} rows",
                kind="data",
                hint="page through it with LIMIT and OFFSET (or a WHERE on the key)",
            )
    if convert:
        return [columns, [[_plain(value) for value in row] for row in rows]]
    return [columns, [list(row) for row in rows]]


def _plain(value: object) -> object:
    """A value the RPC layer carries: scalars as they are, the rest as text."""
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | dict):
        return value
    return str(value)
