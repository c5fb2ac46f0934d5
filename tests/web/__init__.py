"""Tests of the HTTP gateway, and the host double they share.

`FakeHost` and `FakePlugin` implement `GatewayHost` and `PluginEndpoint` with
plain Python handlers; the worker-backed endpoint is covered by the runtime's
integration tests.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable
from typing import TYPE_CHECKING

import httpx

from pluginctl.runtime.protocol import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from pathlib import Path

    from starlette.applications import Starlette

Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]


class FakePlugin:
    """A `PluginEndpoint` whose routes are Python coroutines; records what it was sent."""

    def __init__(
        self,
        name: str,
        *,
        prefix: str = "/",
        static_dir: Path | None = None,
        state: str = "active",
    ) -> None:
        self.name = name
        self.prefix = prefix
        self.static_dir = static_dir
        self.state = state
        self.generation = 1
        self.routes: list[tuple[str, str]] = []
        self.handlers: list[Handler] = []
        self.received: list[tuple[int, HttpRequest]] = []

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append((method, path))
            self.handlers.append(handler)
            return handler

        return register

    def reply(self, method: str, path: str, response: HttpResponse) -> None:
        """Register a route that always answers ``response``."""

        async def answer(request: HttpRequest) -> HttpResponse:
            return response

        self.route(method, path)(answer)

    def fail(self, method: str, path: str, error: BaseException) -> None:
        """Register a route that always raises ``error``."""

        async def raise_it(request: HttpRequest) -> HttpResponse:
            raise error

        self.route(method, path)(raise_it)

    async def handle(self, route_index: int, request: HttpRequest) -> HttpResponse:
        self.received.append((route_index, request))
        return await self.handlers[route_index](request)


class FakeHost:
    """A `GatewayHost` over a fixed set of plugins, with settable health."""

    def __init__(self, *plugins: FakePlugin) -> None:
        self.plugins = {plugin.name: plugin for plugin in plugins}
        self.healthy = True
        self.health_body: dict[str, object] = {"status": "ok", "plugins": len(plugins)}

    def endpoint(self, name: str) -> FakePlugin | None:
        return self.plugins.get(name)

    def health(self) -> tuple[bool, dict[str, object]]:
        return self.healthy, self.health_body


def send(
    app: Starlette,
    method: str,
    url: str,
    *,
    headers: dict[str, str] | None = None,
    content: bytes | AsyncIterable[bytes] | None = None,
) -> httpx.Response:
    """One request to ``app`` in process, through httpx's ASGI transport."""

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.request(method, url, headers=headers, content=content)

    return asyncio.run(go())
