"""The host's figures as ``/metrics`` (Prometheus) and ``pluginctl status`` read them.

Nothing is formatted until someone asks: `HostCollector` turns the host's state (the
`pluginctl.runtime.call_stats.CallMetrics` of each plugin, its crashes, breakers,
policy tally, health and its worker's memory) into Prometheus metric families when
``/metrics`` is scraped, and `summarize` gives ``pluginctl status`` the same figures
as plain data. Importing ``prometheus_client`` takes a tenth of a second, so the host
imports this module only when it is first scraped.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Protocol

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pluginctl.runtime.plugin_runtime import PluginRuntime

from pluginctl.runtime.call_stats import LATENCY_BUCKETS_S

__all__ = [
    "HostCollector",
    "MetricsSource",
    "registry_for",
    "summarize",
    "worker_memory",
]

_BREAKER_VALUES = {"closed": 0.0, "half-open": 1.0, "open": 2.0}
_MAX_CACHED_PIDS = 4096


def worker_memory(pid: int | None) -> tuple[int, int] | None:
    """A worker's resident and unique memory in bytes (RSS, USS), or None if it is gone."""
    if pid is None:
        return None
    import psutil

    with contextlib.suppress(psutil.Error, OSError):
        info = psutil.Process(pid).memory_full_info()
        return int(info.rss), int(info.uss)
    return None


class MetricsSource(Protocol):
    """What `HostCollector` reads: the host's plugins."""

    @property
    def plugins(self) -> list[PluginRuntime]:
        """Every plugin the host knows."""
        ...


class HostCollector(Collector):
    """Reads a host's plugins into Prometheus metric families at each scrape."""

    def __init__(self, host: MetricsSource) -> None:
        self._host = host
        self._memory = _MemoryCache()

    def collect(self) -> Iterator[Metric]:
        plugins = self._host.plugins
        yield from _lifecycle(plugins)
        yield from _calls(plugins)
        yield from _failures(plugins)
        yield from _resources(plugins, self._memory)


class _MemoryCache:
    """Workers' memory, read at most once a second: scrapes may come often, from anyone."""

    max_age_s = 1.0

    def __init__(self) -> None:
        self._read: dict[int, tuple[float, tuple[int, int] | None]] = {}

    def of(self, pid: int | None) -> tuple[int, int] | None:
        if pid is None:
            return None
        now = time.monotonic()
        cached = self._read.get(pid)
        if cached is None or now - cached[0] > self.max_age_s:
            if len(self._read) > _MAX_CACHED_PIDS:
                self._read.clear()  # workers come and go: forget the old ones
            cached = self._read[pid] = (now, worker_memory(pid))
        return cached[1]


def registry_for(host: MetricsSource) -> CollectorRegistry:
    """A registry of its own for ``host`` (tests run many hosts in one process)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HostCollector(host))
    return registry


def _lifecycle(plugins: list[PluginRuntime]) -> Iterator[Metric]:
    from pluginctl.runtime.plugin_runtime import PluginState

    state = GaugeMetricFamily(
        "pluginctl_plugin_state",
        "1 for the state each plugin is in (active, degraded, failed, disabled, ...)",
        labels=["plugin", "state"],
    )
    up = GaugeMetricFamily("pluginctl_plugin_up", "1 when the plugin serves", labels=["plugin"])
    healthy = GaugeMetricFamily(
        "pluginctl_plugin_healthy", "1 when its last health check passed", labels=["plugin"]
    )
    ping = GaugeMetricFamily(
        "pluginctl_worker_ping_seconds", "The last health ping's round trip", labels=["plugin"]
    )
    for runtime in plugins:
        current = runtime.status
        for name in PluginState:
            state.add_metric([runtime.name, str(name)], 1.0 if name is current else 0.0)
        up.add_metric([runtime.name], 1.0 if runtime.state is PluginState.ACTIVE else 0.0)
        healthy.add_metric([runtime.name], 1.0 if runtime.health.ok else 0.0)
        if runtime.health.ping_s is not None:
            ping.add_metric([runtime.name], runtime.health.ping_s)
    yield from (state, up, healthy, ping)


def _calls(plugins: list[PluginRuntime]) -> Iterator[Metric]:
    calls = CounterMetricFamily(
        "pluginctl_calls", "Calls into plugins by outcome", labels=["plugin", "method", "outcome"]
    )
    latency = HistogramMetricFamily(
        "pluginctl_call_duration_seconds",
        "Time from sending a call to its answer",
        labels=["plugin", "method"],
    )
    for runtime in plugins:
        for method, stats in runtime.calls.methods().items():
            for outcome, count in stats.outcomes.items():
                calls.add_metric([runtime.name, method, outcome], count)
            cumulative, buckets = 0, []
            for bound, count in zip((*LATENCY_BUCKETS_S, float("inf")), stats.buckets, strict=True):
                cumulative += count
                buckets.append((_bound(bound), cumulative))
            latency.add_metric([runtime.name, method], buckets, stats.sum_s)
    yield from (calls, latency)


def _failures(plugins: list[PluginRuntime]) -> Iterator[Metric]:
    crashes = CounterMetricFamily(
        "pluginctl_worker_crashes",
        "Workers that ended unasked, by why",
        labels=["plugin", "reason"],
    )
    restarts = CounterMetricFamily(
        "pluginctl_restarts",
        "Restarts after a crash, by the crash's kind",
        labels=["plugin", "reason"],
    )
    breaker = GaugeMetricFamily(
        "pluginctl_breaker_state",
        "Circuit breakers: 0 closed, 1 half-open, 2 open; method '*' is the whole plugin",
        labels=["plugin", "method"],
    )
    limited = CounterMetricFamily(
        "pluginctl_rate_limited", "Calls refused by a rate limit", labels=["plugin", "family"]
    )
    denied = CounterMetricFamily(
        "pluginctl_permission_denied",
        "Host API calls refused for a missing permission",
        labels=["plugin", "capability"],
    )
    refused = CounterMetricFamily(
        "pluginctl_sandbox_denied",
        "What the OS sandbox refused a plugin (fork, exec, socket, open)",
        labels=["plugin", "operation"],
    )
    for runtime in plugins:
        name = runtime.name
        for kind, count in runtime.crashes_by_kind.items():
            crashes.add_metric([name, kind], count)
        for kind, count in runtime.restarts_by_kind.items():
            restarts.add_metric([name, kind], count)
        breaker.add_metric([name, "*"], _BREAKER_VALUES[runtime.breaker.state])
        for method, method_breaker in runtime.method_breakers.items():
            breaker.add_metric([name, method], _BREAKER_VALUES[method_breaker.state])
        for family, count in runtime.policy.tally.rate_limited.items():
            limited.add_metric([name, family], count)
        for capability, count in runtime.policy.tally.denied.items():
            denied.add_metric([name, capability], count)
        for operation, count in runtime.sandbox_denied.items():
            refused.add_metric([name, operation], count)
    yield from (crashes, restarts, breaker, limited, denied, refused)


def _resources(plugins: list[PluginRuntime], memory_of: _MemoryCache) -> Iterator[Metric]:
    rss = GaugeMetricFamily(
        "pluginctl_worker_rss_bytes", "Resident memory of each worker", labels=["plugin"]
    )
    uss = GaugeMetricFamily(
        "pluginctl_worker_uss_bytes",
        "Memory only this worker holds (freed if it ended)",
        labels=["plugin"],
    )
    lines = CounterMetricFamily(
        "pluginctl_output_lines", "Lines a plugin printed or logged", labels=["plugin"]
    )
    dropped = CounterMetricFamily(
        "pluginctl_output_dropped_lines",
        "Lines over the plugin's output budget, not logged",
        labels=["plugin"],
    )
    for runtime in plugins:
        memory = memory_of.of(runtime.pid)
        if memory is not None:
            rss.add_metric([runtime.name], memory[0])
            uss.add_metric([runtime.name], memory[1])
        if runtime.output is not None:
            lines.add_metric([runtime.name], runtime.output.lines)
            dropped.add_metric([runtime.name], runtime.output.dropped)
    yield from (rss, uss, lines, dropped)


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


def summarize(runtime: PluginRuntime, *, memory: bool = True) -> dict[str, object]:
    """One plugin's figures as plain data (``pluginctl status --json``, the admin UI).

    ``memory=False`` leaves out the worker's memory (``rss_bytes`` and ``uss_bytes``
    are None): reading it costs a millisecond or two a plugin, on the host's loop.
    """
    overall = runtime.calls.overall()
    memory_read = worker_memory(runtime.pid) if memory else None
    p50, p99, ping = overall.quantile(0.5), overall.quantile(0.99), runtime.health.ping_s
    return {
        **runtime.describe(),
        "calls": overall.calls,
        "failures": overall.failures,
        "outcomes": dict(overall.outcomes),
        "latency_ms": {
            "p50": None if p50 is None else round(p50 * 1000, 3),
            "p99": None if p99 is None else round(p99 * 1000, 3),
        },
        "crashes_by_reason": dict(runtime.crashes_by_kind),
        "restarts_by_reason": dict(runtime.restarts_by_kind),
        "rate_limited": dict(runtime.policy.tally.rate_limited),
        "denied": dict(runtime.policy.tally.denied),
        "sandbox_denied": dict(runtime.sandbox_denied),
        "output_dropped_lines": 0 if runtime.output is None else runtime.output.dropped,
        "ping_ms": None if ping is None else round(ping * 1000, 3),
        "rss_bytes": None if memory_read is None else memory_read[0],
        "uss_bytes": None if memory_read is None else memory_read[1],
    }
