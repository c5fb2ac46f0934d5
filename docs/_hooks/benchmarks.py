"""mkdocs hook: the benchmarks page's plots and tables, drawn from the committed JSON.

Each suite's report, written by ``python -m bench SUITE --json
docs/benchmarks/data/SUITE.json``, is drawn when the site is built: `on_files` adds
``benchmarks/plots/SUITE.svg`` to the site, drawn with matplotlib's Agg backend, and
`on_page_markdown` replaces a line ``<!-- benchmark: SUITE -->`` with the plot, a
table of every figure, the machine the report names and the command that measures
it again. So the page can never show figures the JSON does not hold.

A plot has up to two panels. The first holds the metrics measured against an
anchor in the same run: a bar from 1 (the anchor) to the ratio, on a log scale, and
the goal as a tick (a goal on the value itself, such as ``<= 10 ms``, is drawn at
the ratio it allows). The second holds the metrics with a goal and no anchor: the
value as a share of its goal.

Example:
    >>> report = Report.from_json(
    ...     {
    ...         "suite": "demo",
    ...         "machine": "a machine",
    ...         "metrics": {
    ...             "x_ms": {
    ...                 "value": 5.0,
    ...                 "unit": "ms",
    ...                 "anchor": "a",
    ...                 "anchor_value": 10.0,
    ...                 "ratio": 0.5,
    ...                 "goal": "<= 0.7",
    ...                 "met": True,
    ...                 "runs": 3,
    ...             }
    ...         },
    ...     }
    ... )
    >>> report.metrics[0].goal_ratio(), report.metrics[0].status
    (0.7, 'met')
    >>> render_svg(report).startswith("<?xml")
    True
"""

from __future__ import annotations

import io
import json
import math
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from matplotlib.axes import Axes
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files
    from mkdocs.structure.pages import Page

__all__ = [
    "DATA_DIR",
    "Metric",
    "Report",
    "load_reports",
    "on_files",
    "on_page_markdown",
    "render_markdown",
    "render_svg",
]

#: Where the reports live, relative to the docs directory.
DATA_DIR = "benchmarks/data"
#: Where the plots go in the built site, relative to its root.
PLOT_DIR = "benchmarks/plots"
_PLACEHOLDER = re.compile(r"^<!-- benchmark: ([a-z0-9_-]+) -->$", re.MULTILINE)
_UNITS = {"us": "µs"}
_COUNTS = {"requests", "faults", "recoveries"}  # units of things counted, shown as integers
_COLORS = {"met": "#2e7d32", "missed": "#ef6c00", "none": "#757575"}
_LEGEND = (("met", "goal met"), ("missed", "goal not met"), ("none", "no goal"))
_TICKS = [m * 10.0**e for e in range(-3, 4) for m in (1, 2, 5)]
_GOAL = re.compile(r"(<=|<|>=|>) (-?[0-9.]+)(?: (.+))?")


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric of a report, as ``bench._metric.Metric.to_json`` wrote it."""

    name: str
    unit: str
    value: float | None
    anchor: str | None
    anchor_value: float | None
    ratio: float | None
    goal: str | None
    met: bool | None
    p95: float | None = None
    runs: int = 0
    error: str | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    @classmethod
    def from_json(cls, name: str, data: Mapping[str, object]) -> Metric:
        """The metric named ``name`` from its entry in a report's ``metrics`` table."""
        extra, met, runs = data.get("extra"), data.get("met"), data.get("runs")
        return cls(
            name=name,
            unit=str(data["unit"]),
            value=_number(data.get("value")),
            anchor=_text(data.get("anchor")),
            anchor_value=_number(data.get("anchor_value")),
            ratio=_number(data.get("ratio")),
            goal=_text(data.get("goal")),
            met=met if isinstance(met, bool) else None,
            p95=_number(data.get("p95")),
            runs=runs if isinstance(runs, int) else 0,
            error=_text(data.get("error")),
            extra=dict(extra) if isinstance(extra, dict) else {},
        )

    @property
    def status(self) -> str:
        """``met``, ``missed`` or ``none`` (no goal, or not measured)."""
        if self.met is None or self.error is not None:
            return "none"
        return "met" if self.met else "missed"

    def parsed_goal(self) -> tuple[str, float, str | None] | None:
        """The goal as operator, bound and unit (None for a bound on the ratio)."""
        match = _GOAL.fullmatch(self.goal or "")
        if match is None:
            return None
        return match.group(1), float(match.group(2)), match.group(3)

    def goal_ratio(self) -> float | None:
        """Where the goal lies on the ratio axis, or None when it cannot be drawn there."""
        goal = self.parsed_goal()
        if goal is None or self.anchor_value is None or self.anchor_value <= 0:
            return None
        _, bound, unit = goal
        if unit is None:
            return bound
        return bound / self.anchor_value if unit == self.unit and bound > 0 else None

    def share_of_goal(self) -> float | None:
        """The value over its goal's bound, for a goal on the value; None otherwise."""
        goal = self.parsed_goal()
        if goal is None or goal[2] is None or self.value is None:
            return None
        bound = goal[1]
        if bound == 0:
            return 0.0 if self.value == 0 else math.inf
        return self.value / bound


@dataclass(frozen=True, slots=True)
class Report:
    """A suite's report: its name, the machine it ran on, its metrics in order."""

    suite: str
    machine: str
    metrics: tuple[Metric, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> Report:
        """The report in ``data``, the document ``python -m bench --json`` writes."""
        metrics = data.get("metrics")
        if not isinstance(metrics, dict) or not metrics:
            raise ValueError("the report has no metrics")
        return cls(
            suite=str(data["suite"]),
            machine=str(data["machine"]),
            metrics=tuple(Metric.from_json(name, entry) for name, entry in metrics.items()),
        )

    @classmethod
    def from_path(cls, path: Path) -> Report:
        """The report in the JSON file at ``path``."""
        report = cls.from_json(json.loads(path.read_text(encoding="utf-8")))
        if report.suite != path.stem:
            raise ValueError(f"{path.name} holds the report of suite {report.suite!r}")
        return report

    @property
    def anchored(self) -> list[Metric]:
        """The metrics with a ratio to an anchor: the plot's first panel."""
        return [m for m in self.metrics if m.ratio is not None and m.ratio > 0]

    @property
    def against_goal(self) -> list[Metric]:
        """The metrics with a goal on the value and no anchor: the plot's second panel."""
        return [m for m in self.metrics if m.ratio is None and m.share_of_goal() is not None]


def load_reports(docs_dir: Path) -> dict[str, Report]:
    """Every committed report under ``docs_dir``, by suite name.

    Raises:
        PluginError: a file is not a report, or names another suite than its file name.
    """
    reports = {}
    for path in sorted((docs_dir / DATA_DIR).glob("*.json")):
        try:
            reports[path.stem] = Report.from_path(path)
        except (ValueError, KeyError, TypeError) as exc:
            raise PluginError(f"{path}: not a benchmark report: {exc}") from exc
    return reports


# ---------------------------------------------------------------- the plot


def render_svg(report: Report) -> str:
    """The suite's plot as an SVG document (the same bytes for the same report)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    panels = [(draw, rows) for draw, rows in _panels(report) if rows]
    heights = [len(rows) * 0.42 + 0.9 for _, rows in panels] or [1.0]
    with matplotlib.rc_context({"svg.hashsalt": f"pluginctl-{report.suite}", "font.size": 9}):
        figure = Figure(figsize=(8.0, sum(heights) + 0.4), layout="constrained")
        axes = figure.subplots(len(heights), 1, squeeze=False, height_ratios=heights)[:, 0]
        if not panels:
            axes[0].set_axis_off()
            axes[0].text(0.5, 0.5, "no metric to plot", ha="center", va="center")
        for ax, (draw, rows) in zip(axes, panels, strict=False):
            draw(ax, rows)
        figure.legend(
            handles=[Patch(color=_COLORS[key], label=label) for key, label in _LEGEND],
            loc="outside upper center",
            ncols=len(_LEGEND),
            frameon=False,
            fontsize=8,
        )
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def _panels(report: Report) -> list[tuple[Callable[[Axes, list[Metric]], None], list[Metric]]]:
    return [(_ratio_panel, report.anchored), (_goal_panel, report.against_goal)]


def _ratio_panel(ax: Axes, rows: list[Metric]) -> None:
    """The ratio to the anchor: bars from 1 to the ratio, the goal as a black tick."""
    ys = range(len(rows))
    ratios = [m.ratio or 1.0 for m in rows]
    ax.barh(
        ys,
        [r - 1.0 for r in ratios],
        left=1.0,
        height=0.55,
        color=[_COLORS[m.status] for m in rows],
    )
    for y, metric in zip(ys, rows, strict=True):
        goal = metric.goal_ratio()
        if goal is not None:
            ax.plot([goal, goal], [y - 0.38, y + 0.38], color="black", linewidth=2)
        ax.annotate(
            _pair(metric),
            (max(metric.ratio or 1.0, 1.0, goal or 0.0), y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    marks = [*ratios, *(g for m in rows if (g := m.goal_ratio()) is not None), 1.0]
    low, high = min(marks) / 1.6, max(marks) * 8
    ax.set_xscale("log")
    ax.set_xlim(low, high)
    ax.set_xticks([tick for tick in _TICKS if low <= tick <= high], minor=False)
    ax.set_xticks([], minor=True)
    ax.xaxis.set_major_formatter(lambda x, _: f"{x:g}")
    ax.axvline(1.0, color="#9e9e9e", linestyle="--", linewidth=1)
    ax.set_yticks(list(ys), [_label(m) for m in rows])
    ax.invert_yaxis()
    ax.set_xlabel("pluginctl ÷ anchor (log scale; 1 = the anchor; black tick = the goal)")


def _goal_panel(ax: Axes, rows: list[Metric]) -> None:
    """Metrics without an anchor: the value as a share of its goal's bound (1 = the goal)."""
    ys = range(len(rows))
    shares = [m.share_of_goal() or 0.0 for m in rows]
    top = max(1.25, *(s * 1.15 for s in shares if math.isfinite(s)))
    ax.barh(
        ys,
        [min(s, top) for s in shares],
        height=0.55,
        color=[_COLORS[m.status] for m in rows],
    )
    for y, metric, share in zip(ys, rows, shares, strict=True):
        ax.annotate(
            f"{_amount(metric.value, metric.unit)} (goal {_goal_text(metric.goal)})",
            (min(share, top), y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, top * 1.9)
    ax.axvline(1.0, color="black", linewidth=2)
    ax.set_yticks(list(ys), [m.name for m in rows])
    ax.invert_yaxis()
    ax.set_xlabel("value ÷ goal (no anchor; black line = the goal)")


def _label(metric: Metric) -> str:
    goal = metric.parsed_goal()
    higher = goal is not None and goal[0].startswith(">")
    return f"{metric.name} (higher is better)" if higher else metric.name


def _pair(metric: Metric) -> str:
    return f"{_amount(metric.value, metric.unit)} vs {_amount(metric.anchor_value, metric.unit)}"


# ---------------------------------------------------------------- the page


def render_markdown(report: Report, *, plot: str, data: str) -> str:
    """The suite's section body: plot, table, machine and the command to measure again.

    ``plot`` and ``data`` are the links to the SVG and the JSON, relative to the page.

    Example:
        >>> report = Report(
        ...     "demo",
        ...     "a machine",
        ...     (Metric("x_ms", "ms", 5.0, None, None, None, "<= 10 ms", True),),
        ... )
        >>> print(render_markdown(report, plot="p.svg", data="d.json").splitlines()[4])
        | `x_ms` | 5.00 ms | — | — | — | ≤ 10 ms | met |
    """
    lines = [
        f"![python -m bench {report.suite}: pluginctl against its anchors]({plot})",
        "",
        "| metric | pluginctl (p50) | anchor | anchor (p50) | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
        *(_row(metric) for metric in report.metrics),
        "",
        f"Measured on {report.machine} ([the JSON report]({data})).",
    ]
    notes = [_extra_line(metric) for metric in report.metrics if metric.extra or metric.error]
    if notes:
        lines += ["", '??? note "More figures from the same run"', ""]
        lines += [f"    - {note}" for note in notes]
    lines += [
        "",
        "```sh",
        f"python -m bench {report.suite} --json docs/benchmarks/data/{report.suite}.json",
        "```",
    ]
    return "\n".join(lines)


def _row(metric: Metric) -> str:
    met = {"met": "met", "missed": "**not met**", "none": "—"}[metric.status]
    if metric.error is not None:
        met = "error"
    cells = [
        f"`{metric.name}`",
        _amount(metric.value, metric.unit),
        metric.anchor or "—",
        _amount(metric.anchor_value, metric.unit),
        "—" if metric.ratio is None else f"{metric.ratio:.2f}",
        _goal_text(metric.goal),
        met,
    ]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def _extra_line(metric: Metric) -> str:
    parts = [f"{key} = {_plain(value)}" for key, value in metric.extra.items()]
    if metric.error is not None:
        parts.append(f"error: {metric.error}")
    return f"`{metric.name}`: " + ", ".join(parts)


def _plain(value: object) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return text.replace("|", "\\|")


def _amount(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in _COUNTS and value.is_integer():
        return f"{value:,.0f} {unit}"
    if abs(value) >= 1000:
        shown = f"{value:,.0f}"
    else:
        shown = f"{value:.2f}" if abs(value) < 10 else f"{value:.1f}"
    return f"{shown} {_UNITS.get(unit, unit)}"


def _goal_text(goal: str | None) -> str:
    if goal is None:
        return "—"
    return goal.replace("<=", "≤").replace(">=", "≥").replace(" us", " µs")


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# ---------------------------------------------------------------- mkdocs events


def on_files(files: Files, *, config: MkDocsConfig) -> Files:
    """Add every committed report's plot to the site, as ``benchmarks/plots/SUITE.svg``."""
    for suite, report in load_reports(Path(config.docs_dir)).items():
        files.append(File.generated(config, f"{PLOT_DIR}/{suite}.svg", content=render_svg(report)))
    return files


def on_page_markdown(markdown: str, *, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Replace each ``<!-- benchmark: SUITE -->`` line with that suite's section body.

    Raises:
        PluginError: a placeholder names a suite with no committed report.
    """
    if not _PLACEHOLDER.search(markdown):
        return markdown
    reports = load_reports(Path(config.docs_dir))
    here = posixpath.dirname(page.file.src_uri)

    def section(match: re.Match[str]) -> str:
        suite = match.group(1)
        if suite not in reports:
            raise PluginError(
                f"{page.file.src_uri}: no report for suite {suite!r} in docs/{DATA_DIR}/; "
                f"run python -m bench {suite} --json docs/{DATA_DIR}/{suite}.json"
            )
        return render_markdown(
            reports[suite],
            plot=posixpath.relpath(f"{PLOT_DIR}/{suite}.svg", here),
            data=posixpath.relpath(f"{DATA_DIR}/{suite}.json", here),
        )

    return _PLACEHOLDER.sub(section, markdown)
