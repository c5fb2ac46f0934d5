r"""The responses the gateway writes: JSON errors, and a plugin's reply made safe to send.

Everything the gateway says itself is JSON with ``<``, ``>`` and ``&`` escaped, so
text that came from a URL or a plugin is never markup, whatever a browser makes of
it. A plugin's `HttpResponse` is checked before any byte is sent: a header name
that is not an RFC 9110 token, or a value with CR, LF, NUL or another control
character, makes the whole reply an `UnsafeResponse` (the gateway answers 500 and
logs why). Hop-by-hop headers, ``content-length`` and ``clear-site-data`` (which
would log the operator out of the admin UI on the same origin) are dropped and the
length is computed again; the gateway adds its own security headers.

Example:
    >>> from pluginctl.runtime.protocol import HttpResponse
    >>> reply = HttpResponse(200, [("Content-Type", "text/plain"), ("Connection", "close")], b"hi")
    >>> plugin_response(reply, head=False).headers["content-length"]
    '2'
    >>> plugin_response(HttpResponse(200, [("x-a", "1\r\nx-b: 2")]), head=False)
    Traceback (most recent call last):
    ...
    pluginctl.web.responses.UnsafeResponse: header 'x-a' has a control character in its value
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from starlette.responses import Response

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from pluginctl.runtime.protocol import HttpResponse

__all__ = [
    "NOSNIFF",
    "SANDBOX_POLICY",
    "UnsafeResponse",
    "error_response",
    "json_response",
    "plugin_response",
]

#: Added to every response the gateway sends.
NOSNIFF = ("x-content-type-options", "nosniff")
#: Added to every plugin-controlled response (routes and static files). A document a
#: plugin serves gets an opaque origin: its scripts run, but it cannot read the
#: admin UI's pages, cookies or storage on the same origin. Subresources (CSS, JS,
#: images, JSON fetched by a page) ignore it.
SANDBOX_POLICY = (
    "content-security-policy",
    "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads",
)

_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Headers the gateway owns: a plugin's copy is dropped, the gateway's is sent.
_OWNED = frozenset({"content-length", "x-request-id", NOSNIFF[0]})
# Headers that act on the whole origin, the admin UI's session included: dropped.
_ORIGIN_WIDE = frozenset({"clear-site-data"})
_NO_BODY_STATUSES = frozenset({204, 304})
_HTML_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


class UnsafeResponse(Exception):
    """A plugin's reply cannot be sent as it is: the gateway answers 500 instead."""


def json_response(
    content: object, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``content`` as compact JSON with ``<``, ``>`` and ``&`` escaped, never cached."""
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    body = text.translate(_HTML_ESCAPES).encode()
    response = Response(body, status_code=status, headers=headers, media_type="application/json")
    response.headers["cache-control"] = "no-store"
    return response


def error_response(
    status: int, message: str, *, request_id: str, headers: Mapping[str, str] | None = None
) -> Response:
    """The gateway's error body: ``{"error": message, "request_id": ...}``.

    ``message`` must be the gateway's own words: never text from the request or from a
    plugin.
    """
    return json_response(
        {"error": message, "request_id": request_id}, status=status, headers=headers
    )


def plugin_response(reply: HttpResponse, *, head: bool, cookie_path: str | None = None) -> Response:
    """A Starlette response for a plugin's ``reply``, with its headers checked.

    Args:
        reply: What the plugin's route handler returned.
        head: The request was ``HEAD``: send the length of the body but not the body.
        cookie_path: The plugin's own path (``/plugins/<name>``): a cookie it sets may
            not name a ``Path`` outside it. The origin is shared, and a cookie for
            ``/`` or ``/admin`` would reach other plugins and the admin UI (its
            session cookie's name, or enough bytes to make every request too large).

    Raises:
        UnsafeResponse: The status is not a final HTTP status (200-599), a header
            could split the response or is not HTTP at all, or a cookie's path is
            outside ``cookie_path``.
    """
    if not 200 <= reply.status <= 599:
        raise UnsafeResponse(f"status {reply.status} is not a final HTTP status")
    headers = _checked_headers(reply.headers)
    if cookie_path is not None:
        _check_cookie_paths(headers, cookie_path)
    body = reply.body
    if reply.status in _NO_BODY_STATUSES:
        body = b""
    else:
        headers.append((b"content-length", str(len(body)).encode()))
    headers.append((SANDBOX_POLICY[0].encode(), SANDBOX_POLICY[1].encode()))
    response = Response(b"" if head else body, status_code=reply.status)
    response.raw_headers = headers
    return response


def _checked_headers(pairs: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    pairs = list(pairs)
    for name, value in pairs:
        if not _TOKEN.match(name):
            raise UnsafeResponse(f"header name {name!r} is not an HTTP token")
        if _CONTROL.search(value):
            raise UnsafeResponse(f"header {name!r} has a control character in its value")
    dropped = _HOP_BY_HOP | _OWNED | _ORIGIN_WIDE | _listed_in_connection(pairs)
    kept: list[tuple[bytes, bytes]] = []
    for name, value in pairs:
        lowered = name.lower()
        if lowered in dropped:
            continue
        try:
            kept.append((lowered.encode("ascii"), value.strip(" \t").encode("latin-1")))
        except UnicodeEncodeError:
            raise UnsafeResponse(f"header {name!r} has a value outside latin-1") from None
    return kept


def _check_cookie_paths(headers: Iterable[tuple[bytes, bytes]], allowed: str) -> None:
    """Refuse a ``Set-Cookie`` whose ``Path`` is not ``allowed`` or below it.

    Without a ``Path`` a browser uses the request's own directory, inside the plugin's.
    """
    for name, value in headers:
        if name != b"set-cookie":
            continue
        for attribute in value.decode("latin-1").split(";")[1:]:
            key, _, path = attribute.partition("=")
            path = path.strip()
            if key.strip().lower() != "path" or not path.startswith("/"):
                continue  # not a path, or one a browser ignores for the default
            if path != allowed and not path.startswith(allowed + "/"):
                raise UnsafeResponse(f"a cookie for path {path!r}, outside {allowed}")


def _listed_in_connection(pairs: Iterable[tuple[str, str]]) -> frozenset[str]:
    """Header names a ``Connection`` header marks hop-by-hop (RFC 9110 section 7.6.1)."""
    return frozenset(
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    )
