"""The frame decoder treats every byte from a worker as hostile."""

from __future__ import annotations

import contextlib
import struct

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pluginctl.errors import ProtocolViolation
from pluginctl.runtime.protocol import (
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

plain = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20)
values = st.recursive(
    plain | st.binary(max_size=20) | st.floats(allow_nan=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.integers(0, 2**63 - 1)
messages: st.SearchStrategy[Message] = st.one_of(
    st.builds(Hello, st.integers(0, 10), st.integers(1, 2**22), st.text(max_size=10)),
    st.builds(
        Request,
        ids,
        st.text(max_size=20),
        st.lists(values, max_size=4),
        st.none() | st.floats(0, 1e6),
    ),
    st.builds(Response, ids, values),
    st.builds(Error, ids, st.text(max_size=20), st.text(max_size=40), st.text(max_size=40)),
    st.builds(Notify, st.text(max_size=20), st.lists(values, max_size=4)),
    st.builds(Cancel, ids),
    st.builds(Ping, ids),
    st.builds(Pong, ids),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, min_size=1, max_size=8), st.data())
def test_messages_survive_any_split_of_the_stream(
    batch: list[Message], data: st.DataObject
) -> None:
    stream = b"".join(encode(message) for message in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    decoder = FrameDecoder()
    received: list[Message] = []
    start = 0
    for cut in [*cuts, len(stream)]:
        received += decoder.feed(stream[start:cut])
        start = cut
    assert received == batch


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_garbage_is_a_protocol_violation_never_a_crash(garbage: bytes) -> None:
    decoder = FrameDecoder(max_frame_bytes=64)
    with contextlib.suppress(ProtocolViolation):
        decoder.feed(garbage)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values)
def test_valid_msgpack_of_the_wrong_shape_is_refused(value: object) -> None:
    body = msgspec.msgpack.encode(value)
    decoder = FrameDecoder()
    with pytest.raises(ProtocolViolation, match="malformed frame"):
        decoder.feed(struct.pack(">I", len(body)) + body)


def test_an_oversized_frame_is_refused_before_it_is_read() -> None:
    decoder = FrameDecoder(max_frame_bytes=1024)
    with pytest.raises(ProtocolViolation, match="over the 1024-byte limit"):
        decoder.feed(struct.pack(">I", 1025))


def test_unknown_message_kinds_are_refused() -> None:
    body = msgspec.msgpack.encode(["mystery", 1])
    with pytest.raises(ProtocolViolation, match="malformed frame"):
        FrameDecoder().feed(struct.pack(">I", len(body)) + body)


def test_wrong_field_types_are_refused() -> None:
    body = msgspec.msgpack.encode(["req", "not-an-id", "kv.get", [], None])
    with pytest.raises(ProtocolViolation, match="malformed frame"):
        FrameDecoder().feed(struct.pack(">I", len(body)) + body)
