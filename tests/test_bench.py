"""The benchmark runner: report shape, statistics, suite registry, template answers.

No timing thresholds here: the machines are noisy, and benchmarks are not tests.
"""

from __future__ import annotations

import doctest
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import main
from bench._errors import BenchError
from bench._harness import SCRATCH, Command, compare
from bench._metric import Goal, Metric
from bench._report import Report
from bench._stats import p50, p95, percentile
from bench._suites import available_suites, load_suite
from bench._template import TEMPLATE_DIR, extra_context

REPO = Path(__file__).resolve().parent.parent


def run_bench(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    """``python -m bench ARGS...`` from the repository, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


CLI_METRICS = ("cli_help_ms", "cli_version_ms", "create_ms")
METRIC_KEYS = {
    "value",
    "unit",
    "anchor",
    "anchor_value",
    "ratio",
    "goal",
    "met",
    "p95",
    "anchor_p95",
    "runs",
}
HAS_TEMPLATE = (TEMPLATE_DIR / "cookiecutter.json").is_file()
NEEDS_TEMPLATE = pytest.mark.skipif(
    not HAS_TEMPLATE,
    reason="templates/plugin/cookiecutter.json does not exist yet (the plugin template is "
    "being written); create_ms cannot be measured without it",
)


# -- the cli suite, end to end ----------------------------------------------------------


class SuiteRun:
    """One ``python -m bench cli --quick --json PATH`` run: exit code, stdout, report."""

    def __init__(self, done: subprocess.CompletedProcess[str], report: dict[str, object]) -> None:
        self.returncode = done.returncode
        self.stdout = done.stdout
        self.stderr = done.stderr
        self.report = report

    def metric(self, name: str) -> dict[str, object]:
        metrics = self.report["metrics"]
        assert isinstance(metrics, dict)
        entry = metrics[name]
        assert isinstance(entry, dict)
        return entry


@pytest.fixture(scope="module")
def cli_suite(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    path = tmp_path_factory.mktemp("bench") / "nested" / "cli.json"
    done = run_bench("cli", "--quick", "--json", str(path), timeout_s=110)
    assert path.is_file(), f"no report written; stderr:\n{done.stderr}"
    report = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(report, dict)
    return SuiteRun(done, report)


@pytest.mark.xdist_group("bench_cli_suite")
def test_cli_suite_report_has_the_documented_shape(cli_suite: SuiteRun) -> None:
    report = cli_suite.report
    assert report["suite"] == "cli"
    machine = report["machine"]
    assert isinstance(machine, str)
    assert "cores" in machine
    assert "Python" in machine
    metrics = report["metrics"]
    assert isinstance(metrics, dict)
    assert set(CLI_METRICS) <= set(metrics)
    for name in CLI_METRICS:
        entry = cli_suite.metric(name)
        assert set(entry) >= METRIC_KEYS, name
        assert entry["unit"] == "ms"
        assert isinstance(entry["met"], bool)


@pytest.mark.xdist_group("bench_cli_suite")
@pytest.mark.parametrize(
    ("name", "goal"), [("cli_help_ms", "<= 0.7"), ("cli_version_ms", "<= 0.5")]
)
def test_startup_metrics_are_measured_against_pip(
    cli_suite: SuiteRun, name: str, goal: str
) -> None:
    entry = cli_suite.metric(name)
    assert "error" not in entry, entry.get("error")
    assert entry["anchor"] == "python -m pip --version"
    assert entry["goal"] == goal
    assert entry["runs"] == 3
    _assert_positive_figures(entry)


@pytest.mark.xdist_group("bench_cli_suite")
@NEEDS_TEMPLATE
def test_create_metric_is_measured_against_cookiecutter(cli_suite: SuiteRun) -> None:
    entry = cli_suite.metric("create_ms")
    assert "error" not in entry, entry.get("error")
    assert str(entry["anchor"]).startswith("cookiecutter ")
    assert entry["goal"] == "<= 1.3"
    _assert_positive_figures(entry)


@pytest.mark.xdist_group("bench_cli_suite")
def test_cli_suite_prints_a_table_and_exits_by_what_it_measured(cli_suite: SuiteRun) -> None:
    for name in CLI_METRICS:
        assert name in cli_suite.stdout
    failed = [name for name in CLI_METRICS if "error" in cli_suite.metric(name)]
    if HAS_TEMPLATE:
        assert (cli_suite.returncode, failed) == (0, []), cli_suite.stdout
    else:
        assert (cli_suite.returncode, failed) == (1, ["create_ms"])
        assert "cookiecutter.json does not exist" in cli_suite.stdout


def _assert_positive_figures(entry: dict[str, object]) -> None:
    for key in ("value", "anchor_value", "ratio", "p95", "anchor_p95"):
        figure = entry[key]
        assert isinstance(figure, float | int), (key, figure)
        assert figure > 0, (key, figure)


# -- statistics -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([7.0], 7.0),
        ([3.0, 1.0, 2.0], 2.0),
        ([4.0, 1.0, 3.0, 2.0], 2.5),
        ([10.0, 10.0, 10.0, 1000.0], 10.0),
    ],
)
def test_p50_is_the_median(samples: list[float], expected: float) -> None:
    assert p50(samples) == expected


@pytest.mark.parametrize(
    ("samples", "expected"),
    [
        ([7.0], 7.0),
        ([float(n) for n in range(1, 101)], 95.05),
        ([float(n) for n in range(1, 21)], 19.05),
        ([1.0, 2.0], 1.95),
    ],
)
def test_p95_interpolates_between_ranks(samples: list[float], expected: float) -> None:
    assert p95(samples) == pytest.approx(expected)


def test_percentile_ends_are_min_and_max() -> None:
    samples = [5.0, 3.0, 9.0]
    assert (percentile(samples, 0), percentile(samples, 100)) == (3.0, 9.0)


@pytest.mark.parametrize(("samples", "q"), [([], 50), ([1.0], -1), ([1.0], 101)])
def test_percentile_refuses_nonsense(samples: list[float], q: float) -> None:
    with pytest.raises(ValueError, match=r"no samples|outside 0\.\.100"):
        percentile(samples, q)


# -- goals, metrics, reports ------------------------------------------------------------


def test_goal_reads_and_judges_a_ratio() -> None:
    goal = Goal.parse("<= 0.7")
    assert (goal.is_met(0.7), goal.is_met(0.71), str(goal)) == (True, False, "<= 0.7")


def test_goal_without_an_operator_is_refused() -> None:
    with pytest.raises(ValueError, match="does not start with"):
        Goal.parse("0.7")


def test_failed_metric_is_never_met_and_keeps_its_reason() -> None:
    metric = Metric.failed("create_ms", anchor="cookiecutter", goal="<= 1.3", error="no template")
    entry = metric.to_json()
    assert (entry["value"], entry["ratio"], entry["met"]) == (None, None, False)
    assert entry["error"] == "no template"


def test_report_json_goes_to_a_new_directory(tmp_path: Path) -> None:
    metric = Metric.failed("x_ms", anchor="a", goal="<= 1", error="e")
    path = tmp_path / "a" / "b" / "report.json"
    Report("demo", "machine", [metric]).write_json(path)
    assert json.loads(path.read_text(encoding="utf-8"))["metrics"]["x_ms"]["error"] == "e"


# -- suites -----------------------------------------------------------------------------


def test_unknown_suite_is_a_usage_error_listing_the_suites(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = main(["no-such-suite", "--json", str(tmp_path / "out.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown suite 'no-such-suite'" in err
    listed = err.split("available suites: ")[1].splitlines()[0].split(", ")
    assert "cli" in listed
    assert not (tmp_path / "out.json").exists()


def test_unknown_suite_from_the_command_line_exits_2() -> None:
    done = run_bench("nope", "--quick")
    assert done.returncode == 2
    assert "available suites:" in done.stderr


def test_suites_are_the_public_modules_of_bench() -> None:
    suites = available_suites()
    assert "cli" in suites
    assert not [name for name in suites if name.startswith("_")]
    assert callable(load_suite("cli").run)


def test_load_suite_names_the_alternatives() -> None:
    with pytest.raises(BenchError, match=r"available suites: .*cli"):
        load_suite("rcp")


# -- the harness ------------------------------------------------------------------------


def test_each_run_gets_a_fresh_scratch_directory() -> None:
    script = "import os, sys; assert not os.listdir(sys.argv[1]); open(sys.argv[1] + '/x', 'w')"
    command = Command("write once", (sys.executable, "-c", script, SCRATCH))
    comparison = compare(command, command, runs=2, warmups=1)
    assert comparison.runs == 2
    assert all(ms > 0 for ms in (*comparison.subject_ms, *comparison.anchor_ms))


def test_a_failing_command_is_not_a_measurement() -> None:
    failing = Command("exit 3", (sys.executable, "-c", "import sys; sys.exit('broken')"))
    fine = Command("pass", (sys.executable, "-c", "pass"))
    with pytest.raises(BenchError, match=r"`exit 3` exited with 1: broken"):
        compare(fine, failing, runs=1, warmups=0)


# -- the template's answers -------------------------------------------------------------


def test_template_flags_are_switched_on_in_their_own_form() -> None:
    spec: dict[str, object] = {
        "plugin_name": "my-plugin",
        "author": "someone",
        "with_routes": True,
        "use_database": "n",
        "admin_panel": ["no", "yes"],
        "static_dir": "static",
        "include_static": "false",
    }
    answers = extra_context(spec, name="demo", features=["routes", "db", "admin", "static"])
    assert answers == {
        "plugin_name": "demo",
        "with_routes": "yes",
        "use_database": "y",
        "admin_panel": "yes",
        "include_static": "true",
    }


def test_a_feature_list_variable_takes_every_feature() -> None:
    answers = extra_context({"name": "x", "features": ""}, name="demo", features=["routes", "db"])
    assert answers == {"name": "demo", "features": "routes,db"}


def test_a_template_without_a_flag_is_a_clear_error() -> None:
    with pytest.raises(BenchError, match="no flag for admin"):
        extra_context({"name": "x", "routes": True}, name="demo", features=["routes", "admin"])


# -- docstring examples -----------------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    [
        "bench._harness",
        "bench._machine",
        "bench._metric",
        "bench._report",
        "bench._stats",
        "bench._suites",
        "bench._template",
    ],
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0
    assert result.failed == 0
