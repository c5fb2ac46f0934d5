r"""Refusals in the HTTP status line, as PyPI sends them, so twine can show them.

twine prints an upload error as ``HTTPError: 400 Bad Request from URL`` and then
the response's *reason phrase*; ``--skip-existing`` looks for "File already
exists" there (or in the body). ASGI has no way to set a reason phrase, so an
app sets the `REASON_HEADER` header and `ReasonPhraseProtocol`, uvicorn's h11
protocol with one change, moves it into the status line: ``HTTP/1.1 400 File
already exists: ...``. The header itself never leaves the server.

Example:
    >>> reason_phrase("File already exists:\r\nSet-Cookie: x")
    'File already exists:  Set-Cookie: x'
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import h11
from h11._connection import DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
from uvicorn.protocols.http.h11_impl import H11Protocol

if TYPE_CHECKING:
    import asyncio

    from h11._events import Event
    from uvicorn.config import Config
    from uvicorn.server import ServerState

__all__ = ["REASON_HEADER", "ReasonPhraseProtocol", "reason_phrase"]

#: The response header whose value becomes the status line's reason phrase.
REASON_HEADER = "x-pluginctl-reason"
_REASON_BYTES = REASON_HEADER.encode()
_UNSAFE = re.compile(r"[^\x20-\x7e]")
_MAX_REASON = 400


def reason_phrase(text: str) -> str:
    """``text`` made safe for a status line: printable ASCII, one line, at most 400 chars."""
    return _UNSAFE.sub(" ", text)[:_MAX_REASON].strip()


class _ReasonConnection(h11.Connection):
    def send_with_data_passthrough(self, event: Event) -> list[bytes] | None:
        if isinstance(event, h11.Response):
            event = _with_reason(event)
        return super().send_with_data_passthrough(event)


def _with_reason(response: h11.Response) -> h11.Response:
    headers = list(response.headers)
    reason = [value for name, value in headers if name == _REASON_BYTES]
    if not reason:
        return response
    kept = [(name, value) for name, value in headers if name != _REASON_BYTES]
    phrase = reason_phrase(reason[-1].decode("latin-1")) or response.reason
    return h11.Response(
        status_code=response.status_code,
        headers=kept,
        http_version=response.http_version,
        reason=phrase,
    )


class ReasonPhraseProtocol(H11Protocol):
    """uvicorn's h11 protocol, sending `REASON_HEADER` as the reason phrase."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limit = config.h11_max_incomplete_event_size or DEFAULT_MAX_INCOMPLETE_EVENT_SIZE
        self.conn = _ReasonConnection(h11.SERVER, limit)
