"""The admin UI at ``/admin``: server-rendered pages for the operator of a host.

What it shows: every plugin with its state, health, restarts and their reasons,
breaker state, request figures, recent errors and log lines; per-plugin charts of
request rate and latency over the last ten minutes (SVG drawn on the server); the
audit log, filtered; and each plugin's admin panels in the sidebar. What it does:
enable, disable, reload, and close a plugin's circuit breakers. The figures refresh
every two seconds without reloading the page (a small script fetches the live part
of the page as HTML); without the script, the pages still work.

Security (`pluginctl.web.admin.auth`, `pluginctl.web.admin.views`):

- A session needs the admin token (``PLUGINCTL_ADMIN_TOKEN`` or
  ``<data_dir>/admin-token``, printed at the first start); its cookie is
  ``HttpOnly``, ``SameSite=Strict`` and scoped to ``/admin``.
- Every action is a POST with the session's CSRF token and a same-origin check.
- The admin pages allow only their own scripts and styles and are never framed.
- A panel's HTML comes from the plugin and is untrusted: it is served from its own
  URL under ``Content-Security-Policy: sandbox allow-forms; default-src 'none'; ...``
  and shown in an ``<iframe sandbox="allow-forms">``. It gets an opaque origin, so
  it cannot read the admin's cookies, storage or page; no script of its own runs;
  it can load nothing from the network; its forms can only load the panel itself again.
- Plugin routes and static files on the same origin are already sandboxed by the
  gateway (`pluginctl.web.responses.SANDBOX_POLICY`).

The gateway listens on 127.0.0.1 unless the operator says otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from pluginctl.web.admin.auth import AdminToken, load_admin_token
from pluginctl.web.admin.history import History
from pluginctl.web.admin.views import AdminViews

if TYPE_CHECKING:
    from starlette.routing import Mount

    from pluginctl.runtime.host import Host

__all__ = ["AdminToken", "AdminUI", "load_admin_token"]


class AdminUI:
    """The admin UI of one host: its routes, its sessions and its traffic history.

    Args:
        host: The host it shows and acts on.
        token: The token a login needs.
        history: Where the charts' samples are kept (default: every 2 s, 10 minutes).
    """

    def __init__(self, host: Host, token: AdminToken, *, history: History | None = None) -> None:
        self.host = host
        self.token = token
        self.history = history or History()
        self.views = AdminViews(host, token, self.history)
        self._sampling: asyncio.Future[None] | None = None

    def routes(self) -> list[Mount]:
        """The routes to add to the gateway."""
        return self.views.routes()

    def start(self) -> None:
        """Start keeping the problems the audit log records, and sampling the traffic."""
        if self._sampling is None:
            self.views.problems.seed(self.host.audit.path)
            self.host.audit.listeners.append(self.views.problems.record)
            self._sampling = asyncio.ensure_future(
                self.history.run(
                    lambda: {runtime.name: runtime.calls for runtime in self.host.plugins},
                    time.monotonic,
                )
            )

    async def stop(self) -> None:
        """Stop sampling."""
        sampling, self._sampling = self._sampling, None
        if sampling is not None:
            with contextlib.suppress(ValueError):
                self.host.audit.listeners.remove(self.views.problems.record)
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
