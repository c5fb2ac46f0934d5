"""One end of an RPC connection: calls both ways, many in flight, matched by id.

`Channel` is an asyncio protocol over a stream socket (the socketpair between the
host and a worker). Each side registers a request handler and may call the other.
Replies resolve futures directly, without a task per call, so a round trip costs a
couple of event-loop wake-ups and two small frames. One timer serves the deadlines of
every call in flight; cancelling a call's future tells the peer to cancel its handler.
Frames are encoded straight into one write buffer, written at the end of the loop turn
or every few frames in a burst, so both processes work at once.

Every frame is checked by `FrameDecoder`; a frame that breaks the protocol closes
the channel and is reported through ``on_close`` with the `ProtocolViolation`, so
the host can drop the worker and record why.
"""

from __future__ import annotations

import asyncio
import contextvars
import importlib
import itertools
import logging
import math
import os
import time
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
    UserError,
)
from pluginctl.runtime.deadlines import DeadlineExceeded
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
    encode_into,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine, Generator
    from typing import Any

    from pluginctl.runtime.deadlines import DeadlineEnforcer

__all__ = ["Call", "Channel", "ChannelClosed"]

logger = logging.getLogger(__name__)

_AttrValue = str | float | int | bool | None

# A burst of frames goes out in writes of this many frames (or bytes), not all at the
# end of the turn: the peer starts on the first while this side makes the rest, so
# both processes keep busy (about twice the throughput of one write per turn).
_FRAMES_PER_WRITE = 16
_BYTES_PER_WRITE = 64 * 1024
# How late a deadline may be noticed: the loop's timers fire up to a clock tick early.
_DEADLINE_SLACK_S = 0.001
_monotonic = time.monotonic


class ChannelClosed(RuntimeFault):
    """The connection ended while a call was waiting for its reply."""


class Call(asyncio.Future[object]):
    """The future of one outgoing call: cancelling it tells the peer to stop working on it."""

    def __init__(
        self, channel: Channel, call_id: int, method: str, timeout_s: float | None
    ) -> None:
        super().__init__(loop=channel._loop)
        self.channel = channel
        self.call_id = call_id
        self.method = method
        self.key: str | None = None  # set by the host: which breaker the call counts for
        self.timeout_s = timeout_s
        self.deadline = math.inf if timeout_s is None else channel._loop.time() + timeout_s
        self.started = 0.0  # perf_counter time, set by a caller that times the call

    def cancel(self, msg: object = None) -> bool:
        if not super().cancel(msg):
            return False
        self.channel._abandon(self.call_id)
        return True


class Channel(asyncio.Protocol):
    """An RPC endpoint over one stream connection.

    Args:
        name: Who is at the other end, for messages (a plugin's name).
        role: This side's role, sent in `Hello` (``"host"`` or ``"worker"``).
        handler: Called for each incoming request with ``(method, args)``.
        on_notify: Called for each incoming notification.
        on_close: Called once when the connection ends, with the reason
            (None for a clean EOF, the `ProtocolViolation` or OS error otherwise).
        map_failure: Given the exception an outgoing call failed with (and the call),
            returns the one its caller gets; the host counts failures for its circuit
            breakers and names a crashed worker.
        before_failing: Awaited after the connection ends and before the calls in
            flight fail: the host waits there (briefly) for the worker's exit status,
            so the failures can say how the worker ended.
        on_answered: Called with each call that has a ``key`` once it succeeded (the
            host's latency figures; failures reach ``map_failure``).
        enforcer: The worker's `DeadlineEnforcer`: handlers that run past their
            call's deadline are interrupted.
        on_handler_error: Called with each exception a request handler raised, before
            it is sent as the error reply (the worker notes what the sandbox refused).
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
        map_failure: Callable[[BaseException, Call], BaseException] | None = None,
        before_failing: Callable[[], Awaitable[None]] | None = None,
        on_answered: Callable[[Call], None] | None = None,
        enforcer: DeadlineEnforcer | None = None,
        on_handler_error: Callable[[BaseException], None] | None = None,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
    ) -> None:
        self.name = name
        self._role = role
        self._handler = handler
        self._on_notify = on_notify
        self._on_close = on_close
        self._map_failure = map_failure
        self._before_failing = before_failing
        self._on_answered = on_answered
        self._enforcer = enforcer
        self._on_handler_error = on_handler_error
        self.serving_id: int | None = None  # the request whose handler is being called
        self.answered = 0  # successful answers received: breakers tell timeouts in a row
        self.last_heard = _monotonic()  # when the peer last sent anything: liveness
        self._decoder = FrameDecoder(max_frame_bytes=max_frame_bytes)
        self._ids = itertools.count(1)
        self._pending: dict[int, Call] = {}
        self._serving: dict[int, asyncio.Future[object]] = {}
        self._transport: asyncio.Transport | None = None
        self._out: bytearray | None = None  # frames waiting for the next write
        self._out_frames = 0
        self._reading = False  # inside data_received: it writes the replies itself
        self._sweep_at = math.inf  # when the deadline timer fires next
        self._sweeper: asyncio.TimerHandle | None = None
        self._greeted = False
        self._failing: asyncio.Future[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._peer: asyncio.Future[Hello] = self._loop.create_future()
        self._closed: asyncio.Future[BaseException | None] = self._loop.create_future()
        self._dispatch: dict[type, Callable[[Any], None]] = {
            Response: self._on_response,
            Error: self._on_error,
            Request: self._serve,
            Notify: self._notify,
            Cancel: self._on_cancel,
            Ping: self._on_ping,
            Pong: self._on_pong,
            Hello: self._on_second_hello,
        }

    # -- asyncio.Protocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]  # uvloop's are not subclasses
        self._send(Hello(PROTOCOL_VERSION, os.getpid(), self._role))

    def data_received(self, data: bytes) -> None:
        self.last_heard = _monotonic()
        self._reading = True  # replies made while reading go out together, in order
        try:
            messages = self._decoder.feed(data)
            if not self._greeted and messages:
                self._accept_hello(messages.pop(0))
            dispatch = self._dispatch
            for message in messages:
                dispatch[type(message)](message)
        except ProtocolViolation as exc:
            self._out = None
            self._abort(exc)
            return
        finally:
            self._reading = False
        self._flush()

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
    def in_flight(self) -> int:
        """Calls sent and not yet answered."""
        return len(self._pending)

    def busy_until(self) -> float:
        """The latest deadline (event loop time) of the calls in flight; 0 without any.

        Calls without a deadline (pings) do not count: this says until when the
        peer may rightly be silent, working on what it was asked.
        """
        deadlines = [call.deadline for call in self._pending.values() if call.deadline != math.inf]
        return max(deadlines, default=0.0)

    async def wait_idle(self, *, timeout_s: float) -> bool:
        """Wait until no call of this side is in flight; False when ``timeout_s`` ran out."""
        deadline = self._loop.time() + timeout_s
        while self._pending and not self._closed.done():
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                return False
            waiting = list(self._pending.values())
            await asyncio.wait(waiting, timeout=remaining)
        return True

    @property
    def is_open(self) -> bool:
        """Whether the connection still carries calls."""
        return not self._closed.done()

    def call(self, method: str, *args: object, timeout_s: float | None = None) -> Call:
        """Call ``method`` on the peer and return an awaitable of its result.

        Raises (when awaited):
            CallTimeout: no reply within ``timeout_s``; the peer is told to cancel.
            RemoteError: the peer's handler raised (or the pluginctl error it raised).
            ChannelClosed: the connection ended first.
        """
        call_id = next(self._ids)
        future = Call(self, call_id, method, timeout_s)
        if self._closed.done():
            self._fail(future, ChannelClosed(f"the channel to {self.name} is closed"))
            return future
        self._pending[call_id] = future
        timeout_ms = None if timeout_s is None else timeout_s * 1000.0
        try:
            self._send(Request(call_id, method, list(args), timeout_ms))
        except (TypeError, OverflowError) as exc:
            del self._pending[call_id]
            raise _cannot_cross(f"the arguments of {method!r}", exc) from None
        if future.deadline < self._sweep_at:
            self._arm_sweeper(future.deadline)
        return future

    def notify(self, method: str, *args: object) -> None:
        """Send a one-way message."""
        if not self._closed.done():
            self._send(Notify(method, list(args)))

    async def ping(self, *, timeout_s: float) -> float:
        """Round-trip a `Ping`; returns the seconds it took."""
        call_id = next(self._ids)
        future = Call(self, call_id, "ping", None)
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
        out = self._out
        if out is None:
            out = self._out = bytearray()
            if not self._reading:  # the first frame this turn: write once the turn ends
                self._loop.call_soon(self._flush)
        encode_into(message, out)
        self._out_frames += 1
        if self._out_frames >= _FRAMES_PER_WRITE or len(out) >= _BYTES_PER_WRITE:
            self._flush()

    def _flush(self) -> None:
        """Write the frames queued since the last write in one system call."""
        out, self._out = self._out, None
        self._out_frames = 0
        if out and self._transport is not None and not self._transport.is_closing():
            self._transport.write(out)

    def _on_response(self, message: Response) -> None:
        self.answered += 1
        future = self._pending.pop(message.id, None)
        if future is not None and not future.done():
            future.set_result(message.result)
            if future.key is not None and self._on_answered is not None:
                self._on_answered(future)

    def _on_error(self, message: Error) -> None:
        future = self._pending.pop(message.id, None)
        if future is None or future.done():
            return
        if message.type == DeadlineExceeded.__name__:  # the peer stopped it at the deadline
            late = f"within {future.timeout_s:g} s" if future.timeout_s else "in time"
            error: BaseException = CallTimeout(
                f"{self.name} did not answer {future.method} {late} (the handler was interrupted)"
            )
        else:
            error = _rebuild(message)
        self._fail(future, error)

    def _on_cancel(self, message: Cancel) -> None:
        task = self._serving.pop(message.id, None)
        if task is not None:
            task.cancel()

    def _on_ping(self, message: Ping) -> None:
        # out at once: a handler run next from the same read may never return (stuck in
        # C), and a pong held behind it would get a live worker killed as unresponsive
        self._send(Pong(message.id))
        self._flush()

    def _on_pong(self, message: Pong) -> None:
        future = self._pending.pop(message.id, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _on_second_hello(self, message: Hello) -> None:
        raise ProtocolViolation(f"{self.name} sent a second hello")

    def _fail(self, future: Call, error: BaseException) -> None:
        mapped = error if self._map_failure is None else self._map_failure(error, future)
        future.set_exception(mapped)

    def _abandon(self, call_id: int) -> None:
        """The caller cancelled call ``call_id``: forget it and tell the peer."""
        if self._pending.pop(call_id, None) is not None and not self._closed.done():
            self._send(Cancel(call_id))

    def _accept_hello(self, message: Message) -> None:
        if not isinstance(message, Hello):
            raise ProtocolViolation(f"{self.name} spoke before its hello: {type(message).__name__}")
        if message.protocol != PROTOCOL_VERSION:
            raise ProtocolViolation(
                f"{self.name} speaks protocol {message.protocol}, this side {PROTOCOL_VERSION}"
            )
        self._greeted = True
        self._peer.set_result(message)

    def _serve(self, request: Request) -> None:
        if self._handler is None:
            self._send(Error(request.id, "LookupError", f"{self._role} serves no requests"))
            return
        call_id, enforcer = request.id, self._enforcer
        if enforcer is not None and request.timeout_ms is not None:
            enforcer.begin(call_id, request.timeout_ms / 1000.0)
        self.serving_id = call_id
        try:
            result = self._handler(request.method, request.args)
        except Exception as exc:  # noqa: BLE001  # the handler's failure is the reply
            self._answer(call_id, self._failure(call_id, exc))
            return
        finally:
            self.serving_id = None
        if not asyncio.iscoroutine(result) and not isinstance(result, asyncio.Future):
            self._answer(call_id, Response(call_id, result))
            return
        task = self._run_eagerly(call_id, result) if asyncio.iscoroutine(result) else result
        if task is not None:
            self._serving[call_id] = task
            task.add_done_callback(lambda done: self._reply(call_id, done))

    def _run_eagerly(
        self, call_id: int, coroutine: Coroutine[object, None, object]
    ) -> asyncio.Future[object] | None:
        """Run a handler's coroutine up to its first wait; its task, or None if it finished.

        Most handlers finish without waiting for anything: they cost no task at all. The
        coroutine runs in a context of its own from its first step, as in a task of its
        own: a context variable it sets is its own, before and after its first wait.
        """
        enforcer = self._enforcer
        if enforcer is not None:
            enforcer.running_id = call_id
        context = contextvars.copy_context()
        try:
            yielded = context.run(coroutine.send, None)
        except StopIteration as done:
            self._answer(call_id, Response(call_id, done.value))
            return None
        except (Exception, DeadlineExceeded) as exc:  # noqa: BLE001  # the failure is the reply
            self._answer(call_id, self._failure(call_id, exc))
            return None
        finally:
            if enforcer is not None:
                enforcer.running_id = None
        task: asyncio.Future[object] = asyncio.get_running_loop().create_task(
            _resume(coroutine, yielded), context=context
        )
        if enforcer is not None:
            enforcer.task(call_id, task)
        return task

    def _answer(self, call_id: int, frame: Response | Error) -> None:
        if self._enforcer is not None:
            self._enforcer.end(call_id)
        try:
            self._send(frame)
        except (TypeError, OverflowError) as exc:  # the result has no msgpack form
            self._send(_error_frame(call_id, _cannot_cross("the result", exc)))

    def _reply(self, call_id: int, task: asyncio.Future[object]) -> None:
        self._serving.pop(call_id, None)
        if self._enforcer is not None:
            self._enforcer.end(call_id)
            self._enforcer.task_done(task)
        if task.cancelled():
            return  # the caller cancelled: it wants no answer
        exc = task.exception()
        if exc is None:
            self._send(Response(call_id, task.result()))
        else:
            self._send(self._failure(call_id, exc))

    def _failure(self, call_id: int, exc: BaseException) -> Error:
        """The error reply to a request whose handler raised ``exc``."""
        if self._on_handler_error is not None:
            self._on_handler_error(exc)
        return _error_frame(call_id, exc)

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

    async def _fail_after(self, pending: list[Call], settled: Awaitable[None]) -> None:
        try:
            await settled
        finally:
            self._fail_all(pending)

    def _fail_all(self, pending: list[Call]) -> None:
        for future in pending:
            if not future.done():
                self._fail(future, ChannelClosed(f"the channel to {self.name} closed"))

    def _arm_sweeper(self, when: float) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self._sweep_at = when
        self._sweeper = self._loop.call_at(when, self._sweep)

    def _sweep(self) -> None:
        """Fail every call past its deadline; one timer serves all calls in flight."""
        self._sweeper, self._sweep_at = None, math.inf
        now = self._loop.time() + _DEADLINE_SLACK_S
        late = [future for future in self._pending.values() if future.deadline <= now]
        for future in late:
            del self._pending[future.call_id]
            self._send(Cancel(future.call_id))
            if not future.done():
                late_by = f"within {future.timeout_s:g} s"
                message = f"{self.name} did not answer {future.method} {late_by}"
                self._fail(future, CallTimeout(message))
        upcoming = min((future.deadline for future in self._pending.values()), default=math.inf)
        if upcoming < math.inf:
            self._arm_sweeper(upcoming)

    def _abort(self, exc: ProtocolViolation) -> None:
        logger.warning("dropping the channel to %s: %s", self.name, exc)
        if self._transport is not None:
            self._transport.abort()
        self._finish(exc)

    def _finish(self, reason: BaseException | None) -> None:
        if self._closed.done():
            return
        self._closed.set_result(reason)
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper, self._sweep_at = None, math.inf
        if not self._peer.done():
            self._peer.set_exception(ChannelClosed(f"{self.name} closed before its hello"))
            self._peer.exception()  # retrieved: nobody may be waiting for it
        if self._on_close is not None:  # first: it records why, for the failures below
            self._on_close(reason)
        pending = list(self._pending.values())
        self._pending.clear()
        if pending and self._before_failing is not None:
            self._failing = asyncio.ensure_future(self._fail_after(pending, self._before_failing()))
        else:
            self._fail_all(pending)
        for task in self._serving.values():
            task.cancel()
        self._serving.clear()


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


def _cannot_cross(what: str, exc: BaseException) -> UserError:
    return UserError(
        f"{what} cannot cross between processes: {exc}",
        hint="send plain data: None, bool, int (64-bit), float, str, bytes, and lists and"
        " dicts of them",
    )


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
    """The exception to raise for an error reply: the pluginctl type, else RemoteError.

    The peer may be a hostile worker: a typed error is rebuilt only when it reads back
    whole (its message and hint can be made, a ``retry_after_s`` is a number).
    """
    cls = getattr(errors, frame.type, None)
    if isinstance(cls, type) and issubclass(cls, PluginctlError) and frame.attrs:
        exc = cls.__new__(cls)
        Exception.__init__(exc, frame.message)
        exc.__dict__.update({"_message": frame.message, "_hint": None, **frame.attrs})
        if _whole(exc):
            return exc
    return RemoteError(frame.type, frame.message, details=frame.details)


def _whole(exc: PluginctlError) -> bool:
    try:
        message, hint = exc.message, exc.hint
    except (AttributeError, TypeError, ValueError):
        return False
    texts: list[object] = [message, hint]
    retry = exc.__dict__.get("retry_after_s", 0.0)
    return (
        all(isinstance(text, str | None) for text in texts)
        and isinstance(retry, int | float)
        and not isinstance(retry, bool)
    )


def _log_failure(task: asyncio.Future[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("a notification handler failed", exc_info=task.exception())
