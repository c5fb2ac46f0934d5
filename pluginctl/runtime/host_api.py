"""The host API as workers call it: each request checked by the plugin's policy, then served.

`HostServices` builds, for each plugin's channel, the handler of the requests its
worker sends (``kv.*``, ``db.*``, ``events.*``, ``plugins.call``) and of its notifications
(``log``, within the plugin's output budget; ``sandbox.denied``, counted and audited by
`RefusalLog`). Every request passes the plugin's `Policy` (permission, then rate limit)
before a service runs it; a refusal raises inside the plugin, typed. It also owns the
`EventBus` that carries events between plugins, delivering each to its subscribers'
workers.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from pluginctl.errors import UserError, WorkerCrashed
from pluginctl.runtime.plugin_runtime import PluginState
from pluginctl.runtime.refusals import RefusalLog
from pluginctl.services.events import EventBus

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pluginctl.runtime.audit import AuditLog
    from pluginctl.runtime.plugin_runtime import PluginRuntime
    from pluginctl.runtime.policy import Policy
    from pluginctl.services.db import DatabaseSession
    from pluginctl.services.kv import KeyValueStore

__all__ = ["HostServices"]

logger = logging.getLogger(__name__)


class HostServices:
    """The services behind ``api``, shared by every plugin of one host.

    Args:
        plugins: The host's plugins by name (read, never changed here): the targets
            of ``plugins.call`` and the subscribers of events.
        audit: Where what the sandbox refused plugins is recorded.
    """

    def __init__(self, plugins: Mapping[str, PluginRuntime], *, audit: AuditLog) -> None:
        self._plugins = plugins
        self.events = EventBus(self._deliver_event, on_error=self._event_failed)
        self.refusals = RefusalLog(audit)

    def request_handler(
        self, runtime: PluginRuntime, policy: Policy, *, db: DatabaseSession | None = None
    ) -> Callable[[str, list[object]], object]:
        """The handler of the requests ``runtime``'s worker sends, checked by ``policy``.

        ``db`` serves its ``db.*`` requests: the worker's session on the plugin's database.
        """
        kv, name, events = runtime.kv, runtime.name, self.events

        def handle(method: str, args: list[object]) -> object:
            if method.startswith("db."):
                if db is None:  # no database: it holds no db permission
                    policy.check("db:read", family="db")
                    raise LookupError("the plugin has no database")
                return db.handle(method, args)
            if method.startswith("kv."):
                policy.check("kv", family="kv")
                return _kv_call(kv, method, args)
            if method in ("events.publish", "events.request"):
                topic = str(args[0])
                policy.check("events:publish", topic, family="events")
                if method == "events.publish":
                    return events.publish(name, topic, args[1])
                return events.request(name, topic, args[1], timeout_s=float(str(args[2])))
            if method == "plugins.call":
                target, export, call_args, call_kwargs = args
                policy.check("plugins:call", str(target), family="plugins")
                return self._call_export(str(target), str(export), call_args, call_kwargs)
            raise LookupError(f"the host API has no method {method!r}")

        return handle

    def notify_handler(self, runtime: PluginRuntime) -> Callable[[str, list[object]], None]:
        """The handler of ``runtime``'s notifications: its log lines, the sandbox's refusals."""
        log = logging.getLogger(f"pluginctl.plugin.{runtime.name}")
        refusals = self.refusals

        def handle(method: str, args: list[object]) -> None:
            if method == "sandbox.denied":
                counted = refusals.record(runtime.name, args)
                if counted is not None:
                    runtime.sandbox_denied[counted[0]] += counted[1]
            elif method == "log" and len(args) == 3:
                if runtime.output is not None and not runtime.output.admit():
                    return
                level, message, fields = args
                if runtime.output is not None:
                    text = f"{message} {fields or ''}".rstrip()
                    runtime.output.remember(str(level).lower(), text)
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
        return await runtime.call("event", topic, publisher, payload, key=runtime.event_key(topic))

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
