"""The runtime benchmark suites (``rpc``, ``startup``, ``reload``) and what they use.

Each suite runs once, with ``--quick``, as ``python -m bench``; the tests read its JSON
report. No timing thresholds: the machines are noisy, and benchmarks are not tests.
"""

from __future__ import annotations

import doctest
import importlib
import json
import math
from typing import TYPE_CHECKING

import msgspec
import psutil
import pytest

from bench._metric import Goal, Metric
from bench._report import Report
from bench._suites import available_suites, describe_suite
from bench._workers import PAYLOAD, RawEcho, Spec, idle_python
from tests.test_bench import METRIC_KEYS, run_bench

if TYPE_CHECKING:
    from collections.abc import Collection
    from pathlib import Path

#: Each suite's metrics, with the unit, anchor and goal of each.
Expected = dict[str, tuple[str, str | None, str | None]]
RPC_METRICS: Expected = {
    "rpc_roundtrip_p50_us": ("us", "raw_socketpair_msgpack", "<= 1.5"),
    "host_api_call_p50_us": ("us", "raw_socketpair_msgpack", "<= 2"),
    "rpc_pipelined_calls_per_s": ("calls/s", "raw_socketpair_msgpack_pipelined", ">= 0.5"),
    "pluggy_hook_call_us": ("us", None, None),
}
IDLE_PYTHON = "idle python (python -c 'import time; time.sleep(60)')"
STARTUP_METRICS: Expected = {
    "worker_start_p50_ms": ("ms", "python -c pass", "<= 0.3"),
    "worker_idle_uss_mib": ("MiB", IDLE_PYTHON, "<= 1 MiB"),
    "plugin_load_p50_ms": ("ms", "python -c pass", "<= 10 ms"),
    "hello_worker_uss_mib": ("MiB", IDLE_PYTHON, "<= 3 MiB"),
    "host_100_plugins_start_s": ("s", "20x python -c pass", "<= 2 s"),
}

UVICORN = "uvicorn --reload (one-route Starlette app)"
RELOAD_METRICS: Expected = {
    "reload_p50_ms": ("ms", UVICORN, "<= 20 ms"),
    "reload_p95_ms": ("ms", UVICORN, "<= 30 ms"),
    "reload_failed_requests": ("requests", None, "<= 0 requests"),
    "reload_error_recovery_ms": ("ms", None, "<= 30 ms"),
    "test_fixture_ready_ms": ("ms", None, "<= 50 ms"),
}
#: Figures that may rightly be zero.
COUNTS = {"reload_failed_requests"}


class SuiteRun:
    """One ``python -m bench SUITE --quick --json PATH`` run: exit code, table, report."""

    def __init__(self, suite: str, tmp_path: Path) -> None:
        path = tmp_path / "report" / f"{suite}.json"
        done = run_bench(suite, "--quick", "--json", str(path), timeout_s=240)
        assert path.is_file(), f"no report written; stderr:\n{done.stderr}"
        self.returncode = done.returncode
        self.stdout = done.stdout
        self.stderr = done.stderr
        report = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(report, dict)
        self.report: dict[str, object] = report

    @property
    def metrics(self) -> dict[str, dict[str, object]]:
        metrics = self.report["metrics"]
        assert isinstance(metrics, dict)
        return metrics

    def extras(self, name: str) -> dict[str, object]:
        extra = self.metrics[name].get("extra")
        assert isinstance(extra, dict), (name, self.metrics[name])
        return extra


@pytest.fixture(scope="module")
def rpc_suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    return SuiteRun("rpc", tmp_path_factory.mktemp("bench-rpc"))


@pytest.fixture(scope="module")
def reload_suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    return SuiteRun("reload", tmp_path_factory.mktemp("bench-reload"))


@pytest.fixture(scope="module")
def startup_suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    return SuiteRun("startup", tmp_path_factory.mktemp("bench-startup"))


#: A goal the suite sets in the run (from a figure it measured): any goal will do.
IN_RUN = "set in the run"


def check_report(
    run: SuiteRun,
    suite: str,
    expected: Expected,
    *,
    may_be_zero: Collection[str] = (),
    may_be_negative: Collection[str] = (),
) -> None:
    """Every metric of ``expected`` measured, with its unit, anchor and goal, and sane figures.

    ``may_be_zero`` names counts that may rightly be 0, ``may_be_negative`` differences
    that may fall below 0.
    """
    assert run.report["suite"] == suite
    assert "cores" in str(run.report["machine"])
    assert set(run.metrics) == set(expected)
    failed = {name: entry.get("error") for name, entry in run.metrics.items() if "error" in entry}
    assert failed == {}
    assert run.returncode == 0, run.stdout + run.stderr
    for name, (unit, anchor, goal) in expected.items():
        entry = run.metrics[name]
        assert set(entry) >= METRIC_KEYS, name
        assert (entry["unit"], entry["anchor"]) == (unit, anchor), name
        assert goal == IN_RUN or entry["goal"] == goal, name
        assert isinstance(entry["runs"], int)
        assert entry["runs"] > 0
        figures = ["value", "p95"]
        if anchor is not None:
            figures += ["anchor_value", "anchor_p95", "ratio"]
        else:
            assert (entry["anchor_value"], entry["ratio"]) == (None, None)
        assert entry["met"] is None if goal is None else isinstance(entry["met"], bool), name
        for key in figures:
            figure = entry[key]
            assert isinstance(figure, float | int), (name, key, figure)
            assert math.isfinite(figure), (name, key, figure)
            if name in may_be_negative and key in ("value", "p95", "ratio"):
                continue
            assert figure >= 0 if name in may_be_zero else figure > 0, (name, key, figure)
        assert name in run.stdout


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_rpc_suite")
def test_rpc_suite_measures_every_metric(rpc_suite: SuiteRun) -> None:
    check_report(rpc_suite, "rpc", RPC_METRICS)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_rpc_suite")
def test_rpc_suite_reports_ping_and_pipeline_depth(rpc_suite: SuiteRun) -> None:
    roundtrip = rpc_suite.extras("rpc_roundtrip_p50_us")
    ping = roundtrip["ping_p50_us"]
    assert isinstance(ping, float)
    assert ping > 0
    assert roundtrip["payload_bytes"] == len(msgspec.msgpack.encode(PAYLOAD))
    assert rpc_suite.extras("rpc_pipelined_calls_per_s")["in_flight"] == 64
    assert rpc_suite.extras("host_api_call_p50_us")["timed_in"] == "worker"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_reload_suite")
def test_reload_suite_measures_every_metric(reload_suite: SuiteRun) -> None:
    check_report(reload_suite, "reload", RELOAD_METRICS, may_be_zero=COUNTS)
    requests = reload_suite.extras("reload_failed_requests")["requests"]
    assert isinstance(requests, int)
    assert requests > 0  # the prober ran during the reloads
    assert reload_suite.extras("reload_p50_ms")["ratio_goal"] == "<= 0.1"


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_startup_suite")
def test_startup_suite_measures_every_metric(startup_suite: SuiteRun) -> None:
    check_report(startup_suite, "startup", STARTUP_METRICS)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_startup_suite")
def test_quick_startup_says_how_many_plugins_it_started(startup_suite: SuiteRun) -> None:
    extra = startup_suite.extras("host_100_plugins_start_s")
    assert extra["plugins"] == 20
    total = extra["workers_uss_total_mib"]
    assert isinstance(total, float)
    assert total > 0
    assert "plugins=20" in startup_suite.stdout


# -- the suites are registered --------------------------------------------------------


def test_runtime_suites_are_listed_with_their_description() -> None:
    assert {"rpc", "startup", "reload"} <= set(available_suites())
    assert "RPC" in describe_suite("rpc")
    assert "worker" in describe_suite("startup").lower()


# -- goals with units, metrics without goals or anchors, extra figures ---------------


def test_a_goal_with_a_unit_bounds_the_value_not_the_ratio() -> None:
    goal = Goal.parse("<= 10 ms")
    assert (goal.op, goal.bound, goal.unit, str(goal)) == ("<=", 10.0, "ms", "<= 10 ms")
    metric = Spec("load_ms", "ms", "python -c pass", "<= 10 ms").compare([8.0], [4.0])
    assert metric.ratio == 2.0
    assert metric.met
    assert not Spec("load_ms", "ms", "a", "<= 10 ms").compare([12.0], [40.0]).met


def test_a_higher_is_better_goal_reads_the_ratio() -> None:
    spec = Spec("calls_per_s", "calls/s", "raw", ">= 0.5")
    assert spec.compare([60.0], [100.0]).met
    assert not spec.compare([40.0], [100.0]).met


def test_a_metric_without_goal_or_anchor_is_neither_met_nor_missed() -> None:
    metric = Spec("hook_us", "us", None, None).alone([1.0, 3.0, 2.0], extra={"calls": 10})
    entry = metric.to_json()
    assert (entry["value"], entry["anchor"], entry["goal"], entry["met"]) == (2.0, None, None, None)
    assert entry["extra"] == {"calls": 10}
    row = Report("demo", "machine", [metric]).table().splitlines()[2]
    assert row.split()[-4:] == ["-", "-", "-", "-"]


def test_extra_figures_are_listed_under_the_table() -> None:
    metric = Spec("x_us", "us", "raw", "<= 1.5").compare(
        [2.0], [1.0], extra={"ping_p50_us": 3.14159, "plugins": 20}
    )
    table = Report("demo", "machine", [metric]).table()
    assert "x_us: ping_p50_us=3.14, plugins=20" in table
    assert metric.to_json()["extra"] == {"ping_p50_us": 3.142, "plugins": 20}


def test_a_failed_metric_keeps_its_spec_and_reason() -> None:
    entry = Spec("x_ms", "ms", None, None).failed("pluggy is not installed").to_json()
    assert (entry["value"], entry["met"], entry["error"]) == (None, None, "pluggy is not installed")
    empty = Spec("y_ms", "ms", "a", "<= 1").compare([], [1.0])
    assert empty.error == "no samples were taken"


def test_old_style_metrics_keep_their_json() -> None:
    metric = Metric.failed("create_ms", anchor="cookiecutter", goal="<= 1.3", error="e")
    entry = metric.to_json()
    assert (entry["goal"], entry["met"]) == ("<= 1.3", False)
    assert "extra" not in entry


# -- the anchors clean up after themselves ---------------------------------------------


def test_raw_echo_answers_and_its_process_ends_with_it() -> None:
    with RawEcho() as raw:
        pid = raw.pid
        assert raw.roundtrip_us(PAYLOAD) > 0
        assert raw.pipelined_s(PAYLOAD, 16) > 0
    assert not _alive(pid)


def test_idle_python_is_killed_on_exit() -> None:
    with idle_python() as pid:
        assert _alive(pid)
    assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("module", ["bench._metric", "bench._report", "bench._workers"])
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
