"""A real host for a plugin's tests, driven from ordinary (synchronous) test code.

`TestHost` runs a `pluginctl.runtime.host.Host` and its HTTP gateway (uvicorn on
127.0.0.1, a free port) on an event loop in a background thread, so test functions
need no async plugin of their own. The host starts once per test session; each test
adds the plugins it needs with fresh data directories (a start from the warm zygote
takes milliseconds) and removes them afterwards.

`TestedPlugin` is one such plugin: call its exports, read its state, see its
errors. `EventRecorder` records the events published while a test runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import msgspec

from pluginctl.errors import UserError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator, Mapping
    from pathlib import Path

    from pluginctl.runtime.discovery import PluginSource
    from pluginctl.runtime.host import Host
    from pluginctl.runtime.launcher import Gateway
    from pluginctl.runtime.plugin_runtime import PluginRuntime

__all__ = ["EventRecorder", "PublishedEvent", "TestHost", "TestedPlugin"]

T = TypeVar("T")

_START_TIMEOUT_S = 30.0


class TestHost:
    """A host with an HTTP gateway, on its own event loop thread.

    Args:
        data_dir: Where plugins keep their data (one directory each).
        database_url: A PostgreSQL URL for the plugins' databases (a schema each, as
            ``pluginctl run --database-url`` does); None keeps each plugin's in a
            SQLite file in its data directory.
    """

    __test__ = False  # not a test class, whatever pytest thinks of the name

    def __init__(self, data_dir: Path, *, database_url: str | None = None) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.url = ""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._host: Host | None = None
        self._gateway: Gateway | None = None

    @property
    def host(self) -> Host:
        """The running `Host` (use it from the host's loop, through `run`)."""
        if self._host is None:
            raise UserError("the test host is not running", hint="call start() first")
        return self._host

    def start(self) -> None:
        """Start the loop thread, the host (its zygote) and the gateway."""
        started: Future[None] = Future()
        self._thread = threading.Thread(
            target=self._main, args=(started,), name="pluginctl-test-host", daemon=True
        )
        self._thread.start()
        started.result(timeout=_START_TIMEOUT_S)

    def stop(self) -> None:
        """Stop the gateway, every plugin, the zygote and the loop thread."""
        if self._loop is None or self._thread is None:
            return
        with contextlib.suppress(RuntimeError):
            self.run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=_START_TIMEOUT_S)
        self._loop = self._thread = None

    def run(self, coroutine: Coroutine[object, object, T], *, timeout_s: float = 60.0) -> T:
        """Run ``coroutine`` on the host's loop and return its result (from any thread)."""
        if self._loop is None:
            coroutine.close()
            raise UserError("the test host is not running", hint="call start() first")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout_s)

    async def arun(self, coroutine: Coroutine[object, object, T]) -> T:
        """`run` for async tests: await it from the test's own event loop."""
        if self._loop is None:
            coroutine.close()
            raise UserError("the test host is not running", hint="call start() first")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coroutine, self._loop))

    def add(
        self,
        source: PluginSource,
        *,
        settings: Mapping[str, object] | None = None,
        fresh_data: bool = True,
    ) -> TestedPlugin:
        """Start ``source`` (with empty data unless ``fresh_data`` is False).

        Empty data is an empty data directory and an empty database: on PostgreSQL
        the plugin's schema is dropped first, so its migrations run again from the
        start.

        Raises:
            UserError: it did not start; the message holds the worker's traceback.
        """
        if fresh_data:
            self._empty(source)
        runtime = self.run(self.host.add_plugin(source, settings=settings))
        tested = TestedPlugin(self, runtime)
        if str(runtime.state) != "active":
            self.remove(source.name)
            raise UserError(
                f"plugin {source.name!r} did not start under the test host:\n{runtime.last_error}",
                hint="the traceback above is the plugin's own; fix it and run the tests again",
            )
        return tested

    def _empty(self, source: PluginSource) -> None:
        data_dir = self.data_dir / "plugins" / source.name
        shutil.rmtree(data_dir, ignore_errors=True)
        manifest = source.manifest
        has_database = manifest.permission_set.allows("db:read") or manifest.migrations
        if has_database:  # as the host decides; on SQLite the file is beside data_dir
            from pluginctl.data.target import DatabaseTarget

            target = DatabaseTarget.for_plugin(
                source.name, data_dir=data_dir, database_url=self.database_url
            )
            target.empty_for_tests()

    def remove(self, name: str) -> None:
        """Stop the plugin ``name`` and forget it."""
        self.run(self.host.remove_plugin(name, grace_s=2.0))

    def record_events(self) -> EventRecorder:
        """Record every event published from now on (until the recorder is closed)."""
        recorder = EventRecorder()
        host = self.host

        async def observe() -> Callable[[], None]:
            await host.host_events_published()  # the ones before now are not recorded
            return host.events.observe(recorder.record)

        async def unobserve(stop: Callable[[], None]) -> None:
            stop()

        stop = self.run(observe())
        recorder.closer = lambda: self.run(unobserve(stop))
        return recorder

    def publish(self, topic: str, payload: object = None, *, publisher: str = "test") -> int:
        """Publish an event as ``publisher``; how many plugins it went to."""
        host = self.host

        async def publish_and_drain() -> int:
            count = await host.events.publish(publisher, topic, payload)
            await host.events.drain()
            return count

        return self.run(publish_and_drain())

    def audit(self) -> list[dict[str, object]]:
        """Every audit record so far."""
        from pluginctl.runtime.audit import read

        return list(read(self.data_dir / "audit.jsonl"))

    # -- the loop thread ------------------------------------------------------

    def _main(self, started: Future[None]) -> None:
        try:
            import uvloop

            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
        except ImportError:
            loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._boot())
        except BaseException as exc:  # noqa: BLE001  # reported to the starting thread
            started.set_exception(exc)
            loop.close()
            self._loop = None
            return
        started.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _boot(self) -> None:
        from pluginctl.runtime.host import Host, HostOptions
        from pluginctl.runtime.launcher import bind, start_gateway

        options = HostOptions(data_dir=self.data_dir, database_url=self.database_url)
        self._host = Host([], options)
        await self._host.start()
        self._gateway = await start_gateway(self._host, bind("127.0.0.1", 0))
        self.url = self._gateway.url

    async def _shutdown(self) -> None:
        if self._gateway is not None:
            await self._gateway.stop()
            self._gateway.sock.close()
        if self._host is not None:
            await self._host.stop()


@dataclass(eq=False)
class TestedPlugin:
    """A plugin running under a `TestHost`."""

    __test__ = False

    test_host: TestHost
    runtime: PluginRuntime = field(repr=False)

    @property
    def name(self) -> str:
        return self.runtime.name

    @property
    def state(self) -> str:
        """``active``, ``failed``, ... (see `pluginctl.runtime.plugin_runtime.PluginState`)."""
        return str(self.runtime.state)

    @property
    def url(self) -> str:
        """The base URL of its routes: ``http://127.0.0.1:PORT/plugins/NAME``."""
        return f"{self.test_host.url}/plugins/{self.name}"

    @property
    def data_dir(self) -> Path:
        return self.runtime.data_dir

    @property
    def pid(self) -> int | None:
        return self.runtime.process.pid if self.runtime.process else None

    @property
    def permissions(self) -> list[str]:
        """What it is granted in this test (after any ``grant``/``revoke``)."""
        return list(self.runtime.source.manifest.permissions)

    def call(self, export: str, *args: object, **kwargs: object) -> object:
        """Call one of its exports through the host, as another plugin would."""
        return self.test_host.run(self._call(export, args, kwargs))

    async def acall(self, export: str, *args: object, **kwargs: object) -> object:
        """`call` for async tests."""
        return await self.test_host.arun(self._call(export, args, kwargs))

    def panel(self, panel_id: str, query: Mapping[str, str] | str = "") -> str:
        """Render its admin panel ``panel_id`` as the admin UI does; the panel's HTML.

        ``query`` is what the panel's own GET form would send: ``{"q": "milk"}`` or
        the query string ``"q=milk"``.

        Raises:
            UserError: the panel answered something other than HTML text, or too much.
        """
        from urllib.parse import urlencode

        text = query if isinstance(query, str) else urlencode(query)

        async def render() -> str:  # on the host's loop, where the channel lives
            return await self.runtime.render_panel(panel_id, text)

        return self.test_host.run(render())

    def health(self) -> object:
        """Call its ``health`` hook as the host's checks do; its answer (None without one)."""

        async def check() -> object:
            return await self.runtime.control("hook", "health")

        return self.test_host.run(check())

    def reload(self, source: PluginSource | None = None) -> None:
        """Swap in its code as it is on disk now (or ``source``), as ``pluginctl dev`` does.

        Raises:
            UserError: the new version was refused (the old one keeps running).
        """
        result = self.test_host.run(self.test_host.host.reload_plugin(self.name, source))
        if not result.ok:
            raise UserError(f"plugin {self.name!r} did not reload:\n{result.error}")

    async def _call(
        self, export: str, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> object:
        return await self.runtime.call("export", export, list(args), kwargs)


class PublishedEvent(msgspec.Struct, frozen=True):
    """One event as published: by whom, on which topic, with what."""

    publisher: str
    topic: str
    payload: object


class EventRecorder:
    """The events published while a test runs, in order."""

    def __init__(self) -> None:
        self.events: list[PublishedEvent] = []
        self._changed = threading.Condition()
        self.closer: Callable[[], None] | None = None

    def close(self) -> None:
        """Stop recording."""
        closer, self.closer = self.closer, None
        if closer is not None:
            closer()

    def record(self, publisher: str, topic: str, payload: object) -> None:
        with self._changed:
            self.events.append(PublishedEvent(publisher, topic, payload))
            self._changed.notify_all()

    def topics(self) -> list[str]:
        return [event.topic for event in self.events]

    def of(self, topic: str) -> list[PublishedEvent]:
        """The events on ``topic`` (exact, or a pattern with ``*``/``**``)."""
        from pluginctl.permissions import topic_matches

        return [event for event in self.events if topic_matches(topic, event.topic)]

    def wait_for(self, topic: str, *, timeout_s: float = 5.0) -> PublishedEvent:
        """The first event on ``topic``, waiting up to ``timeout_s`` for it.

        Raises:
            AssertionError: none came; the message lists what did.
        """
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not (found := self.of(topic)):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"no event on {topic!r} within {timeout_s:g} s; published: {self.topics()}"
                    )
                self._changed.wait(remaining)
        return found[0]

    def __len__(self) -> int:
        return len(self.events)

    def __iter__(self) -> Iterator[PublishedEvent]:
        return iter(list(self.events))
