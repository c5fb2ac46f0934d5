"""``api.db`` under a real host, on SQLite and on a real PostgreSQL: the same plugin code."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import (
    CallTimeout,
    DatabaseError,
    PermissionDenied,
    RemoteError,
    StatementRefused,
    UserError,
    WorkerCrashed,
)
from pluginctl.runtime.audit import read
from tests.runtime.host_harness import FIXTURES, needs_sandbox, running_host, wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from pluginctl.runtime.host import Host
    from pluginctl.runtime.plugin_runtime import PluginRuntime


_PATIENT_S = 120.0  # correctness, not speed: a loaded machine takes its time


def runtime_of(host: Host, name: str) -> PluginRuntime:
    return next(p for p in host.plugins if p.name == name)


async def call(host: Host, plugin: str, export: str, *args: object) -> object:
    return await runtime_of(host, plugin).call("export", export, list(args), {})


@contextlib.asynccontextmanager
async def ledger_host(
    tmp_path: Path, database_url: str | None, *more: Path, call_timeout_s: float | None = None
) -> AsyncIterator[Host]:
    """A host running the ledger fixture (and ``more``) on the backend of ``database_url``."""
    async with running_host(
        FIXTURES / "ledger",
        *more,
        data_dir=tmp_path / "data",
        database_url=database_url,
        call_timeout_s=call_timeout_s,
    ) as (host, _):
        yield host


def copy_plugin(tmp_path: Path, case: str, new_name: str) -> Path:
    """A copy of fixture plugin ``case`` named ``new_name`` (its package keeps its name)."""
    target = tmp_path / "plugins" / new_name
    shutil.copytree(FIXTURES / case, target, ignore=shutil.ignore_patterns("__pycache__"))
    for path in (target / "pyproject.toml", target / case / "plugin.toml"):
        text = path.read_text().replace(f'name = "{case}"', f'name = "{new_name}"')
        path.write_text(text.replace(f"\n{case} = ", f"\n{new_name} = "))
    return target


def test_a_plugin_reads_and_writes_its_tables_in_transactions(
    tmp_path: Path, database_url: str | None
) -> None:
    async def scenario() -> None:
        async with ledger_host(tmp_path, database_url) as host:
            assert await call(host, "ledger", "add", "hello") == 1
            assert await call(host, "ledger", "add_sync", ["a", "b"]) == 3  # a sync handler
            assert await call(host, "ledger", "entries") == [[1, "hello"], [2, "a"], [3, "b"]]
            with pytest.raises(RemoteError, match="changed my mind"):
                await call(host, "ledger", "two_sync_then_fail")
            assert await call(host, "ledger", "count") == 3  # rolled back with the exception
            with pytest.raises(DatabaseError, match=r"(?i)unique") as duplicate:
                await call(host, "ledger", "add", "hello")
            assert duplicate.value.kind == "integrity"
            with pytest.raises(DatabaseError) as missing:
                await call(host, "ledger", "fetch", "SELECT * FROM nowhere")
            assert missing.value.kind == "programming"
            assert missing.value.hint is not None
            with pytest.raises(UserError, match="inside another transaction"):
                await call(host, "ledger", "nested")

    asyncio.run(scenario())


def _serving_anew(plugin: PluginRuntime, old_pid: int) -> bool:
    process = plugin.process
    return plugin.state.value == "active" and process is not None and process.pid != old_pid


class _AnyId:
    """Equal to any row id: SQLite reuses a rolled-back id, PostgreSQL's sequence does not."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, int)

    __hash__ = None  # type: ignore[assignment]  # compared, never hashed


_ANY_ID = _AnyId()


def test_a_transaction_applies_all_its_statements_or_none(
    tmp_path: Path, database_url: str | None
) -> None:
    async def scenario() -> None:
        async with ledger_host(tmp_path, database_url) as host:
            assert await call(host, "ledger", "empty_transaction") is True
            assert await call(host, "ledger", "failure_caught_inside", "undone") == [
                ["programming", "transaction", "transaction"],
                0,
            ]
            assert await call(host, "ledger", "gather_in_transaction", 20) == 20
            with pytest.raises(RemoteError, match="all of them, or none"):
                await call(host, "ledger", "gather_then_fail", 20)
            assert await call(host, "ledger", "count") == 20

    asyncio.run(scenario())


def test_a_parameter_that_cannot_cross_fails_its_call_and_nothing_else(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ledger_host(tmp_path, None) as host:
            ledger = runtime_of(host, "ledger")
            assert ledger.process is not None
            pid = ledger.process.pid
            with pytest.raises(UserError, match="cannot cross between processes"):
                await call(host, "ledger", "huge_parameter")
            assert await call(host, "ledger", "count") == 0
            assert ledger.process.pid == pid  # the same worker, its channel whole

    asyncio.run(scenario())


def test_a_runaway_sqlite_statement_is_stopped_and_the_host_serves_on(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with ledger_host(tmp_path, None, call_timeout_s=_PATIENT_S) as host:
            with pytest.raises(DatabaseError, match=r"ran past 0\.25 s and was stopped") as stopped:
                await call(host, "ledger", "runaway")
            assert stopped.value.kind == "operational"
            with pytest.raises(DatabaseError, match="ran past"):
                await call(host, "ledger", "runaway_in_transaction")
            assert await call(host, "ledger", "count") == 0  # its transaction went with it
            assert await call(host, "ledger", "add", "after") == 1

    asyncio.run(scenario())


def test_a_postgresql_statement_past_the_call_deadline_is_cancelled_on_the_server(
    tmp_path: Path, postgres_url: str
) -> None:
    import sqlalchemy as sa

    def sleeping() -> int:
        engine = sa.create_engine(postgres_url, poolclass=sa.NullPool)
        try:
            with engine.connect() as connection:
                query = sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%'"
                    " AND state = 'active'"
                )
                return int(connection.execute(query).scalar() or 0)
        finally:
            engine.dispose()

    async def scenario() -> None:
        async with ledger_host(tmp_path, postgres_url, call_timeout_s=1.0) as host:
            with pytest.raises((CallTimeout, DatabaseError)):
                await call(host, "ledger", "sleep_in_database", 60)
            await wait_for(lambda: sleeping() == 0, timeout_s=10)  # not left running there
            assert await call(host, "ledger", "count") == 0

    asyncio.run(scenario())


@needs_sandbox
def test_the_worker_cannot_touch_its_sqlite_file_and_a_planted_link_is_refused(
    tmp_path: Path,
) -> None:
    database = tmp_path / "data" / "plugins" / "ledger.db" / "db.sqlite3"

    async def scenario() -> None:
        async with ledger_host(tmp_path, None) as host:
            await call(host, "ledger", "add", "mine")
            assert database.is_file()
            assert await call(host, "ledger", "poke", str(database)) == "PermissionError"
        database.unlink()
        database.symlink_to(tmp_path / "elsewhere.sqlite3")  # as if something had
        async with ledger_host(tmp_path, None) as host:
            ledger = runtime_of(host, "ledger")
            assert ledger.state.value == "failed"
            assert ledger.last_error is not None
            assert "is not a plain file (a symlink?)" in ledger.last_error

    asyncio.run(scenario())


def test_dates_and_times_cross_as_iso_text_on_both_backends(
    tmp_path: Path, database_url: str | None
) -> None:
    async def scenario() -> None:
        async with ledger_host(tmp_path, database_url) as host:
            assert await call(host, "ledger", "dates") == [
                "2026-12-01T09:30:00+00:00",
                "2026-12-01T09:30:00",
                "2026-12-01",
            ]

    asyncio.run(scenario())


def test_parameters_are_bound_never_pasted_into_the_sql(
    tmp_path: Path, database_url: str | None
) -> None:
    attacks = [
        "'); DROP TABLE entries; --",
        "x' OR '1'='1",
        "\\'; DELETE FROM entries; --",
        "Robert'); DROP TABLE entries;--",
        ":title",
        "%(title)s",
    ]

    async def scenario() -> None:
        async with ledger_host(tmp_path, database_url) as host:
            for attack in attacks:
                await call(host, "ledger", "add", attack)
            stored = await call(host, "ledger", "entries")
            assert isinstance(stored, list)
            assert [title for _, title in stored] == attacks
            found = await call(
                host,
                "ledger",
                "fetch",
                "SELECT id FROM entries WHERE title = :t",
                {"t": "x' OR '1'='1"},
            )
            assert found == [{"id": 2}]

    asyncio.run(scenario())


def test_a_worker_killed_between_two_inserts_leaves_nothing_written(
    tmp_path: Path, database_url: str | None
) -> None:
    async def scenario() -> None:
        async with ledger_host(tmp_path, database_url) as host:
            ledger = runtime_of(host, "ledger")
            pending = asyncio.ensure_future(call(host, "ledger", "two_then_wait"))
            await wait_for(lambda: ledger.kv.get("between"), timeout_s=10)
            assert ledger.process is not None
            old_pid = ledger.process.pid
            os.kill(old_pid, signal.SIGKILL)
            with pytest.raises(WorkerCrashed, match="ended"):
                await pending
            await wait_for(lambda: _serving_anew(ledger, old_pid), timeout_s=20)
            assert await call(host, "ledger", "count") == 0
            await call(host, "ledger", "add", "after")
            assert await call(host, "ledger", "entries") == [[_ANY_ID, "after"]]

    asyncio.run(scenario())


def test_a_transaction_left_open_is_rolled_back_after_the_call_deadline(
    tmp_path: Path, database_url: str | None
) -> None:
    async def scenario() -> None:
        async with ledger_host(tmp_path, database_url, call_timeout_s=1.0) as host:
            await call(host, "ledger", "leave_open")
            await asyncio.sleep(1.5)  # past the deadline: the host has rolled it back
            await call(host, "ledger", "add", "after")
            assert await call(host, "ledger", "entries") == [[_ANY_ID, "after"]]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("sql", "error", "says"),
    [
        ("SELECT 1; DROP TABLE entries", StatementRefused, "one statement per call"),
        ("ATTACH DATABASE '/tmp/elsewhere.db' AS x", StatementRefused, "only its own database"),
        ("BEGIN", StatementRefused, "the host owns transactions"),
        ("SET ROLE postgres", StatementRefused, "does not run SET"),
        ("COPY entries TO '/tmp/x'", StatementRefused, "does not run COPY"),
    ],
)
def test_statements_the_host_does_not_run_are_refused(
    tmp_path: Path, database_url: str | None, sql: str, error: type[Exception], says: str
) -> None:
    async def scenario() -> None:
        async with ledger_host(tmp_path, database_url) as host:
            with pytest.raises(error) as refused:
                await call(host, "ledger", "run", sql)
            assert says in f"{refused.value} {getattr(refused.value, 'hint', '')}"
            assert await call(host, "ledger", "count") == 0

    asyncio.run(scenario())


def test_sqlite_refuses_extensions_and_pragmas_that_change_the_database(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(FIXTURES / "ledger", data_dir=tmp_path / "data") as (host, _):
            for sql, says in [
                ("SELECT load_extension('/tmp/evil.so')", "load_extension()"),
                ("PRAGMA journal_mode = DELETE", "PRAGMA journal_mode"),
                ("PRAGMA writable_schema = ON", "PRAGMA writable_schema"),
                ("VACUUM INTO '/tmp/copy.db'", "VACUUM"),
            ]:
                with pytest.raises(StatementRefused, match=says):
                    await call(host, "ledger", "fetch", sql)
            assert await call(host, "ledger", "fetch", "PRAGMA table_info(entries)")

    asyncio.run(scenario())


def test_db_read_only_cannot_write_however_it_is_spelled(
    tmp_path: Path, database_url: str | None
) -> None:
    async def scenario() -> None:
        async with running_host(
            FIXTURES / "peeker", data_dir=tmp_path / "data", database_url=database_url
        ) as (host, _):
            for sql in [
                "CREATE TABLE t (x INTEGER)",
                "INSERT INTO t VALUES (1)",
                "WITH a AS (SELECT 1 AS x) INSERT INTO t SELECT x FROM a",
            ]:
                with pytest.raises(PermissionDenied, match="db:write"):
                    await call(host, "peeker", "run", sql)
            assert await call(host, "peeker", "fetch", "SELECT 1 AS one") == [{"one": 1}]
            denied = [
                r
                for r in read(tmp_path / "data" / "audit.jsonl")
                if r["event"] == "permission.denied"
            ]
            assert {r["permission"] for r in denied} == {"db:write"}

    asyncio.run(scenario())


def test_a_plugin_cannot_read_or_write_another_plugins_tables(
    tmp_path: Path, database_url: str | None
) -> None:
    async def scenario() -> None:
        intruder = copy_plugin(tmp_path, "ledger", "intruder")
        async with ledger_host(tmp_path, database_url, intruder) as host:
            await call(host, "ledger", "add", "secret")
            assert await call(host, "intruder", "count") == 0
            if database_url:  # the other schema is there, and closed to it
                with pytest.raises(DatabaseError, match="permission denied"):
                    await call(host, "intruder", "fetch", 'SELECT * FROM "plugin_ledger".entries')
                with pytest.raises(DatabaseError, match="permission denied"):
                    await call(host, "intruder", "run", 'DELETE FROM "plugin_ledger".entries')
            else:  # the other file is there, and out of reach
                other_file = tmp_path / "data" / "plugins" / "ledger.db" / "db.sqlite3"
                with pytest.raises(StatementRefused, match="only its own database"):
                    await call(host, "intruder", "run", f"ATTACH DATABASE '{other_file}' AS l")
            assert await call(host, "ledger", "entries") == [[1, "secret"]]

    asyncio.run(scenario())


def test_a_ten_megabyte_blob_goes_in_and_comes_back_whole(
    tmp_path: Path, database_url: str | None
) -> None:
    async def scenario() -> None:
        async with ledger_host(tmp_path, database_url, call_timeout_s=_PATIENT_S) as host:
            assert await call(host, "ledger", "blob", 10 * 1024 * 1024) == 10 * 1024 * 1024

    asyncio.run(scenario())


def test_a_thousand_concurrent_writes_from_two_plugins_all_land(
    tmp_path: Path, database_url: str | None
) -> None:
    async def scenario() -> None:
        second = copy_plugin(tmp_path, "ledger", "second-ledger")
        async with ledger_host(tmp_path, database_url, second, call_timeout_s=_PATIENT_S) as host:
            counts = await asyncio.gather(
                call(host, "ledger", "bulk", "a", 1000),
                call(host, "second-ledger", "bulk", "b", 1000),
            )
            assert list(counts) == [1000, 1000]

    asyncio.run(scenario())
