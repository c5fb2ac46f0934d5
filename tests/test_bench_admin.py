"""The ``admin`` benchmark suite: the polled dashboard, a panel, and watching's cost.

The suite runs once, with ``--quick``, as ``python -m bench``; the test reads its JSON
report. No timing thresholds: the machines are noisy, and benchmarks are not tests.
"""

from __future__ import annotations

import pytest

from bench._suites import available_suites, describe_suite
from tests.test_bench_runtime import Expected, SuiteRun, check_report

ADMIN_METRICS: Expected = {
    "dashboard_ms": ("ms", "a Prometheus scrape of /metrics", "<= 1"),
    "panel_ms": ("ms", "a route of the same plugin", "<= 1.5"),
    "watched_route_ms": ("ms", "the route with no dashboard open", "<= 1.1"),
}


@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_admin_suite")
def test_admin_suite_measures_every_metric(tmp_path_factory: pytest.TempPathFactory) -> None:
    check_report(SuiteRun("admin", tmp_path_factory.mktemp("bench-admin")), "admin", ADMIN_METRICS)


def test_the_suite_is_listed_with_its_description() -> None:
    assert "admin" in available_suites()
    assert describe_suite("admin").startswith("The admin UI")
