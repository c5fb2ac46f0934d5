"""Starting workers and plugins, and what a worker costs in memory, against plain Python.

A worker is forked from the host's zygote, which has already imported the runtime; the
anchors are what a fresh interpreter costs: ``python -c pass`` for time, an idle
spawned ``python`` for memory (USS: the memory only that process holds, which ending it
gives back). Subject and anchor alternate run by run, so drift hits both alike.

Metrics:
    worker_start_p50_ms: from asking a warm zygote for a worker to the worker's hello
        (`Zygote.fork`, the host's end of the `Channel`, the hello); against
        ``python -c pass``; goal <= 0.3. The zygote keeps one worker forked ahead, so
        this is the start a host sees; extra ``cold_p50_ms`` is a second worker asked
        for at once, which finds no standby and waits for the fork itself.
    plugin_load_p50_ms: examples/hello, from asking a running host (zygote warm) to
        start it to the first 200 of ``GET /plugins/hello/hello/x`` through the gateway
        served by uvicorn on 127.0.0.1 (the request from a minimal client on a kept-alive
        connection, in this process); goal <= 10 ms, absolute. The ratio to
        ``python -c pass`` is reported for context: below 1, the plugin serves before a
        bare interpreter would have started.
    worker_idle_uss_mib: a forked worker that has said hello and imported no plugin;
        against an idle spawned python; goal <= 1 MiB, absolute.
    hello_worker_uss_mib: examples/hello's worker once loaded and after serving one
        request; against an idle spawned python; goal <= 3 MiB, absolute.
    host_100_plugins_start_s: 100 generated plugins (one export each, distinct names)
        started under one `Host` (zygote included) until every one is active and
        answers a ping; against 100 sequential ``python -c pass``; goal <= 2 s,
        absolute. ``--quick`` starts 20 (extra ``plugins``). Extra: the workers' total
        and mean USS.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from bench._errors import BenchError
from bench._harness import Command
from bench._stats import p50
from bench._workers import (
    ECHO_EXPORT,
    EXAMPLES,
    Spec,
    bare_worker,
    guarded,
    idle_python,
    running_host,
    start_plugin,
    stop_plugin,
    uss_mib,
    warm_zygote,
    write_plugin,
)
from pluginctl.runtime.discovery import load_source
from pluginctl.runtime.loop import run as run_loop
from pluginctl.runtime.plugin_runtime import PluginState
from pluginctl.web.gateway import build_app

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.types import ASGIApp

    from bench._metric import Metric

__all__ = ["run"]

PYTHON_PASS = "python -c pass"
IDLE_PYTHON = "idle python (python -c 'import time; time.sleep(60)')"
HELLO_URL = "/plugins/hello/hello/x"

WORKER_START = Spec("worker_start_p50_ms", "ms", PYTHON_PASS, "<= 0.3")
PLUGIN_LOAD = Spec("plugin_load_p50_ms", "ms", PYTHON_PASS, "<= 10 ms")
WORKER_IDLE_USS = Spec("worker_idle_uss_mib", "MiB", IDLE_PYTHON, "<= 1 MiB")
HELLO_WORKER_USS = Spec("hello_worker_uss_mib", "MiB", IDLE_PYTHON, "<= 3 MiB")
HOST_PLUGINS = Spec("host_100_plugins_start_s", "s", "100x python -c pass", "<= 2 s")


@dataclass(frozen=True, slots=True)
class _Plan:
    """How much to measure.

    Attributes:
        warmups: Untimed runs of each kind first.
        workers: Bare workers forked, each a start time and a USS sample.
        loads: Starts of examples/hello, each a load time and a USS sample.
        host_plugins: Plugins in the many-plugins host.
        host_runs: Starts of that host.
    """

    warmups: int
    workers: int
    loads: int
    host_plugins: int
    host_runs: int


_QUICK = _Plan(warmups=1, workers=8, loads=8, host_plugins=20, host_runs=2)
_FULL = _Plan(warmups=2, workers=60, loads=40, host_plugins=100, host_runs=5)

_PASS = Command(PYTHON_PASS, (sys.executable, "-c", "pass"))


def run(*, quick: bool) -> list[Metric]:
    """Measure the suite's five metrics; ``quick`` takes few samples and 20 plugins."""
    return run_loop(_run(_QUICK if quick else _FULL))


async def _run(plan: _Plan) -> list[Metric]:
    with tempfile.TemporaryDirectory(prefix="pluginctl-bench-startup-") as tmp:
        scratch = Path(tmp)
        return [
            *await guarded(
                [WORKER_START, WORKER_IDLE_USS], lambda: _bare_workers(plan, scratch / "bare")
            ),
            *await guarded(
                [PLUGIN_LOAD, HELLO_WORKER_USS], lambda: _plugin_load(plan, scratch / "load")
            ),
            *await guarded([HOST_PLUGINS], lambda: _many_plugins(plan, scratch / "many")),
        ]


async def _bare_workers(plan: _Plan, scratch: Path) -> list[Metric]:
    scratch.mkdir(parents=True)
    starts: list[float] = []
    passes: list[float] = []
    worker_uss: list[float] = []
    python_uss: list[float] = []
    colds: list[float] = []
    async with warm_zygote() as zygote:
        for index in range(plan.warmups + plan.workers):
            async with bare_worker(zygote, scratch) as worker:
                # asked for at once, the next one finds no standby: the cold fork
                async with bare_worker(zygote, scratch) as cold:
                    pass
                await worker.channel.ping(timeout_s=5.0)  # settled in its loop, waiting
                uss = uss_mib(worker.process.pid)
            passed = _PASS.time_once()
            with idle_python() as pid:
                idle = uss_mib(pid)
            if index >= plan.warmups:
                starts.append(worker.start_ms)
                colds.append(cold.start_ms)
                passes.append(passed)
                worker_uss.append(uss)
                python_uss.append(idle)
    extra = {"cold_p50_ms": p50(colds), "cold_ratio": p50(colds) / p50(passes)}
    return [
        WORKER_START.compare(starts, passes, extra=extra),
        WORKER_IDLE_USS.compare(worker_uss, python_uss),
    ]


async def _plugin_load(plan: _Plan, scratch: Path) -> list[Metric]:
    source = load_source(EXAMPLES / "hello")
    loads: list[float] = []
    passes: list[float] = []
    hello_uss: list[float] = []
    python_uss: list[float] = []
    async with (
        running_host([], scratch / "data") as host,  # no plugins yet: a warm zygote
        _serving(build_app(host)) as port,
        _HttpClient(port) as client,
    ):
        if (status := await client.get("/healthz")) != 200:  # the connection, kept alive
            raise BenchError(f"GET /healthz answered {status}")
        for index in range(plan.warmups + plan.loads):
            start = time.perf_counter_ns()
            runtime = await start_plugin(host, source)
            try:
                status = await client.get(HELLO_URL)
                elapsed_ms = (time.perf_counter_ns() - start) / 1e6
                if status != 200:
                    raise BenchError(f"GET {HELLO_URL} answered {status}")
                assert runtime.process is not None
                uss = uss_mib(runtime.process.pid)
            finally:
                await stop_plugin(host, runtime)
            passed = _PASS.time_once()
            with idle_python() as pid:
                idle = uss_mib(pid)
            if index >= plan.warmups:
                loads.append(elapsed_ms)
                passes.append(passed)
                hello_uss.append(uss)
                python_uss.append(idle)
    return [PLUGIN_LOAD.compare(loads, passes), HELLO_WORKER_USS.compare(hello_uss, python_uss)]


async def _many_plugins(plan: _Plan, scratch: Path) -> list[Metric]:
    count = plan.host_plugins
    sources = [
        load_source(
            write_plugin(
                scratch / "plugins", f"bench-many-{index:03d}", body=ECHO_EXPORT, exports=["echo"]
            )
        )
        for index in range(count)
    ]
    starts: list[float] = []
    anchors: list[float] = []
    totals: list[float] = []
    for index in range(plan.warmups + plan.host_runs):
        start = time.perf_counter_ns()
        async with running_host(sources, scratch / f"data-{index}") as host:
            healthy, _ = host.health()
            if not healthy or len(host.plugins) != count:
                failed = [p for p in host.plugins if p.state is not PluginState.ACTIVE]
                reason = f": {failed[0].name}: {failed[0].last_error}" if failed else ""
                raise BenchError(f"{len(failed)} of {count} plugins did not start{reason}")
            channels = [p.channel for p in host.plugins if p.channel is not None]
            await asyncio.gather(*(channel.ping(timeout_s=10.0) for channel in channels))
            elapsed_s = (time.perf_counter_ns() - start) / 1e9
            total_uss = sum(uss_mib(p.process.pid) for p in host.plugins if p.process)
        anchor_s = sum(_PASS.time_once() for _ in range(count)) / 1e3
        if index >= plan.warmups:
            starts.append(elapsed_s)
            anchors.append(anchor_s)
            totals.append(total_uss)
    total = p50(totals)
    extra = {
        "plugins": count,
        "per_plugin_ms": p50(starts) / count * 1e3,
        "workers_uss_total_mib": total,
        "workers_uss_mean_mib": total / count,
    }
    label = f"{count}x {PYTHON_PASS}"
    return [HOST_PLUGINS.compare(starts, anchors, anchor_label=label, extra=extra)]


@contextlib.asynccontextmanager
async def _serving(app: ASGIApp) -> AsyncIterator[int]:
    """Serve ``app`` with uvicorn on 127.0.0.1 (a free port); yields the port.

    The socket is made with ``IPPROTO_TCP`` spelled out: asyncio sets ``TCP_NODELAY`` on
    accepted connections only then, and without it every keep-alive response written
    in two parts (head, body) waits ~40 ms for the client's delayed ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if serving.done():
                serving.result()
                raise BenchError("uvicorn stopped before it started serving")
            await asyncio.sleep(0.005)
        yield int(sock.getsockname()[1])
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        sock.close()


class _HttpClient:
    """The least an HTTP/1.1 client can do: one kept-alive connection, GET, read the reply.

    The bench process is also the host, so a full client (httpx: about a millisecond a
    request) would be counted against the gateway; this one costs tens of microseconds.
    """

    def __init__(self, port: int) -> None:
        self._port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> _HttpClient:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self._port)
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()

    async def get(self, path: str) -> int:
        """GET ``path``; the status, once the whole body has arrived."""
        assert self._reader is not None
        assert self._writer is not None
        self._writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await asyncio.wait_for(self._reader.readuntil(b"\r\n\r\n"), 30.0)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines if line)
        }
        if "content-length" not in headers:
            raise BenchError(f"GET {path}: a reply without content-length ({status_line})")
        await self._reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1])
