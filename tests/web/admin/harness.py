"""A real host with its admin UI, and an HTTP client logged in to it."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from pluginctl.runtime.discovery import load_source
from pluginctl.runtime.host import Host, HostOptions
from pluginctl.runtime.resolution import resolve
from pluginctl.web.admin import AdminToken, AdminUI
from pluginctl.web.admin.history import History
from pluginctl.web.gateway import build_app
from tests.runtime.host_harness import EXAMPLES, FIXTURES

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

__all__ = ["BASE", "EXAMPLES", "FIXTURES", "TOKEN", "Admin", "admin_host", "csrf_of"]

TOKEN = "a-test-admin-token-of-some-length"  # noqa: S105  # a test token
BASE = "http://127.0.0.1:8700"


@dataclass
class Admin:
    """The host, its admin UI and a client of its gateway (not yet logged in)."""

    host: Host
    ui: AdminUI
    client: httpx.AsyncClient

    async def login(self) -> str:
        """Log the client in; the CSRF token of its session."""
        reply = await self.client.post("/admin/login", data={"token": TOKEN, "next": "/admin/"})
        assert reply.status_code == 303, reply.text
        page = await self.client.get("/admin/")
        return csrf_of(page.text)

    async def act(self, plugin: str, action: str, csrf: str) -> httpx.Response:
        return await self.client.post(
            f"/admin/plugins/{plugin}/{action}",
            data={"csrf": csrf, "next": "/admin/"},
            headers={"origin": BASE},
        )


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None, "the page has no CSRF token"
    return found.group(1)


@contextlib.asynccontextmanager
async def admin_host(
    *paths: Path, data_dir: Path, token: AdminToken | None = None
) -> AsyncIterator[Admin]:
    """A started host with the plugins at ``paths``, its admin UI sampling every 50 ms."""
    host = Host(resolve([load_source(path) for path in paths]), HostOptions(data_dir=data_dir))
    await host.start()
    token = token or AdminToken(TOKEN, "test")
    ui = AdminUI(host, token, history=History(every_s=0.05))
    ui.start()
    transport = httpx.ASGITransport(app=build_app(host, admin=ui), client=("127.0.0.1", 5000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
            yield Admin(host, ui, client)
    finally:
        await ui.stop()
        await host.stop()
