"""The benchmarks page: every suite has a committed report, and the docs hook draws each one.

No figure is checked against a threshold: benchmarks are not tests. What is checked
is that the page can always be built from what is committed.
"""

from __future__ import annotations

import doctest
import importlib.util
import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bench._suites import available_suites

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
HOOK = DOCS / "_hooks" / "benchmarks.py"
DATA = DOCS / "benchmarks" / "data"
PAGE = DOCS / "benchmarks" / "index.md"


def load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pluginctl_docs_benchmarks", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    pytest.importorskip("matplotlib", reason="matplotlib comes with the docs extra")
    return load_hook()


def test_every_suite_has_a_committed_report() -> None:
    committed = sorted(path.stem for path in DATA.glob("*.json"))
    assert committed == sorted(available_suites())


def test_every_suite_has_a_section_on_the_page() -> None:
    page = PAGE.read_text()
    for suite in available_suites():
        assert page.count(f"<!-- benchmark: {suite} -->") == 1, suite


@pytest.mark.parametrize("suite", available_suites())
def test_the_hook_draws_each_report_as_an_svg(hook: ModuleType, suite: str) -> None:
    report = hook.Report.from_path(DATA / f"{suite}.json")
    svg = hook.render_svg(report)
    root = ET.fromstring(svg)  # noqa: S314  # our own matplotlib output, not untrusted XML
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert len(root.findall(".//{http://www.w3.org/2000/svg}path")) > 10  # bars, axes, text


@pytest.mark.parametrize("suite", available_suites())
def test_the_section_shows_every_metric_and_how_to_measure_again(
    hook: ModuleType, suite: str
) -> None:
    data = json.loads((DATA / f"{suite}.json").read_text())
    report = hook.Report.from_path(DATA / f"{suite}.json")
    section = hook.render_markdown(report, plot="p.svg", data="d.json")
    for name in data["metrics"]:
        assert f"| `{name}` |" in section
    assert data["machine"] in section
    assert f"python -m bench {suite} --json docs/benchmarks/data/{suite}.json" in section


def test_the_same_report_draws_the_same_bytes(hook: ModuleType) -> None:
    report = hook.Report.from_path(DATA / "rpc.json")
    assert hook.render_svg(report) == hook.render_svg(report)


def test_a_report_under_another_suites_name_is_refused(hook: ModuleType, tmp_path: Path) -> None:
    (tmp_path / "benchmarks" / "data").mkdir(parents=True)
    (tmp_path / "benchmarks" / "data" / "cli.json").write_text((DATA / "rpc.json").read_text())
    with pytest.raises(hook.PluginError, match="holds the report of suite 'rpc'"):
        hook.load_reports(tmp_path)


def test_the_hooks_examples_run(hook: ModuleType) -> None:
    result = doctest.testmod(hook, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
