from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from pluginctl.data.target import DatabaseTarget
from pluginctl.errors import PermissionDenied, StatementRefused
from pluginctl.permissions import PermissionSet
from pluginctl.runtime.policy import Policy
from pluginctl.services.db import DatabaseSession, PluginDatabase

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

FETCH_NONE, FETCH_ONE = 0, 1
CREATE = "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL)"
INSERT = "INSERT INTO notes (title) VALUES (:title)"
SELECT = "SELECT id, title FROM notes WHERE id = :id"


def _session(database: PluginDatabase, *permissions: str) -> DatabaseSession:
    return database.session(Policy("notes", PermissionSet.parse(list(permissions)), {}))


@pytest.fixture
def database(tmp_path: Path) -> Iterator[PluginDatabase]:
    target = DatabaseTarget.for_plugin("notes", data_dir=tmp_path / "plugins" / "notes")
    database = PluginDatabase(target, writable=True, transaction_timeout_s=5.0)
    writer = _session(database, "db:write")
    writer.handle("db.run", [CREATE, None, None, FETCH_NONE])
    writer.handle("db.run", [INSERT, {"title": "first"}, None, FETCH_NONE])
    yield database
    database.close()


def test_the_same_query_answers_each_time(database: PluginDatabase) -> None:
    reader = _session(database, "db:read")
    for _ in range(3):
        assert reader.handle("db.run", [SELECT, {"id": 1}, None, FETCH_ONE]) == [
            ["id", "title"],
            [[1, "first"]],
        ]


def test_a_write_needs_db_write_every_time_it_is_sent(database: PluginDatabase) -> None:
    writer = _session(database, "db:write")
    writer.handle("db.run", [INSERT, {"title": "second"}, None, FETCH_NONE])
    reader = _session(database, "db:read")  # as after a reload that dropped db:write
    for _ in range(2):
        with pytest.raises(PermissionDenied, match="db:write"):
            reader.handle("db.run", [INSERT, {"title": "third"}, None, FETCH_NONE])


def test_a_refused_statement_is_refused_every_time(database: PluginDatabase) -> None:
    writer = _session(database, "db:write")
    for _ in range(2):
        with pytest.raises(StatementRefused, match="two"):
            writer.handle("db.run", ["SELECT 1; DROP TABLE notes", None, None, FETCH_ONE])
    assert writer.handle("db.run", ["SELECT count(*) FROM notes", None, None, FETCH_ONE]) == [
        ["count(*)"],
        [[1]],
    ]


def test_a_long_statement_is_checked_like_a_short_one(database: PluginDatabase) -> None:
    padding = " " * 3000
    reader = _session(database, "db:read")
    reply = reader.handle("db.run", [SELECT + padding, {"id": 1}, None, FETCH_ONE])
    assert reply == [["id", "title"], [[1, "first"]]]
    with pytest.raises(PermissionDenied):
        reader.handle("db.run", [INSERT + padding, {"title": "x"}, None, FETCH_NONE])


def test_a_transaction_commits_its_insert(database: PluginDatabase) -> None:
    writer = _session(database, "db:write")

    async def scenario() -> object:
        begun = writer.handle("db.begin", [])
        assert asyncio.iscoroutine(begun)
        number = await begun
        writer.handle("db.run", [INSERT, {"title": "in a transaction"}, number, FETCH_NONE])
        committed = writer.handle("db.commit", [number])
        assert asyncio.iscoroutine(committed)
        await committed
        return writer.handle("db.run", ["SELECT count(*) FROM notes", None, None, FETCH_ONE])

    assert asyncio.run(scenario()) == [["count(*)"], [[2]]]


def test_a_worker_cannot_use_or_end_another_workers_transaction(
    database: PluginDatabase,
) -> None:
    from pluginctl.errors import DatabaseError

    async def scenario() -> None:
        old, new = _session(database, "db:write"), _session(database, "db:write")
        number = await old.handle("db.begin", [])  # type: ignore[misc]
        old.handle("db.run", [INSERT, {"title": "old's"}, number, FETCH_NONE])
        with pytest.raises(DatabaseError, match="no longer open") as refused:
            new.handle("db.run", [INSERT, {"title": "new's"}, number, FETCH_NONE])
        assert refused.value.kind == "transaction"
        with pytest.raises(DatabaseError, match="no longer open"):
            await new.handle("db.commit", [number])  # type: ignore[misc]
        await old.close("the old worker ended")  # its transaction is rolled back
        count = _session(database, "db:read").handle(
            "db.run", ["SELECT count(*) FROM notes", None, None, FETCH_ONE]
        )
        assert count == [["count(*)"], [[1]]]

    asyncio.run(scenario())


@pytest.mark.parametrize("fetch", [True, 1.0, "1", 3, None])
def test_a_fetch_mode_that_is_not_one_is_refused(database: PluginDatabase, fetch: object) -> None:
    reader = _session(database, "db:read")
    with pytest.raises(StatementRefused, match="no fetch mode"):
        reader.handle("db.run", [SELECT, {"id": 1}, None, fetch])
