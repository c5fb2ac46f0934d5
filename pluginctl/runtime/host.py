"""The host: starts every plugin in its own worker, serves the host API, stops them all.

The host is one asyncio process. It never forks itself: workers come from the
`Zygote` (or `spawn_worker`). Each worker's calls to the host API are checked by the
plugin's `Policy` before a service runs them; each plugin's failure stays its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import msgspec

from pluginctl.errors import (
    ConfigError,
    PluginctlError,
    ProtocolViolation,
    RemoteError,
    ResolutionError,
    UserError,
)
from pluginctl.plugin import Registrations
from pluginctl.runtime.audit import AuditLog
from pluginctl.runtime.breaker import BreakerPolicy, CircuitBreaker
from pluginctl.runtime.channel import Channel
from pluginctl.runtime.health import HealthMonitor, HealthPolicy
from pluginctl.runtime.host_api import HostServices
from pluginctl.runtime.limits import WorkerLimits
from pluginctl.runtime.output import OutputBudget, OutputPolicy
from pluginctl.runtime.plugin_data import database_for, prepare_database
from pluginctl.runtime.plugin_runtime import (
    PluginRuntime,
    PluginState,
    close_output,
    forward_output,
)
from pluginctl.runtime.policy import Policy
from pluginctl.runtime.processes import Zygote, spawn_worker
from pluginctl.runtime.protocol import DEFAULT_MAX_FRAME_BYTES, WorkerSpec
from pluginctl.runtime.sandbox import SandboxPolicy
from pluginctl.runtime.supervisor import (
    CrashHistory,
    RestartPolicy,
    Supervisor,
    crash_kind,
    explain_exit,
    log_failure,
)
from pluginctl.runtime.traffic import TrafficReporter
from pluginctl.services.kv import KeyValueStore
from pluginctl.services.settings import resolve_settings

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping, Sequence
    from pathlib import Path

    from prometheus_client.registry import CollectorRegistry

    from pluginctl.manifest import RateLimit
    from pluginctl.runtime.call_stats import CallMetrics
    from pluginctl.runtime.discovery import PluginSource
    from pluginctl.runtime.processes import Exit, WorkerProcess
    from pluginctl.services.db import DatabaseSession

__all__ = ["Host", "HostOptions", "Reload"]

logger = logging.getLogger(__name__)

_RETIRE_GRACE_S = 2.0  # a replaced worker's time for on_deactivate, then to exit
#: The audit records published to plugins as ``host.<event>`` (lifecycle, not the
#: per-call decisions such as ``permission.denied``, which can come by the thousand).
_HOST_EVENT_FAMILIES = ("plugin.", "breaker.", "migration.")
_EXIT_WAIT_S = 0.2  # how long failed calls wait for the exit status of a worker that hung up


@dataclass(frozen=True, slots=True)
class HostOptions:
    """How the host runs plugins; the defaults suit one machine.

    Attributes:
        data_dir: Where plugin data, the key-value stores and the audit log live.
        database_url: A PostgreSQL URL for the plugins' databases (a schema and roles
            each); None keeps each plugin's in a SQLite file in its data directory.
        call_timeout_s: The deadline of every call into a plugin; None keeps each
            plugin's own ``limits.call_timeout_s``.
        start_timeout_s: How long a plugin may take to import and activate.
        deadline_grace_s: How long past a call's deadline a silent worker lives on.
        start_method: ``fork`` (from the zygote) or ``spawn`` (a fresh interpreter).
        restart: How a crashed plugin is restarted (or disabled after a crash loop).
        restart_by_plugin: Plugins with a restart policy of their own.
        breaker: When calls to a failing plugin or method are paused (circuit breakers).
        breaker_by_plugin: Plugins with a breaker policy of their own.
        health: How often workers are pinged and health hooks called.
        health_by_plugin: Plugins with a health policy of their own.
        sandbox: Confine every worker (Landlock, seccomp, no_new_privs) before import.
        max_frame_bytes: The largest RPC frame accepted from a worker.
        output: How much of each plugin's output (prints and ``api.log``) the host logs.
        default_rates: Rate limits for plugins whose manifests set none.
        settings: The operator's settings per plugin name.
        settings_source: The file those settings came from, for error messages.
        traffic_every_s: How often the calls to plugins' routes are published to the
            plugins that subscribe to ``host.traffic`` (`pluginctl.runtime.traffic`).
    """

    data_dir: Path
    database_url: str | None = None
    call_timeout_s: float | None = None
    start_timeout_s: float = 30.0
    deadline_grace_s: float = 1.0
    start_method: str = "fork"
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    restart_by_plugin: Mapping[str, RestartPolicy] = field(default_factory=dict)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    breaker_by_plugin: Mapping[str, BreakerPolicy] = field(default_factory=dict)
    health: HealthPolicy = field(default_factory=HealthPolicy)
    health_by_plugin: Mapping[str, HealthPolicy] = field(default_factory=dict)
    sandbox: bool = True
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    output: OutputPolicy = field(default_factory=OutputPolicy)
    default_rates: Mapping[str, RateLimit] = field(default_factory=dict)
    settings: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    settings_source: str = "pluginctl.toml"
    traffic_every_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Reload:
    """What one `Host.reload_plugin` did.

    Attributes:
        plugin: The plugin's name.
        ok: Whether the new version now serves; if not, the old one still does.
        latency_ms: From the request to the switch (or to the failure).
        error: Why the new version was refused (the worker's traceback included).
        generation: The plugin's generation after the reload.
    """

    plugin: str
    ok: bool
    latency_ms: float
    error: str | None = None
    generation: int = 0


class Host:
    """Runs resolved plugins (dependencies first) and serves their calls to the host API."""

    def __init__(self, plugins: Sequence[PluginSource], options: HostOptions) -> None:
        """Raises `UserError` when ``options.database_url`` is not a usable PostgreSQL URL."""
        if options.database_url is not None:
            from pluginctl.data.postgres import admin_url

            admin_url(options.database_url)
        self.options = options
        self.audit = AuditLog(options.data_dir / "audit.jsonl")
        self._order = list(plugins)
        self._plugins: dict[str, PluginRuntime] = {}
        self.services = HostServices(self._plugins, audit=self.audit)
        self.events = self.services.events
        self.audit.listeners.append(self._publish_host_event)
        self._zygote: Zygote | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchers: set[asyncio.Future[None]] = set()
        self._host_events: set[asyncio.Future[None]] = set()
        self._host_events_due = 0  # recorded, not yet handed to the loop
        self._host_events_lock = threading.Lock()  # records come from any thread
        self._settings_override: dict[str, Mapping[str, object]] = {}
        self.supervisor = Supervisor(
            audit=self.audit,
            restart=self._restart_crashed,
            deadline_grace_s=options.deadline_grace_s,
        )
        self.monitor = HealthMonitor(
            audit=self.audit,
            supervisor=self.supervisor,
            policy_for=options.health_by_plugin,
            default=options.health,
        )
        self.started_at = time.time()
        self._registry: CollectorRegistry | None = None
        self._closing = False
        self.traffic = TrafficReporter(
            self.events, self._call_metrics, every_s=options.traffic_every_s
        )

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Start every plugin in order; a plugin that fails leaves the others running."""
        self._loop = asyncio.get_running_loop()
        if self.options.start_method == "fork":
            self._zygote = Zygote()
            await self._zygote.start()
        self.traffic.start()
        for source in self._order:
            runtime = self._prepare(source)
            if runtime.state is not PluginState.FAILED:
                async with runtime.lock:
                    await self._start_plugin(runtime)

    async def stop(self, *, grace_s: float = 2.0) -> None:
        """Stop plugins in reverse start order, then the zygote."""
        self._closing = True  # no restart begins from now on
        await self.traffic.aclose()
        for runtime in reversed(list(self._plugins.values())):
            async with runtime.lock:
                await self._stop_plugin(runtime, grace_s=grace_s)
        await self.supervisor.aclose()
        await self._cancel_watchers()
        if self._zygote is not None:
            await self._zygote.stop(grace_s=grace_s)
        self.monitor.close()
        await self.events.aclose()
        for runtime in self._plugins.values():
            runtime.kv.close()
            if runtime.db is not None:
                runtime.db.close()
            if runtime.output is not None:
                runtime.output.close()  # its last summary, before the audit log closes
        self.audit.close()

    async def add_plugin(
        self, source: PluginSource, *, settings: Mapping[str, object] | None = None
    ) -> PluginRuntime:
        """Start one more plugin while the host runs; its state says whether it started.

        ``settings`` replace what the host options set for this plugin.

        Raises:
            UserError: the host is not running, or already has a plugin of that name.
        """
        if self._loop is None:
            raise UserError("the host is not running", hint="await host.start() first")
        if source.name in self._plugins:
            raise UserError(
                f"the host already runs a plugin named {source.name!r}",
                hint=f"remove it first: await host.remove_plugin({source.name!r})",
            )
        self._order.append(source)
        if settings is not None:
            self._settings_override[source.name] = settings
        runtime = self._prepare(source)
        if runtime.state is not PluginState.FAILED:
            async with runtime.lock:
                await self._start_plugin(runtime)
        return runtime

    async def remove_plugin(self, name: str, *, grace_s: float = 2.0) -> None:
        """Stop the plugin ``name`` (on_deactivate, then its worker) and forget it.

        Raises:
            UserError: the host has no plugin of that name.
        """
        runtime = self._plugins.pop(name, None)
        if runtime is None:
            raise UserError(f"the host runs no plugin named {name!r}")
        self._settings_override.pop(name, None)
        self._order = [source for source in self._order if source.name != name]
        try:
            async with runtime.lock:
                await self._stop_plugin(runtime, grace_s=grace_s)
        finally:
            runtime.kv.close()
            if runtime.db is not None:
                runtime.db.close()

    async def reload_plugin(self, name: str, source: PluginSource | None = None) -> Reload:
        """Swap the plugin ``name`` for ``source`` (default: its code as it is now on disk).

        A fresh worker (the zygote's standby) imports the new code, takes the old
        version's state (``dump_state`` → ``load_state``), activates and answers a
        health check while the old worker keeps serving. Then traffic switches in one
        step, the old worker finishes the calls it was given, runs ``on_deactivate``
        and ends. If anything before the switch fails, the new worker is discarded and
        the old version keeps serving; the result says why.

        Raises:
            UserError: the host runs no plugin ``name``, or ``source`` is another plugin.
        """
        runtime = self._plugins.get(name)
        if runtime is None:
            raise UserError(f"the host runs no plugin named {name!r}")
        source = source or runtime.source
        if source.name != name:
            raise UserError(
                f"{source.location} is plugin {source.name!r}, not {name!r}",
                hint="a reload keeps the plugin's name; remove it and add the other one",
            )
        async with runtime.lock:
            return await self._reload(runtime, source)

    async def _reload(self, runtime: PluginRuntime, source: PluginSource) -> Reload:
        name, begun = runtime.name, time.perf_counter()
        if runtime.operator_disabled:
            return self._reload_failed(
                runtime,
                begun,
                f"plugin {name!r} is disabled by the operator: a reload does not start it",
                hint=f"enable it first: pluginctl enable {name}",
            )
        if runtime.state is not PluginState.ACTIVE:  # nothing serving to keep: start afresh
            return await self._restart(runtime, source, begun)
        try:
            settings = self._settings(source)
        except ConfigError as exc:
            return self._reload_failed(runtime, begun, f"{exc}\nhint: {exc.hint}")
        # the old version serves while the new one's requirements and migrations are met
        refused = self._unmet_requirements(source) or await self._migrate(runtime, source)
        if refused:
            return self._reload_failed(runtime, begun, refused)
        state = await self._dump_state(runtime)
        policy = self._policy(source)
        process: WorkerProcess | None = None
        channel: Channel | None = None
        try:
            process, channel = await self._launch(runtime, source, settings=settings, policy=policy)
            started = await channel.call("start", state, timeout_s=self.options.start_timeout_s)
            registrations = self._accept(name, policy, started)
            await self._check_health(channel, registrations)
        except (PluginctlError, OSError) as exc:
            await self._discard(process, channel)
            return self._reload_failed(runtime, begun, _failure_text(exc))
        old_process, old_channel = runtime.process, runtime.channel
        # the switch: one synchronous step, so no request sees half of each version
        if cast("PluginState", runtime.state) is not PluginState.ACTIVE:  # the old one died
            self.supervisor.cancel(runtime)  # the new one serves: no restart
            runtime.state = PluginState.ACTIVE
            runtime.started_at = time.monotonic()
        runtime.source, runtime.settings, runtime.policy = source, settings, policy
        runtime.process, runtime.channel = process, channel
        runtime.registrations = registrations
        runtime.call_timeout_s = self._call_timeout(source)
        runtime.generation += 1
        runtime.last_error = None
        self._subscribe(name, registrations)
        self.monitor.watch(runtime)
        latency_ms = (time.perf_counter() - begun) * 1000
        self.audit.record(
            "plugin.reloaded", plugin=name, pid=process.pid, latency_ms=round(latency_ms, 2)
        )
        self._spawn(self._retire(runtime, old_process, old_channel))
        return Reload(name, ok=True, latency_ms=latency_ms, generation=runtime.generation)

    def _unmet_requirements(self, source: PluginSource) -> str | None:
        """Why ``source`` cannot run beside the running plugins (host range, dependencies)."""
        from pluginctl.runtime.resolution import plan

        running = [
            runtime.source
            for runtime in self._plugins.values()
            if runtime.name != source.name and runtime.state is PluginState.ACTIVE
        ]
        problems = [
            problem
            for problem in plan([*running, source]).problems
            if problem.plugin == source.name
        ]
        return "\n".join(str(problem) for problem in problems) or None

    async def _restart(self, runtime: PluginRuntime, source: PluginSource, begun: float) -> Reload:
        """Start a plugin that is not serving (failed, stopped) from ``source``."""
        self.supervisor.cancel(runtime)
        try:
            settings = self._settings(source)
        except ConfigError as exc:
            return self._reload_failed(runtime, begun, f"{exc}\nhint: {exc.hint}")
        runtime.source, runtime.settings = source, settings
        runtime.policy = self._policy(source)
        runtime.call_timeout_s = self._call_timeout(source)
        await self._start_afresh(runtime)
        latency_ms = (time.perf_counter() - begun) * 1000
        if runtime.state is not PluginState.ACTIVE:
            return Reload(runtime.name, ok=False, latency_ms=latency_ms, error=runtime.last_error)
        return Reload(runtime.name, ok=True, latency_ms=latency_ms, generation=runtime.generation)

    def _reload_failed(
        self, runtime: PluginRuntime, begun: float, error: str, *, hint: str | None = None
    ) -> Reload:
        latency_ms = (time.perf_counter() - begun) * 1000
        error = error if hint is None else f"{error}\nhint: {hint}"
        runtime.last_error = error
        self.audit.record("plugin.reload_failed", plugin=runtime.name, reason=error)
        return Reload(
            runtime.name,
            ok=False,
            latency_ms=latency_ms,
            error=error,
            generation=runtime.generation,
        )

    async def _dump_state(self, runtime: PluginRuntime) -> object:
        """The running version's ``dump_state``, or None (a failure is logged, not fatal)."""
        if runtime.registrations is None or "dump_state" not in runtime.registrations.hooks:
            return None
        try:
            return await runtime.control("hook", "dump_state")
        except PluginctlError as exc:
            logger.warning(
                "plugin %s: dump_state failed, reloading without state: %s", runtime.name, exc
            )
            return None

    async def _check_health(self, channel: Channel, registrations: Registrations) -> None:
        """A new worker must answer a ping, and its ``health`` hook when it has one."""
        await channel.ping(timeout_s=self.options.start_timeout_s)
        if "health" in registrations.hooks:
            verdict = await channel.call("hook", "health", timeout_s=self.options.start_timeout_s)
            if verdict is False or (isinstance(verdict, dict) and verdict.get("ok") is False):
                raise UserError(f"the new version reported itself unhealthy: {verdict!r}")

    async def _retire(
        self, runtime: PluginRuntime, process: WorkerProcess | None, channel: Channel | None
    ) -> None:
        """Let a replaced worker finish what it was given, deactivate it, and end it."""
        if channel is not None:
            if not await channel.wait_idle(timeout_s=runtime.call_timeout_s):
                logger.warning("plugin %s: the replaced worker still had calls", runtime.name)
            with contextlib.suppress(PluginctlError, OSError):
                await channel.call("stop", timeout_s=_RETIRE_GRACE_S)
        await self._discard(process, channel, grace_s=_RETIRE_GRACE_S)

    def _call_timeout(self, source: PluginSource) -> float:
        return self.options.call_timeout_s or source.manifest.limits.call_timeout_s

    def _prepare(self, source: PluginSource) -> PluginRuntime:
        data_dir = self.options.data_dir / "plugins" / source.name
        invalid: ConfigError | None = None
        try:
            settings = self._settings(source)
        except ConfigError as exc:
            invalid, settings = exc, {}
        policy = self._policy(source)
        runtime = PluginRuntime(
            source=source,
            data_dir=data_dir,
            settings=settings,
            policy=policy,
            kv=KeyValueStore.open(data_dir / "kv.sqlite3"),
            call_timeout_s=self._call_timeout(source),
        )
        runtime.db = database_for(
            source,
            policy,
            data_dir=data_dir,
            database_url=self.options.database_url,
            transaction_timeout_s=self._call_timeout(source),
        )
        runtime.crashes = CrashHistory(
            self.options.restart_by_plugin.get(source.name, self.options.restart)
        )
        runtime.on_timeout = lambda call: self.supervisor.check_stuck(runtime, call)
        runtime.on_breaker_open = lambda key, error: self._breaker_opened(runtime, key, error)
        runtime.output = OutputBudget(
            source.name,
            logging.getLogger(f"pluginctl.plugin.{source.name}"),
            lines_per_s=self.options.output.lines_per_s,
            burst_lines=self.options.output.burst_lines,
            max_line_bytes=self.options.output.line_bytes,
            audit=self.audit,
        )
        runtime.breaker = CircuitBreaker(
            self.options.breaker_by_plugin.get(source.name, self.options.breaker)
        )
        self._plugins[source.name] = runtime
        if invalid is not None:
            self.audit.record(
                "config.invalid", plugin=source.name, error=str(invalid), hint=invalid.hint
            )
            self._fail(runtime, f"{invalid}" + (f"\nhint: {invalid.hint}" if invalid.hint else ""))
        return runtime

    def _policy(self, source: PluginSource) -> Policy:
        """A policy from ``source``'s manifest; refusals add to the plugin's running tally."""
        manifest, running = source.manifest, self._plugins.get(source.name)
        return Policy(
            source.name,
            manifest.permission_set,
            manifest.limits.rate,
            defaults=self.options.default_rates,
            audit=self.audit,
            tally=running.policy.tally if running is not None else None,
        )

    def _settings(self, source: PluginSource) -> dict[str, object]:
        """The plugin's settings, checked against its manifest (raises `ConfigError`)."""
        given = self._settings_override.get(source.name)
        return resolve_settings(
            source.manifest,
            self.options.settings.get(source.name, {}) if given is None else given,
            source=self.options.settings_source if given is None else "the test's settings",
        )

    async def _start_plugin(self, runtime: PluginRuntime) -> None:
        missing = self._failed_dependencies(runtime)
        if missing:
            self._fail(runtime, f"dependency {', '.join(missing)} is not active")
            return
        runtime.state = PluginState.STARTING
        runtime.generation += 1
        self.audit.record("plugin.starting", plugin=runtime.name, version=runtime.source.version)
        refused = await self._migrate(runtime, runtime.source)
        if refused is not None:
            self._fail(runtime, refused)
            return
        try:
            runtime.process, runtime.channel = await self._launch(runtime, runtime.source)
            started = await runtime.control("start", None, timeout_s=self.options.start_timeout_s)
            registrations = self._accept(runtime.name, runtime.policy, started)
        except (PluginctlError, OSError) as exc:
            await self._discard(runtime.process, runtime.channel)
            self._fail(runtime, _failure_text(exc))
            return
        self._subscribe(runtime.name, registrations)
        runtime.registrations = registrations
        self._record_sandbox(runtime.name, started)
        runtime.state = PluginState.ACTIVE
        runtime.started_at = time.monotonic()
        self.audit.record("plugin.active", plugin=runtime.name, pid=runtime.process.pid)
        self.monitor.watch(runtime)

    async def _migrate(self, runtime: PluginRuntime, source: PluginSource) -> str | None:
        """Open the plugin's database, apply its pending migrations; why it cannot start."""
        if runtime.db is None:
            return None
        return await prepare_database(
            runtime.db, source, audit=self.audit, sandbox=self.options.sandbox
        )

    async def _launch(
        self,
        runtime: PluginRuntime,
        source: PluginSource,
        *,
        settings: dict[str, object] | None = None,
        policy: Policy | None = None,
    ) -> tuple[WorkerProcess, Channel]:
        """Start a worker for ``source`` and open its channel; ``runtime`` is not changed.

        ``settings`` and ``policy`` default to the runtime's: a reload passes the new ones.
        """
        assert self._loop is not None
        runtime.data_dir.mkdir(parents=True, exist_ok=True)
        policy = policy or runtime.policy
        session = runtime.db.session(policy) if runtime.db is not None else None
        limits = source.manifest.limits
        spec = WorkerSpec(
            plugin=runtime.name,
            limits=WorkerLimits(
                memory_mb=limits.memory_mb,
                cpu_seconds=limits.cpu_seconds,
                open_files=limits.open_files,
                file_size_mb=limits.file_size_mb,
                processes=limits.processes,
            ),
            sandbox=SandboxPolicy(
                read=[str(source.import_root or source.package_dir)],
                write=[str(runtime.data_dir)],
                enabled=self.options.sandbox,
            ),
            entry_point=source.entry_point,
            import_root=str(source.import_root) if source.import_root else None,
            data_dir=str(runtime.data_dir),
            config=runtime.settings if settings is None else settings,
            call_timeout_s=self._call_timeout(source),
            max_frame_bytes=self.options.max_frame_bytes,
        )
        process = await (self._zygote.fork(spec) if self._zygote else spawn_worker(spec))
        assert runtime.output is not None
        forward_output(process, self._loop, runtime.output)
        try:
            _, channel = await self._loop.create_unix_connection(
                lambda: Channel(
                    runtime.name,
                    role="host",
                    handler=self.services.request_handler(runtime, policy, db=session),
                    on_notify=self.services.notify_handler(runtime),
                    on_close=lambda reason: self._channel_closed(runtime, process, reason, session),
                    on_answered=runtime.answered,
                    map_failure=runtime.failed,
                    before_failing=lambda: self._await_exit(runtime, process),
                    max_frame_bytes=self.options.max_frame_bytes,
                ),
                sock=process.sock,
            )
            await asyncio.wait_for(channel.ready(), self.options.start_timeout_s)
        except BaseException:
            await self._discard(process, None)
            raise
        return process, channel

    def _accept(self, name: str, policy: Policy, started: object) -> Registrations:
        """Check the registrations a worker reports against what its manifest grants."""
        import msgspec

        try:
            registrations = msgspec.convert(started, Registrations)
        except msgspec.ValidationError as exc:
            raise ProtocolViolation(f"{name} reported malformed registrations: {exc}") from None
        if registrations.routes and not policy.grants("routes"):
            self.audit.record("permission.denied", plugin=name, permission="routes")
            registrations = msgspec.structs.replace(registrations, routes=[])
        allowed = []
        for pattern in registrations.events:
            if policy.grants("events:subscribe", pattern):
                allowed.append(pattern)
            else:
                self.audit.record(
                    "permission.denied", plugin=name, permission=f"events:subscribe:{pattern}"
                )
        return msgspec.structs.replace(registrations, events=allowed)

    def _record_sandbox(self, name: str, started: object) -> None:
        """Audit which sandbox layers the worker reports, and warn of any it lacks."""
        report = started.get("sandbox") if isinstance(started, dict) else None
        if not isinstance(report, dict):
            return
        layers, missing = report.get("layers"), report.get("missing")
        if not isinstance(layers, dict) or not isinstance(missing, dict):
            return  # a worker's own words, and not the shape it owes: nothing to record
        self.audit.record("sandbox", plugin=name, layers=layers, missing=missing)
        if missing and self.options.sandbox:
            for layer, why in missing.items():
                logger.warning("plugin %s runs without %s: %s", name, layer, why)

    def _subscribe(self, name: str, registrations: Registrations) -> None:
        self.events.unsubscribe_all(name)
        for pattern in registrations.events:
            self.events.subscribe(name, pattern)

    async def _stop_plugin(self, runtime: PluginRuntime, *, grace_s: float) -> None:
        self.supervisor.cancel(runtime)
        self.monitor.forget(runtime.name)
        if runtime.state is PluginState.ACTIVE:
            runtime.state = PluginState.STOPPING
            with contextlib.suppress(PluginctlError, OSError):
                await runtime.control("stop", timeout_s=grace_s)
        self.events.unsubscribe_all(runtime.name)
        await self._discard(runtime.process, runtime.channel, grace_s=grace_s)
        if runtime.state is PluginState.STOPPING:
            runtime.state = PluginState.RESOLVED
            self.audit.record("plugin.stopped", plugin=runtime.name)

    async def _discard(
        self, process: WorkerProcess | None, channel: Channel | None, *, grace_s: float = 1.0
    ) -> None:
        """Close a worker's channel and end it (SIGTERM, grace, SIGKILL)."""
        if channel is not None:
            channel.close()
        if process is not None:
            await process.stop(grace_s=grace_s)
            assert self._loop is not None
            close_output(process, self._loop)

    def _fail(self, runtime: PluginRuntime, reason: str) -> None:
        runtime.state = PluginState.FAILED
        runtime.last_error = reason
        self.events.unsubscribe_all(runtime.name)
        self.audit.record("plugin.failed", plugin=runtime.name, reason=reason)
        logger.info("plugin %s failed: %s", runtime.name, reason)  # callers report it

    def _publish_host_event(self, record: dict[str, object]) -> None:
        """Publish a lifecycle audit record to plugins as ``host.<event>``, from the host."""
        event = str(record.get("event"))
        loop = self._loop
        if loop is None or self._closing or not event.startswith(_HOST_EVENT_FAMILIES):
            return
        payload = msgspec.json.decode(msgspec.json.encode(record, enc_hook=str))

        async def publish() -> None:
            if not self._closing:
                await self.events.publish("host", f"host.{event}", payload)

        with self._host_events_lock:
            self._host_events_due += 1
        loop.call_soon_threadsafe(self._spawn_host_event, publish())

    def _spawn_host_event(self, coroutine: Coroutine[object, object, None]) -> None:
        with self._host_events_lock:
            self._host_events_due -= 1
        task = self._spawn(coroutine)
        self._host_events.add(task)
        task.add_done_callback(self._host_events.discard)

    async def host_events_published(self) -> None:
        """Wait until every ``host.*`` event recorded so far has been published.

        Host events are published from a task of their own, a little after the
        change they report; a test that records events from some point on waits for
        the earlier ones here first.
        """
        while self._host_events_due or self._host_events:
            await asyncio.sleep(0)
            await asyncio.gather(*list(self._host_events), return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> asyncio.Future[None]:
        """Run ``coroutine`` in the background, held until it ends; its failure is logged."""
        task = asyncio.ensure_future(coroutine)
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        task.add_done_callback(log_failure)
        return task

    async def _cancel_watchers(self) -> None:
        for task in list(self._watchers):
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)

    def _failed_dependencies(self, runtime: PluginRuntime) -> list[str]:
        names = runtime.source.manifest.dependencies
        return [
            name
            for name in names
            if name not in self._plugins or self._plugins[name].state is not PluginState.ACTIVE
        ]

    def _channel_closed(
        self,
        runtime: PluginRuntime,
        process: WorkerProcess,
        reason: BaseException | None,
        session: DatabaseSession | None,
    ) -> None:
        if session is not None:  # what the worker left open is rolled back, never applied
            self._spawn(session.close(f"the worker ended: {reason or 'its channel closed'}"))
        if isinstance(reason, ProtocolViolation):
            process.send_signal(9)
        if runtime.process is not process:
            return  # a worker being retired after a reload, or one that never took over
        if isinstance(reason, ProtocolViolation):
            runtime.exit_reason, runtime.exit_kind = f"dropped: {reason}", "protocol"
        if runtime.state not in (PluginState.ACTIVE, PluginState.STARTING):
            return
        self._spawn(self._worker_ended(runtime, process))

    async def _await_exit(self, runtime: PluginRuntime, process: WorkerProcess) -> None:
        """Wait a moment for a worker's exit status, so failed calls can say how it ended."""
        try:
            ended = await asyncio.wait_for(asyncio.shield(process.exited), _EXIT_WAIT_S)
        except TimeoutError:
            return  # alive, or slow to be reaped: the calls fail without the status
        if runtime.process is process and runtime.exit_reason is None:
            runtime.exit_reason = _explain(runtime, ended)

    async def _worker_ended(self, runtime: PluginRuntime, process: WorkerProcess) -> None:
        ended = await process.exited
        reason = runtime.exit_reason or _explain(runtime, ended)
        kind = runtime.exit_kind or crash_kind(ended.code)
        runtime.exit_reason, runtime.exit_kind = reason, kind
        if runtime.process is process and runtime.state is PluginState.ACTIVE:
            runtime.crashes_by_kind[kind] += 1
            self.audit.record(
                "worker.crashed", plugin=runtime.name, reason=reason, kind=kind, code=ended.code
            )
            self._fail(runtime, f"the worker {reason}")
            self.supervisor.crashed(runtime)

    def _breaker_opened(
        self, runtime: PluginRuntime, key: str | None, error: BaseException
    ) -> None:
        policy = runtime.breaker.policy
        self.audit.record(
            "breaker.opened",
            plugin=runtime.name,
            breaker=key or "plugin",
            reason=str(error),
            open_s=policy.open_s,
        )
        logger.warning(
            "plugin %s: calls to %s paused for %g s after: %s",
            runtime.name,
            key or "the plugin",
            policy.open_s,
            error,
        )

    # -- supervision ------------------------------------------------------------------

    async def _restart_crashed(self, runtime: PluginRuntime) -> bool | None:
        """Start a crashed plugin again in a fresh worker (the `Supervisor`'s ``restart``)."""
        async with runtime.lock:
            return await self._restart_crashed_locked(runtime)

    async def _restart_crashed_locked(self, runtime: PluginRuntime) -> bool | None:
        if (
            self._closing
            or runtime.operator_disabled
            or runtime.state is not PluginState.FAILED
            or self._plugins.get(runtime.name) is not runtime
        ):
            return None  # stopped, disabled, removed or reloaded meanwhile
        runtime.restarts_by_kind[runtime.exit_kind or "unknown"] += 1
        runtime.restarts += 1
        await self._start_afresh(runtime, forget_error=False)
        if cast("PluginState", runtime.state) is PluginState.ACTIVE:  # changed by the start
            return True
        # what the next restart is for: how this start failed, when the worker said
        runtime.exit_kind = runtime.exit_kind or "start_failed"
        return False

    async def enable_plugin(self, name: str) -> PluginRuntime:
        """Start a disabled (or failed) plugin again, with a clean crash record.

        Raises:
            UserError: the host has no plugin ``name``, or it is already running.
        """
        runtime = self._runtime(name)
        async with runtime.lock:
            await self._enable(runtime)
        return runtime

    async def _enable(self, runtime: PluginRuntime) -> None:
        name = runtime.name
        if runtime.state in (PluginState.ACTIVE, PluginState.STARTING):
            raise UserError(
                f"plugin {name!r} is already {runtime.state}",
                hint=f"to let calls paused by its breakers through: pluginctl enable {name}",
            )
        try:
            runtime.settings = self._settings(runtime.source)  # the operator may have fixed them
        except ConfigError as exc:
            raise UserError(f"plugin {name!r} cannot start: {exc}", hint=exc.hint) from None
        self.supervisor.cancel(runtime)
        runtime.reset_breakers()
        if runtime.crashes is not None:
            runtime.crashes.reset()
        runtime.operator_disabled = False
        self.audit.record("plugin.enabled", plugin=name)
        await self._start_afresh(runtime)

    async def _start_afresh(self, runtime: PluginRuntime, *, forget_error: bool = True) -> None:
        """End what is left of ``runtime``'s worker, forget how it ended, start a new one."""
        await self._discard(runtime.process, runtime.channel)
        runtime.process = runtime.channel = None
        runtime.exit_reason = runtime.exit_kind = None
        if forget_error:
            runtime.last_error = None
        await self._start_plugin(runtime)

    async def enable_or_reset(self, name: str) -> None:
        """Start ``name`` again, or, if it is active, close its circuit breakers.

        This is what an operator's "enable" means: make the plugin take its calls.

        Raises:
            UserError: the host has no plugin ``name``, or it is starting.
        """
        runtime = self._plugins.get(name)
        if runtime is not None and runtime.state is PluginState.ACTIVE:
            self.reset_breakers(name)
        else:
            await self.enable_plugin(name)

    def reset_breakers(self, name: str) -> None:
        """Close the circuit breakers of the plugin ``name``: its calls go through again.

        Raises:
            UserError: the host has no plugin ``name``.
        """
        runtime = self._runtime(name)
        runtime.reset_breakers()
        self.audit.record("breaker.reset", plugin=name)

    async def disable_plugin(self, name: str, *, grace_s: float = 2.0) -> None:
        """Stop the plugin ``name`` and keep it stopped until `enable_plugin`.

        Raises:
            UserError: the host has no plugin ``name``.
        """
        runtime = self._runtime(name)
        async with runtime.lock:
            self.supervisor.cancel(runtime)
            await self._stop_plugin(runtime, grace_s=grace_s)
            runtime.state = PluginState.DISABLED
            runtime.operator_disabled = True
            runtime.last_error = "disabled by the operator"
            self.audit.record("plugin.disabled", plugin=name, reason="operator")

    def _runtime(self, name: str) -> PluginRuntime:
        runtime = self._plugins.get(name)
        if runtime is None:
            known = ", ".join(sorted(self._plugins)) or "none"
            raise UserError(
                f"the host runs no plugin named {name!r}",
                hint=f"the plugins it runs: {known} (pluginctl status lists them)",
            )
        return runtime

    # -- what the gateway and the CLI read ----------------------------------------

    def _call_metrics(self) -> dict[str, CallMetrics]:
        return {runtime.name: runtime.calls for runtime in self._plugins.values()}

    def endpoint(self, name: str) -> PluginRuntime | None:
        """The running plugin called ``name``, if any."""
        return self._plugins.get(name)

    @property
    def plugins(self) -> list[PluginRuntime]:
        """Every plugin the host knows, in start order."""
        return list(self._plugins.values())

    def health(self) -> tuple[bool, dict[str, object]]:
        """Healthy when every plugin is active and well (or disabled by the operator).

        The body lists each plugin's state; a degraded one is unhealthy here.
        """
        states = {runtime.name: str(runtime.status) for runtime in self._plugins.values()}
        healthy = all(
            runtime.status is PluginState.ACTIVE or runtime.operator_disabled
            for runtime in self._plugins.values()
        )
        return healthy, {"status": "ok" if healthy else "degraded", "plugins": states}

    def plugin_health(self, name: str) -> tuple[bool, dict[str, object]] | None:
        """One plugin's health (healthy when active and well), or None if there is none."""
        runtime = self._plugins.get(name)
        if runtime is None:
            return None
        status = runtime.status
        return status is PluginState.ACTIVE, {  # public: no reasons, they may name secrets
            "plugin": name,
            "state": str(status),
            "healthy": runtime.health.ok,
            "breaker": runtime.breaker.state,
        }

    def status(self, *, memory: bool = True) -> dict[str, object]:
        """Everything ``pluginctl status`` shows: the host, and each plugin's figures.

        ``memory=False`` leaves out each worker's memory, the costly part.
        """
        import os

        from pluginctl._version import __version__
        from pluginctl.runtime.metrics import summarize

        return {
            "host": {
                "pid": os.getpid(),
                "version": __version__,
                "started_at": self.started_at,
                "uptime_s": round(time.time() - self.started_at, 3),
                "data_dir": str(self.options.data_dir),
            },
            "plugins": [summarize(r, memory=memory) for r in self._plugins.values()],
        }

    def plugin_status(self, name: str) -> dict[str, object] | None:
        """One plugin's entry of `status`, or None if there is none."""
        from pluginctl.runtime.metrics import summarize

        runtime = self._plugins.get(name)
        return None if runtime is None else summarize(runtime)

    def metrics(self) -> CollectorRegistry:
        """The Prometheus registry of this host's metrics (made once)."""
        if self._registry is None:
            from pluginctl.runtime.metrics import registry_for

            self._registry = registry_for(self)
        return self._registry


def _explain(runtime: PluginRuntime, ended: Exit) -> str:
    return explain_exit(
        ended.code, ended.reason, memory_mb=runtime.source.manifest.limits.memory_mb
    )


def _failure_text(exc: BaseException) -> str:
    if isinstance(exc, RemoteError) and exc.details:
        return f"{exc}\n{exc.details}"
    if isinstance(exc, ResolutionError | UserError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
