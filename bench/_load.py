"""The chaos suite's load: paced HTTP clients in a process of their own, and its handle.

``python -m bench._load --duration S --users N --interval-ms MS --healthy URL... --faulty
URL...`` runs ``N`` clients per URL (httpx, one kept-alive connection each), each
sending one ``GET`` every ``MS`` milliseconds (later when the previous answer is late,
never in a burst to catch up), for ``S`` seconds. Each client first sends a few
untimed requests. The script prints ``ready`` when the timed requests start, then one
JSON line: per group (``healthy``, ``faulty``) the requests, the
failures (any status but 200, or no answer), the first few failures and, for the
healthy group, every latency in milliseconds.

The host's process never runs the load: on two cores, a client in the same process
would take its CPU from the gateway and blur the latencies it measures. `LoadProcess`
starts the script, waits for ``ready`` and reads the result; it ends the process by
its pid when anything goes wrong.

Example:
    >>> tally = Tally()
    >>> tally.add(1.5, None)
    >>> tally.add(2.5, "HTTP 503")
    >>> (tally.requests, tally.failures, tally.first_failures)
    (2, 1, ['HTTP 503'])
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import msgspec

from bench._errors import BenchError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    import httpx

__all__ = ["LoadPlan", "LoadProcess", "LoadResult", "Tally", "main"]

_REPO = Path(__file__).resolve().parent.parent
_READY = "ready"
_FIRST_FAILURES = 5
_WARMUPS = 3
_REQUEST_TIMEOUT_S = 5.0
_START_TIMEOUT_S = 30.0
_FINISH_SLACK_S = 30.0


class Tally(msgspec.Struct):
    """What one group of clients saw."""

    requests: int = 0
    failures: int = 0
    first_failures: list[str] = msgspec.field(default_factory=list)
    latencies_ms: list[float] = msgspec.field(default_factory=list)

    def add(self, latency_ms: float, problem: str | None, *, keep_latency: bool = True) -> None:
        """Count one request: its latency, and what went wrong (None: a 200)."""
        self.requests += 1
        if keep_latency:
            self.latencies_ms.append(latency_ms)
        if problem is not None:
            self.failures += 1
            if len(self.first_failures) < _FIRST_FAILURES:
                self.first_failures.append(problem)


class LoadResult(msgspec.Struct):
    """The load process's report: the healthy and the faulty plugins' tallies."""

    healthy: Tally
    faulty: Tally


class LoadPlan(msgspec.Struct, frozen=True):
    """The load: clients per URL, their pace, how long."""

    duration_s: float
    users: int
    interval_s: float


# -- the client side (the load process) ---------------------------------------------------


async def _client(
    client: httpx.AsyncClient, target: _Target, *, until: float, interval_s: float
) -> None:
    import httpx

    await asyncio.sleep(random.uniform(0, interval_s))  # the clients' requests spread out
    next_at = time.perf_counter()
    while (start := time.perf_counter()) < until:
        try:
            status = (await client.get(target.url)).status_code
            problem = None if status == 200 else f"{target.url}: HTTP {status}"
        except httpx.HTTPError as exc:
            problem = f"{target.url}: {type(exc).__name__}"
        target.tally.add((time.perf_counter() - start) * 1000, problem, keep_latency=target.timed)
        next_at = max(next_at + interval_s, time.perf_counter())
        await asyncio.sleep(next_at - time.perf_counter())


async def _untimed(client: httpx.AsyncClient, url: str) -> None:
    import httpx

    with contextlib.suppress(httpx.HTTPError):
        await client.get(url)


@dataclass(frozen=True, slots=True)
class _Target:
    """A URL, the tally its answers go to, and whether their latencies are kept."""

    url: str
    tally: Tally
    timed: bool


@contextlib.asynccontextmanager
async def _clients(count: int) -> AsyncIterator[list[httpx.AsyncClient]]:
    import httpx

    async with contextlib.AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    timeout=_REQUEST_TIMEOUT_S, limits=httpx.Limits(max_connections=1)
                )
            )
            for _ in range(count)
        ]


async def _load(plan: LoadPlan, healthy: Sequence[str], faulty: Sequence[str]) -> LoadResult:
    result = LoadResult(healthy=Tally(), faulty=Tally())
    targets = [_Target(url, result.healthy, timed=True) for url in healthy]
    targets += [_Target(url, result.faulty, timed=False) for url in faulty]
    users = [target for target in targets for _ in range(plan.users)]
    async with _clients(len(users)) as clients:
        pairs = list(zip(clients, users, strict=True))
        for _ in range(_WARMUPS):  # connected, and every code path run once, before timing
            await asyncio.gather(*(_untimed(client, target.url) for client, target in pairs))
        print(_READY, flush=True)
        until = time.perf_counter() + plan.duration_s
        await asyncio.gather(
            *(
                _client(client, target, until=until, interval_s=plan.interval_s)
                for client, target in pairs
            )
        )
    return result


def main(argv: Sequence[str] | None = None) -> None:
    """Run the load the arguments describe; print ``ready``, then the result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench._load")
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--interval-ms", type=float, required=True)
    parser.add_argument("--healthy", nargs="+", required=True)
    parser.add_argument("--faulty", nargs="*", default=[])
    args = parser.parse_args(argv)
    plan = LoadPlan(args.duration, args.users, args.interval_ms / 1000)
    from pluginctl.runtime.loop import run

    result = run(_load(plan, args.healthy, args.faulty))
    sys.stdout.write(msgspec.json.encode(result).decode() + "\n")
    sys.stdout.flush()


# -- the host side ---------------------------------------------------------------------------


class LoadProcess:
    """The load process, seen from the host's event loop."""

    def __init__(self, plan: LoadPlan, healthy: Sequence[str], faulty: Sequence[str]) -> None:
        self.plan = plan
        self._argv = [
            sys.executable, "-m", "bench._load",
            "--duration", str(plan.duration_s), "--users", str(plan.users),
            "--interval-ms", str(plan.interval_s * 1000),
            "--healthy", *healthy, "--faulty", *faulty,
        ]  # fmt: skip
        self._process: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int | None:
        """The load process's pid, once started."""
        return None if self._process is None else self._process.pid

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[LoadProcess]:
        """Start the process and wait until its clients start; always end it by its pid."""
        self._process = await asyncio.create_subprocess_exec(
            *self._argv,
            cwd=_REPO,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await self._ready()
            yield self
        finally:
            if self._process.returncode is None:
                self._process.kill()  # by its pid: the process this object started
                await self._process.wait()

    async def _ready(self) -> None:
        assert self._process is not None
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), _START_TIMEOUT_S)
        if line.decode().strip() != _READY:
            await self._failed("did not start")

    async def result(self) -> LoadResult:
        """Wait for the load to end; what its clients saw."""
        assert self._process is not None
        timeout_s = self.plan.duration_s + _FINISH_SLACK_S
        out, _ = await asyncio.wait_for(self._process.communicate(), timeout_s)
        if self._process.returncode != 0 or not out.strip():
            await self._failed(f"exited with {self._process.returncode}")
        return msgspec.json.decode(out.strip().splitlines()[-1], type=LoadResult)

    async def _failed(self, what: str) -> NoReturn:
        assert self._process is not None
        err = b""
        if self._process.stderr is not None:
            with contextlib.suppress(TimeoutError):
                err = await asyncio.wait_for(self._process.stderr.read(), 1.0)
        tail = " | ".join(err.decode(errors="replace").strip().splitlines()[-3:])
        raise BenchError(f"the load process {what}: {tail or '(no output)'}")


if __name__ == "__main__":
    main()
