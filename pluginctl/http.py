"""HTTP as a plugin's route handlers see it: `Request` in, `Response` (or plain data) out.

Example:
    >>> from pluginctl.runtime.protocol import HttpRequest
    >>> request = Request(HttpRequest("GET", "/hello/ada", {"name": "ada"}, "lang=en", [], b""))
    >>> request.path_params["name"], request.query["lang"]
    ('ada', 'en')
    >>> to_http_response({"hello": "ada"}).headers
    [('content-type', 'application/json')]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from pluginctl.runtime.protocol import HttpResponse

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pluginctl.runtime.protocol import HttpRequest

__all__ = ["Request", "Response", "to_http_response"]


class Request:
    """An incoming HTTP request, read-only.

    Attributes:
        method: ``GET``, ``POST``, ...
        path: The path below the plugin's mount (``/hello/ada``).
        path_params: The route's ``{parameters}``, as strings.
        query: The query string's parameters (the last value of repeated ones).
        headers: Header names in lowercase.
        body: The raw body.
        request_id: The id the gateway logs and returns as ``x-request-id``.
    """

    __slots__ = ("_wire", "headers", "query")

    def __init__(self, wire: HttpRequest) -> None:
        self._wire = wire
        self.headers: Mapping[str, str] = {k.lower(): v for k, v in wire.headers}
        self.query: Mapping[str, str] = dict(parse_qsl(wire.query_string, keep_blank_values=True))

    @property
    def method(self) -> str:
        return self._wire.method

    @property
    def path(self) -> str:
        return self._wire.path

    @property
    def path_params(self) -> Mapping[str, str]:
        return self._wire.path_params

    @property
    def body(self) -> bytes:
        return self._wire.body

    @property
    def client(self) -> str | None:
        return self._wire.client

    @property
    def request_id(self) -> str:
        return self._wire.request_id

    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self._wire.body.decode("utf-8", errors="replace")

    def json(self) -> object:
        """The body parsed as JSON (raises ``ValueError`` when it is not)."""
        return json.loads(self._wire.body)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"


@dataclass(frozen=True, slots=True)
class Response:
    """A response with a chosen status, headers or body type.

    Return plain data instead when 200 is right: a dict or list becomes JSON, a str
    ``text/plain``, bytes ``application/octet-stream``, None an empty 204.
    """

    body: bytes | str = b""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    media_type: str | None = None

    @classmethod
    def json(cls, data: object, *, status: int = 200) -> Response:
        """A JSON response."""
        return cls(json.dumps(data), status=status, media_type="application/json")

    @classmethod
    def html(cls, text: str, *, status: int = 200) -> Response:
        """An HTML response (``text/html; charset=utf-8``)."""
        return cls(text, status=status, media_type="text/html; charset=utf-8")


def to_http_response(result: object) -> HttpResponse:
    """Turn what a route handler returned into the wire form.

    Raises:
        TypeError: for a value with no HTTP form (say, a set).
    """
    if isinstance(result, Response):
        body = result.body.encode() if isinstance(result.body, str) else result.body
        headers = [(k.lower(), v) for k, v in result.headers.items()]
        if result.media_type and not any(k == "content-type" for k, _ in headers):
            headers.append(("content-type", result.media_type))
        return HttpResponse(result.status, headers, body)
    if result is None:
        return HttpResponse(204, [], b"")
    if isinstance(result, dict | list):
        return HttpResponse(
            200, [("content-type", "application/json")], json.dumps(result).encode()
        )
    if isinstance(result, str):
        return HttpResponse(200, [("content-type", "text/plain; charset=utf-8")], result.encode())
    if isinstance(result, bytes):
        return HttpResponse(200, [("content-type", "application/octet-stream")], result)
    raise TypeError(
        f"a route handler returned {type(result).__name__}; return a dict, list, str, bytes,"
        " None or pluginctl.Response"
    )
