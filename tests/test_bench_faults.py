"""The fault suites (``faults``, ``chaos``), ``--duration``, and the chaos load process.

Each suite runs once, with ``--quick``, as ``python -m bench``; the tests read its JSON
report. No timing thresholds: the machines are noisy, and benchmarks are not tests.
"""

from __future__ import annotations

import asyncio
import doctest
import importlib
from typing import TYPE_CHECKING

import psutil
import pytest

from bench.__main__ import main
from bench._errors import BenchError
from bench._load import LoadPlan, LoadProcess
from bench._suites import available_suites, describe_suite, load_suite, runner, takes_duration
from tests.test_bench import run_bench
from tests.test_bench_runtime import IN_RUN, Expected, SuiteRun, check_report

if TYPE_CHECKING:
    from bench._metric import Metric

PLAIN_RAISE = "raise and catch a plain exception"
FAULTS_METRICS: Expected = {
    "crash_to_healthy_ms": ("ms", "fresh start of the same plugin (enable_plugin)", IN_RUN),
    "failfast_breaker_us": ("us", PLAIN_RAISE, "<= 5 us"),
    "failfast_rate_limited_us": ("us", PLAIN_RAISE, "<= 5 us"),
    "failfast_denied_us": ("us", PLAIN_RAISE, "<= 5 us"),
    "failfast_us": ("us", PLAIN_RAISE, "<= 5 us"),
    "deadline_overrun_python_ms": ("ms", None, "<= 5 ms"),
    "deadline_overrun_native_ms": ("ms", "deadline_grace_s (0.1 s)", "<= 101 ms"),
    "sandbox_overhead_ms": ("ms", "worker start without the sandbox", "<= 1.5 ms"),
}
CHAOS_METRICS: Expected = {
    "chaos_healthy_failed_requests": ("requests", None, "<= 0 requests"),
    "chaos_healthy_requests": ("requests", None, None),
    "chaos_faults_injected": ("faults", None, None),
    "chaos_recoveries": ("recoveries", None, None),
    "chaos_healthy_p99_ratio": ("ms", "calm phase (same load, no faults)", "<= 2"),
}
#: Figures that may rightly be zero (counts) or below zero (a difference of two starts).
MAY_BE_ZERO = {"chaos_healthy_failed_requests", "chaos_recoveries"}
MAY_BE_NEGATIVE = {"sandbox_overhead_ms"}


@pytest.fixture(scope="module")
def faults_suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    return SuiteRun("faults", tmp_path_factory.mktemp("bench-faults"))


@pytest.fixture(scope="module")
def chaos_suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    return SuiteRun("chaos", tmp_path_factory.mktemp("bench-chaos"))


def _number(extra: dict[str, object], key: str) -> float:
    value = extra[key]
    assert isinstance(value, float | int), (key, value)
    return float(value)


# -- faults -----------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_faults_suite")
def test_faults_suite_measures_every_metric(faults_suite: SuiteRun) -> None:
    check_report(faults_suite, "faults", FAULTS_METRICS, may_be_negative=MAY_BE_NEGATIVE)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_faults_suite")
def test_the_crash_goal_is_five_ms_over_the_fresh_start(faults_suite: SuiteRun) -> None:
    entry = faults_suite.metrics["crash_to_healthy_ms"]
    anchor = entry["anchor_value"]
    assert isinstance(anchor, float)
    goal = str(entry["goal"])
    assert goal.startswith("<= ")
    assert goal.endswith(" ms")
    assert float(goal.split()[1]) == pytest.approx(anchor + 5, abs=0.02)
    extra = faults_suite.extras("crash_to_healthy_ms")
    assert _number(extra, "backoff_configured_ms") == 1.0
    for key in ("detect_p50_ms", "sigkill_p50_ms", "exit_p50_ms", "backoff_waited_p50_ms"):
        assert _number(extra, key) >= 0, key


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_faults_suite")
def test_failfast_is_the_worst_of_the_three_refusals(faults_suite: SuiteRun) -> None:
    kinds = {
        "breaker": "failfast_breaker_us",
        "rate_limited": "failfast_rate_limited_us",
        "denied": "failfast_denied_us",
    }
    worst = faults_suite.extras("failfast_us")["worst"]
    assert worst in kinds
    values = {kind: faults_suite.metrics[name]["value"] for kind, name in kinds.items()}
    assert faults_suite.metrics["failfast_us"]["value"] == values[str(worst)]
    assert values[str(worst)] == max(v for v in values.values() if isinstance(v, float))


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_faults_suite")
def test_overruns_and_sandbox_report_their_parts(faults_suite: SuiteRun) -> None:
    native = faults_suite.metrics["deadline_overrun_native_ms"]
    assert native["anchor_value"] == 100.0  # the grace
    native_extra = faults_suite.extras("deadline_overrun_native_ms")
    assert _number(native_extra, "kill_sent_p50_ms") > 0
    assert _number(faults_suite.extras("deadline_overrun_python_ms"), "regex_p50_ms") > 0
    sandbox = faults_suite.extras("sandbox_overhead_ms")
    assert _number(sandbox, "sandboxed_start_p50_ms") > 0
    assert _number(sandbox, "unsandboxed_start_p50_ms") > 0


# -- chaos ------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_chaos_suite")
def test_chaos_suite_measures_every_metric(chaos_suite: SuiteRun) -> None:
    check_report(chaos_suite, "chaos", CHAOS_METRICS, may_be_zero=MAY_BE_ZERO)


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_chaos_suite")
def test_chaos_counts_requests_faults_and_recoveries(chaos_suite: SuiteRun) -> None:
    failed = chaos_suite.metrics["chaos_healthy_failed_requests"]["value"]
    assert isinstance(failed, float)
    assert failed.is_integer()
    extra = chaos_suite.extras("chaos_healthy_failed_requests")
    requests = _number(extra, "requests")
    served = chaos_suite.metrics["chaos_healthy_requests"]["value"]
    assert served == requests - failed
    assert requests > 0
    assert _number(extra, "calm_phase_failed_requests") >= 0
    injected = chaos_suite.extras("chaos_faults_injected")
    kinds = ("raise", "exit", "segfault", "spin", "spin_thread", "regex", "native", "allocate")
    by_kind = sum(_number(injected, kind) for kind in (*kinds, "garbage"))
    assert by_kind == chaos_suite.metrics["chaos_faults_injected"]["value"]
    recovered = chaos_suite.extras("chaos_recoveries")
    assert str(recovered["faulty_active_at_end"]).endswith("/5")
    assert _number(recovered, "crashes") >= 0
    p99 = chaos_suite.extras("chaos_healthy_p99_ratio")
    assert p99["phase_s"] == 3.0  # --quick
    assert _number(p99, "calm_requests") > 0


# -- --duration -------------------------------------------------------------------------


class _Timed:
    """A suite that runs for a set time, recording what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[bool, float | None]] = []

    def run(self, *, quick: bool, duration_s: float | None = None) -> list[Metric]:
        self.asked.append((quick, duration_s))
        return []


def test_duration_reaches_a_suite_that_takes_it() -> None:
    suite = _Timed()
    assert takes_duration(suite)
    runner("timed", suite, duration_s=7.5)(True)
    runner("timed", suite)(False)
    assert suite.asked == [(True, 7.5), (False, None)]
    assert takes_duration(load_suite("chaos"))
    assert not takes_duration(load_suite("faults"))


def test_duration_for_a_suite_without_one_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(BenchError, match="does not run for a set time"):
        runner("faults", load_suite("faults"), duration_s=5.0)
    assert main(["cli", "--duration", "5"]) == 2
    err = capsys.readouterr().err
    assert "--duration does not apply" in err
    assert "suites that take --duration: chaos" in err


@pytest.mark.parametrize("given", ["0", "-3", "soon"])
def test_duration_must_be_a_positive_number(given: str) -> None:
    done = run_bench("chaos", "--duration", given)
    assert done.returncode == 2
    assert "--duration" in done.stderr


def test_fault_suites_are_listed_with_their_description() -> None:
    assert {"faults", "chaos"} <= set(available_suites())
    assert "crash" in describe_suite("faults")
    assert "faults" in describe_suite("chaos")


# -- the load process -------------------------------------------------------------------


def test_the_load_process_ends_by_its_pid_when_the_host_side_fails() -> None:
    load = LoadProcess(LoadPlan(30.0, 1, 0.1), ["http://127.0.0.1:9/never"], [])

    async def scenario() -> None:
        async with load.running():
            assert load.pid is not None
            assert _alive(load.pid)
            raise RuntimeError("the host side failed")

    with pytest.raises(RuntimeError, match="host side failed"):
        asyncio.run(asyncio.wait_for(scenario(), 60))
    assert load.pid is not None
    assert not _alive(load.pid)


def test_the_load_process_counts_what_fails() -> None:
    load = LoadProcess(LoadPlan(0.3, 2, 0.05), ["http://127.0.0.1:9/never"], [])

    async def scenario() -> tuple[int, int]:
        async with load.running():
            result = await load.result()
        return result.healthy.requests, result.healthy.failures

    requests, failures = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert requests > 0
    assert failures == requests  # nothing listens on port 9: every request fails


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize(
    "module",
    ["bench._faulty", "bench._load", "bench._recovery", "bench._refusals", "bench._suites"],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
