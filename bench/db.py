"""The host's database API and migrations, against sqlite3 in process and plain Alembic.

The ``api.db`` figures go through the real stack: a `Host` starts a generated plugin
holding ``db:write`` in a worker forked from its zygote; its calls cross to the host,
pass the permission check and the statement check, and run on the plugin's own SQLite
file (WAL, ``synchronous=NORMAL``, the authorizer). The in-process anchor,
`InProcessSqlite`, is the stdlib ``sqlite3`` on another file in the same directory
with the same pragmas and the same rows. Subject and anchor alternate in blocks
(ABAB...), so drift hits both alike.

Metrics:
    db_query_p50_us: ``await api.db.fetch_one(sql, {"id": key})``, a primary-key
        SELECT of one ~130-byte row, timed inside the worker, keys cycling through
        1000 rows; against one raw socketpair echo (`RawEcho`, ``PAYLOAD``) plus the
        same query with ``sqlite3`` in process: the anchor value is the sum of the two
        p50s (and its p95 the sum of the two p95s); goal <= 2.0. Extra: both parts.
    db_insert_tx_per_s: single-row insert transactions, ``async with
        api.db.transaction(): await api.db.execute("INSERT ...")``, timed inside the
        worker, per second; against the same transactions with ``sqlite3`` in process
        (``BEGIN IMMEDIATE``, ``INSERT``, ``COMMIT``); higher is better, no goal.
        Extra: the p50 of one transaction on each side.
    migrate_up_100_ms: 100 migrations, each creating one small table, applied by
        `Migrations.upgrade` to a plugin's fresh SQLite database; against ``alembic
        upgrade head`` (``alembic.command.upgrade``) with a plain ``alembic.ini`` and
        the ``env.py`` ``alembic init`` writes, on copies of the same scripts and a fresh
        database each time; goal <= 1.2. The plain setup keeps SQLite's defaults (a
        rollback journal, ``synchronous=FULL``): its commits wait for the disk, and
        pluginctl's (WAL, ``synchronous=NORMAL``) do not. So the same Alembic setup
        with pluginctl's pragmas set in its ``env.py`` is timed too, in the same
        rotation: extra ``same_pragmas_anchor_p50_ms`` and ``same_pragmas_ratio``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from bench._errors import BenchError
from bench._metric import Goal, Metric
from bench._migrations import ClassicAlembic, pluginctl_upgrade_ms, write_scripts
from bench._sqlite import InProcessSqlite
from bench._stats import p50, p95
from bench._workers import PAYLOAD, RawEcho, Spec, active, guarded, running_host, write_plugin
from pluginctl.runtime.discovery import load_source
from pluginctl.runtime.loop import run as run_loop

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pluginctl.runtime.plugin_runtime import PluginRuntime

__all__ = ["run"]

PLUGIN = "bench-db"
RAW_PLUS_SQLITE = "raw_socketpair_msgpack + sqlite3 in process (WAL, synchronous=NORMAL)"
SQLITE_TX = "sqlite3 in process (BEGIN IMMEDIATE, INSERT, COMMIT; WAL, synchronous=NORMAL)"
ALEMBIC = "alembic upgrade head (alembic.command, plain alembic.ini and env.py)"

QUERY = Spec("db_query_p50_us", "us", RAW_PLUS_SQLITE, "<= 2.0")
INSERT = Spec("db_insert_tx_per_s", "tx/s", SQLITE_TX, None)
MIGRATE = Spec("migrate_up_100_ms", "ms", ALEMBIC, "<= 1.2")

ROWS = 1000
MIGRATIONS = 100

SCHEMA = (
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, method TEXT NOT NULL, tags TEXT NOT NULL,"
    " amount REAL NOT NULL, paid INTEGER NOT NULL, note TEXT NOT NULL)",
    "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, amount REAL NOT NULL,"
    " note TEXT NOT NULL)",
)
LOAD = (
    "INSERT INTO orders (id, method, tags, amount, paid, note)"
    " VALUES (:id, :method, :tags, :amount, :paid, :note)"
)
SELECT = "SELECT id, method, tags, amount, paid, note FROM orders WHERE id = :id"
INSERT_EVENT = "INSERT INTO events (kind, amount, note) VALUES (:kind, :amount, :note)"
COUNT_EVENTS = "SELECT count(*) FROM events"

_DB_EXPORTS = '''
@plugin.export("db_setup")
async def db_setup(schema: list[str], load: str, rows: list[Any], *, api: Any) -> int:
    """Create the tables and load ``rows``."""
    for statement in schema:
        await api.db.execute(statement)
    return await api.db.execute_many(load, rows)


@plugin.export("db_value")
async def db_value(sql: str, *, api: Any) -> Any:
    """The first column of the first row of ``sql``."""
    return await api.db.fetch_value(sql)


@plugin.export("db_query_loop")
async def db_query_loop(sql: str, keys: list[int], *, api: Any) -> dict[str, Any]:
    """Fetch the row of each key, timing each host API call in microseconds."""
    clock = time.perf_counter_ns
    fetch_one = api.db.fetch_one
    timings = []
    row = None
    for key in keys:
        params = {"id": key}
        start = clock()
        row = await fetch_one(sql, params)
        timings.append((clock() - start) / 1e3)
    return {"timings_us": timings, "row": row}


@plugin.export("db_insert_loop")
async def db_insert_loop(sql: str, rows: list[Any], *, api: Any) -> list[float]:
    """Insert each row in a transaction of its own; microseconds each."""
    clock = time.perf_counter_ns
    transaction, execute = api.db.transaction, api.db.execute
    timings = []
    for row in rows:
        start = clock()
        async with transaction():
            await execute(sql, row)
        timings.append((clock() - start) / 1e3)
    return timings
'''


class _QueryLoop(msgspec.Struct):
    timings_us: list[float]
    row: dict[str, object] | None


@dataclass(frozen=True, slots=True)
class _Plan:
    """How much to measure.

    Attributes:
        warmup_rounds: Untimed rounds first (imports, caches, CPU frequency).
        rounds: Timed rounds; each has one block of the subject and one of the anchor.
        queries: Queries per block.
        transactions: Insert transactions per block.
        migration_warmups: Untimed upgrades of each kind first.
        migration_runs: Timed upgrades of each kind.
    """

    warmup_rounds: int
    rounds: int
    queries: int
    transactions: int
    migration_warmups: int
    migration_runs: int


_QUICK = _Plan(
    warmup_rounds=1, rounds=4, queries=200, transactions=100, migration_warmups=1, migration_runs=2
)
_FULL = _Plan(
    warmup_rounds=2,
    rounds=30,
    queries=1000,
    transactions=500,
    migration_warmups=2,
    migration_runs=20,
)


def run(*, quick: bool) -> list[Metric]:
    """Measure the suite's three metrics; ``quick`` takes few samples."""
    return run_loop(_run(_QUICK if quick else _FULL))


async def _run(plan: _Plan) -> list[Metric]:
    with tempfile.TemporaryDirectory(prefix="pluginctl-bench-db-") as tmp:
        scratch = Path(tmp)
        return [
            *await guarded([QUERY, INSERT], lambda: _measure_api(plan, scratch / "api")),
            *await guarded([MIGRATE], lambda: _measure_migrations(plan, scratch / "migrate")),
        ]


# -- api.db -----------------------------------------------------------------------------


async def _measure_api(plan: _Plan, scratch: Path) -> list[Metric]:
    project = write_plugin(
        scratch,
        PLUGIN,
        body=_DB_EXPORTS,
        permissions=["db:write"],
        exports=["db_setup", "db_value", "db_query_loop", "db_insert_loop"],
    )
    rows = [_order(key) for key in range(1, ROWS + 1)]
    with RawEcho() as raw, InProcessSqlite(scratch / "anchor.sqlite3") as lite:
        lite.setup(SCHEMA)
        lite.load(LOAD, rows)
        async with running_host([load_source(project)], scratch / "data") as host:
            runtime = active(host, PLUGIN)
            loaded = await runtime.call("export", "db_setup", [list(SCHEMA), LOAD, rows], {})
            if loaded != ROWS:
                raise BenchError(f"the plugin loaded {loaded!r} rows, not {ROWS}")
            return [
                *await guarded([QUERY], lambda: _query(runtime, raw, lite, plan)),
                *await guarded([INSERT], lambda: _insert(runtime, lite, plan)),
            ]


def _order(key: int) -> dict[str, object]:
    """Row ``key`` of the ``orders`` table: ``PAYLOAD``'s fields, the tags joined."""
    tags = PAYLOAD["tags"]
    assert isinstance(tags, list)
    return {**PAYLOAD, "id": key, "tags": ",".join(tags)}


async def _query(
    runtime: PluginRuntime, raw: RawEcho, lite: InProcessSqlite, plan: _Plan
) -> list[Metric]:
    keys = [index % ROWS + 1 for index in range(plan.queries)]
    expected = lite.row(SELECT, keys[-1])
    subject: list[float] = []
    raws: list[float] = []
    inside: list[float] = []
    for index in range(plan.warmup_rounds + plan.rounds):
        reply = await runtime.call("export", "db_query_loop", [SELECT, keys], {}, timeout_s=120.0)
        loop = msgspec.convert(reply, _QueryLoop)
        if loop.row is None or tuple(loop.row.values()) != expected:
            raise BenchError(f"api.db.fetch_one returned {loop.row!r}, not the row {expected!r}")
        echoes = [raw.roundtrip_us(PAYLOAD) for _ in range(plan.queries)]
        queries = lite.query_us(SELECT, keys)
        if index >= plan.warmup_rounds:
            subject += loop.timings_us
            raws += echoes
            inside += queries
    parts = {"raw_echo": raws, "sqlite3": inside}
    return [_summed(QUERY, subject, parts, extra={"timed_in": "worker", "rows": ROWS})]


def _summed(
    spec: Spec,
    subject: Sequence[float],
    parts: Mapping[str, Sequence[float]],
    *,
    extra: Mapping[str, float | int | str],
) -> Metric:
    """The metric whose anchor is the sum of ``parts``: their p50s added, and their p95s."""
    if not subject or not all(parts.values()):
        return spec.failed("no samples were taken", extra=extra)
    assert spec.goal is not None
    figures = {f"{name}_p50_{spec.unit}": p50(samples) for name, samples in parts.items()}
    return Metric(
        name=spec.name,
        unit=spec.unit,
        anchor=spec.anchor,
        goal=Goal.parse(spec.goal),
        value=p50(subject),
        anchor_value=sum(p50(samples) for samples in parts.values()),
        p95=p95(subject),
        anchor_p95=sum(p95(samples) for samples in parts.values()),
        runs=len(subject),
        extra={**figures, **extra},
    )


async def _insert(runtime: PluginRuntime, lite: InProcessSqlite, plan: _Plan) -> list[Metric]:
    rows = [{"kind": "order.paid", "amount": PAYLOAD["amount"], "note": PAYLOAD["note"]}] * (
        plan.transactions
    )
    subject: list[float] = []
    anchor: list[float] = []
    subject_tx: list[float] = []
    anchor_tx: list[float] = []
    for index in range(plan.warmup_rounds + plan.rounds):
        reply = await runtime.call(
            "export", "db_insert_loop", [INSERT_EVENT, rows], {}, timeout_s=120.0
        )
        inside = msgspec.convert(reply, list[float])
        local = lite.insert_transactions_us(INSERT_EVENT, rows)
        if index >= plan.warmup_rounds:
            subject.append(_per_s(inside))
            anchor.append(_per_s(local))
            subject_tx += inside
            anchor_tx += local
    expected = (plan.warmup_rounds + plan.rounds) * plan.transactions
    plugin_count = await runtime.call("export", "db_value", [COUNT_EVENTS], {})
    counts = (plugin_count, lite.value(COUNT_EVENTS))
    if counts != (expected, expected):
        raise BenchError(f"the insert blocks left {counts} rows (plugin, anchor), not {expected}")
    extra: dict[str, float | int | str] = {
        "tx_p50_us": p50(subject_tx),
        "anchor_tx_p50_us": p50(anchor_tx),
        "transactions_per_sample": plan.transactions,
        "timed_in": "worker",
    }
    return [INSERT.compare(subject, anchor, extra=extra)]


def _per_s(timings_us: Sequence[float]) -> float:
    """Transactions per second, from the time each took."""
    return len(timings_us) / (sum(timings_us) / 1e6)


# -- migrations -------------------------------------------------------------------------


async def _measure_migrations(plan: _Plan, scratch: Path) -> list[Metric]:
    scripts = scratch / "scripts"
    write_scripts(scripts, MIGRATIONS)
    plain = ClassicAlembic(scratch / "alembic", scripts)
    same = ClassicAlembic(scratch / "alembic-same-pragmas", scripts, same_pragmas=True)
    subject: list[float] = []
    anchor: list[float] = []
    same_pragmas: list[float] = []
    for index in range(plan.migration_warmups + plan.migration_runs):
        ours = pluginctl_upgrade_ms(scripts, scratch / "plugin", expected=MIGRATIONS)
        theirs = plain.upgrade_ms()
        like_ours = same.upgrade_ms()
        head = f"{MIGRATIONS:04d}"
        if (plain.revision(), same.revision()) != (head, head):
            raise BenchError(f"alembic upgrade head did not reach revision {head}")
        if index >= plan.migration_warmups:
            subject.append(ours)
            anchor.append(theirs)
            same_pragmas.append(like_ours)
    extra = {
        "migrations": MIGRATIONS,
        "same_pragmas_anchor_p50_ms": p50(same_pragmas),
        "same_pragmas_ratio": p50(subject) / p50(same_pragmas),
    }
    return [MIGRATE.compare(subject, anchor, extra=extra)]
