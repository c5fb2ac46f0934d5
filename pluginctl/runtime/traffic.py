"""``host.traffic``: the calls each plugin's routes took, published to plugins now and then.

A plugin cannot see the requests that reach other plugins, so the host tells those
that subscribe (``events:subscribe:host.traffic``). Every ``every_s`` seconds the
`TrafficReporter` takes a `TrafficMeter` sample of every plugin's `CallMetrics` and,
when some plugin subscribes to ``host.traffic`` and some route was called since the
last sample, publishes from ``host``::

    {"interval_s": 10.0, "plugins": {"notes": {"route:GET /notes": 3}}}

``interval_s`` is the time the counts cover; ``plugins`` holds, for each plugin
whose routes were called, the calls to each route in that time (``route:<METHOD>
<path>``, as ``/metrics`` names them), whatever their outcome. Exports, events and
panels are left out. Samples are taken whether or not anyone listens, so each
event covers one interval, never the traffic since the host started.

Example:
    >>> from pluginctl.runtime.call_stats import CallMetrics
    >>> notes, meter = CallMetrics(), TrafficMeter()
    >>> for _ in range(3):
    ...     notes.observe_ok("route:GET /notes", 0.001)
    >>> notes.observe_ok("export:all_notes", 0.001)
    >>> meter.sample({"notes": notes})
    {'notes': {'route:GET /notes': 3}}
    >>> notes.observe("route:POST /notes", 0.002, "error")
    >>> meter.sample({"notes": notes})
    {'notes': {'route:POST /notes': 1}}
    >>> meter.sample({"notes": notes})  # nothing new
    {}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pluginctl.runtime.call_stats import CallMetrics
    from pluginctl.services.events import EventBus

__all__ = ["TOPIC", "TrafficMeter", "TrafficReporter"]

logger = logging.getLogger(__name__)

#: The topic the host publishes the traffic under.
TOPIC = "host.traffic"
_ROUTE = "route:"


class TrafficMeter:
    """Route calls per plugin since the previous `sample`."""

    def __init__(self) -> None:
        # per plugin: the metrics object last read (a new one: the plugin was re-added)
        # and each route's call count then
        self._seen: dict[str, tuple[CallMetrics, dict[str, int]]] = {}

    def sample(self, metrics: Mapping[str, CallMetrics]) -> dict[str, dict[str, int]]:
        """The route calls of each plugin in ``metrics`` since the last sample.

        Plugins and routes without new calls are left out; a plugin seen for the
        first time (or with new metrics) counts from zero.
        """
        report: dict[str, dict[str, int]] = {}
        seen: dict[str, tuple[CallMetrics, dict[str, int]]] = {}
        for name, calls in metrics.items():
            now = {
                method: stats.calls
                for method, stats in calls.methods().items()
                if method.startswith(_ROUTE)
            }
            before = self._seen.get(name)
            then = before[1] if before is not None and before[0] is calls else {}
            deltas = {
                method: count - then.get(method, 0)
                for method, count in now.items()
                if count > then.get(method, 0)
            }
            if deltas:
                report[name] = deltas
            seen[name] = (calls, now)
        self._seen = seen  # plugins removed since are forgotten
        return report


class TrafficReporter:
    """Publishes ``host.traffic`` every ``every_s`` seconds while it runs.

    Args:
        events: The host's event bus.
        metrics: Returns each running plugin's call metrics by name.
        every_s: How often a sample is taken (and published, when there is anything
            to say and anyone to say it to).
        clock: The monotonic clock ``interval_s`` is measured with.
    """

    def __init__(
        self,
        events: EventBus,
        metrics: Callable[[], Mapping[str, CallMetrics]],
        *,
        every_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not every_s > 0:
            raise ValueError(f"every_s must be positive, not {every_s!r}")
        self.every_s = every_s
        self._events = events
        self._metrics = metrics
        self._clock = clock
        self._meter = TrafficMeter()
        self._last = clock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start reporting, on the running loop; the counts start from now."""
        if self._task is None:
            self.sample()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def aclose(self) -> None:
        """Stop reporting (what was counted since the last event is not published)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def sample(self) -> dict[str, object] | None:
        """Take a sample now: the ``host.traffic`` payload, or None with no route calls."""
        now = self._clock()
        interval_s, self._last = now - self._last, now
        plugins = self._meter.sample(self._metrics())
        if not plugins:
            return None
        return {"interval_s": round(interval_s, 3), "plugins": plugins}

    async def report(self) -> int:
        """Take a sample and publish it if anyone listens; how many plugins it went to."""
        payload = self.sample()
        if payload is None or not self._events.subscribers(TOPIC):
            return 0
        return await self._events.publish("host", TOPIC, payload)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.report()
            except Exception:  # a failed report must not end the reporting
                logger.exception("publishing %s failed", TOPIC)
