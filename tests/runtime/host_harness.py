"""A real host with real workers, for tests: start it, call it, stop it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from pluginctl.runtime.discovery import load_source
from pluginctl.runtime.host import Host, HostOptions
from pluginctl.runtime.resolution import resolve
from pluginctl.runtime.sandbox import probe as probe_sandbox
from pluginctl.web.gateway import build_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "plugins"
EXAMPLES = ROOT / "examples"

SANDBOX_SUPPORT = probe_sandbox()
#: Skips a test that needs Landlock and seccomp where they are missing, never in CI.
needs_sandbox = pytest.mark.skipif(
    not {"landlock", "seccomp"} <= set(SANDBOX_SUPPORT.layers) and os.environ.get("CI") != "true",
    reason=f"this machine lacks sandbox layers: {SANDBOX_SUPPORT.missing}",
)  # in CI they must run: a missing layer fails there


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


def start_host(
    tmp_path: Path,
    *args: str,
    python: Path | str = sys.executable,
    installed: bool = False,
    env: dict[str, str] | None = None,
) -> tuple[subprocess.Popen[str], str]:
    """``pluginctl run`` in a child process, data in ``tmp_path/data``: it and its URL.

    ``python`` runs it (another venv's); ``installed`` adds the plugins installed there.
    """
    command = [
        str(python),
        "-m",
        "pluginctl",
        "run",
        "--installed" if installed else "--no-installed",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "data"),
        *args,
    ]
    host = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path
    )
    assert host.stdout is not None
    deadline = time.monotonic() + 60
    for line in host.stdout:
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            return host, found.group(1)
        assert time.monotonic() < deadline
    host.wait()
    raise AssertionError(f"the host did not start: {host.stderr.read() if host.stderr else ''}")


def interrupt(host: subprocess.Popen[str], *, timeout_s: float = 30) -> str:
    """Stop ``host`` as ctrl+c would (killing it if it will not stop); its stderr."""
    try:
        host.send_signal(signal.SIGINT)
        _, err = host.communicate(timeout=timeout_s)
    finally:
        if host.poll() is None:
            host.kill()
            host.communicate()
    return err


async def wait_for(predicate: object, *, timeout_s: float = 5.0) -> None:
    """Poll ``predicate()`` until it is true."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class Probe:
    """Requests examples/hello over and over, concurrently; every failure is a finding."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.failures: list[str] = []
        self.served = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            response = await self.client.get("/plugins/hello/hello/probe")
            if response.status_code != 200:
                self.failures.append(f"{response.status_code} {response.text}")
            self.served += 1
            await asyncio.sleep(0.002)

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def probed_host(
    *paths: Path, data_dir: Path, **options: object
) -> AsyncIterator[tuple[Host, Probe]]:
    """A host with the plugins at ``paths`` and examples/hello, probed all along.

    On the way out it asserts that the probe never failed and that it was served.
    """
    hosted = running_host(*paths, EXAMPLES / "hello", data_dir=data_dir, **options)  # type: ignore[arg-type]  # HostOptions fields
    async with hosted as (host, client):
        probe = Probe(client)
        probe.start()
        try:
            yield host, probe
        finally:
            await probe.stop()
        assert probe.failures == [], probe.failures
        assert probe.served > 0
