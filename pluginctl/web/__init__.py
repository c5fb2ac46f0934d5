"""The host's HTTP gateway: plugin routes, plugin static files and health, in one ASGI app.

Importing this package imports Starlette; the CLI imports it inside the command
that serves, never at start-up.
"""

from __future__ import annotations

from pluginctl.web.gateway import DEFAULT_MAX_BODY_BYTES, GatewayHost, PluginEndpoint, build_app

__all__ = ["DEFAULT_MAX_BODY_BYTES", "GatewayHost", "PluginEndpoint", "build_app"]
