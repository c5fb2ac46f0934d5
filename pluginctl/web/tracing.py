"""Give every request an id, stamp it on the response, and log one line when it ends.

`TracingMiddleware` is the outermost layer the gateway adds. It creates a
`RequestTrace` (a uuid4 hex ``request_id``), stores it in the ASGI scope for the
handlers (`trace_of`), adds ``x-request-id`` and ``x-content-type-options: nosniff``
to whatever response goes out, and logs method, path, plugin, route, status and
duration at DEBUG. An exception that escapes the app is a bug: it is logged with its
traceback and, if nothing was sent yet, answered with a JSON 500 carrying the id.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pluginctl.web.responses import NOSNIFF, error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RequestTrace", "TracingMiddleware", "trace_of"]

logger = logging.getLogger("pluginctl.web.gateway")

_SCOPE_KEY = "pluginctl.trace"
_STAMPED = frozenset({b"x-request-id", NOSNIFF[0].encode()})


@dataclass(slots=True)
class RequestTrace:
    """What the log line of one request says; handlers fill in ``plugin`` and ``route``."""

    request_id: str
    plugin: str | None = None
    route: str | None = None
    status: int | None = None


def trace_of(scope: Scope) -> RequestTrace:
    """The trace of the request in ``scope`` (a fresh one if the middleware did not run)."""
    trace = scope.get(_SCOPE_KEY)
    if not isinstance(trace, RequestTrace):
        trace = RequestTrace(uuid.uuid4().hex)
        scope[_SCOPE_KEY] = trace
    return trace


class TracingMiddleware:
    """ASGI middleware: request ids, the nosniff header, a DEBUG line per request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        trace = RequestTrace(uuid.uuid4().hex)
        scope[_SCOPE_KEY] = trace
        stamp = [
            (b"x-request-id", trace.request_id.encode()),
            (NOSNIFF[0].encode(), NOSNIFF[1].encode()),
        ]

        async def send_stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                trace.status = message["status"]
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in _STAMPED]
                message = {**message, "headers": [*headers, *stamp]}
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_stamped)
        except Exception:
            logger.exception("request %s failed", trace.request_id)
            if trace.status is not None:
                raise
            response = error_response(500, "internal error", request_id=trace.request_id)
            await response(scope, receive, send_stamped)
        finally:
            logger.debug(
                "%s %r plugin=%r route=%r status=%s duration_ms=%.1f request_id=%s",
                scope["method"],
                scope["path"],
                trace.plugin,
                trace.route,
                trace.status,
                (time.perf_counter() - started) * 1000,
                trace.request_id,
            )
