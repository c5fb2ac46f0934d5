"""The ``registry`` benchmark suite: marketplace search, and real clients against pypiserver.

The suite runs once, with ``--quick``, as ``python -m bench``; the tests read its JSON
report. No timing thresholds: the machines are noisy, and benchmarks are not tests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bench._suites import available_suites, describe_suite
from bench.registry import METRICS, generate
from pluginctl.registry.marketplace import search
from tests.test_bench_runtime import Expected, SuiteRun, check_report

if TYPE_CHECKING:
    from pathlib import Path

PYPISERVER = "the same files served by pypiserver"
REGISTRY_METRICS: Expected = {
    "search_p50_ms": ("ms", None, "<= 20 ms"),
    "pip_install_s": ("s", f"pip install from {PYPISERVER}", "<= 1"),
    "uv_install_s": ("s", f"uv pip install from {PYPISERVER}", "<= 1"),
    "upload_s": ("s", "twine upload to pypiserver", "<= 1"),
    "simple_index_rps": ("req/s", "pypiserver /simple/<project>/", ">= 2"),
}
QUERIES = ("word", "prefix", "category_tag", "host", "downloads")


@pytest.fixture(scope="module")
def registry_suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    return SuiteRun("registry", tmp_path_factory.mktemp("bench-registry"))


@pytest.mark.timeout(300)
@pytest.mark.xdist_group("bench_registry_suite")
def test_registry_suite_measures_every_metric(registry_suite: SuiteRun) -> None:
    check_report(registry_suite, "registry", REGISTRY_METRICS)
    extra = registry_suite.extras("search_p50_ms")
    assert extra["projects"] == 1000
    for query in QUERIES:
        figure = extra[f"{query}_p50_ms"]
        assert isinstance(figure, float)
        assert figure > 0
    assert registry_suite.metrics["search_p50_ms"]["runs"] == 20 * len(QUERIES)
    for client in ("pip_install_s", "uv_install_s", "upload_s"):
        assert registry_suite.metrics[client]["runs"] == 3
    assert registry_suite.extras("simple_index_rps")["concurrency"] == 16


def test_the_generated_registry_is_searchable_as_published_ones_are(tmp_path: Path) -> None:
    store, words = generate(tmp_path / "registry", projects=200)
    assert len(store.index.projects()) == 200
    live = {row.project for row in store.index.all_files() if not row.yanked}
    assert 180 < len(live) < 200  # one project in ten has its newest release yanked
    assert search(store.index, limit=100).total == len(live)
    assert search(store.index, words[0][:3]).total > 0
    assert 0 < search(store.index, host_version="0.1.0").total < len(live)  # not ">=0.2"
    by_downloads = search(store.index, sort="downloads").hits
    assert by_downloads[0].downloads >= by_downloads[-1].downloads


def test_the_registry_suite_is_listed_and_takes_more_metrics() -> None:
    assert "registry" in available_suites()
    assert "search" in describe_suite("registry")
    assert [spec.name for spec, _ in METRICS] == ["search_p50_ms"]
