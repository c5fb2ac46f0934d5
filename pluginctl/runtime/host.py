"""The host: starts every plugin in its own worker, serves the host API, stops them all.

The host is one asyncio process. It never forks itself: workers come from the
`Zygote` (or `spawn_worker`). Each worker's calls to the host API are checked by the
plugin's `Policy` before a service runs them; each plugin's failure stays its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pluginctl.errors import (
    ConfigError,
    PluginctlError,
    ProtocolViolation,
    RemoteError,
    ResolutionError,
    UserError,
    WorkerCrashed,
)
from pluginctl.plugin import Registrations
from pluginctl.runtime.audit import AuditLog
from pluginctl.runtime.channel import Channel
from pluginctl.runtime.plugin_runtime import PluginRuntime, PluginState
from pluginctl.runtime.policy import Policy
from pluginctl.runtime.processes import Zygote, spawn_worker
from pluginctl.runtime.protocol import DEFAULT_MAX_FRAME_BYTES, WorkerSpec
from pluginctl.services.events import EventBus
from pluginctl.services.kv import KeyValueStore
from pluginctl.services.settings import resolve_settings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

    from pluginctl.manifest import RateLimit
    from pluginctl.runtime.discovery import PluginSource
    from pluginctl.runtime.processes import WorkerProcess

__all__ = ["Host", "HostOptions"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HostOptions:
    """How the host runs plugins; the defaults suit one machine.

    Attributes:
        data_dir: Where plugin data, the key-value stores and the audit log live.
        call_timeout_s: The deadline of every call into a plugin; None keeps each
            plugin's own ``limits.call_timeout_s``.
        start_timeout_s: How long a plugin may take to import and activate.
        start_method: ``fork`` (from the zygote) or ``spawn`` (a fresh interpreter).
        max_frame_bytes: The largest RPC frame accepted from a worker.
        default_rates: Rate limits for plugins whose manifests set none.
        settings: The operator's settings per plugin name.
        settings_source: The file those settings came from, for error messages.
    """

    data_dir: Path
    call_timeout_s: float | None = None
    start_timeout_s: float = 30.0
    start_method: str = "fork"
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    default_rates: Mapping[str, RateLimit] = field(default_factory=dict)
    settings: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    settings_source: str = "pluginctl.toml"


class Host:
    """Runs resolved plugins (dependencies first) and serves their calls to the host API."""

    def __init__(self, plugins: Sequence[PluginSource], options: HostOptions) -> None:
        self.options = options
        self.audit = AuditLog(options.data_dir / "audit.jsonl")
        self.events = EventBus(self._deliver_event, on_error=self._event_failed)
        self._order = list(plugins)
        self._plugins: dict[str, PluginRuntime] = {}
        self._zygote: Zygote | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._watchers: set[asyncio.Future[None]] = set()

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        """Start every plugin in order; a plugin that fails leaves the others running."""
        self._loop = asyncio.get_running_loop()
        if self.options.start_method == "fork":
            self._zygote = Zygote()
            await self._zygote.start()
        for source in self._order:
            runtime = self._prepare(source)
            if runtime.state is not PluginState.FAILED:
                await self._start_plugin(runtime)

    async def stop(self, *, grace_s: float = 2.0) -> None:
        """Stop plugins in reverse start order, then the zygote."""
        for runtime in reversed(list(self._plugins.values())):
            await self._stop_plugin(runtime, grace_s=grace_s)
        if self._zygote is not None:
            await self._zygote.stop(grace_s=grace_s)
        await self.events.aclose()
        for runtime in self._plugins.values():
            runtime.kv.close()
        self.audit.close()

    async def add_plugin(self, source: PluginSource) -> PluginRuntime:
        """Start one more plugin while the host runs; its state says whether it started.

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
        runtime = self._prepare(source)
        if runtime.state is not PluginState.FAILED:
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
        self._order = [source for source in self._order if source.name != name]
        try:
            await self._stop_plugin(runtime, grace_s=grace_s)
        finally:
            runtime.kv.close()

    def _prepare(self, source: PluginSource) -> PluginRuntime:
        manifest = source.manifest
        data_dir = self.options.data_dir / "plugins" / source.name
        invalid: ConfigError | None = None
        try:
            settings = resolve_settings(
                manifest,
                self.options.settings.get(source.name, {}),
                source=self.options.settings_source,
            )
        except ConfigError as exc:
            invalid, settings = exc, {}
        runtime = PluginRuntime(
            source=source,
            data_dir=data_dir,
            settings=settings,
            policy=Policy(
                source.name,
                manifest.permission_set,
                manifest.limits.rate,
                defaults=self.options.default_rates,
                audit=self.audit,
            ),
            kv=KeyValueStore.open(data_dir / "kv.sqlite3"),
            call_timeout_s=self.options.call_timeout_s or manifest.limits.call_timeout_s,
        )
        self._plugins[source.name] = runtime
        if invalid is not None:
            self.audit.record(
                "config.invalid", plugin=source.name, error=str(invalid), hint=invalid.hint
            )
            self._fail(runtime, f"{invalid}" + (f"\nhint: {invalid.hint}" if invalid.hint else ""))
        return runtime

    async def _start_plugin(self, runtime: PluginRuntime) -> None:
        missing = self._failed_dependencies(runtime)
        if missing:
            self._fail(runtime, f"dependency {', '.join(missing)} is not active")
            return
        runtime.state = PluginState.STARTING
        runtime.generation += 1
        self.audit.record("plugin.starting", plugin=runtime.name, version=runtime.source.version)
        try:
            await self._launch(runtime)
            started = await runtime.call("start", timeout_s=self.options.start_timeout_s)
        except (PluginctlError, OSError) as exc:
            await self._discard_worker(runtime)
            self._fail(runtime, _failure_text(exc))
            return
        runtime.registrations = self._accept(runtime, started)
        runtime.state = PluginState.ACTIVE
        runtime.started_at = time.monotonic()
        self.audit.record(
            "plugin.active", plugin=runtime.name, pid=runtime.process and runtime.process.pid
        )

    async def _launch(self, runtime: PluginRuntime) -> None:
        assert self._loop is not None
        runtime.data_dir.mkdir(parents=True, exist_ok=True)
        spec = WorkerSpec(
            plugin=runtime.name,
            entry_point=runtime.source.entry_point,
            import_root=str(runtime.source.import_root) if runtime.source.import_root else None,
            data_dir=str(runtime.data_dir),
            config=runtime.settings,
            call_timeout_s=runtime.call_timeout_s,
            max_frame_bytes=self.options.max_frame_bytes,
        )
        process = await (self._zygote.fork(spec) if self._zygote else spawn_worker(spec))
        runtime.process = process
        runtime.forward_output(self._loop, logging.getLogger(f"pluginctl.plugin.{runtime.name}"))
        _, channel = await self._loop.create_unix_connection(
            lambda: Channel(
                runtime.name,
                role="host",
                handler=self._api_handler(runtime),
                on_notify=self._notify_handler(runtime),
                on_close=lambda reason: self._channel_closed(runtime, process, reason),
                map_failure=runtime.failed,
                max_frame_bytes=self.options.max_frame_bytes,
            ),
            sock=process.sock,
        )
        runtime.channel = channel
        await asyncio.wait_for(channel.ready(), self.options.start_timeout_s)

    def _accept(self, runtime: PluginRuntime, started: object) -> Registrations:
        """Check the registrations a worker reports against what its manifest grants."""
        import msgspec

        try:
            registrations = msgspec.convert(started, Registrations)
        except msgspec.ValidationError as exc:
            raise ProtocolViolation(
                f"{runtime.name} reported malformed registrations: {exc}"
            ) from None
        policy = runtime.policy
        if registrations.routes and not policy.grants("routes"):
            self.audit.record("permission.denied", plugin=runtime.name, permission="routes")
            registrations = msgspec.structs.replace(registrations, routes=[])
        for pattern in registrations.events:
            if policy.grants("events:subscribe", pattern):
                self.events.subscribe(runtime.name, pattern)
            else:
                self.audit.record(
                    "permission.denied",
                    plugin=runtime.name,
                    permission=f"events:subscribe:{pattern}",
                )
        return registrations

    async def _stop_plugin(self, runtime: PluginRuntime, *, grace_s: float) -> None:
        if runtime.state is PluginState.ACTIVE:
            runtime.state = PluginState.STOPPING
            with contextlib.suppress(PluginctlError, OSError):
                await runtime.call("stop", timeout_s=grace_s)
        self.events.unsubscribe_all(runtime.name)
        await self._discard_worker(runtime, grace_s=grace_s)
        if runtime.state is PluginState.STOPPING:
            runtime.state = PluginState.RESOLVED
            self.audit.record("plugin.stopped", plugin=runtime.name)

    async def _discard_worker(self, runtime: PluginRuntime, *, grace_s: float = 1.0) -> None:
        channel, process = runtime.channel, runtime.process
        if channel is not None:
            channel.close()
        if process is not None:
            await process.stop(grace_s=grace_s)
            assert self._loop is not None
            runtime.close_output(self._loop)

    def _fail(self, runtime: PluginRuntime, reason: str) -> None:
        runtime.state = PluginState.FAILED
        runtime.last_error = reason
        self.events.unsubscribe_all(runtime.name)
        self.audit.record("plugin.failed", plugin=runtime.name, reason=reason)
        logger.info("plugin %s failed: %s", runtime.name, reason)  # callers report it

    def _failed_dependencies(self, runtime: PluginRuntime) -> list[str]:
        names = runtime.source.manifest.dependencies
        return [
            name
            for name in names
            if name not in self._plugins or self._plugins[name].state is not PluginState.ACTIVE
        ]

    def _channel_closed(
        self, runtime: PluginRuntime, process: WorkerProcess, reason: BaseException | None
    ) -> None:
        if isinstance(reason, ProtocolViolation):
            process.send_signal(9)
            runtime.exit_reason = f"dropped: {reason}"
        if runtime.state not in (PluginState.ACTIVE, PluginState.STARTING):
            return
        task = asyncio.ensure_future(self._worker_ended(runtime, process))
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _worker_ended(self, runtime: PluginRuntime, process: WorkerProcess) -> None:
        ended = await process.exited
        reason = runtime.exit_reason or ended.reason
        runtime.exit_reason = reason
        if runtime.process is process and runtime.state is PluginState.ACTIVE:
            self.audit.record("worker.crashed", plugin=runtime.name, reason=reason, code=ended.code)
            self._fail(runtime, f"the worker {reason}")

    # -- what the gateway and the CLI read ----------------------------------------

    def endpoint(self, name: str) -> PluginRuntime | None:
        """The running plugin called ``name``, if any."""
        return self._plugins.get(name)

    @property
    def plugins(self) -> list[PluginRuntime]:
        """Every plugin the host knows, in start order."""
        return list(self._plugins.values())

    def health(self) -> tuple[bool, dict[str, object]]:
        """Healthy when every plugin is active; the body lists each plugin's state."""
        states = {runtime.name: str(runtime.state) for runtime in self._plugins.values()}
        healthy = all(state == PluginState.ACTIVE for state in states.values())
        return healthy, {"status": "ok" if healthy else "degraded", "plugins": states}

    # -- the host API, as workers call it -----------------------------------------

    def _api_handler(self, runtime: PluginRuntime):  # type: ignore[no-untyped-def]  # a closure
        policy, kv, name = runtime.policy, runtime.kv, runtime.name

        def handle(method: str, args: list[object]) -> object:
            if method.startswith("kv."):
                policy.check("kv", family="kv")
                return _kv_call(kv, method, args)
            if method in ("events.publish", "events.request"):
                topic = str(args[0])
                policy.check("events:publish", topic, family="events")
                if method == "events.publish":
                    return self.events.publish(name, topic, args[1])
                return self.events.request(name, topic, args[1], timeout_s=float(str(args[2])))
            if method == "plugins.call":
                target, export, call_args, call_kwargs = args
                policy.check("plugins:call", str(target), family="plugins")
                return self._call_export(str(target), str(export), call_args, call_kwargs)
            raise LookupError(f"the host API has no method {method!r}")

        return handle

    def _notify_handler(self, runtime: PluginRuntime):  # type: ignore[no-untyped-def]  # a closure
        log = logging.getLogger(f"pluginctl.plugin.{runtime.name}")

        def handle(method: str, args: list[object]) -> None:
            if method == "log" and len(args) == 3:
                level, message, fields = args
                number = logging.getLevelName(str(level).upper())
                log.log(
                    number if isinstance(number, int) else logging.INFO,
                    "%s %s",
                    message,
                    fields or "",
                )

        return handle

    async def _call_export(self, target: str, export: str, args: object, kwargs: object) -> object:
        runtime = self._plugins.get(target)
        if runtime is None or runtime.state is not PluginState.ACTIVE:
            raise UserError(
                f"plugin {target!r} is not running",
                hint="declare it in dependencies and make sure it starts: pluginctl list",
            )
        if runtime.registrations is None or export not in runtime.registrations.exports:
            raise UserError(f"plugin {target!r} has no export {export!r}")
        runtime.policy.limit("calls")
        return await runtime.call("export", export, args, kwargs)

    async def _deliver_event(
        self, subscriber: str, topic: str, publisher: str, payload: object
    ) -> object:
        runtime = self._plugins.get(subscriber)
        if runtime is None or runtime.state is not PluginState.ACTIVE:
            raise WorkerCrashed(subscriber, "not active")
        return await runtime.call("event", topic, publisher, payload)

    def _event_failed(self, subscriber: str, topic: str, exc: BaseException) -> None:
        logger.warning("plugin %s failed on event %s: %s", subscriber, topic, exc)


def _kv_call(kv: KeyValueStore, method: str, args: list[object]) -> object:
    if method == "kv.get":
        return kv.get(str(args[0]), args[1] if len(args) > 1 else None)
    if method == "kv.set":
        ttl = args[2] if len(args) > 2 else None
        kv.set(str(args[0]), args[1], ttl_s=float(str(ttl)) if ttl is not None else None)
        return None
    if method == "kv.delete":
        return kv.delete(str(args[0]))
    if method == "kv.keys":
        return kv.keys(str(args[0]) if args else "")
    if method == "kv.incr":
        return kv.incr(str(args[0]), int(str(args[1])) if len(args) > 1 else 1)
    raise LookupError(f"the host API has no method {method!r}")


def _failure_text(exc: BaseException) -> str:
    if isinstance(exc, RemoteError) and exc.details:
        return f"{exc}\n{exc.details}"
    if isinstance(exc, ResolutionError | UserError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
