"""A suite's results: the JSON document for machines and the table for people."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from bench._metric import Metric

__all__ = ["Report"]

_COLUMNS = ("metric", "runs", "p50", "p95", "anchor", "anchor p50", "ratio", "goal", "met")


@dataclass(frozen=True, slots=True)
class Report:
    """The metrics of one suite run on one machine."""

    suite: str
    machine: str
    metrics: Sequence[Metric]

    @property
    def failed(self) -> list[Metric]:
        """The metrics that could not be measured."""
        return [metric for metric in self.metrics if metric.error is not None]

    def to_json(self) -> dict[str, object]:
        """``{"suite": ..., "machine": ..., "metrics": {name: {...}}}``."""
        return {
            "suite": self.suite,
            "machine": self.machine,
            "metrics": {metric.name: metric.to_json() for metric in self.metrics},
        }

    def write_json(self, path: Path) -> None:
        """Write the report to ``path``, creating its parent directories."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    def table(self) -> str:
        """The report as an aligned text table, extra figures and errors listed below it.

        Example:
            >>> from bench._metric import Goal, Metric
            >>> m = Metric(
            ...     "x_ms",
            ...     unit="ms",
            ...     anchor="a",
            ...     goal=Goal.parse("<= 1"),
            ...     value=5.0,
            ...     anchor_value=10.0,
            ...     p95=6.0,
            ...     anchor_p95=11.0,
            ...     runs=3,
            ... )
            >>> print(Report("demo", "a machine", [m]).table())  # doctest: +NORMALIZE_WHITESPACE
            suite demo on a machine
            metric  runs  p50     p95     anchor  anchor p50  ratio  goal  met
            x_ms    3     5.0 ms  6.0 ms  a       10.0 ms     0.50   <= 1  yes
        """
        rows = [_COLUMNS, *(_row(metric) for metric in self.metrics)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
        lines = [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows
        ]
        header = f"suite {self.suite} on {self.machine}"
        extras = [
            f"{metric.name}: {_extra(metric.extra)}" for metric in self.metrics if metric.extra
        ]
        errors = [f"error: {metric.name}: {metric.error}" for metric in self.failed]
        return "\n".join([header, *lines, *extras, *errors])


def _row(metric: Metric) -> tuple[str, ...]:
    ratio = metric.ratio
    if metric.error:
        met = "error"
    elif metric.goal is None:
        met = "-"
    else:
        met = "yes" if metric.met else "no"
    return (
        metric.name,
        str(metric.runs),
        _amount(metric.value, metric.unit),
        _amount(metric.p95, metric.unit),
        metric.anchor or "-",
        _amount(metric.anchor_value, metric.unit),
        "-" if ratio is None else f"{ratio:.2f}",
        "-" if metric.goal is None else str(metric.goal),
        met,
    )


def _extra(extra: Mapping[str, float | int | str]) -> str:
    """``ping_p50_us=41.2, plugins=20``.

    Example:
        >>> _extra({"ping_p50_us": 41.234, "plugins": 20})
        'ping_p50_us=41.23, plugins=20'
    """
    return ", ".join(
        f"{key}={value:.2f}" if isinstance(value, float) else f"{key}={value}"
        for key, value in extra.items()
    )


def _amount(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:.1f} {unit}"
