"""The SQLite authorizer: a plugin's statements reach its own file and nothing else."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest
from sqlalchemy.exc import OperationalError

from pluginctl.data.sqlite import configure, database_path, open_engine

if TYPE_CHECKING:
    from pathlib import Path


def connect(path: Path, *, writable: bool, migration: bool = False) -> sqlite3.Connection:
    connection = sqlite3.connect(path)
    configure(connection, writable=writable, migration=migration)
    return connection


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    path = database_path(tmp_path / "notes")
    path.parent.mkdir()
    setup = connect(path, writable=True, migration=True)
    setup.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT)")
    setup.execute("INSERT INTO notes (title) VALUES ('kept')")
    setup.close()
    return path


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("ATTACH DATABASE '{other}' AS other", "ATTACH"),
        ("VACUUM INTO '{other}'", "ATTACH"),
        ("SELECT load_extension('/tmp/evil.so')", "load_extension"),
        ("PRAGMA journal_mode = DELETE", "PRAGMA journal_mode"),
        ("PRAGMA writable_schema = 1", "PRAGMA writable_schema"),
        ("PRAGMA user_version = 7", "PRAGMA user_version"),
        ("BEGIN", "transaction"),
        ("SAVEPOINT a", "transaction"),
    ],
)
def test_a_writer_cannot_reach_outside_its_file_or_configure_it(
    db_file: Path, tmp_path: Path, sql: str, refused: str
) -> None:
    other = tmp_path / "other.sqlite3"
    connection = connect(db_file, writable=True)
    with pytest.raises(sqlite3.DatabaseError, match=r"not authorized|authorization denied"):
        connection.execute(sql.format(other=other))
    assert not other.exists()
    assert connection.execute("SELECT title FROM notes").fetchall() == [("kept",)]


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO notes (title) VALUES ('x')",
        "UPDATE notes SET title = 'x'",
        "DELETE FROM notes",
        "CREATE TABLE t (x)",
        "CREATE TEMP TABLE t (x)",
        "DROP TABLE notes",
        "ALTER TABLE notes ADD COLUMN y",
        "CREATE INDEX i ON notes (title)",
        "WITH a AS (SELECT 1) INSERT INTO notes (title) SELECT * FROM a",
        "REPLACE INTO notes (id, title) VALUES (1, 'x')",
    ],
)
def test_a_reader_cannot_write_however_it_is_spelled(db_file: Path, sql: str) -> None:
    connection = connect(db_file, writable=False)
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        connection.execute(sql)
    assert connection.execute("SELECT title FROM notes").fetchall() == [("kept",)]


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM notes",
        "PRAGMA table_info(notes)",
        "SELECT * FROM pragma_table_info('notes')",
        "PRAGMA user_version",
        "PRAGMA index_list(notes)",
        "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3)"
        " SELECT x FROM n",
    ],
)
def test_a_reader_reads_and_describes(db_file: Path, sql: str) -> None:
    connection = connect(db_file, writable=False)
    assert connection.execute(sql).fetchall() is not None


def test_migrations_change_the_schema_in_a_transaction_that_rolls_back(db_file: Path) -> None:
    engine = open_engine(db_file, writable=True, migration=True)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE half (x)")
        with pytest.raises(OperationalError, match="no such table"):
            connection.exec_driver_sql("INSERT INTO nowhere VALUES (1)")
        connection.rollback()
    with engine.connect() as connection:
        tables = connection.exec_driver_sql("SELECT name FROM sqlite_master").scalars().all()
    engine.dispose()
    assert "half" not in tables


def test_migrations_cannot_attach_either(db_file: Path, tmp_path: Path) -> None:
    connection = connect(db_file, writable=True, migration=True)
    with pytest.raises(sqlite3.DatabaseError, match="not authorized"):
        connection.execute(f"ATTACH DATABASE '{tmp_path / 'x.db'}' AS x")


def test_the_database_runs_in_wal_mode_with_foreign_keys(db_file: Path) -> None:
    engine = open_engine(db_file, writable=True, migration=True)
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()
