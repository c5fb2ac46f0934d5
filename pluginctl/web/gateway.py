"""The host's HTTP gateway: one Starlette app in front of every plugin's routes and files.

`build_app` serves:

- ``/plugins/<name>/static/<path>``: the plugin's ``static_dir`` (see
  `pluginctl.web.static`). The whole ``/static`` subtree of a plugin belongs to the
  gateway: a route a plugin registers at ``/static/...`` under a ``"/"`` prefix is
  never reached, and a plugin without a ``static_dir`` answers 404 there.
- ``/plugins/<name><prefix><route path>``: the plugin's routes, matched by a
  `PluginRouter` that is rebuilt when the plugin's ``generation`` changes. The
  request crosses to the worker as an `HttpRequest`; the `HttpResponse` that comes
  back is checked before it is sent (`pluginctl.web.responses`).
- ``/healthz``: 200 or 503, with the host's health as JSON; ``/healthz/<name>`` the
  same for one plugin (404 for an unknown one).
- ``/metrics``: the host's metrics in the Prometheus text format.
- ``/status`` and ``/control/plugins/<name>/{enable,disable}``: for operators, with
  the ``control_token`` as a bearer token (`pluginctl.web.control`); without a
  token these routes do not exist.
- ``/admin``: the admin UI (`pluginctl.web.admin`), when one is given.

The last three need a host that is also a `ManagedHost`.

Every error is JSON, ``{"error": ..., "request_id": ...}``, in the gateway's own
words: nothing from the URL or from a plugin is echoed back. Every response carries
``x-request-id``. Failures map to statuses:

- plugin not active: 503 with ``Retry-After: 1``;
- `RateLimited`: 429 with ``Retry-After``, ``retry_after_s`` rounded up;
- `RemoteError` (the handler raised): 500; its traceback goes to the log only;
- `CallTimeout`: 504;
- `WorkerCrashed`, or any other `RuntimeFault` such as a bad frame: 502;
- an unsafe reply (CR or LF in a header, a status outside 200-599, a cookie for a
  path outside ``/plugins/<name>``): 500, logged.

Example:
    >>> import asyncio, httpx
    >>> class NoPlugins:
    ...     def endpoint(self, name):
    ...         return None
    ...
    ...     def health(self):
    ...         return True, {"status": "ok"}
    >>> async def get(path):
    ...     transport = httpx.ASGITransport(build_app(NoPlugins()))
    ...     async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
    ...         return await client.get(path)
    >>> asyncio.run(get("/healthz")).json()
    {'status': 'ok'}
    >>> reply = asyncio.run(get("/plugins/nope/anything"))
    >>> reply.status_code, reply.json()["error"]
    (404, 'no such plugin')
"""

from __future__ import annotations

import logging
import math
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.routing import BaseRoute, Route

from pluginctl.errors import (
    CallTimeout,
    CircuitOpen,
    PluginctlError,
    RateLimited,
    RemoteError,
    RuntimeFault,
    WorkerCrashed,
)
from pluginctl.runtime.protocol import HttpRequest
from pluginctl.web.responses import UnsafeResponse, error_response, json_response, plugin_response
from pluginctl.web.routing import MethodNotAllowed, PluginRouter
from pluginctl.web.static import StaticDirectory
from pluginctl.web.tracing import RequestTrace, TracingMiddleware, trace_of

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from prometheus_client.registry import CollectorRegistry
    from starlette.responses import Response
    from starlette.types import Receive, Scope, Send

    from pluginctl.runtime.protocol import HttpResponse
    from pluginctl.web.admin import AdminUI

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "GatewayHost",
    "ManagedHost",
    "PluginEndpoint",
    "build_app",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
_STATIC = "/static"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_STATIC_METHODS = ("GET", "HEAD")


class PluginEndpoint(Protocol):
    """One plugin as the gateway sees it; the host implements it.

    Attributes are read-only here: plain attributes, properties or frozen dataclass
    fields all satisfy the protocol.
    """

    @property
    def name(self) -> str:
        """The plugin's name, as in ``/plugins/<name>``."""

    @property
    def state(self) -> str:
        """Its lifecycle state: ``"active"`` serves, anything else answers 503."""

    @property
    def generation(self) -> int:
        """Changes whenever the plugin is reloaded; the gateway rebuilds its router then."""

    @property
    def prefix(self) -> str:
        """The manifest's ``routes.prefix`` (``"/"``, ``"/api"``); ``""`` without routes."""

    @property
    def routes(self) -> Sequence[tuple[str, str]]:
        """``(METHOD, path)`` in registration order; a route's index is its id."""

    @property
    def static_dir(self) -> Path | None:
        """The absolute directory of its static files, or None."""

    async def handle(self, route_index: int, request: HttpRequest) -> HttpResponse:
        """Run route ``route_index`` in the plugin's worker.

        Raises:
            RemoteError: The handler raised.
            CallTimeout: It did not answer before the deadline.
            WorkerCrashed: The worker ended.
            RateLimited: The plugin is over its request rate.
        """
        ...


class GatewayHost(Protocol):
    """What the gateway needs from the host."""

    def endpoint(self, name: str) -> PluginEndpoint | None:
        """The plugin called ``name``, or None if there is none."""

    def health(self) -> tuple[bool, dict[str, object]]:
        """Whether the host is healthy, and the JSON body that says why."""


@runtime_checkable
class ManagedHost(GatewayHost, Protocol):
    """A host that also reports per-plugin health, metrics and status, and takes actions."""

    def plugin_health(self, name: str) -> tuple[bool, dict[str, object]] | None:
        """One plugin's health and the JSON body that says why, or None if there is none."""

    def metrics(self) -> CollectorRegistry:
        """The host's Prometheus registry."""

    def status(self) -> dict[str, object]:
        """The host and every plugin's figures, as plain data."""

    def plugin_status(self, name: str) -> dict[str, object] | None:
        """One plugin's entry of `status`, or None if there is none."""

    async def enable_or_reset(self, name: str) -> None:
        """Start a stopped plugin again, or close an active one's breakers."""

    async def disable_plugin(self, name: str) -> None:
        """Stop a plugin and keep it stopped."""


def build_app(
    host: GatewayHost,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    control_token: str | None = None,
    admin: AdminUI | None = None,
) -> Starlette:
    """The gateway as an ASGI app, ready for uvicorn.

    Args:
        host: Looks plugins up and reports health.
        max_body_bytes: The largest request body passed to a plugin; larger is 413.
        control_token: The bearer token of ``/status`` and ``/control``; None leaves
            them out.
        admin: The admin UI to serve at ``/admin`` (`pluginctl.web.admin`); None
            leaves it out.
    """

    async def healthz(request: Request) -> Response:
        healthy, body = host.health()
        return json_response(body, status=200 if healthy else 503)

    plugins = _PluginGateway(host, max_body_bytes=max_body_bytes)
    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"])]
    if isinstance(host, ManagedHost):
        from pluginctl.web.control import control_routes
        from pluginctl.web.observe import observation_routes

        routes.extend(observation_routes(host))
        if control_token is not None:
            routes.extend(control_routes(host, token=control_token))
    if admin is not None:
        routes.extend(admin.routes())
    return Starlette(
        routes=[*routes, Route("/plugins/{plugin}{path:path}", plugins)],
        middleware=[Middleware(TracingMiddleware)],
        exception_handlers={HTTPException: _http_error},
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404 and 405 (outside ``/plugins``), as the gateway's JSON errors."""
    status, headers = (
        (exc.status_code, exc.headers) if isinstance(exc, HTTPException) else (500, None)
    )
    return error_response(
        status,
        HTTPStatus(status).phrase.lower(),
        request_id=trace_of(request.scope).request_id,
        headers=headers,
    )


class _PluginGateway:
    """The ASGI app behind ``/plugins/{plugin}{path}``."""

    def __init__(self, host: GatewayHost, *, max_body_bytes: int) -> None:
        self._host = host
        self._max_body_bytes = max_body_bytes
        self._routers: dict[str, tuple[int, PluginRouter]] = {}
        self._statics: dict[str, tuple[int, StaticDirectory]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self._respond(request, trace_of(scope))
        await response(scope, receive, send)

    async def _respond(self, request: Request, trace: RequestTrace) -> Response:
        name: str = request.path_params["plugin"]
        path: str = request.path_params["path"] or "/"
        endpoint = self._host.endpoint(name)
        if endpoint is None:
            self._forget(name)
            return error_response(404, "no such plugin", request_id=trace.request_id)
        trace.plugin = endpoint.name
        if endpoint.state != "active":
            return error_response(
                503,
                "the plugin is not active",
                request_id=trace.request_id,
                headers={"retry-after": "1"},
            )
        if path == _STATIC or path.startswith(_STATIC + "/"):
            return await self._static(endpoint, request, path[len(_STATIC) + 1 :], trace)
        return await self._route(endpoint, request, path, trace)

    async def _static(
        self, endpoint: PluginEndpoint, request: Request, path: str, trace: RequestTrace
    ) -> Response:
        trace.route = _STATIC
        if request.method not in _STATIC_METHODS:
            return error_response(
                405,
                "method not allowed",
                request_id=trace.request_id,
                headers={"allow": ", ".join(_STATIC_METHODS)},
            )
        directory = self._static_directory(endpoint)
        response = None
        if directory is not None and not _has_control_character(request):
            response = await directory.response(path, request.scope)
        if response is None:
            return error_response(404, "no such file", request_id=trace.request_id)
        return response

    async def _route(
        self, endpoint: PluginEndpoint, request: Request, path: str, trace: RequestTrace
    ) -> Response:
        found = self._router(endpoint).resolve(request.method, path)
        if found is None or _has_control_character(request):
            return error_response(404, "no such route", request_id=trace.request_id)
        if isinstance(found, MethodNotAllowed):
            return error_response(
                405,
                "method not allowed",
                request_id=trace.request_id,
                headers={"allow": ", ".join(found.allowed)},
            )
        trace.route = found.template
        try:
            body = await _read_body(request, limit=self._max_body_bytes)
        except ClientDisconnect:
            return error_response(400, "the request body was cut off", request_id=trace.request_id)
        if body is None:
            return error_response(413, "the request body is too large", request_id=trace.request_id)
        message = HttpRequest(
            method=request.method,
            path=path,
            path_params=found.path_params,
            query_string=request.scope.get("query_string", b"").decode("latin-1"),
            headers=[(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw],
            body=body,
            client=request.client.host if request.client else None,
            request_id=trace.request_id,
        )
        return await _call(endpoint, found.index, message, trace)

    def _forget(self, name: str) -> None:
        """Drop what was cached for a plugin the host no longer has."""
        self._routers.pop(name, None)
        self._statics.pop(name, None)

    def _router(self, endpoint: PluginEndpoint) -> PluginRouter:
        cached = self._routers.get(endpoint.name)
        if cached is None or cached[0] != endpoint.generation:
            cached = (endpoint.generation, PluginRouter(endpoint.prefix, endpoint.routes))
            self._routers[endpoint.name] = cached
        return cached[1]

    def _static_directory(self, endpoint: PluginEndpoint) -> StaticDirectory | None:
        directory = endpoint.static_dir
        if directory is None:
            return None
        cached = self._statics.get(endpoint.name)
        if cached is None or cached[0] != endpoint.generation or cached[1].directory != directory:
            cached = (endpoint.generation, StaticDirectory(directory))
            self._statics[endpoint.name] = cached
        return cached[1]


def _has_control_character(request: Request) -> bool:
    """Whether the decoded URL path has a control character.

    Such a path is never a file or a route. It must be checked on the whole path:
    Starlette's ``{path:path}`` stops at a newline and its ``$`` matches before a final
    one, so ``/static/a.css%0A`` would otherwise arrive here as ``/static/a.css``.
    """
    return _CONTROL.search(request.scope["path"]) is not None


async def _read_body(request: Request, *, limit: int) -> bytes | None:
    """The request body, or None as soon as it is known to be over ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def _call(
    endpoint: PluginEndpoint, index: int, message: HttpRequest, trace: RequestTrace
) -> Response:
    """Run the route in the plugin and turn its reply, or its failure, into a response."""
    try:
        reply = await endpoint.handle(index, message)
    except RuntimeFault as exc:
        return _fault_response(exc, trace)
    except PluginctlError as exc:  # the handler let a host API error escape (PermissionDenied)
        logger.error(
            "plugin %r route %r (request %s) raised %s: %s",
            trace.plugin,
            trace.route,
            trace.request_id,
            type(exc).__name__,
            exc,
        )
        return error_response(500, "the plugin failed", request_id=trace.request_id)
    try:
        return plugin_response(
            reply, head=message.method == "HEAD", cookie_path=f"/plugins/{endpoint.name}"
        )
    except UnsafeResponse as exc:
        logger.error(
            "plugin %r route %r sent an unsafe response (request %s): %s",
            trace.plugin,
            trace.route,
            trace.request_id,
            exc,
        )
        return error_response(500, "the plugin failed", request_id=trace.request_id)


def _fault_response(exc: RuntimeFault, trace: RequestTrace) -> Response:
    where = f"plugin {trace.plugin!r} route {trace.route!r} (request {trace.request_id})"
    rid = trace.request_id
    if isinstance(exc, RemoteError):
        logger.error("%s raised %s\n%s", where, exc, exc.details)
        return error_response(500, "the plugin failed", request_id=rid)
    if isinstance(exc, RateLimited):
        logger.info("%s is rate limited: %s", where, exc)
        retry = str(max(0, math.ceil(exc.retry_after_s)))
        return error_response(
            429, "too many requests", request_id=rid, headers={"retry-after": retry}
        )
    if isinstance(exc, CircuitOpen):
        logger.info("%s: %s", where, exc)
        retry = str(max(1, math.ceil(exc.retry_after_s)))
        return error_response(
            503, "the plugin keeps failing: calls are paused", request_id=rid,
            headers={"retry-after": retry},
        )  # fmt: skip
    if isinstance(exc, CallTimeout):
        logger.warning("%s timed out: %s", where, exc)
        return error_response(504, "the plugin did not answer in time", request_id=rid)
    if isinstance(exc, WorkerCrashed):
        logger.warning("%s lost its worker: %s", where, exc)
    else:
        logger.error("%s failed: %r", where, exc)
    return error_response(502, "the plugin is unavailable", request_id=rid)
