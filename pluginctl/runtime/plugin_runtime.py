"""One plugin as the host runs it: its worker, its channel, its state and its services."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from pluginctl.errors import CallTimeout, CircuitOpen, UserError, WorkerCrashed
from pluginctl.runtime.breaker import BreakerPolicy, CircuitBreaker
from pluginctl.runtime.call_stats import CallMetrics
from pluginctl.runtime.channel import ChannelClosed
from pluginctl.runtime.health import Health
from pluginctl.runtime.output import LineSplitter
from pluginctl.runtime.protocol import HttpResponse

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from pluginctl.plugin import Registrations
    from pluginctl.runtime.channel import Call, Channel
    from pluginctl.runtime.discovery import PluginSource
    from pluginctl.runtime.output import OutputBudget
    from pluginctl.runtime.policy import Policy
    from pluginctl.runtime.processes import WorkerProcess
    from pluginctl.runtime.protocol import HttpRequest
    from pluginctl.runtime.supervisor import CrashHistory
    from pluginctl.services.db import PluginDatabase
    from pluginctl.services.kv import KeyValueStore

__all__ = ["PluginRuntime", "PluginState", "close_output", "forward_output"]

_monotonic = time.monotonic
#: The most HTML an admin panel may answer.
MAX_PANEL_BYTES = 1024 * 1024
_MAX_METHOD_BREAKERS = 256  # as many methods as the metrics count one by one
_perf_counter = time.perf_counter


class PluginState(enum.StrEnum):
    """Where a plugin is in its life (DESIGN.md §3)."""

    INSTALLED = "installed"
    RESOLVED = "resolved"
    STARTING = "starting"
    ACTIVE = "active"
    DEGRADED = "degraded"
    STOPPING = "stopping"
    DISABLED = "disabled"
    FAILED = "failed"


@dataclass(eq=False)
class PluginRuntime:
    """The host's record of one plugin; the gateway reaches the plugin through it."""

    source: PluginSource
    data_dir: Path
    settings: dict[str, object]
    policy: Policy
    kv: KeyValueStore
    call_timeout_s: float
    db: PluginDatabase | None = None  # when it holds db:read or has migrations
    state: PluginState = PluginState.RESOLVED
    generation: int = 0
    process: WorkerProcess | None = None
    channel: Channel | None = None
    registrations: Registrations | None = None
    last_error: str | None = None
    exit_reason: str | None = None
    exit_kind: str | None = None  # a label for how the worker ended (`crash_kind`)
    started_at: float | None = None
    breaker: CircuitBreaker = field(
        default_factory=lambda: CircuitBreaker(BreakerPolicy()), repr=False
    )
    method_breakers: dict[str, CircuitBreaker] = field(default_factory=dict, repr=False)
    crashes: CrashHistory | None = field(default=None, repr=False)
    restarts: int = 0
    operator_disabled: bool = False
    crashes_by_kind: Counter[str] = field(default_factory=Counter, repr=False)
    restarts_by_kind: Counter[str] = field(default_factory=Counter, repr=False)
    restart_at: float | None = None
    restart_handle: asyncio.TimerHandle | None = field(default=None, repr=False)
    # told of a call that timed out (its channel and deadline say which worker, and when)
    on_timeout: Callable[[Call], None] | None = field(default=None, repr=False)
    calls: CallMetrics = field(default_factory=CallMetrics, repr=False)
    health: Health = field(default_factory=Health, repr=False)
    # held by every change of its lifecycle (start, stop, enable, disable, reload,
    # restart), so that an operator's disable is never undone by a restart in flight
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)
    _route_key_cache: tuple[Registrations | None, list[str]] | None = field(
        default=None, repr=False
    )
    # what the sandbox refused it, by operation (`pluginctl.runtime.refusals`)
    sandbox_denied: Counter[str] = field(default_factory=Counter, repr=False)
    output: OutputBudget | None = field(default=None, repr=False)  # its log lines' budget
    # told when a breaker opens: the method's key (None: the plugin's) and the failure
    on_breaker_open: Callable[[str | None, BaseException], None] | None = field(
        default=None, repr=False
    )

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def requests(self) -> int:
        """Calls into the plugin that have ended (HTTP requests, exports, events)."""
        return self.calls.overall().calls

    @property
    def errors(self) -> int:
        """Those of `requests` that failed."""
        return self.calls.overall().failures

    @property
    def pid(self) -> int | None:
        """The worker's process id while the plugin is active."""
        process = self.process
        return process.pid if process is not None and self.state is PluginState.ACTIVE else None

    @property
    def status(self) -> PluginState:
        """The state as reported: degraded while active and unhealthy or breaker-open.

        A degraded plugin still serves what it can; ``/healthz`` and metrics say so.
        """
        if self.state is PluginState.ACTIVE and (
            not self.health.ok or self.breaker.state != "closed"
        ):
            return PluginState.DEGRADED
        return self.state

    @property
    def prefix(self) -> str:
        routes = self.source.manifest.routes
        return "" if routes is None else routes.prefix

    @property
    def routes(self) -> list[tuple[str, str]]:
        return [] if self.registrations is None else list(self.registrations.routes)

    @property
    def static_dir(self) -> Path | None:
        static = self.source.manifest.static
        return None if static is None else self.source.package_dir / static

    async def handle(self, route_index: int, request: HttpRequest) -> HttpResponse:
        """Serve one HTTP request with the plugin's route ``route_index``."""
        self.policy.limit("calls")
        key = self._route_keys()[route_index]
        result = await self.call("route", route_index, request, key=key)
        return msgspec.convert(result, HttpResponse)

    def _route_keys(self) -> list[str]:
        """``route:GET /path`` for each route: what breakers and metrics count it under.

        By method and path, not by index, so a reload that adds a route does not hand
        one route's breaker and figures to another.
        """
        registrations = self.registrations
        cached = self._route_key_cache
        if cached is None or cached[0] is not registrations:
            keys = [f"route:{verb} {path}" for verb, path in self.routes]
            cached = self._route_key_cache = (registrations, keys)
        return cached[1]

    def event_key(self, topic: str) -> str:
        """``event:<pattern>``: the subscription ``topic`` matched (bounded by the manifest).

        Keyed by pattern, not by topic, so a publisher inventing topics cannot grow the
        subscriber's breakers and metrics without bound.
        """
        from pluginctl.permissions import topic_matches

        patterns = [] if self.registrations is None else self.registrations.events
        matched = next((p for p in patterns if topic_matches(p, topic)), "*")
        return f"event:{matched}"

    def call(
        self, method: str, *args: object, timeout_s: float | None = None, key: str | None = None
    ) -> Awaitable[object]:
        """Call the worker, through the circuit breakers; failures count (see `failed`).

        ``key`` names what the call counts under for breakers and metrics (default:
        ``method:first-argument``, such as ``export:lookup``).

        Raises (when awaited):
            CircuitOpen: the plugin's breaker, or this method's, is open.
        """
        channel = self.channel
        if key is None:
            key = f"{method}:{args[0]}" if args else method
        if channel is None or not channel.is_open:
            self.calls.observe(key, None, "crashed")
            return self._gone()
        now = _monotonic()
        plugin_admits = self.breaker.admit(now)
        if plugin_admits is False:
            self.calls.observe(key, None, "circuit_open")
            return self._refused(None, self.breaker.retry_after_s(now))
        breaker = self.method_breakers.get(key)
        if breaker is None:
            key, breaker = self._new_method_breaker(key)
        method_admits = breaker.admit(now)
        if method_admits is False:
            self.calls.observe(key, None, "circuit_open")
            if plugin_admits == "probe":
                self.breaker.probe_done(now, ok=True)  # unused: the plugin may be fine
            return self._refused(key, breaker.retry_after_s(now))
        future = channel.call(method, *args, timeout_s=timeout_s or self.call_timeout_s)
        future.key, future.started = key, _perf_counter()
        if plugin_admits == "probe" or method_admits == "probe":
            future.add_done_callback(
                lambda done: self._probed(done, plugin_admits == "probe", breaker)
            )
        return future

    def _new_method_breaker(self, key: str) -> tuple[str, CircuitBreaker]:
        """A breaker for a method not seen before, and the key it counts under."""
        if len(self.method_breakers) >= _MAX_METHOD_BREAKERS:  # one for all the rest
            key = "other"
            found = self.method_breakers.get(key)
            if found is not None:
                return key, found
        breaker = self.method_breakers[key] = CircuitBreaker(self.breaker.policy)
        return key, breaker

    def _refused(self, method: str | None, retry_after_s: float) -> asyncio.Future[object]:
        refused: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        refused.set_exception(CircuitOpen(self.name, method, retry_after_s=retry_after_s))
        return refused

    def _probed(self, done: asyncio.Future[object], plugin: bool, breaker: CircuitBreaker) -> None:
        ok = not done.cancelled() and done.exception() is None
        now = time.monotonic()
        if plugin:
            self.breaker.probe_done(now, ok=ok)
        if breaker.state == "half-open":
            breaker.probe_done(now, ok=ok)

    async def render_panel(self, panel_id: str, query_string: str = "") -> str:
        """The HTML the plugin's admin panel ``panel_id`` answers for ``query_string``.

        Raises:
            UserError: it answered something other than text, or over `MAX_PANEL_BYTES`.
            RuntimeFault: the call failed (`RemoteError` when the panel raised).
        """
        html = await self.call("panel", panel_id, query_string, key=f"panel:{panel_id}")
        if not isinstance(html, str):
            raise UserError(f"panel {panel_id!r} returned {type(html).__name__}, not HTML text")
        if len(html.encode()) > MAX_PANEL_BYTES:
            raise UserError(f"panel {panel_id!r} answered more than 1 MiB of HTML")
        return html

    def reset_breakers(self) -> None:
        """Close every breaker of this plugin (an operator's decision, or a fresh start)."""
        self.breaker.reset()
        self.method_breakers.clear()

    def control(
        self, method: str, *args: object, timeout_s: float | None = None
    ) -> Awaitable[object]:
        """A lifecycle call (``start``, ``stop``, a hook): not traffic, so not counted."""
        channel = self.channel
        if channel is None or not channel.is_open:
            return self._gone()
        return channel.call(method, *args, timeout_s=timeout_s or self.call_timeout_s)

    def _gone(self) -> asyncio.Future[object]:
        gone: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        gone.set_exception(WorkerCrashed(self.name, self.exit_reason or "it is not running"))
        return gone

    def failed(self, error: BaseException, call: Call | None = None) -> BaseException:
        """Count a failed call; a closed channel becomes `WorkerCrashed` with the reason.

        The host gives this to the plugin's channel as its ``map_failure``; a failed
        traffic call counts against the plugin's breaker and its method's.
        """
        key = None if call is None else call.key
        if key is not None:  # traffic: pings, hooks and lifecycle calls are not counted
            assert call is not None
            self.calls.observe(key, _perf_counter() - call.started, _outcome(error))
            timeout = isinstance(error, CallTimeout)
            if timeout or isinstance(error, ChannelClosed):  # the worker is in trouble
                self._breaker_failed(self.breaker, None, error)
            breaker = self.method_breakers.get(key)  # any failure: this method is
            if breaker is not None:
                self._breaker_failed(breaker, key, error)
        if isinstance(error, CallTimeout) and self.on_timeout is not None and call is not None:
            self.on_timeout(call)  # the host checks whether the worker is stuck
        if isinstance(error, ChannelClosed):
            return WorkerCrashed(self.name, self.exit_reason or "it closed its channel")
        return error

    def answered(self, call: Call) -> None:
        """Count a call that succeeded (the channel's ``on_answered``)."""
        key = call.key
        assert key is not None  # the channel tells only of keyed calls
        self.calls.observe_ok(key, _perf_counter() - call.started)

    def _breaker_failed(
        self, breaker: CircuitBreaker, key: str | None, error: BaseException
    ) -> None:
        opened = breaker.opened
        answered = self.channel.answered if self.channel is not None else 0
        timeout = isinstance(error, CallTimeout)
        breaker.failed(time.monotonic(), timeout=timeout, answered=answered)
        if breaker.opened != opened and self.on_breaker_open is not None:
            self.on_breaker_open(key, error)

    def describe(self) -> dict[str, object]:
        """Plain data for ``pluginctl list --json``, /healthz and the admin UI."""
        manifest, overall = self.source.manifest, self.calls.overall()
        return {
            "name": self.name,
            "version": self.source.version,
            "state": str(self.status),
            "origin": self.source.origin,
            "location": self.source.location,
            "pid": self.pid,
            "permissions": list(manifest.permissions),
            "routes": [
                f"{m} /plugins/{self.name}{self.prefix.rstrip('/')}{p}" for m, p in self.routes
            ],
            "uptime_s": round(time.monotonic() - self.started_at, 3) if self.started_at else None,
            "requests": overall.calls,
            "errors": overall.failures,
            "restarts": self.restarts,
            "operator_disabled": self.operator_disabled,
            "breaker": self.breaker.state,
            "open_methods": sorted(
                key for key, breaker in self.method_breakers.items() if breaker.state != "closed"
            ),
            "restart_in_s": (
                round(max(0.0, self.restart_at - time.monotonic()), 3) if self.restart_at else None
            ),
            "health": {"ok": self.health.ok, "reason": self.health.reason},
            "last_error": self.last_error,
        }


def _outcome(error: BaseException) -> str:
    """The ``outcome`` label of a call that failed with ``error``."""
    if isinstance(error, CallTimeout):
        return "timeout"
    if isinstance(error, ChannelClosed | WorkerCrashed):
        return "crashed"
    return "error"  # the handler raised (a `RemoteError`, or a typed pluginctl error)


def forward_output(
    process: WorkerProcess, loop: asyncio.AbstractEventLoop, budget: OutputBudget
) -> None:
    """Log a worker's stdout and stderr, line by line, tagged with the plugin, in ``budget``."""
    for stream in ("stdout", "stderr"):
        fd: int = getattr(process, stream)
        os.set_blocking(fd, False)
        lines = LineSplitter(max_line_bytes=budget.max_line_bytes)

        def on_readable(fd: int = fd, stream: str = stream, lines: LineSplitter = lines) -> None:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            if not chunk:
                _close_stream(process, stream, loop)
                rest = lines.rest()
                if rest:
                    budget.write(stream, [rest])
                return
            budget.write(stream, lines.feed(chunk))

        loop.add_reader(fd, on_readable)


def close_output(process: WorkerProcess, loop: asyncio.AbstractEventLoop) -> None:
    """Stop reading a worker's output (it ended, or the host is stopping)."""
    for stream in ("stdout", "stderr"):
        _close_stream(process, stream, loop)


def _close_stream(process: WorkerProcess, stream: str, loop: asyncio.AbstractEventLoop) -> None:
    """Close one output pipe once: its number is -1 afterwards, never closed twice.

    Closing a descriptor twice is not harmless: by the second time the number may
    belong to another worker's socket or pipe.
    """
    fd: int = getattr(process, stream)
    if fd < 0:
        return
    setattr(process, stream, -1)
    with contextlib.suppress(OSError, ValueError):
        loop.remove_reader(fd)
    with contextlib.suppress(OSError):
        os.close(fd)
