"""The host API as plugin code sees it: ``api.kv``, ``api.db``, ``api.events``, ...

Every method crosses the RPC boundary to the host, which checks the plugin's
permissions and rate limits before doing anything. Async handlers get `HostApi`
(``await api.kv.get("k")``); sync handlers run in a thread and get `SyncHostApi`,
whose methods block (``api.kv.get("k")``).
"""

from __future__ import annotations

import asyncio
from types import MappingProxyType
from typing import TYPE_CHECKING

from pluginctl.runtime.database_api import Database, SyncDatabase

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

__all__ = ["HostApi", "SyncHostApi"]


class _Section:
    def __init__(self, call: Callable[..., Awaitable[object]]) -> None:
        self._call = call


class KeyValue(_Section):
    """The plugin's own key-value store, persisted by the host (permission ``kv``)."""

    async def get(self, key: str, default: object = None) -> object:
        """The value of ``key``, or ``default`` when it is missing or expired."""
        return await self._call("kv.get", key, default)

    async def set(self, key: str, value: object, *, ttl_s: float | None = None) -> None:
        """Store ``value`` (any msgpack-able data), expiring after ``ttl_s`` if given."""
        await self._call("kv.set", key, value, ttl_s)

    async def delete(self, key: str) -> bool:
        """Remove ``key``; whether it was there."""
        return bool(await self._call("kv.delete", key))

    async def keys(self, prefix: str = "") -> list[str]:
        """The keys starting with ``prefix``."""
        found = await self._call("kv.keys", prefix)
        return [str(key) for key in found] if isinstance(found, list) else []

    async def incr(self, key: str, by: int = 1) -> int:
        """Add ``by`` to the integer at ``key`` (0 when missing) and return the new value."""
        result = await self._call("kv.incr", key, by)
        return int(result) if isinstance(result, int) else 0


class Events(_Section):
    """Publish and request across plugins (permissions ``events:publish:<topic>``)."""

    async def publish(self, topic: str, payload: object = None) -> int:
        """Deliver ``payload`` to every subscriber of ``topic``; returns how many there were."""
        result = await self._call("events.publish", topic, payload)
        return int(result) if isinstance(result, int) else 0

    async def request(
        self, topic: str, payload: object = None, *, timeout_s: float = 5.0
    ) -> object:
        """Ask the subscribers of ``topic`` and return the first reply."""
        return await self._call("events.request", topic, payload, timeout_s)


class Plugins(_Section):
    """Call other plugins' exports (permission ``plugins:call:<plugin>``)."""

    async def call(self, plugin: str, export: str, *args: object, **kwargs: object) -> object:
        """Call ``export`` of ``plugin`` with the arguments; returns its result."""
        return await self._call("plugins.call", plugin, export, list(args), kwargs)


class Log:
    """Structured logs, forwarded to the host tagged with the plugin's name."""

    def __init__(self, send: Callable[[str, str, dict[str, object]], None]) -> None:
        self._send = send

    def debug(self, message: str, **fields: object) -> None:
        self._send("debug", message, fields)

    def info(self, message: str, **fields: object) -> None:
        self._send("info", message, fields)

    def warning(self, message: str, **fields: object) -> None:
        self._send("warning", message, fields)

    def error(self, message: str, **fields: object) -> None:
        self._send("error", message, fields)


class HostApi:
    """The ``api`` an async handler receives.

    Attributes:
        plugin: This plugin's name.
        config: Its settings, validated by the host against plugin.toml (read-only).
        kv: `KeyValue`. db: `pluginctl.runtime.database_api.Database`.
        events: `Events`. plugins: `Plugins`. log: `Log`.
    """

    def __init__(
        self,
        plugin: str,
        *,
        call: Callable[..., Awaitable[object]],
        notify: Callable[..., None],
        config: Mapping[str, object],
    ) -> None:
        self.plugin = plugin
        self.config: Mapping[str, object] = MappingProxyType(dict(config))
        self.kv = KeyValue(call)
        self.db = Database(call)
        self.events = Events(call)
        self.plugins = Plugins(call)
        self.log = Log(lambda level, message, fields: notify("log", level, message, fields))


class _Blocking:
    """Wraps an async section so each method blocks the calling thread instead."""

    def __init__(self, section: object, loop: asyncio.AbstractEventLoop) -> None:
        self._section = section
        self._loop = loop

    def __getattr__(self, name: str) -> Callable[..., object]:
        method = getattr(self._section, name)

        def blocking(*args: object, **kwargs: object) -> object:
            future = asyncio.run_coroutine_threadsafe(method(*args, **kwargs), self._loop)
            return future.result()

        return blocking


class SyncHostApi:
    """The ``api`` a sync handler receives: the same methods, blocking."""

    def __init__(self, api: HostApi, loop: asyncio.AbstractEventLoop) -> None:
        self.plugin = api.plugin
        self.config = api.config
        self.kv = _Blocking(api.kv, loop)
        self.db = SyncDatabase(api.db, loop)
        self.events = _Blocking(api.events, loop)
        self.plugins = _Blocking(api.plugins, loop)
        self.log = api.log
