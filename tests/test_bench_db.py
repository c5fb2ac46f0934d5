"""The ``db`` benchmark suite, its in-process SQLite anchor and its Alembic anchor.

The suite runs once, with ``--quick``, as ``python -m bench``; the tests read its JSON
report. No timing thresholds: the machines are noisy, and benchmarks are not tests.
"""

from __future__ import annotations

import doctest
import importlib
import sqlite3
from typing import TYPE_CHECKING

import pytest

from bench._migrations import ClassicAlembic, pluginctl_upgrade_ms, write_scripts
from bench._sqlite import InProcessSqlite
from bench._suites import available_suites, describe_suite
from tests.test_bench_runtime import Expected, SuiteRun, check_report

if TYPE_CHECKING:
    from pathlib import Path

DB_METRICS: Expected = {
    "db_query_p50_us": (
        "us",
        "raw_socketpair_msgpack + sqlite3 in process (WAL, synchronous=NORMAL)",
        "<= 2",
    ),
    "db_insert_tx_per_s": (
        "tx/s",
        "sqlite3 in process (BEGIN IMMEDIATE, INSERT, COMMIT; WAL, synchronous=NORMAL)",
        None,
    ),
    "migrate_up_100_ms": (
        "ms",
        "alembic upgrade head (alembic.command, plain alembic.ini and env.py)",
        "<= 1.2",
    ),
}


@pytest.fixture(scope="module")
def db_suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    return SuiteRun("db", tmp_path_factory.mktemp("bench-db"))


def _number(extra: dict[str, object], key: str) -> float:
    value = extra[key]
    assert isinstance(value, float | int), (key, value)
    return float(value)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_db_suite")
def test_db_suite_measures_every_metric(db_suite: SuiteRun) -> None:
    check_report(db_suite, "db", DB_METRICS)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_db_suite")
def test_the_query_anchor_is_the_echo_plus_the_in_process_query(db_suite: SuiteRun) -> None:
    entry = db_suite.metrics["db_query_p50_us"]
    extra = db_suite.extras("db_query_p50_us")
    parts = _number(extra, "raw_echo_p50_us") + _number(extra, "sqlite3_p50_us")
    anchor = entry["anchor_value"]
    assert isinstance(anchor, float)
    assert anchor == pytest.approx(parts, abs=0.02)
    assert extra["timed_in"] == "worker"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_db_suite")
def test_inserts_and_migrations_report_their_detail(db_suite: SuiteRun) -> None:
    inserts = db_suite.extras("db_insert_tx_per_s")
    assert _number(inserts, "tx_p50_us") > 0
    assert _number(inserts, "anchor_tx_p50_us") > 0
    assert inserts["transactions_per_sample"] == 100
    migrations = db_suite.extras("migrate_up_100_ms")
    assert migrations["migrations"] == 100
    assert _number(migrations, "same_pragmas_anchor_p50_ms") > 0
    assert _number(migrations, "same_pragmas_ratio") > 0


def test_the_db_suite_is_listed_with_its_description() -> None:
    assert "db" in available_suites()
    assert "database" in describe_suite("db")


# -- the anchors ------------------------------------------------------------------------


def test_the_in_process_anchor_uses_pluginctls_pragmas(tmp_path: Path) -> None:
    with InProcessSqlite(tmp_path / "anchor.sqlite3") as lite:
        assert lite.journal_mode() == "wal"
        assert lite.value("PRAGMA synchronous") == 1  # NORMAL
        lite.setup(["CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"])
        timings = lite.insert_transactions_us("INSERT INTO t (v) VALUES (:v)", [{"v": "a"}] * 3)
        assert len(timings) == 3
        assert lite.row("SELECT id, v FROM t WHERE id = :id", 2) == (2, "a")


def test_both_migration_runners_apply_the_same_scripts(tmp_path: Path) -> None:
    write_scripts(tmp_path / "scripts", 5)
    classic = ClassicAlembic(tmp_path / "classic", tmp_path / "scripts")
    assert classic.upgrade_ms() > 0
    assert classic.revision() == "0005"
    assert pluginctl_upgrade_ms(tmp_path / "scripts", tmp_path / "data", expected=5) > 0
    connection = sqlite3.connect(tmp_path / "data.db" / "db.sqlite3")
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        version = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        connection.close()
    assert {f"t{n:04d}" for n in range(1, 6)} <= tables
    assert version == ("0005",)


def test_each_upgrade_starts_from_a_fresh_database(tmp_path: Path) -> None:
    write_scripts(tmp_path / "scripts", 2)
    same = ClassicAlembic(tmp_path / "same", tmp_path / "scripts", same_pragmas=True)
    same.upgrade_ms()
    same.upgrade_ms()  # a database left at the head would make this a no-op: it is removed
    assert same.revision() == "0002"
    assert "journal_mode = WAL" in (tmp_path / "same" / "env.py").read_text(encoding="utf-8")
    pluginctl_upgrade_ms(tmp_path / "scripts", tmp_path / "data", expected=2)
    pluginctl_upgrade_ms(tmp_path / "scripts", tmp_path / "data", expected=2)


@pytest.mark.parametrize("module", ["bench._migrations", "bench._sqlite"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
