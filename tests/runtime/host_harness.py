"""A real host with real workers, for tests: start it, call it, stop it."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from pluginctl.runtime.discovery import load_source
from pluginctl.runtime.host import Host, HostOptions
from pluginctl.runtime.resolution import resolve
from pluginctl.web.gateway import build_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "plugins"
EXAMPLES = ROOT / "examples"


@contextlib.asynccontextmanager
async def running_host(
    *paths: Path, data_dir: Path, start_method: str = "fork", **options: object
) -> AsyncIterator[tuple[Host, httpx.AsyncClient]]:
    """A started host with the plugins at ``paths`` and an HTTP client on its gateway."""
    order = resolve([load_source(path) for path in paths])
    host = Host(order, HostOptions(data_dir=data_dir, start_method=start_method, **options))  # type: ignore[arg-type]
    await host.start()
    transport = httpx.ASGITransport(app=build_app(host))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://host") as client:
            yield host, client
    finally:
        await host.stop()


async def wait_for(predicate: object, *, timeout_s: float = 5.0) -> None:
    """Poll ``predicate()`` until it is true."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)
