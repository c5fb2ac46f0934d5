"""The gateway's routes for watching the host: per-plugin health, metrics and status.

- ``GET /healthz/<name>``: 200 when the plugin is active and well, 503 when it is
  degraded, failed, disabled or restarting (with ``Retry-After``), 404 when the host
  has no such plugin. The body names the state and, when unhealthy, why.
- ``GET /metrics``: the Prometheus text format (``prometheus_client``'s exposition),
  unauthenticated like every Prometheus target; the gateway binds to loopback unless
  the operator says otherwise.
- ``GET /status``: the host and every plugin's figures as JSON (what ``pluginctl
  status`` shows), only with ``Authorization: Bearer <token>``: it names errors and
  paths an anonymous caller should not see. A wrong or missing token is 401.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import Route

from pluginctl.web.responses import NOSNIFF, error_response, json_response
from pluginctl.web.tracing import trace_of

if TYPE_CHECKING:
    from starlette.requests import Request

    from pluginctl.web.gateway import ObservableHost

__all__ = ["observation_routes"]


def observation_routes(host: ObservableHost, *, status_token: str | None) -> list[Route]:
    """The routes, for ``host``; ``/status`` only when a token guards it."""

    async def plugin_healthz(request: Request) -> Response:
        found = host.plugin_health(request.path_params["plugin"])
        if found is None:
            rid = trace_of(request.scope).request_id
            return error_response(404, "no such plugin", request_id=rid)
        healthy, body = found
        headers = None if healthy else {"retry-after": "1"}
        return json_response(body, status=200 if healthy else 503, headers=headers)

    async def metrics(request: Request) -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        body = generate_latest(host.metrics())
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers=dict([NOSNIFF]))

    routes = [
        Route("/healthz/{plugin}", plugin_healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    if status_token is not None:
        routes.append(Route("/status", _status_endpoint(host, status_token), methods=["GET"]))
    return routes


def _status_endpoint(host: ObservableHost, token: str):  # type: ignore[no-untyped-def]  # a closure
    expected = f"Bearer {token}".encode()

    async def status(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode("latin-1", "replace")
        if not hmac.compare_digest(given, expected):
            rid = trace_of(request.scope).request_id
            return error_response(
                401,
                "a status token is required",
                request_id=rid,
                headers={"www-authenticate": 'Bearer realm="pluginctl"'},
            )
        return json_response(host.status())

    return status
