"""The last minutes of each plugin's traffic, sampled for the admin UI's charts.

Every `History.every_s` seconds the admin UI reads each plugin's call counters
(`pluginctl.runtime.call_stats.CallMetrics`) and keeps what changed since the last
reading: the request rate, the failure rate and the latency quantiles of the calls
in between, from the histogram buckets' differences. `History.keep` samples are
kept per plugin (ten minutes at the defaults); reading costs a few list additions
per plugin, whatever the traffic.

Example:
    >>> from pluginctl.runtime.call_stats import CallMetrics
    >>> calls = CallMetrics()
    >>> history = History(every_s=1.0)
    >>> history.sample({"shop": calls}, now=0.0)
    >>> for _ in range(10):
    ...     calls.observe_ok("route:GET /", 0.002)
    >>> history.sample({"shop": calls}, now=1.0)
    >>> last = history.series("shop")[-1]
    >>> last.rate, last.failure_rate, round(last.p50_ms, 2)
    (10.0, 0.0, 1.75)
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pluginctl.runtime.call_stats import MethodStats

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pluginctl.runtime.call_stats import CallMetrics

__all__ = ["History", "Sample"]


@dataclass(frozen=True, slots=True)
class Sample:
    """One interval of one plugin's traffic.

    Attributes:
        at: When it ended (seconds, the sampling clock).
        rate: Calls a second.
        failure_rate: Failed calls a second.
        p50_ms: The median latency of the interval's calls, or None without calls.
        p95_ms: Its 95th percentile, or None.
    """

    at: float
    rate: float
    failure_rate: float
    p50_ms: float | None
    p95_ms: float | None


@dataclass(slots=True)
class _Reading:
    calls: int
    failures: int
    buckets: list[int]


class History:
    """Samples of every plugin's traffic, the latest `keep` per plugin."""

    def __init__(self, *, every_s: float = 2.0, keep: int = 300) -> None:
        self.every_s = every_s
        self.keep = keep
        self._series: dict[str, deque[Sample]] = {}
        self._last: dict[str, tuple[float, _Reading]] = {}

    def sample(self, calls: Mapping[str, CallMetrics], *, now: float) -> None:
        """Read each plugin's counters; plugins no longer there are forgotten."""
        for gone in set(self._series) - set(calls):
            self._series.pop(gone, None)
            self._last.pop(gone, None)
        for name, metrics in calls.items():
            overall = metrics.overall()
            reading = _Reading(overall.calls, overall.failures, overall.buckets)
            previous = self._last.get(name)
            self._last[name] = (now, reading)
            if previous is None or now <= previous[0]:
                continue
            series = self._series.setdefault(name, deque(maxlen=self.keep))
            series.append(_difference(previous[1], reading, now=now, seconds=now - previous[0]))

    def series(self, name: str) -> list[Sample]:
        """The samples of plugin ``name``, oldest first."""
        return list(self._series.get(name, ()))

    async def run(
        self, calls: Callable[[], Mapping[str, CallMetrics]], clock: Callable[[], float]
    ) -> None:
        """Sample ``calls()`` every `every_s` seconds until cancelled."""
        while True:
            self.sample(calls(), now=clock())
            await asyncio.sleep(self.every_s)


def _difference(before: _Reading, after: _Reading, *, now: float, seconds: float) -> Sample:
    calls, failures = after.calls - before.calls, after.failures - before.failures
    if calls < 0 or failures < 0:  # counters started again: nothing to compare
        return Sample(now, 0.0, 0.0, None, None)
    interval = MethodStats()
    interval.buckets = [max(0, a - b) for a, b in zip(after.buckets, before.buckets, strict=True)]
    p50, p95 = interval.quantile(0.5), interval.quantile(0.95)
    return Sample(
        now,
        calls / seconds,
        failures / seconds,
        None if p50 is None else p50 * 1000,
        None if p95 is None else p95 * 1000,
    )
