"""One measured figure: the subject's p50, its anchor's, their ratio and the goal for it."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench._harness import Comparison

__all__ = ["Goal", "Metric"]

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    "<": operator.lt,
    ">=": operator.ge,
    ">": operator.gt,
}


@dataclass(frozen=True, slots=True)
class Goal:
    """The ratio a metric should reach, such as ``<= 0.7`` (subject at most 70% of anchor).

    Example:
        >>> goal = Goal.parse("<= 0.7")
        >>> goal.is_met(0.56), goal.is_met(0.9), str(goal)
        (True, False, '<= 0.7')
    """

    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Goal:
        """Read ``"<op> <number>"``, where op is one of ``<=``, ``<``, ``>=``, ``>``."""
        op, _, bound = text.strip().partition(" ")
        if op not in _OPERATORS:
            raise ValueError(f"goal {text!r} does not start with one of {', '.join(_OPERATORS)}")
        return cls(op, float(bound))

    def is_met(self, ratio: float) -> bool:
        """Whether ``ratio`` satisfies the goal."""
        return _OPERATORS[self.op](ratio, self.bound)

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}"


@dataclass(frozen=True, slots=True)
class Metric:
    """A benchmark result as it appears in the JSON report.

    Attributes:
        name: The metric's name, with its unit as suffix (``cli_help_ms``).
        unit: The unit of ``value`` and ``anchor_value``.
        anchor: What the subject is compared with, as a person would type it.
        goal: The ratio the subject should reach.
        value: The subject's p50, or None when the metric failed.
        anchor_value: The anchor's p50, or None when the metric failed.
        p95: The subject's p95.
        anchor_p95: The anchor's p95.
        runs: How many timed runs of each (subject and anchor).
        error: Why the metric could not be measured, or None.
    """

    name: str
    unit: str
    anchor: str
    goal: Goal
    value: float | None = None
    anchor_value: float | None = None
    p95: float | None = None
    anchor_p95: float | None = None
    runs: int = 0
    error: str | None = None

    @classmethod
    def measured(cls, name: str, comparison: Comparison, *, unit: str = "ms", goal: str) -> Metric:
        """The metric for a finished `bench._harness.Comparison`."""
        return cls(
            name=name,
            unit=unit,
            anchor=comparison.anchor_label,
            goal=Goal.parse(goal),
            value=comparison.subject_p50,
            anchor_value=comparison.anchor_p50,
            p95=comparison.subject_p95,
            anchor_p95=comparison.anchor_p95,
            runs=comparison.runs,
        )

    @classmethod
    def failed(cls, name: str, *, anchor: str, goal: str, error: str, unit: str = "ms") -> Metric:
        """A metric that could not be measured, carrying the reason."""
        return cls(name=name, unit=unit, anchor=anchor, goal=Goal.parse(goal), error=error)

    @property
    def ratio(self) -> float | None:
        """Subject over anchor (below 1: the subject is faster), or None when not measured."""
        if self.value is None or not self.anchor_value:
            return None
        return self.value / self.anchor_value

    @property
    def met(self) -> bool:
        """Whether the ratio reaches the goal; a failed metric never does."""
        return self.ratio is not None and self.goal.is_met(self.ratio)

    def to_json(self) -> dict[str, object]:
        """The metric's entry in the report's ``metrics`` table.

        Example:
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
            >>> m.to_json()["ratio"], m.to_json()["met"]
            (0.5, True)
        """
        ratio = self.ratio
        data: dict[str, object] = {
            "value": _round(self.value, 2),
            "unit": self.unit,
            "anchor": self.anchor,
            "anchor_value": _round(self.anchor_value, 2),
            "ratio": _round(ratio, 3),
            "goal": str(self.goal),
            "met": self.met,
            "p95": _round(self.p95, 2),
            "anchor_p95": _round(self.anchor_p95, 2),
            "runs": self.runs,
        }
        if self.error is not None:
            data["error"] = self.error
        return data


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
