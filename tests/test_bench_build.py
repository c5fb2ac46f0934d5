"""The ``build`` benchmark suite: ``pluginctl build`` against ``python -m build``.

The suite runs once, with ``--quick``, as ``python -m bench``; the tests read its JSON
report. No timing thresholds: the machines are noisy, and benchmarks are not tests.
"""

from __future__ import annotations

import pytest

from bench._suites import available_suites, describe_suite
from tests.test_bench_runtime import Expected, SuiteRun, check_report

BUILD_METRICS: Expected = {
    "build_ms": ("ms", "python -m build --no-isolation examples/hello", "<= 1.1"),
}


@pytest.fixture(scope="module")
def build_suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    return SuiteRun("build", tmp_path_factory.mktemp("bench-build"))


@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_build_suite")
def test_build_suite_measures_build_ms_against_python_m_build(build_suite: SuiteRun) -> None:
    check_report(build_suite, "build", BUILD_METRICS)
    assert build_suite.metrics["build_ms"]["runs"] == 3
    assert build_suite.extras("build_ms")["project"] == "examples/hello (hatchling)"


def test_the_build_suite_is_listed_with_its_description() -> None:
    assert "build" in available_suites()
    assert "python -m build" in describe_suite("build")
