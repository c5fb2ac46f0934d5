"""One measured figure: the subject's p50, its anchor's, their ratio and the goal for it.

A goal bounds the ratio (``<= 1.5``: at most 1.5 times the anchor) or, when it names a
unit, the value itself (``<= 10 ms``). A metric may have no goal (a figure given for
context) and no anchor (nothing to compare it with in the same run); it may carry
``extra`` figures measured along the way, such as a ping next to a call.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench._stats import p50, p95

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

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
    """What a metric should reach: a bound on its ratio, or with a unit on its value.

    ``<= 0.7``: the subject takes at most 70% of the anchor's figure; ``<= 10 ms``: the
    subject's p50 is at most 10 ms, whatever the anchor's.

    Example:
        >>> goal = Goal.parse("<= 0.7")
        >>> goal.is_met(0.56), goal.is_met(0.9), str(goal), goal.unit
        (True, False, '<= 0.7', None)
        >>> absolute = Goal.parse(">= 2000 calls/s")
        >>> absolute.is_met(2500.0), str(absolute)
        (True, '>= 2000 calls/s')
    """

    op: str
    bound: float
    unit: str | None = None

    @classmethod
    def parse(cls, text: str) -> Goal:
        """Read ``"<op> <number> [unit]"``, where op is one of ``<=``, ``<``, ``>=``, ``>``."""
        op, _, rest = text.strip().partition(" ")
        if op not in _OPERATORS:
            raise ValueError(f"goal {text!r} does not start with one of {', '.join(_OPERATORS)}")
        bound, _, unit = rest.strip().partition(" ")
        return cls(op, float(bound), unit.strip() or None)

    def is_met(self, figure: float) -> bool:
        """Whether ``figure`` (the ratio, or the value for a goal with a unit) satisfies it."""
        return _OPERATORS[self.op](figure, self.bound)

    def __str__(self) -> str:
        bound = f"{self.op} {self.bound:g}"
        return bound if self.unit is None else f"{bound} {self.unit}"


@dataclass(frozen=True, slots=True)
class Metric:
    """A benchmark result as it appears in the JSON report.

    Attributes:
        name: The metric's name, with its unit as suffix (``cli_help_ms``).
        unit: The unit of ``value`` and ``anchor_value``.
        anchor: What the subject is compared with, as a person would type it; None for
            a figure measured alone.
        goal: What the subject should reach; None for a figure given for context.
        value: The subject's p50, or None when the metric failed.
        anchor_value: The anchor's p50, or None when the metric failed.
        p95: The subject's p95.
        anchor_p95: The anchor's p95.
        runs: How many timed runs of each (subject and anchor).
        error: Why the metric could not be measured, or None.
        extra: Further figures measured with it, by name (``ping_p50_us``), or facts
            about how it was measured (``plugins``: 20 in quick mode).
    """

    name: str
    unit: str
    anchor: str | None
    goal: Goal | None
    value: float | None = None
    anchor_value: float | None = None
    p95: float | None = None
    anchor_p95: float | None = None
    runs: int = 0
    error: str | None = None
    extra: Mapping[str, float | int | str] = field(default_factory=dict)

    @classmethod
    def measured(
        cls,
        name: str,
        comparison: Comparison,
        *,
        unit: str = "ms",
        goal: str | None,
        extra: Mapping[str, float | int | str] | None = None,
    ) -> Metric:
        """The metric for a finished `bench._harness.Comparison`."""
        return cls(
            name=name,
            unit=unit,
            anchor=comparison.anchor_label,
            goal=_goal(goal),
            value=comparison.subject_p50,
            anchor_value=comparison.anchor_p50,
            p95=comparison.subject_p95,
            anchor_p95=comparison.anchor_p95,
            runs=comparison.runs,
            extra=dict(extra or {}),
        )

    @classmethod
    def alone(
        cls,
        name: str,
        samples: Sequence[float],
        *,
        unit: str,
        goal: str | None = None,
        extra: Mapping[str, float | int | str] | None = None,
    ) -> Metric:
        """A metric measured without an anchor: the p50 and p95 of ``samples``.

        Example:
            >>> m = Metric.alone("hook_us", [1.0, 2.0, 3.0], unit="us")
            >>> m.value, m.ratio, m.to_json()["met"], m.to_json()["anchor"]
            (2.0, None, None, None)
        """
        return cls(
            name=name,
            unit=unit,
            anchor=None,
            goal=_goal(goal),
            value=p50(samples),
            p95=p95(samples),
            runs=len(samples),
            extra=dict(extra or {}),
        )

    @classmethod
    def failed(
        cls,
        name: str,
        *,
        anchor: str | None,
        goal: str | None,
        error: str,
        unit: str = "ms",
        extra: Mapping[str, float | int | str] | None = None,
    ) -> Metric:
        """A metric that could not be measured, carrying the reason."""
        return cls(
            name=name,
            unit=unit,
            anchor=anchor,
            goal=_goal(goal),
            error=error,
            extra=dict(extra or {}),
        )

    @property
    def ratio(self) -> float | None:
        """Subject over anchor (below 1: the subject is faster), or None when not measured."""
        if self.value is None or not self.anchor_value:
            return None
        return self.value / self.anchor_value

    @property
    def met(self) -> bool:
        """Whether the figure the goal bounds reaches it; a failed or goal-less metric never does.

        Example:
            >>> m = Metric.alone("load_ms", [4.0, 6.0], unit="ms", goal="<= 10 ms")
            >>> m.met, str(m.goal)
            (True, '<= 10 ms')
        """
        if self.goal is None or self.error is not None:
            return False
        figure = self.ratio if self.goal.unit is None else self.value
        return figure is not None and self.goal.is_met(figure)

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
            "goal": None if self.goal is None else str(self.goal),
            "met": None if self.goal is None else self.met,
            "p95": _round(self.p95, 2),
            "anchor_p95": _round(self.anchor_p95, 2),
            "runs": self.runs,
        }
        if self.extra:
            data["extra"] = {
                key: _round(value, 3) if isinstance(value, float) else value
                for key, value in self.extra.items()
            }
        if self.error is not None:
            data["error"] = self.error
        return data


def _goal(text: str | None) -> Goal | None:
    return None if text is None else Goal.parse(text)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
