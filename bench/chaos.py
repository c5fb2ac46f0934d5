"""Chaos: faults injected at random into half of ten plugins while the other half serves.

Ten generated plugins run under one real `Host` (zygote, sandboxed workers, default
breakers), its gateway served by uvicorn on 127.0.0.1 as ``pluginctl run`` serves it
(`pluginctl.runtime.launcher.start_gateway`). Five are calm: they only answer. Five
are faulty (`bench._faulty`): they exit, segfault, loop forever in Python (on the
event loop, in a thread, in the regex engine), get stuck in C, allocate until their
memory limit, write garbage on their RPC socket, or raise, when asked. Their restart
policy never gives up (1000 crashes a minute), and a plugin disabled all the same is
enabled again with `Host.enable_plugin`.

A separate process (`bench._load`) loads every plugin's ``GET /ok`` with httpx, three
clients per plugin, each sending a request every 250 ms: 120 requests a second in
all, which takes that process about a fifth of a core here (httpx costs about 2 ms
of CPU a request on this machine). More load measures the load generator: its
clients queue behind each other and the p99 grows with them, faults or not.
The run has two phases of
the same length under the same load: first calm, then chaos, when an injector in the
host's process picks, every so often (exponentially distributed waits), a faulty
plugin that is active (and whose breaker is not open) and the next fault from a
shuffled deck of every kind, and injects it through an export (`PluginRuntime.call`)
or through a route (an HTTP request to the gateway), at random.

Metrics:
    chaos_healthy_failed_requests: requests to the calm plugins during the chaos
        phase that failed: any status but 200, or no answer within 5 s; goal 0.
        Extra: the first failures, and the calm phase's failures.
    chaos_healthy_requests: requests the calm plugins answered with 200 during the
        chaos phase; no goal.
    chaos_faults_injected: faults injected during the chaos phase; no goal. Extra:
        how many of each kind, how many through a route, and the injections refused
        (the plugin's breaker open, or its worker restarting: HTTP 503).
    chaos_recoveries: faulty plugins back to active after a crash (the audit log's
        ``plugin.restarted``, plus enables after a disable); no goal. Extra: crashes,
        workers killed as stuck, disables, and how many faulty plugins are active
        again at the end.
    chaos_healthy_p99_ratio: the calm plugins' p99 latency during chaos, against the
        p99 of the calm phase (the same load, no faults); goal <= 2 (the ratio).
        Extra: both phases' p50 and request counts, and the warnings and errors the
        host logged (counted, not printed).

``--duration`` sets each phase's length in seconds (default 60; 3 with ``--quick``,
which also injects faults more often so that every kind is seen).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench._errors import BenchError
from bench._faulty import FAULTS, write_calm, write_faulty
from bench._load import LoadPlan, LoadProcess
from bench._stats import p50, percentile
from bench._workers import Spec, guarded, running_host
from pluginctl.errors import CircuitOpen, PluginctlError
from pluginctl.runtime.audit import read
from pluginctl.runtime.discovery import load_source
from pluginctl.runtime.host import HostOptions
from pluginctl.runtime.launcher import bind, start_gateway
from pluginctl.runtime.loop import run as run_loop
from pluginctl.runtime.plugin_runtime import PluginState
from pluginctl.runtime.supervisor import RestartPolicy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Sequence

    from bench._load import LoadResult
    from bench._metric import Metric
    from pluginctl.runtime.host import Host
    from pluginctl.runtime.plugin_runtime import PluginRuntime

__all__ = ["run"]

CALM_PHASE = "calm phase (same load, no faults)"
FAILED = Spec("chaos_healthy_failed_requests", "requests", None, "<= 0 requests")
SERVED = Spec("chaos_healthy_requests", "requests", None, None)
INJECTED = Spec("chaos_faults_injected", "faults", None, None)
RECOVERIES = Spec("chaos_recoveries", "recoveries", None, None)
P99 = Spec("chaos_healthy_p99_ratio", "ms", CALM_PHASE, "<= 2")
METRICS = (FAILED, SERVED, INJECTED, RECOVERIES, P99)

PLUGINS_PER_HALF = 5
_CALL_TIMEOUT_S = 0.25  # the faulty plugins' deadline (limits.call_timeout_s)
_GRACE_S = 0.25
_MEMORY_MB = 256
_INJECT_TIMEOUT_S = 10.0
_RECOVERY_TIMEOUT_S = 20.0
_RESTART = RestartPolicy(initial_backoff_s=0.05, max_backoff_s=0.5, max_crashes=1000)


@dataclass(frozen=True, slots=True)
class _Plan:
    """How long, how loud.

    Attributes:
        duration_s: Each phase's length.
        fault_every_s: The mean wait between two injected faults.
        users: Clients per plugin.
        interval_ms: Each client's wait between two requests.
    """

    duration_s: float
    fault_every_s: float
    users: int = 3
    interval_ms: float = 250.0


_QUICK = _Plan(duration_s=3.0, fault_every_s=0.15)
_FULL = _Plan(duration_s=60.0, fault_every_s=0.5)


def run(*, quick: bool, duration_s: float | None = None) -> list[Metric]:
    """Measure the suite's five metrics; ``duration_s`` is each phase's length."""
    plan = _QUICK if quick else _FULL
    if duration_s is not None:
        plan = _Plan(duration_s, plan.fault_every_s, plan.users, plan.interval_ms)
    return run_loop(_run(plan))


async def _run(plan: _Plan) -> list[Metric]:
    with tempfile.TemporaryDirectory(prefix="pluginctl-bench-chaos-") as tmp, _counted() as logs:
        return await guarded(METRICS, lambda: _chaos(plan, Path(tmp), logs))


# -- the run ----------------------------------------------------------------------------


async def _chaos(plan: _Plan, scratch: Path, logs: _LogCount) -> list[Metric]:
    calm = [f"bench-calm-{index}" for index in range(PLUGINS_PER_HALF)]
    faulty = [f"bench-faulty-{index}" for index in range(PLUGINS_PER_HALF)]
    sources = [load_source(write_calm(scratch / "plugins", name)) for name in calm]
    sources += [
        load_source(
            write_faulty(
                scratch / "plugins", name, call_timeout_s=_CALL_TIMEOUT_S, memory_mb=_MEMORY_MB
            )
        )
        for name in faulty
    ]
    options = HostOptions(data_dir=scratch / "data", restart=_RESTART, deadline_grace_s=_GRACE_S)
    async with running_host(sources, scratch / "data", options=options) as host:
        _all_active(host)
        async with (
            _gateway(host) as url,
            httpx.AsyncClient(base_url=url, timeout=_INJECT_TIMEOUT_S) as client,
        ):
            # made and used once before anything is timed: an httpx client's first
            # steps (its TLS context, lazy imports) hold the host's loop for tens of ms
            await client.get("/healthz")
            load = LoadPlan(plan.duration_s, plan.users, plan.interval_ms / 1000)
            healthy = [f"{url}/plugins/{name}/ok" for name in calm]
            hurt = [f"{url}/plugins/{name}/ok" for name in faulty]
            quiet = await _phase(LoadProcess(load, healthy, hurt), None)
            injector = _Injector(host, faulty, client, fault_every_s=plan.fault_every_s)
            loud = await _phase(LoadProcess(load, healthy, hurt), injector)
            back = await _back_to_active(host, faulty, injector)
    audit = Counter((record.get("plugin"), record.get("event")) for record in read(host.audit.path))
    return _metrics(
        _Outcome(plan, quiet, loud, injector, back, audit, logs.counts), calm=calm, faulty=faulty
    )


def _all_active(host: Host) -> None:
    failed = [runtime for runtime in host.plugins if runtime.state is not PluginState.ACTIVE]
    if failed:
        raise BenchError(f"plugin {failed[0].name!r} did not start: {failed[0].last_error}")


@contextlib.asynccontextmanager
async def _gateway(host: Host) -> AsyncIterator[str]:
    """The host's gateway served by uvicorn on a free port of 127.0.0.1; yields its URL."""
    sock = bind("127.0.0.1", 0)
    try:
        gateway = await start_gateway(host, sock)
        try:
            yield gateway.url
        finally:
            await gateway.stop()
    finally:
        sock.close()


async def _phase(load: LoadProcess, injector: _Injector | None) -> LoadResult:
    """Run the load (and the injector, if any) for the plan's duration; what the load saw."""
    async with load.running():
        if injector is not None:
            await injector.run_for(load.plan.duration_s)
        return await load.result()


async def _back_to_active(host: Host, names: Sequence[str], injector: _Injector) -> int:
    """Wait until the faulty plugins are active again (enabling any disabled); how many are."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _RECOVERY_TIMEOUT_S
    while loop.time() < deadline:
        await injector.revive()
        states = [_runtime(host, name).state for name in names]
        if all(state is PluginState.ACTIVE for state in states):
            break
        await asyncio.sleep(0.05)
    return sum(_runtime(host, name).state is PluginState.ACTIVE for name in names)


def _runtime(host: Host, name: str) -> PluginRuntime:
    runtime = host.endpoint(name)
    if runtime is None:
        raise BenchError(f"the host lost plugin {name!r}")
    return runtime


# -- the injector -----------------------------------------------------------------------


class _Injector:
    """Injects faults at random into the faulty plugins, through exports and routes."""

    def __init__(
        self,
        host: Host,
        names: Sequence[str],
        client: httpx.AsyncClient,
        *,
        fault_every_s: float,
    ) -> None:
        self.host = host
        self.names = list(names)
        self.client = client
        self.fault_every_s = fault_every_s
        self.rng = random.Random()  # chaos, not secrets
        self.injected: Counter[str] = Counter()
        self.through_routes = 0
        self.refused = 0
        self.no_target = 0
        self.enabled = 0
        self._deck: list[str] = []

    async def run_for(self, duration_s: float) -> None:
        """Inject faults for ``duration_s`` seconds, then wait for the last ones to end."""
        loop = asyncio.get_running_loop()
        until = loop.time() + duration_s
        pending: set[asyncio.Future[None]] = set()
        while True:
            wait = self.rng.expovariate(1 / self.fault_every_s)
            await asyncio.sleep(min(wait, max(0.0, until - loop.time())))
            if loop.time() >= until:
                break
            await self.revive()
            target = self._target()
            if target is None:
                self.no_target += 1
                continue
            task = asyncio.ensure_future(self._inject(target, self._next_kind()))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)

    async def revive(self) -> None:
        """Enable every faulty plugin the host disabled after a crash loop."""
        for name in self.names:
            if _runtime(self.host, name).state is PluginState.DISABLED:
                await self.host.enable_plugin(name)
                self.enabled += 1

    def _target(self) -> PluginRuntime | None:
        serving = [
            runtime
            for runtime in map(self.host.endpoint, self.names)
            if runtime is not None
            and runtime.state is PluginState.ACTIVE
            and runtime.channel is not None
            and runtime.channel.is_open
            and runtime.breaker.state != "open"
        ]
        return self.rng.choice(serving) if serving else None

    def _next_kind(self) -> str:
        if not self._deck:
            self._deck = list(FAULTS)
            self.rng.shuffle(self._deck)
        return self._deck.pop()

    async def _inject(self, runtime: PluginRuntime, kind: str) -> None:
        through_route = self.rng.random() < 0.5
        if through_route:
            refused = await _through_route(self.client, runtime.name, kind)
        else:
            refused = await _through_export(runtime, kind)
        if refused:
            self.refused += 1
            return
        self.injected[kind] += 1
        self.through_routes += through_route


async def _through_route(client: httpx.AsyncClient, name: str, kind: str) -> bool:
    """Request the fault's route; whether the gateway refused it (503)."""
    where = "fault-thread" if FAULTS[kind].in_thread else "fault"
    try:
        response = await client.get(f"/plugins/{name}/{where}/{kind}")
    except httpx.HTTPError:
        return False  # no answer in time: the fault took effect
    return response.status_code == 503


async def _through_export(runtime: PluginRuntime, kind: str) -> bool:
    """Call the fault's export; whether the plugin's breakers refused the call."""
    try:
        await runtime.call("export", kind, [], {})
    except CircuitOpen:
        return True
    except PluginctlError:
        return False  # it raised, timed out, or its worker ended: the fault took effect
    return False


# -- the figures ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outcome:
    """Everything the run saw."""

    plan: _Plan
    quiet: LoadResult
    loud: LoadResult
    injector: _Injector
    back: int
    audit: Counter[tuple[object, object]]
    logs: Counter[str]

    def events(self, names: Sequence[str], event: str) -> int:
        """How many audit records of ``event`` the plugins ``names`` have."""
        return sum(self.audit[name, event] for name in names)


def _metrics(outcome: _Outcome, *, calm: Sequence[str], faulty: Sequence[str]) -> list[Metric]:
    loud, quiet, injector = outcome.loud.healthy, outcome.quiet.healthy, outcome.injector
    failed: dict[str, float | int | str] = {
        "requests": loud.requests,
        "first_failure": loud.first_failures[0] if loud.first_failures else "-",
        "calm_phase_failed_requests": quiet.failures,
        "healthy_crashes": outcome.events(calm, "worker.crashed"),
    }
    return [
        FAILED.alone([float(loud.failures)], extra=failed),
        SERVED.alone(
            [float(loud.requests - loud.failures)],
            extra={"per_s": (loud.requests - loud.failures) / outcome.plan.duration_s},
        ),
        INJECTED.alone([float(injector.injected.total())], extra=_injected(outcome)),
        RECOVERIES.alone(
            [float(outcome.events(faulty, "plugin.restarted") + injector.enabled)],
            extra=_recovered(outcome, faulty),
        ),
        _p99(outcome),
    ]


def _injected(outcome: _Outcome) -> dict[str, float | int | str]:
    injector = outcome.injector
    return {
        **{kind: injector.injected[kind] for kind in FAULTS},
        "through_routes": injector.through_routes,
        "refused": injector.refused,
        "no_target": injector.no_target,
        "fault_every_s": outcome.plan.fault_every_s,
    }


def _recovered(outcome: _Outcome, faulty: Sequence[str]) -> dict[str, float | int | str]:
    return {
        "crashes": outcome.events(faulty, "worker.crashed"),
        "killed_stuck": outcome.events(faulty, "worker.killed"),
        "disabled": outcome.events(faulty, "plugin.disabled"),
        "enabled": outcome.injector.enabled,
        "faulty_active_at_end": f"{outcome.back}/{len(faulty)}",
        "faulty_requests_failed": f"{outcome.loud.faulty.failures}/{outcome.loud.faulty.requests}",
    }


def _p99(outcome: _Outcome) -> Metric:
    loud, quiet = outcome.loud.healthy.latencies_ms, outcome.quiet.healthy.latencies_ms
    if not loud or not quiet:
        return P99.failed("the load process timed no request")
    plan = outcome.plan
    extra: dict[str, float | int | str] = {
        "chaos_p50_ms": p50(loud),
        "calm_p50_ms": p50(quiet),
        "chaos_requests": len(loud),
        "calm_requests": len(quiet),
        "phase_s": plan.duration_s,
        "load": f"{plan.users} clients per plugin, a request every {plan.interval_ms:g} ms each",
        "host_log_warnings": outcome.logs["warning"],
        "host_log_errors": outcome.logs["error"] + outcome.logs["critical"],
    }
    return P99.compare([percentile(loud, 99)], [percentile(quiet, 99)], extra=extra)


# -- the host's log ---------------------------------------------------------------------


class _LogCount(logging.Handler):
    """Counts the host's warnings and errors by level: hundreds are expected here."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname.lower()] += 1


@contextlib.contextmanager
def _counted() -> Iterator[_LogCount]:
    """Count, instead of printing, what pluginctl logs during the run."""
    logger = logging.getLogger("pluginctl")
    handler = _LogCount()
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
