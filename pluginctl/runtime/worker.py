"""A plugin's worker process: load the plugin, then answer the host's calls.

The worker starts from the zygote (a fork) or, where fork is unavailable, as
``python -m pluginctl.runtime.worker SPEC_JSON FD``. Either way it receives a
connected socket, says hello, and waits for the host's ``start`` call, which imports
the plugin, runs ``load_state`` and ``on_activate``, and returns the registrations.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import os
import signal
import socket
import sys
import threading
import traceback
from typing import TYPE_CHECKING, cast

import msgspec

from pluginctl.errors import UserError
from pluginctl.http import Request, to_http_response
from pluginctl.plugin import Plugin
from pluginctl.runtime.api import HostApi, SyncHostApi
from pluginctl.runtime.channel import Channel
from pluginctl.runtime.deadlines import DeadlineEnforcer
from pluginctl.runtime.limits import OUT_OF_MEMORY_EXIT
from pluginctl.runtime.protocol import HttpRequest, WorkerSpec

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from pluginctl.plugin import Registration
    from pluginctl.runtime.refusals import RefusalWatch

__all__ = ["Event", "Worker", "run_standby", "run_worker"]

_MAX_ASSIGNMENT = 1024 * 1024  # as the zygote's largest fork request


class Event(msgspec.Struct, frozen=True):
    """What an event handler receives: the topic, the payload and who published it."""

    topic: str
    payload: object
    publisher: str


class Worker:
    """The plugin side of the channel: dispatches the host's calls to the plugin."""

    def __init__(self, spec: WorkerSpec, loop: asyncio.AbstractEventLoop) -> None:
        self.spec = spec
        self._loop = loop
        self._loop_thread = threading.get_ident()
        self.channel: Channel | None = None
        self.plugin: Plugin | None = None
        self.api: HostApi | None = None
        self._sync_api: SyncHostApi | None = None
        self._actions = self._build_actions()
        self._tables: dict[str, dict[str, Registration]] = {}
        self._events: list[Registration] = []
        self.enforcer: DeadlineEnforcer | None = None
        self._is_async: dict[Callable[..., object], bool] = {}
        self._refusals: RefusalWatch | None = None

    def attach(self, channel: Channel) -> None:
        self.channel = channel
        self.api = HostApi(
            self.spec.plugin,
            call=self._call_host,
            notify=self._notify_host,
            config=self.spec.config,
        )
        self._sync_api = SyncHostApi(self.api, self._loop)

    def _call_host(self, method: str, *args: object) -> asyncio.Future[object]:
        assert self.channel is not None
        return self.channel.call(method, *args)

    def _notify_host(self, method: str, *args: object) -> None:
        assert self.channel is not None
        if threading.get_ident() == self._loop_thread:
            self.channel.notify(method, *args)
        else:
            self._loop.call_soon_threadsafe(self.channel.notify, method, *args)

    # -- requests from the host ---------------------------------------------------

    def handle(self, method: str, args: list[object]) -> object:
        """Dispatch one request from the host."""
        action = self._actions.get(method)
        if action is None:
            raise LookupError(f"the worker has no method {method!r}")
        return action(args)

    def _build_actions(self) -> dict[str, Callable[[list[object]], object]]:
        return {
            "route": self._route,
            "event": self._event,
            "export": self._export,
            "hook": lambda args: self._hook(str(args[0]), args[1:]),
            "panel": self._panel,
            "start": lambda args: self._start(args[0] if args else None),
            "stop": lambda _: self._stop(),
        }

    def _event(self, args: list[object]) -> object:
        """Run every handler whose pattern matches, in the order they were registered.

        The reply (to ``api.events.request``) is the first result that is not None.
        """
        from pluginctl.permissions import topic_matches

        topic, publisher, payload = args
        event = Event(str(topic), payload, str(publisher))
        self._table("export")  # raises when not started
        handlers = [item for item in self._events if topic_matches(item.key, event.topic)]
        if not handlers:
            raise LookupError(f"{self.spec.plugin} has no event handler for {event.topic!r}")
        if len(handlers) == 1:
            return self._run(handlers[0], event, api_last=True)
        return _first_reply([self._run(item, event, api_last=True) for item in handlers])

    def _export(self, args: list[object]) -> object:
        name, call_args, call_kwargs = args
        if not isinstance(call_args, list) or not isinstance(call_kwargs, dict):
            raise TypeError("export calls carry a list of arguments and a dict of keywords")
        item = self._plugin_item("export", str(name))
        return self._invoke(item.handler, *call_args, api_kw=True, **call_kwargs)

    def _route(self, args: list[object]) -> object:
        index, wire = args
        route = self._table("route")[str(index)]
        request = Request(msgspec.convert(wire, HttpRequest))
        result = self._invoke(route.handler, request, api_pos=True)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            return _then(result, to_http_response)
        return to_http_response(result)

    def _panel(self, args: list[object]) -> object:
        """Render an admin panel: ``handler(request, api)`` answers its HTML as a string.

        The request is a GET of the panel with the query string the admin UI passed
        on (a panel's own filter form), and no headers or body.
        """
        panel_id, query_string = args
        item = self._plugin_item("panel", str(panel_id))
        wire = HttpRequest("GET", "/", {}, str(query_string), [], b"")
        return self._invoke(item.handler, Request(wire), api_pos=True)

    def _hook(self, name: str, extra: list[object]) -> object:
        hook = self._table("hook").get(name)
        if hook is None:
            return None
        return self._invoke(hook.handler, *extra, api_pos=True)

    def _start(self, state: object) -> object:
        """Apply the limits, import the plugin, hand it ``state`` (a reload's), activate it."""
        from pluginctl.runtime.limits import apply_limits

        applied = apply_limits(self.spec.limits)
        if self.api is not None:
            for name, why in applied.skipped.items():
                self.api.log.warning(f"limits.{name} is not applied: {why}", limit=name)
        sandboxed = self._sandbox()
        self._watch_refusals(sandboxed)
        plugin = self._import()
        registrations = msgspec.to_builtins(plugin.registrations())
        registrations["sandbox"] = sandboxed
        load = plugin.hooks.get("load_state")
        activate = plugin.hooks.get("on_activate")
        if (load is None or state is None) and activate is None:
            return registrations
        return self._activate(state, load, activate, registrations)

    async def _activate(
        self,
        state: object,
        load: Registration | None,
        activate: Registration | None,
        registrations: object,
    ) -> object:
        if load is not None and state is not None:
            await _settle(self._invoke(load.handler, state, api_pos=True))
        if activate is not None:
            await _settle(self._invoke(activate.handler, api_pos=True))
        return registrations

    def _sandbox(self) -> dict[str, object]:
        """Confine this worker before the plugin's code runs; what was applied, and not."""
        from pluginctl.runtime.sandbox import SandboxPolicy, apply_sandbox, default_read_paths

        policy = self.spec.sandbox
        if policy.enabled:
            import tempfile
            from pathlib import Path

            scratch = Path(self.spec.data_dir) / "tmp"
            scratch.mkdir(parents=True, exist_ok=True)
            os.environ["TMPDIR"] = str(scratch)  # tempfile stays inside the data directory
            tempfile.tempdir = str(scratch)
            policy = SandboxPolicy(
                read=default_read_paths(list(policy.read)), write=list(policy.write), enabled=True
            )
        return apply_sandbox(policy).to_dict()

    def _watch_refusals(self, sandboxed: dict[str, object]) -> None:
        """Report to the host what the sandbox refuses the plugin, from now on."""
        from pluginctl.runtime.refusals import RefusalWatch

        layers = sandboxed.get("layers")
        seccomp = isinstance(layers, dict) and "seccomp" in layers
        landlock = isinstance(layers, dict) and "landlock" in layers
        if not seccomp and not landlock:
            return
        loop = self._loop
        watch = RefusalWatch(
            lambda *report: self._notify_host("sandbox.denied", *report),
            schedule=lambda delay_s, then: loop.call_soon_threadsafe(
                loop.call_later, delay_s, then
            ),
        )
        watch.install(processes=seccomp, sockets=seccomp)
        if landlock:
            self._refusals = watch

    def handler_failed(self, exc: BaseException) -> None:
        """A handler raised ``exc`` (the channel's ``on_handler_error``), about to be sent.

        Out of memory, the handler's variables are let go before the traceback is
        formatted: what it allocated is what the reply needs.
        """
        if isinstance(exc, MemoryError):
            traceback.clear_frames(exc.__traceback__)
        if self._refusals is not None:
            self._refusals.handler_failed(exc)

    def _stop(self) -> object:
        hook = self._tables.get("hook", {}).get("on_deactivate")
        return None if hook is None else self._invoke(hook.handler, api_pos=True)

    # -- helpers ------------------------------------------------------------------

    def _import(self) -> Plugin:
        if self.spec.import_root:
            from pathlib import Path

            from pluginctl.runtime.fresh_import import install

            install(Path(self.spec.import_root))  # edited as it runs: no stale bytecode
            if self.spec.import_root not in sys.path:
                sys.path.insert(0, self.spec.import_root)
        module_name, _, attribute = self.spec.entry_point.partition(":")
        module = importlib.import_module(module_name)
        plugin = getattr(module, attribute, None)
        if not isinstance(plugin, Plugin):
            raise UserError(
                f"{self.spec.entry_point} is {type(plugin).__name__}, not a pluginctl.Plugin",
                hint=f"define  {attribute} = Plugin()  in {module_name}",
            )
        self.plugin = plugin
        # lookup tables built once: every request reads them
        self._tables = {
            "route": {str(index): route for index, route in enumerate(plugin.routes)},
            "export": plugin.exports,
            "panel": plugin.panels,
            "hook": plugin.hooks,
        }
        self._events = plugin.events
        return plugin

    def _table(self, kind: str) -> dict[str, Registration]:
        if not self._tables:
            raise UserError("the plugin is not started", hint="the host calls start first")
        return self._tables[kind]

    def _plugin_item(self, kind: str, key: str) -> Registration:
        found = self._table(kind).get(key)
        if found is None:
            raise LookupError(f"{self.spec.plugin} has no {kind} {key!r}")
        return found

    def _run(self, item: Registration, *args: object, api_last: bool) -> object:
        return self._invoke(item.handler, *args, api_pos=api_last)

    def _invoke(
        self,
        handler: Callable[..., object],
        *args: object,
        api_pos: bool = False,
        api_kw: bool = False,
        **kwargs: object,
    ) -> object:
        """Call a handler: async ones on the loop, sync ones in a thread with the blocking api."""
        is_async = self._is_async.get(handler)
        if is_async is None:  # asked once per handler: the check is slow
            is_async = self._is_async[handler] = asyncio.iscoroutinefunction(handler)
        if is_async:
            if api_pos:
                return handler(*args, self.api, **kwargs)
            return handler(*args, **kwargs, **({"api": self.api} if api_kw else {}))
        api = self._sync_api
        if api_pos:
            call = functools.partial(handler, *args, api, **kwargs)
        else:
            call = functools.partial(handler, *args, **kwargs, **({"api": api} if api_kw else {}))
        call_id = self.channel.serving_id if self.channel is not None else None
        if self.enforcer is not None and call_id is not None:
            call = functools.partial(_deadline_bound, self.enforcer, call_id, call)
        return self._loop.run_in_executor(None, call)


def _deadline_bound(enforcer: DeadlineEnforcer, call_id: int, call: Callable[[], object]) -> object:
    """Run a plain ``def`` handler in its thread, interruptible at its call's deadline."""
    with enforcer.in_thread(call_id):
        return call()


async def _settle(result: object) -> object:
    """The value of a handler's result: awaited when it is a coroutine or a future."""
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        return await result
    return result


async def _first_reply(calls: list[object]) -> object:
    """Await every handler's call together; the first result that is not None."""
    results = await asyncio.gather(*cast("list[Awaitable[object]]", calls))
    return next((result for result in results if result is not None), None)


async def _then(awaitable: object, transform: Callable[[object], object]) -> object:
    value = await awaitable  # type: ignore[misc]  # a coroutine or future
    return transform(value)


async def serve(sock: socket.socket, spec: WorkerSpec) -> None:
    """Serve the host on ``sock`` until the host closes it."""
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_on_loop_error)
    worker = Worker(spec, loop)
    worker.enforcer = DeadlineEnforcer()
    try:
        _, channel = await loop.create_unix_connection(
            lambda: Channel(
                spec.plugin,
                role="worker",
                handler=worker.handle,
                enforcer=worker.enforcer,
                on_handler_error=worker.handler_failed,
                max_frame_bytes=spec.max_frame_bytes,
            ),
            sock=sock,
        )
        worker.attach(channel)
        reason = await channel.closed()
    finally:
        worker.enforcer.close()
    if isinstance(reason, MemoryError):  # reading or answering a call: the stream is unusable
        raise reason


def _on_loop_error(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    """Out of memory in the loop's own work (a reply half encoded, say): end the worker now."""
    if isinstance(context.get("exception"), MemoryError):
        os._exit(OUT_OF_MEMORY_EXIT)
    loop.default_exception_handler(context)


def run_worker(sock: socket.socket, spec: WorkerSpec) -> None:
    """The worker's main: serve until the host hangs up, then exit without cleanup."""
    _run_main(serve(sock, spec))


def run_standby(assignments: socket.socket) -> None:
    """A standby worker's main: start the loop, wait for a plugin, then serve it."""
    _run_main(_standby(assignments))


async def _standby(assignments: socket.socket) -> None:
    """Take one assignment from the zygote: the spec and the worker's descriptors."""
    loop = asyncio.get_running_loop()
    arrived: asyncio.Future[None] = loop.create_future()
    loop.add_reader(assignments.fileno(), arrived.set_result, None)
    try:
        await arrived
    finally:
        loop.remove_reader(assignments.fileno())
    with assignments:
        data, fds, _, _ = socket.recv_fds(assignments, _MAX_ASSIGNMENT, 3)
    if not data or len(fds) != 3:  # the zygote ended: so does its standby
        return
    spec = msgspec.msgpack.decode(data, type=WorkerSpec)
    rpc, out, err = fds
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(out, 1)
    os.dup2(err, 2)
    os.close(out)
    os.close(err)
    await serve(socket.socket(fileno=rpc), spec)


def _run_main(main: Coroutine[object, object, None]) -> None:
    for stream in (sys.stdout, sys.stderr):  # a plugin's prints reach the host line by line
        stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # TextIOWrapper
    signal.signal(signal.SIGTERM, _end_on_sigterm)
    code = 0
    try:
        from pluginctl.runtime.loop import run

        run(main)
    except MemoryError:
        code = OUT_OF_MEMORY_EXIT
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _end_on_sigterm(signum: int, frame: object) -> None:
    """Flush the output and end at once.

    Raising `SystemExit` here instead would unwind through whatever the loop was
    doing, and uvloop reports that as a "Fatal error on transport" traceback in the
    plugin's output.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a write the signal interrupted
            stream.flush()
    os._exit(0)


def _main(argv: list[str]) -> None:
    """``python -m pluginctl.runtime.worker SPEC_FD SOCKET_FD HOST_PID``: the spawn fallback."""
    from pluginctl.runtime.prctl import die_with_parent

    with os.fdopen(int(argv[0]), "rb") as pipe:
        spec = msgspec.json.decode(pipe.read(), type=WorkerSpec)
    die_with_parent(int(argv[2]) if len(argv) > 2 else os.getppid())
    run_worker(socket.socket(fileno=int(argv[1])), spec)


if __name__ == "__main__":
    _main(sys.argv[1:])
