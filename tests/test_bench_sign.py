"""The ``sign`` benchmark suite: build, sign and verify against python -m build and sha256sum.

The suite runs once, with ``--quick``, as ``python -m bench``; the tests read its JSON
report. No timing thresholds: the machines are noisy, and benchmarks are not tests.
"""

from __future__ import annotations

import pytest

from bench._suites import available_suites, describe_suite
from tests.test_bench_runtime import Expected, SuiteRun, check_report

SHA256SUM = "sha256sum of the same file (coreutils, page cache warm)"
SIGN_METRICS: Expected = {
    "sign_50mb_ms": ("ms", SHA256SUM, "<= 3"),
    "verify_50mb_ms": ("ms", SHA256SUM, "<= 3"),
    "verify_small_ms": ("ms", None, "<= 5 ms"),
    "build_ms": ("ms", "python -m build --no-isolation examples/hello", "<= 1.1"),
}


@pytest.fixture(scope="module")
def sign_suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    return SuiteRun("sign", tmp_path_factory.mktemp("bench-sign"))


@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_sign_suite")
def test_sign_suite_measures_every_metric_against_its_anchor(sign_suite: SuiteRun) -> None:
    check_report(sign_suite, "sign", SIGN_METRICS)
    assert sign_suite.metrics["build_ms"]["runs"] == 3
    assert sign_suite.extras("build_ms")["project"] == "examples/hello (hatchling)"
    assert sign_suite.extras("sign_50mb_ms")["members"] == 200
    assert sign_suite.metrics["verify_small_ms"]["runs"] == 30


def test_the_sign_suite_is_listed_with_its_description() -> None:
    assert "sign" in available_suites()
    assert "build" not in available_suites()
    assert "sha256sum" in describe_suite("sign")
