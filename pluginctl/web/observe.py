"""The gateway's routes for watching the host: per-plugin health, metrics and status.

- ``GET /healthz/<name>``: 200 when the plugin is active and well, 503 when it is
  degraded, failed, disabled or restarting (with ``Retry-After``), 404 when the host
  has no such plugin. The body names the state and, when unhealthy, why.
- ``GET /metrics``: the Prometheus text format (``prometheus_client``'s exposition),
  unauthenticated like every Prometheus target; the gateway binds to loopback unless
  the operator says otherwise.

The routes that need the host's control token (``/status``, ``/control/...``) are in
`pluginctl.web.control`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import Route

from pluginctl.web.responses import NOSNIFF, error_response, json_response
from pluginctl.web.tracing import trace_of

if TYPE_CHECKING:
    from starlette.requests import Request

    from pluginctl.web.gateway import ManagedHost

__all__ = ["observation_routes"]


def observation_routes(host: ManagedHost) -> list[Route]:
    """The routes, for ``host``."""

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

    return [
        Route("/healthz/{plugin}", plugin_healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
