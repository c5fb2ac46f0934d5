"""Counting the calls into a plugin, cheaply enough for every call.

`CallMetrics` keeps, per method of one plugin, the calls by outcome and a latency
histogram: a bucket index from `bisect` and two additions per call, no locks (the host
is one event loop). `pluginctl.runtime.metrics` reads them out for ``/metrics`` and
``pluginctl status``.

Example:
    >>> stats = CallMetrics()
    >>> for seconds in (0.0002, 0.0003, 0.004):
    ...     stats.observe("export:echo", seconds, "ok")
    >>> stats.observe("export:echo", 0.5, "timeout")
    >>> echo = stats.methods()["export:echo"]
    >>> echo.calls, echo.failures
    (4, 1)
    >>> round(echo.quantile(0.5) * 1000, 2)  # ms, estimated from the buckets
    0.5
"""

from __future__ import annotations

from bisect import bisect_left as _bisect
from collections import Counter

__all__ = ["LATENCY_BUCKETS_S", "CallMetrics", "MethodStats"]

#: Upper bounds of the latency histogram's buckets: a round trip is tens of microseconds.
LATENCY_BUCKETS_S: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
_MAX_METHODS = 256  # per plugin: past this, calls count under one "other" method
_OTHER = "other"


class MethodStats:
    """Calls to one method of one plugin: counts by outcome and a latency histogram."""

    __slots__ = ("_outcomes", "buckets", "ok", "sum_s")

    def __init__(self) -> None:
        self.buckets = [0] * (len(LATENCY_BUCKETS_S) + 1)  # the last one is +Inf
        self.ok = 0  # successes, counted apart: they are most calls
        self._outcomes: Counter[str] = Counter()  # every other outcome
        self.sum_s = 0.0

    @property
    def outcomes(self) -> Counter[str]:
        """Calls by outcome (``ok``, ``error``, ``timeout``, ...): add to it to count."""
        if self.ok:
            self._outcomes["ok"] += self.ok
            self.ok = 0
        return self._outcomes

    @property
    def calls(self) -> int:
        """Every call, whatever its outcome."""
        return sum(self.outcomes.values())

    @property
    def failures(self) -> int:
        """Calls that did not succeed."""
        return self.calls - self.outcomes["ok"]

    def quantile(self, q: float) -> float | None:
        """Estimate the ``q`` quantile of the latency (seconds), as Prometheus would.

        Interpolates linearly inside the bucket that holds it; None without timed calls.
        """
        total = sum(self.buckets)
        if total == 0:
            return None
        rank, seen = q * total, 0
        for index, count in enumerate(self.buckets):
            if count and seen + count >= rank:
                if index == len(LATENCY_BUCKETS_S):  # past the last bound
                    return LATENCY_BUCKETS_S[-1]
                lower = LATENCY_BUCKETS_S[index - 1] if index else 0.0
                upper = LATENCY_BUCKETS_S[index]
                return lower + (upper - lower) * (rank - seen) / count
            seen += count
        return LATENCY_BUCKETS_S[-1]


class CallMetrics:
    """The calls into one plugin, by method (``route:GET /items``, ``export:lookup``, ...)."""

    __slots__ = ("_methods",)

    def __init__(self) -> None:
        self._methods: dict[str, MethodStats] = {}

    def observe(self, method: str, seconds: float | None, outcome: str) -> None:
        """Count one call; ``seconds`` is None for a call refused before it was sent."""
        stats = self._methods.get(method) or self._add(method)
        stats.outcomes[outcome] += 1
        if seconds is not None:
            stats.buckets[_bisect(LATENCY_BUCKETS_S, seconds)] += 1
            stats.sum_s += seconds

    def observe_ok(self, method: str, seconds: float) -> None:
        """`observe` for a call that succeeded: the hot path, kept to the bone."""
        stats = self._methods.get(method) or self._add(method)
        stats.ok += 1
        stats.buckets[_bisect(LATENCY_BUCKETS_S, seconds)] += 1
        stats.sum_s += seconds

    def _add(self, method: str) -> MethodStats:
        if len(self._methods) >= _MAX_METHODS:
            method = _OTHER
        return self._methods.setdefault(method, MethodStats())

    def methods(self) -> dict[str, MethodStats]:
        """The statistics of every method called so far."""
        return dict(self._methods)

    def overall(self) -> MethodStats:
        """Every method's calls together."""
        total = MethodStats()
        for stats in self._methods.values():
            total.outcomes.update(stats.outcomes)
            total.sum_s += stats.sum_s
            total.buckets = [a + b for a, b in zip(total.buckets, stats.buckets, strict=True)]
        return total
