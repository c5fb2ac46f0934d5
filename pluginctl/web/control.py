"""The gateway's routes for operators: status and plugin actions, behind the control token.

- ``GET /status``: the host and every plugin's figures as JSON (what ``pluginctl
  status`` shows): it names errors and paths an anonymous caller should not see.
- ``POST /control/plugins/<name>/enable``: start a disabled or failed plugin again
  with a clean crash record (``pluginctl enable``); for an active plugin, close its
  circuit breakers. ``POST /control/plugins/<name>/disable``: stop it and keep it
  stopped (``pluginctl disable``). Both answer the plugin's state afterwards; 404
  for an unknown plugin, 409 when the action cannot be done now.

Every one needs ``Authorization: Bearer <token>``, the token the host writes to its
record in ``<data_dir>/hosts/`` (mode 0600); a wrong or missing one is 401. A bearer
token is never sent by a browser on its own, so these routes need no CSRF defence.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING

from starlette.routing import Route

from pluginctl.errors import UserError
from pluginctl.web.responses import error_response, json_response
from pluginctl.web.tracing import trace_of

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request
    from starlette.responses import Response

    from pluginctl.web.gateway import ManagedHost

__all__ = ["control_routes"]

_ACTIONS = ("enable", "disable")


def control_routes(host: ManagedHost, *, token: str) -> list[Route]:
    """The routes, for ``host``, each guarded by ``token``."""
    guard = _BearerGuard(token)

    async def status(request: Request) -> Response:
        return json_response(host.status())

    async def act(request: Request) -> Response:
        name, action = request.path_params["plugin"], request.path_params["action"]
        rid = trace_of(request.scope).request_id
        if action not in _ACTIONS:
            return error_response(404, "no such action", request_id=rid)
        if host.endpoint(name) is None:
            return error_response(404, "no such plugin", request_id=rid)
        try:
            if action == "enable":
                await host.enable_or_reset(name)
            else:
                await host.disable_plugin(name)
        except UserError as exc:
            return error_response(409, str(exc), request_id=rid)
        return json_response(host.plugin_status(name) or {"name": name})

    return [
        Route("/status", guard(status), methods=["GET"]),
        Route("/control/plugins/{plugin}/{action}", guard(act), methods=["POST"]),
    ]


class _BearerGuard:
    """Wraps endpoints so that they answer 401 without the right bearer token."""

    def __init__(self, token: str) -> None:
        self._expected = f"Bearer {token}".encode()

    def __call__(
        self, endpoint: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            given = request.headers.get("authorization", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, self._expected):
                return error_response(
                    401,
                    "the host's control token is required",
                    request_id=trace_of(request.scope).request_id,
                    headers={"www-authenticate": 'Bearer realm="pluginctl"'},
                )
            return await endpoint(request)

        return guarded
