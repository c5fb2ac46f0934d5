"""The RPC protocol between the host and a plugin's worker: typed msgpack frames.

A frame is a 4-byte big-endian length and a msgpack body. Bodies are tagged arrays
(msgspec structs with ``array_like=True``), so the decoder checks every field's type;
anything else is a `ProtocolViolation`. The first frame each side sends is
`Hello`, carrying `PROTOCOL_VERSION`.

Example:
    >>> frame = encode(Request(7, "kv.get", ["colour"], 2000.0))
    >>> decoder = FrameDecoder(max_frame_bytes=1024)
    >>> decoder.feed(frame)
    [Request(id=7, method='kv.get', args=['colour'], timeout_ms=2000.0)]
"""

from __future__ import annotations

import struct

import msgspec

from pluginctl.errors import ProtocolViolation
from pluginctl.runtime.limits import WorkerLimits
from pluginctl.runtime.sandbox import SandboxPolicy

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "PROTOCOL_VERSION",
    "Cancel",
    "Error",
    "FrameDecoder",
    "Hello",
    "HttpRequest",
    "HttpResponse",
    "Message",
    "Notify",
    "Ping",
    "Pong",
    "Request",
    "Response",
    "WorkerSpec",
    "encode",
    "encode_into",
]

PROTOCOL_VERSION = 1
DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
_HEADER = struct.Struct(">I")


class _Frame(msgspec.Struct, array_like=True, frozen=True, tag_field="k"):
    """Base of every message: an array whose first item names the kind."""


class Hello(_Frame, frozen=True, tag="hello"):
    """Opens the channel: the protocol version and who is speaking."""

    protocol: int
    pid: int
    role: str


class Request(_Frame, frozen=True, tag="req"):
    """Call ``method`` with ``args``; the caller gives up after ``timeout_ms`` (None: never)."""

    id: int
    method: str
    args: list[object]
    timeout_ms: float | None = None


class Response(_Frame, frozen=True, tag="res"):
    """The result of request ``id``."""

    id: int
    result: object = None


class Error(_Frame, frozen=True, tag="err"):
    """Request ``id`` failed with exception ``type``.

    ``details`` is its traceback, for logs; ``attrs`` the attributes of a pluginctl
    error (``permission``, ``retry_after_s``, ``hint``) so the caller can raise the same type.
    """

    id: int
    type: str
    message: str
    details: str = ""
    attrs: dict[str, str | float | int | bool | None] = {}


class Notify(_Frame, frozen=True, tag="note"):
    """A one-way message: no reply."""

    method: str
    args: list[object]


class Cancel(_Frame, frozen=True, tag="cancel"):
    """The caller no longer wants the result of request ``id``."""

    id: int


class Ping(_Frame, frozen=True, tag="ping"):
    """Are you there? Answered by `Pong` with the same id."""

    id: int


class Pong(_Frame, frozen=True, tag="pong"):
    """The answer to `Ping` ``id``."""

    id: int


Message = Hello | Request | Response | Error | Notify | Cancel | Ping | Pong


class HttpRequest(msgspec.Struct, array_like=True, frozen=True):
    """An HTTP request as the gateway hands it to a plugin's route handler."""

    method: str
    path: str
    path_params: dict[str, str]
    query_string: str
    headers: list[tuple[str, str]]
    body: bytes
    client: str | None = None
    request_id: str = ""


class HttpResponse(msgspec.Struct, array_like=True, frozen=True):
    """What a route handler answered, ready for the gateway to send."""

    status: int = 200
    headers: list[tuple[str, str]] = []
    body: bytes = b""


_encoder = msgspec.msgpack.Encoder()
_PLACEHOLDER = bytes(_HEADER.size)


def encode(message: Message) -> bytes:
    """One frame: the length prefix and the msgpack body."""
    body = _encoder.encode(message)
    return _HEADER.pack(len(body)) + body


def encode_into(message: Message, buffer: bytearray) -> None:
    """Append one frame to ``buffer``, encoding the body in place (no copy).

    A message that cannot be encoded (an int past 64 bits, an object msgpack has no
    form for) raises ``TypeError`` or ``OverflowError`` and leaves ``buffer`` as it was.

    Example:
        >>> buffer = bytearray()
        >>> encode_into(Ping(1), buffer)
        >>> bytes(buffer) == encode(Ping(1))
        True
    """
    start = len(buffer)
    buffer += _PLACEHOLDER
    try:
        _encoder.encode_into(message, buffer, -1)
    except BaseException:
        del buffer[start:]  # no half-written frame: the frames before it stay whole
        raise
    _HEADER.pack_into(buffer, start, len(buffer) - start - _HEADER.size)


class FrameDecoder:
    """Split a byte stream into messages, refusing anything that breaks the protocol."""

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._max = max_frame_bytes
        self._buffer = bytearray()
        self._decoder: msgspec.msgpack.Decoder[Message] = msgspec.msgpack.Decoder(Message)

    def feed(self, data: bytes) -> list[Message]:
        """Add ``data`` and return every complete message in it.

        Raises:
            ProtocolViolation: for a frame over the size limit or a body that is not a
                valid message; the stream cannot be trusted after that.
        """
        buffer = self._buffer
        buffer += data
        messages: list[Message] = []
        offset = 0
        size = len(buffer)
        while size - offset >= 4:
            (length,) = _HEADER.unpack_from(buffer, offset)
            if length > self._max:
                raise ProtocolViolation(
                    f"frame of {length} bytes is over the {self._max}-byte limit"
                )
            end = offset + 4 + length
            if end > size:
                break
            messages.append(self._decode(memoryview(buffer)[offset + 4 : end]))
            offset = end
        if offset:
            try:
                del buffer[:offset]
            except BufferError:  # a view of it lives on (a traceback holds a frame): start afresh
                self._buffer = buffer[offset:]
        return messages

    def _decode(self, body: memoryview) -> Message:
        try:
            return self._decoder.decode(body)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProtocolViolation(f"malformed frame: {exc}") from None


class WorkerSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Everything a worker needs to load its plugin, sent by the host when it starts one."""

    plugin: str
    limits: WorkerLimits = msgspec.field(default_factory=WorkerLimits)
    sandbox: SandboxPolicy = msgspec.field(default_factory=SandboxPolicy)
    entry_point: str
    import_root: str | None
    data_dir: str
    config: dict[str, object] = {}
    call_timeout_s: float = 10.0
    max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
