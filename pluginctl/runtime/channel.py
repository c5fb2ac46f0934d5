"""One end of an RPC connection: calls both ways, many in flight, matched by id.

`Channel` is an asyncio protocol over a stream socket (the socketpair between the
host and a worker). Each side registers a request handler and may call the other.
Replies resolve futures directly, without a task per call, so a round trip costs a
couple of event-loop wake-ups and two small frames.

Every frame is checked by `FrameDecoder`; a frame that breaks the protocol closes
the channel and is reported through ``on_close`` with the `ProtocolViolation`, so
the host can drop the worker and record why.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import logging
import os
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from pluginctl import errors
from pluginctl.errors import (
    CallTimeout,
    PluginctlError,
    ProtocolViolation,
    RemoteError,
    RuntimeFault,
)
from pluginctl.runtime.protocol import (
    DEFAULT_MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Cancel,
    Error,
    FrameDecoder,
    Hello,
    Message,
    Notify,
    Ping,
    Pong,
    Request,
    Response,
    encode,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Generator

__all__ = ["Channel", "ChannelClosed"]

logger = logging.getLogger(__name__)

_AttrValue = str | float | int | bool | None


class ChannelClosed(RuntimeFault):
    """The connection ended while a call was waiting for its reply."""


class Channel(asyncio.Protocol):
    """An RPC endpoint over one stream connection.

    Args:
        name: Who is at the other end, for messages (a plugin's name).
        role: This side's role, sent in `Hello` (``"host"`` or ``"worker"``).
        handler: Called for each incoming request with ``(method, args)``.
        on_notify: Called for each incoming notification.
        on_close: Called once when the connection ends, with the reason
            (None for a clean EOF, the `ProtocolViolation` or OS error otherwise).
        max_frame_bytes: The largest frame accepted from the peer.
    """

    def __init__(
        self,
        name: str,
        *,
        role: str,
        handler: Callable[[str, list[object]], object] | None = None,
        on_notify: Callable[[str, list[object]], object] | None = None,
        on_close: Callable[[BaseException | None], None] | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.name = name
        self._role = role
        self._handler = handler
        self._on_notify = on_notify
        self._on_close = on_close
        self._decoder = FrameDecoder(max_frame_bytes=max_frame_bytes)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[object]] = {}
        self._serving: dict[int, asyncio.Future[object]] = {}
        self._transport: asyncio.Transport | None = None
        self._batch: list[bytes] | None = None
        self._outbox: list[bytes] | None = None
        self._loop = asyncio.get_running_loop()
        self._peer: asyncio.Future[Hello] = self._loop.create_future()
        self._closed: asyncio.Future[BaseException | None] = self._loop.create_future()

    # -- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses
        self._send(Hello(PROTOCOL_VERSION, os.getpid(), self._role))

    def data_received(self, data: bytes) -> None:
        self._batch = []  # replies made while reading go out in one write
        try:
            for message in self._decoder.feed(data):
                self._dispatch(message)
        except ProtocolViolation as exc:
            self._batch = None
            self._abort(exc)
            return
        batch, self._batch = self._batch, None
        if batch and self._transport is not None and not self._transport.is_closing():
            if self._outbox:  # keep frame order: what was queued earlier goes first
                batch[:0] = self._outbox
                self._outbox.clear()
            self._transport.write(b"".join(batch))

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(exc)

    # -- public -------------------------------------------------------------------

    @property
    def peer(self) -> Hello | None:
        """The peer's `Hello`, once received."""
        return self._peer.result() if self._peer.done() and not self._peer.exception() else None

    async def ready(self) -> Hello:
        """Wait for the peer's `Hello`."""
        return await asyncio.shield(self._peer)

    async def closed(self) -> BaseException | None:
        """Wait until the connection ends; returns why (None for a clean close)."""
        return await asyncio.shield(self._closed)

    @property
    def is_open(self) -> bool:
        """Whether the connection still carries calls."""
        return not self._closed.done()

    def call(self, method: str, *args: object, timeout_s: float | None = None) -> Awaitable[object]:
        """Call ``method`` on the peer and return an awaitable of its result.

        Raises (when awaited):
            CallTimeout: no reply within ``timeout_s``; the peer is told to cancel.
            RemoteError: the peer's handler raised (or the pluginctl error it raised).
            ChannelClosed: the connection ended first.
        """
        future: asyncio.Future[object] = self._loop.create_future()
        if self._closed.done():
            future.set_exception(ChannelClosed(f"the channel to {self.name} is closed"))
            return future
        call_id = next(self._ids)
        self._pending[call_id] = future
        timeout_ms = None if timeout_s is None else timeout_s * 1000.0
        self._send(Request(call_id, method, list(args), timeout_ms))
        if timeout_s is not None:
            timer = self._loop.call_later(timeout_s, self._expire, call_id, method, timeout_s)
            future.add_done_callback(lambda _: timer.cancel())
        return future

    def notify(self, method: str, *args: object) -> None:
        """Send a one-way message."""
        if not self._closed.done():
            self._send(Notify(method, list(args)))

    async def ping(self, *, timeout_s: float) -> float:
        """Round-trip a `Ping`; returns the seconds it took."""
        call_id = next(self._ids)
        future: asyncio.Future[object] = self._loop.create_future()
        self._pending[call_id] = future
        start = self._loop.time()
        self._send(Ping(call_id))
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            self._pending.pop(call_id, None)
            raise CallTimeout(f"{self.name} did not answer a ping within {timeout_s:g} s") from None
        return self._loop.time() - start

    def close(self) -> None:
        """Close the connection; pending calls fail with `ChannelClosed`."""
        self._flush()
        if self._transport is not None:
            self._transport.close()
        self._finish(None)

    # -- internals ----------------------------------------------------------------

    def _send(self, message: Message) -> None:
        if self._batch is not None:
            self._batch.append(encode(message))
            return
        if self._outbox is None:  # the first frame this turn: flush once the turn ends
            self._outbox = []
            self._loop.call_soon(self._flush)
        self._outbox.append(encode(message))

    def _flush(self) -> None:
        """Write the frames queued during one event-loop turn in one system call."""
        outbox, self._outbox = self._outbox, None
        if outbox and self._transport is not None and not self._transport.is_closing():
            self._transport.write(b"".join(outbox))

    def _dispatch(self, message: Message) -> None:
        if not self._peer.done():
            self._accept_hello(message)
        elif isinstance(message, Response):
            self._resolve(message.id, message.result, None)
        elif isinstance(message, Error):
            self._resolve(message.id, None, _rebuild(message))
        elif isinstance(message, Request):
            self._serve(message)
        elif isinstance(message, Notify):
            self._notify(message)
        elif isinstance(message, Cancel):
            task = self._serving.pop(message.id, None)
            if task is not None:
                task.cancel()
        elif isinstance(message, Ping):
            self._send(Pong(message.id))
        elif isinstance(message, Pong):
            self._resolve(message.id, None, None)
        else:  # a second Hello
            raise ProtocolViolation(f"{self.name} sent a second hello")

    def _accept_hello(self, message: Message) -> None:
        if not isinstance(message, Hello):
            raise ProtocolViolation(f"{self.name} spoke before its hello: {type(message).__name__}")
        if message.protocol != PROTOCOL_VERSION:
            raise ProtocolViolation(
                f"{self.name} speaks protocol {message.protocol}, this side {PROTOCOL_VERSION}"
            )
        self._peer.set_result(message)

    def _resolve(self, call_id: int, result: object, error: BaseException | None) -> None:
        future = self._pending.pop(call_id, None)
        if future is None or future.done():
            return  # a reply to a call that timed out or was never made: ignore it
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)

    def _serve(self, request: Request) -> None:
        if self._handler is None:
            self._send(Error(request.id, "LookupError", f"{self._role} serves no requests"))
            return
        try:
            result = self._handler(request.method, request.args)
        except Exception as exc:  # noqa: BLE001  # the handler's failure is the reply
            self._send(_error_frame(request.id, exc))
            return
        if not asyncio.iscoroutine(result) and not isinstance(result, asyncio.Future):
            self._send(Response(request.id, result))
            return
        if asyncio.iscoroutine(result):
            try:  # run it eagerly: most handlers finish without waiting for anything
                yielded = result.send(None)
            except StopIteration as done:
                self._send(Response(request.id, done.value))
                return
            except Exception as exc:  # noqa: BLE001  # the handler's failure is the reply
                self._send(_error_frame(request.id, exc))
                return
            task: asyncio.Future[object] = asyncio.ensure_future(_resume(result, yielded))
        else:
            task = result
        self._serving[request.id] = task
        task.add_done_callback(lambda done: self._reply(request.id, done))

    def _reply(self, call_id: int, task: asyncio.Future[object]) -> None:
        self._serving.pop(call_id, None)
        if task.cancelled():
            return  # the caller cancelled: it wants no answer
        exc = task.exception()
        if exc is None:
            self._send(Response(call_id, task.result()))
        else:
            self._send(_error_frame(call_id, exc))

    def _notify(self, message: Notify) -> None:
        if self._on_notify is None:
            return
        try:
            result = self._on_notify(message.method, message.args)
        except Exception:
            logger.exception("notification %s from %s failed", message.method, self.name)
            return
        if asyncio.iscoroutine(result):
            task = asyncio.ensure_future(result)
            task.add_done_callback(_log_failure)

    def _expire(self, call_id: int, method: str, timeout_s: float) -> None:
        future = self._pending.pop(call_id, None)
        if future is not None and not future.done():
            self._send(Cancel(call_id))
            future.set_exception(
                CallTimeout(f"{self.name} did not answer {method} within {timeout_s:g} s")
            )

    def _abort(self, exc: ProtocolViolation) -> None:
        logger.warning("dropping the channel to %s: %s", self.name, exc)
        if self._transport is not None:
            self._transport.abort()
        self._finish(exc)

    def _finish(self, reason: BaseException | None) -> None:
        if self._closed.done():
            return
        self._closed.set_result(reason)
        if not self._peer.done():
            self._peer.set_exception(ChannelClosed(f"{self.name} closed before its hello"))
            self._peer.exception()  # retrieved: nobody may be waiting for it
        closed = ChannelClosed(f"the channel to {self.name} closed")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(closed)
        self._pending.clear()
        for task in self._serving.values():
            task.cancel()
        self._serving.clear()
        if self._on_close is not None:
            self._on_close(reason)


class _Suspend:
    """Yield one value to the running task: how `_resume` hands a future back to asyncio."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __await__(self) -> Generator[object, None, None]:
        yield self.value


async def _resume(coroutine: Coroutine[object, None, object], yielded: object) -> object:
    """Continue a coroutine that was started eagerly and then waited for ``yielded``.

    Each value the coroutine yields (the future it awaits) goes to the task running this
    function, exactly as if the task ran the coroutine itself; cancellation and errors
    are thrown back into it.
    """
    while True:
        try:
            await _Suspend(yielded)
        except BaseException as exc:  # noqa: BLE001  # cancellation goes to the coroutine
            try:
                yielded = coroutine.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                yielded = coroutine.send(None)
            except StopIteration as done:
                return done.value


_RUNTIME_DIR = str(Path(__file__).resolve().parent)
_IMPORTLIB_DIR = str(Path(importlib.__file__).resolve().parent)


def _plugin_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` without the runtime's own frames: what the author needs."""
    summary = traceback.TracebackException.from_exception(exc)
    kept = [
        frame
        for frame in summary.stack
        if not frame.filename.startswith((_RUNTIME_DIR, _IMPORTLIB_DIR, "<frozen importlib"))
    ]
    summary.stack = traceback.StackSummary.from_list(kept)
    return "".join(summary.format())


def _error_frame(call_id: int, exc: BaseException) -> Error:
    details = _plugin_traceback(exc)
    if isinstance(exc, RemoteError):  # passing on another peer's failure
        message = exc.message.removeprefix(f"{exc.type_name}: ")
        return Error(call_id, exc.type_name, message, exc.details or details)
    attrs: dict[str, _AttrValue] = {}
    if isinstance(exc, PluginctlError):
        attrs = {k: v for k, v in vars(exc).items() if isinstance(v, _AttrValue)}
        return Error(call_id, type(exc).__name__, exc.message, details, attrs)
    return Error(call_id, type(exc).__name__, str(exc), details)


def _rebuild(frame: Error) -> BaseException:
    """The exception to raise for an error reply: the pluginctl type, else RemoteError."""
    cls = getattr(errors, frame.type, None)
    if isinstance(cls, type) and issubclass(cls, PluginctlError) and frame.attrs:
        exc = cls.__new__(cls)
        Exception.__init__(exc, frame.message)
        exc.__dict__.update(frame.attrs)
        return exc
    return RemoteError(frame.type, frame.message, details=frame.details)


def _log_failure(task: asyncio.Future[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("a notification handler failed", exc_info=task.exception())
