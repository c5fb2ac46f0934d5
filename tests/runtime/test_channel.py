"""Channels: calls both ways, many in flight, deadlines, typed errors, a hostile peer."""

from __future__ import annotations

import asyncio
import contextvars
import socket
import struct
from collections.abc import Awaitable, Callable

import msgspec
import pytest

from pluginctl.errors import (
    CallTimeout,
    PermissionDenied,
    ProtocolViolation,
    RateLimited,
    RemoteError,
    UserError,
)
from pluginctl.runtime.channel import Channel, ChannelClosed
from pluginctl.runtime.protocol import Hello, Ping, encode

Handler = Callable[[str, list[object]], object]


async def pair(
    left: Handler | None = None, right: Handler | None = None
) -> tuple[Channel, Channel]:
    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    _, host = await loop.create_unix_connection(
        lambda: Channel("worker", role="host", handler=left),
        sock=a,
    )
    _, worker = await loop.create_unix_connection(
        lambda: Channel("host", role="worker", handler=right), sock=b
    )
    await host.ready()
    await worker.ready()
    return host, worker


def framed(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_calls_go_both_ways_with_many_in_flight() -> None:
    async def slow_echo(value: object) -> object:
        await asyncio.sleep(0.01)
        return value

    def worker_side(method: str, args: list[object]) -> object:
        return slow_echo(args[0]) if method == "slow" else args[0]

    async def scenario() -> None:
        host, worker = await pair(lambda method, args: f"host saw {method}", worker_side)
        results = await asyncio.gather(*(host.call("slow", i) for i in range(200)))
        assert results == list(range(200))
        assert await worker.call("kv.get", "k") == "host saw kv.get"
        assert await host.call("echo", {"nested": [1, b"bytes"]}) == {"nested": [1, b"bytes"]}
        assert await host.ping(timeout_s=1) >= 0
        host.close()

    run(scenario)


_SEEN: contextvars.ContextVar[object] = contextvars.ContextVar("seen", default=None)


def test_each_handler_has_a_context_of_its_own_from_its_first_step() -> None:
    async def remember(value: object) -> object:
        before = _SEEN.get()  # set by no other call, even one that ran before this one
        token = _SEEN.set(value)  # before the first wait: in the eagerly run step
        await asyncio.sleep(0.01)
        after = _SEEN.get()
        _SEEN.reset(token)  # the same context after the wait: no error
        return [before, after]

    async def scenario() -> None:
        host, _ = await pair(None, lambda method, args: remember(args[0]))
        results = await asyncio.gather(*(host.call("remember", i) for i in range(20)))
        assert results == [[None, i] for i in range(20)]
        host.close()

    run(scenario)


def test_errors_keep_their_type_across_the_boundary() -> None:
    def worker_side(method: str, args: list[object]) -> object:
        if method == "deny":
            raise PermissionDenied("shop", "kv")
        if method == "limit":
            raise RateLimited("shop", "kv", retry_after_s=0.25)
        raise KeyError("missing")

    async def scenario() -> None:
        host, _ = await pair(None, worker_side)
        with pytest.raises(PermissionDenied) as denied:
            await host.call("deny")
        assert (denied.value.plugin, denied.value.permission) == ("shop", "kv")
        assert denied.value.hint == 'add "kv" to permissions in its plugin.toml'
        with pytest.raises(RateLimited) as limited:
            await host.call("limit")
        assert limited.value.retry_after_s == 0.25
        with pytest.raises(RemoteError) as remote:
            await host.call("other")
        assert remote.value.type_name == "KeyError"
        assert "test_channel.py" in remote.value.details
        host.close()

    run(scenario)


class Forever:
    """A handler that never answers, and notes when it is cancelled."""

    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def __call__(self, method: str, args: list[object]) -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


def test_a_deadline_cancels_the_call_on_both_sides() -> None:
    async def scenario() -> None:
        forever = Forever()
        host, _ = await pair(None, forever)
        with pytest.raises(CallTimeout, match=r"did not answer forever within 0\.05 s"):
            await host.call("forever", timeout_s=0.05)
        await asyncio.wait_for(forever.cancelled.wait(), 2)
        host.close()

    run(scenario)


def test_cancelling_a_call_cancels_its_handler_in_the_peer() -> None:
    async def scenario() -> None:
        forever = Forever()
        host, _ = await pair(None, forever)
        waiting = asyncio.ensure_future(asyncio.wait_for(host.call("forever"), 0.05))
        with pytest.raises(TimeoutError):
            await waiting
        await asyncio.wait_for(forever.cancelled.wait(), 2)
        host.close()

    run(scenario)


def test_each_call_keeps_its_own_deadline() -> None:
    async def scenario() -> None:
        host, _ = await pair(None, lambda method, args: asyncio.sleep(float(str(args[0]))))
        long = asyncio.ensure_future(host.call("sleep", 0.3, timeout_s=5))
        short = asyncio.ensure_future(host.call("sleep", 60, timeout_s=0.05))
        later = asyncio.ensure_future(host.call("sleep", 60, timeout_s=0.15))
        with pytest.raises(CallTimeout, match=r"within 0\.05 s"):
            await short
        assert not later.done()
        with pytest.raises(CallTimeout, match=r"within 0\.15 s"):
            await later
        assert await long is None
        host.close()

    run(scenario)


def test_map_failure_decides_what_a_failed_call_raises() -> None:
    seen: list[BaseException] = []

    def mapped(error: BaseException, call: object) -> BaseException:
        seen.append(error)
        return LookupError(f"mapped {type(error).__name__}")

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        _, host = await loop.create_unix_connection(
            lambda: Channel("worker", role="host", map_failure=mapped), sock=a
        )
        _, worker = await loop.create_unix_connection(
            lambda: Channel("host", role="worker", handler=lambda m, a: asyncio.sleep(60)), sock=b
        )
        await host.ready()
        with pytest.raises(LookupError, match="mapped CallTimeout"):
            await host.call("wait", timeout_s=0.01)
        pending = asyncio.ensure_future(host.call("wait"))
        await asyncio.sleep(0.01)
        worker.close()
        with pytest.raises(LookupError, match="mapped ChannelClosed"):
            await pending
        assert [type(e) for e in seen] == [CallTimeout, ChannelClosed]

    run(scenario)


def test_closing_fails_every_pending_call() -> None:
    async def scenario() -> None:
        host, worker = await pair(None, lambda method, args: asyncio.sleep(60))
        pending = [asyncio.ensure_future(host.call("wait")) for _ in range(5)]
        await asyncio.sleep(0.01)
        worker.close()
        for call in pending:
            with pytest.raises(ChannelClosed):
                await call
        assert await host.closed() is None
        with pytest.raises(ChannelClosed):
            await host.call("after")

    run(scenario)


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"\x00\x00\x00\x03abc", "malformed frame"),
        (struct.pack(">I", 2**30), "over the"),
        (encode(Hello(99, 1, "worker")), "speaks protocol 99"),
        (framed(msgspec.msgpack.encode(["ping", "one"])), "malformed frame"),
        (framed(msgspec.msgpack.encode({"k": "hello"})), "malformed frame"),
    ],
)
def test_a_hostile_peer_is_dropped_with_the_reason(raw: bytes, fragment: str) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        reasons: list[BaseException | None] = []
        _, host = await loop.create_unix_connection(
            lambda: Channel("evil", role="host", on_close=reasons.append, max_frame_bytes=1024),
            sock=a,
        )
        b.sendall(raw)
        reason = await asyncio.wait_for(host.closed(), 2)
        assert isinstance(reason, ProtocolViolation)
        assert fragment in str(reason)
        assert reasons == [reason]
        b.close()

    run(scenario)


def test_requests_before_hello_are_refused() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        _, host = await loop.create_unix_connection(lambda: Channel("early", role="host"), sock=a)
        b.sendall(encode(Ping(3)))
        reason = await asyncio.wait_for(host.closed(), 2)
        assert "spoke before its hello" in str(reason)
        b.close()

    run(scenario)


def test_a_pong_is_not_held_behind_a_handler_that_blocks() -> None:
    """A ping and a call in one read: the pong leaves before the handler runs."""
    import threading

    from pluginctl.runtime.protocol import PROTOCOL_VERSION, FrameDecoder, Pong, Request

    pong_seen = threading.Event()
    released: list[bool] = []

    def blocking(method: str, args: list[object]) -> object:
        released.append(pong_seen.wait(5))  # blocks the loop: only an early pong sets it
        return None

    def read_until_pong(sock: socket.socket) -> None:
        decoder = FrameDecoder()
        while not pong_seen.is_set():
            data = sock.recv(65536)
            if not data:
                return
            if any(isinstance(m, Pong) for m in decoder.feed(data)):
                pong_seen.set()

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        _, worker = await loop.create_unix_connection(
            lambda: Channel("host", role="worker", handler=blocking), sock=a
        )
        reader = threading.Thread(target=read_until_pong, args=(b,))
        reader.start()
        b.sendall(
            encode(Hello(PROTOCOL_VERSION, 1, "host"))
            + encode(Ping(1))
            + encode(Request(2, "block", []))
        )
        await asyncio.to_thread(reader.join, 10)
        assert released == [True]  # the pong left while the handler still ran
        worker.close()
        b.close()

    run(scenario)


@pytest.mark.parametrize(
    ("kind", "attrs", "expected"),
    [
        ("RateLimited", {"plugin": "a"}, RemoteError),  # no capability, no retry_after_s
        ("RateLimited", {"plugin": "a", "capability": "kv", "retry_after_s": "soon"}, RemoteError),
        ("CircuitOpen", {"plugin": "a", "method": None, "retry_after_s": True}, RemoteError),
        ("UserError", {"x": 1}, UserError),  # whole: its message is the frame's
    ],
    ids=["missing-fields", "text-for-a-number", "bool-for-a-number", "extra-field"],
)
def test_a_typed_error_from_a_hostile_peer_is_rebuilt_only_when_whole(
    kind: str, attrs: dict[str, object], expected: type[Exception]
) -> None:
    from pluginctl.runtime.protocol import PROTOCOL_VERSION, Error

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        a, b = socket.socketpair()
        _, host = await loop.create_unix_connection(lambda: Channel("w", role="host"), sock=a)
        b.sendall(encode(Hello(PROTOCOL_VERSION, 1, "worker")))
        call = host.call("anything")
        b.sendall(encode(Error(1, kind, "forged", "", attrs)))  # type: ignore[arg-type]
        with pytest.raises(expected) as raised:
            await call
        assert "forged" in str(raised.value)  # readable, whatever the peer sent
        host.close()
        b.close()

    run(scenario)


def test_what_cannot_be_encoded_fails_its_call_and_leaves_the_channel_whole() -> None:
    def worker_side(method: str, args: list[object]) -> object:
        return 2**70 if method == "huge" else args[0]

    async def scenario() -> None:
        host, _ = await pair(None, worker_side)
        with pytest.raises(UserError, match="the arguments of 'echo' cannot cross") as caught:
            host.call("echo", 2**70)
        assert caught.value.hint is not None
        with pytest.raises(UserError, match="the result cannot cross"):
            await host.call("huge")
        assert await host.call("echo", "still whole") == "still whole"
        assert await host.ping(timeout_s=1) >= 0
        host.close()

    run(scenario)
