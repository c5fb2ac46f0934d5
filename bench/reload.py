"""Hot reload: from a saved file to the new response, under pluginctl dev and uvicorn --reload.

Both sides run as a user runs them, in subprocesses on 127.0.0.1: ``pluginctl dev``
with a generated one-route plugin (and a second plugin, probed throughout), and
``uvicorn --reload`` with the equivalent one-route Starlette app. Each edit rewrites
the module's ``VALUE = "..."`` line in place, as an editor saves, and the client
polls the route every millisecond on a kept-alive connection until the new value
comes back. Subject and anchor edits alternate, so drift hits both alike.

Metrics:
    reload_p50_ms: save to the first response with the new value, p50 over the
        edits; against uvicorn --reload; goal <= 20 ms (absolute). Extra: the ratio
        goal (<= 0.1) and whether it is met, and pluginctl's own reported reload
        latency (change seen to new version serving).
    reload_p95_ms: the same edits' p95; goal <= 30 ms.
    reload_failed_requests: requests that failed (not 200, or no answer) during all
        of pluginctl's reloads, to the reloaded plugin and to the other one, probed
        every 2 ms from a second connection; goal 0.
    reload_error_recovery_ms: a syntax error saved (and reported) then fixed: from
        the fix to the first response with the new value; goal <= 30 ms.
    test_fixture_ready_ms: what the ``plugin`` test fixture does, from request to
        ready: read the project, resolve it, start it in a warm host with empty
        data; goal <= 50 ms.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench._errors import BenchError
from bench._stats import p50, p95
from bench._workers import Spec, describe_failure, write_plugin

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bench._metric import Metric

__all__ = ["run"]

UVICORN = "uvicorn --reload (one-route Starlette app)"
RELOAD_P50 = Spec("reload_p50_ms", "ms", UVICORN, "<= 20 ms")
RELOAD_P95 = Spec("reload_p95_ms", "ms", UVICORN, "<= 30 ms")
FAILED_REQUESTS = Spec("reload_failed_requests", "requests", None, "<= 0 requests")
RECOVERY = Spec("reload_error_recovery_ms", "ms", None, "<= 30 ms")
FIXTURE_READY = Spec("test_fixture_ready_ms", "ms", None, "<= 50 ms")
_RATIO_GOAL = 0.1

_PLUGIN = "bench-reload"
_PROBED = "bench-probed"
_ROUTE = '''
VALUE = "v0000"


@plugin.route("GET", "/value")
async def value(request: Any, api: Any) -> dict[str, Any]:
    """The value the benchmark edits."""
    return {"value": VALUE}
'''
_ROUTES_MANIFEST = '[routes]\nprefix = "/"\n'
_STARLETTE_APP = """from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

VALUE = "v0000"


async def value(request):
    return JSONResponse({"value": VALUE})


app = Starlette(routes=[Route("/value", value)])
"""
_EDIT_TIMEOUT_S = 15.0
_SETTLE_ATTEMPTS = 10
_POLL_S = 0.001
_PROBE_S = 0.002


@dataclass(frozen=True, slots=True)
class _Plan:
    """How much to measure: edits per side, error recoveries, fixture starts."""

    edits: int
    recoveries: int
    fixture_starts: int


_QUICK = _Plan(edits=6, recoveries=3, fixture_starts=10)
_FULL = _Plan(edits=30, recoveries=10, fixture_starts=40)


def run(*, quick: bool) -> list[Metric]:
    """Measure the suite's five metrics; ``quick`` takes few samples."""
    plan = _QUICK if quick else _FULL
    with tempfile.TemporaryDirectory(prefix="pluginctl-bench-reload-") as tmp:
        scratch = Path(tmp)
        try:
            metrics = _reloads(plan, scratch)
        except (BenchError, OSError, subprocess.SubprocessError, httpx.HTTPError) as exc:
            reason = describe_failure(exc)
            metrics = [
                s.failed(reason) for s in (RELOAD_P50, RELOAD_P95, FAILED_REQUESTS, RECOVERY)
            ]
        try:
            metrics.append(_fixture_ready(plan, scratch / "fixture"))
        except (BenchError, OSError, RuntimeError) as exc:
            metrics.append(FIXTURE_READY.failed(describe_failure(exc)))
    return metrics


def _reloads(plan: _Plan, scratch: Path) -> list[Metric]:
    plugins = scratch / "plugins"
    edited = write_plugin(
        plugins, _PLUGIN, body=_ROUTE, permissions=["routes"], manifest_extra=_ROUTES_MANIFEST
    )
    probed = write_plugin(
        plugins, _PROBED, body=_ROUTE, permissions=["routes"], manifest_extra=_ROUTES_MANIFEST
    )
    module = edited / _PLUGIN.replace("-", "_") / "plugin.py"
    app_dir = scratch / "starlette"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(_STARLETTE_APP, encoding="utf-8")
    with _dev(edited, probed, scratch / "data") as dev, _uvicorn(app_dir) as anchor_url:
        subject_url = f"{dev.url}/plugins/{_PLUGIN}/value"
        probe_urls = [subject_url, f"{dev.url}/plugins/{_PROBED}/value"]
        subject: list[float] = []
        anchor: list[float] = []
        with _Prober(probe_urls) as prober:
            for index in range(1, plan.edits + 1):
                subject.append(_edit_and_wait(module, f"s{index:04d}", subject_url))
                anchor.append(
                    _edit_and_wait(app_dir / "app.py", f"a{index:04d}", f"{anchor_url}/value")
                )
        recoveries = [
            _recover(dev, module, f"r{index:04d}", subject_url)
            for index in range(1, plan.recoveries + 1)
        ]
        reported = [
            float(str(e["latency_ms"])) for e in dev.seen if e["event"] == "reload.finished"
        ]
    ratio = p50(subject) / p50(anchor)
    extra: dict[str, float | int | str] = {
        "edits": plan.edits,
        "ratio_goal": f"<= {_RATIO_GOAL:g}",
        "ratio_goal_met": "yes" if ratio <= _RATIO_GOAL else "no",
        "reported_reload_p50_ms": round(p50(reported), 2) if reported else -1,
    }
    return [
        RELOAD_P50.compare(subject, anchor, extra=extra),
        _p95_metric(subject, anchor),
        FAILED_REQUESTS.alone(
            [float(prober.failures)],
            extra={"requests": prober.requests, "first_failure": prober.first_failure or "-"},
        ),
        RECOVERY.alone(recoveries),
    ]


def _p95_metric(subject: list[float], anchor: list[float]) -> Metric:
    """The p95 of both sides, compared as a metric of their own."""
    return RELOAD_P95.compare([p95(subject)], [p95(anchor)], extra={"edits": len(subject)})


def _edit_and_wait(
    module: Path, value: str, url: str, *, timeout_s: float = _EDIT_TIMEOUT_S
) -> float:
    """Rewrite the ``VALUE`` line to ``value``; milliseconds until ``url`` answers it."""
    return _save_and_wait(module, module.read_text(encoding="utf-8"), value, url, timeout_s)


def _save_and_wait(module: Path, text: str, value: str, url: str, timeout_s: float) -> float:
    """Save ``text`` with its ``VALUE`` line set to ``value``; ms until ``url`` answers it."""
    start = text.index('VALUE = "')
    end = text.index("\n", start)
    changed = f'{text[:start]}VALUE = "{value}"{text[end:]}'
    with httpx.Client(timeout=2.0) as client:
        began = time.perf_counter()
        module.write_text(changed, encoding="utf-8")
        return _wait_for(client, url, value, began, timeout_s=timeout_s)


def _wait_for(
    client: httpx.Client, url: str, value: str, began: float, *, timeout_s: float = _EDIT_TIMEOUT_S
) -> float:
    deadline = began + timeout_s
    while time.perf_counter() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            if client.get(url).json().get("value") == value:
                return (time.perf_counter() - began) * 1000
        time.sleep(_POLL_S)
    raise BenchError(f"{url} did not answer {value!r} within {timeout_s:g} s of the save")


def _recover(dev: _Dev, module: Path, value: str, url: str) -> float:
    """Save a syntax error, wait until dev reports it, fix it; ms from fix to new value."""
    good = module.read_text(encoding="utf-8")
    failures = sum(1 for e in dev.seen if e["event"] == "reload.failed")
    module.write_text(good.replace('VALUE = "', 'VALUE = ("', 1), encoding="utf-8")
    dev.wait(lambda: sum(1 for e in dev.seen if e["event"] == "reload.failed") > failures)
    return _save_and_wait(module, good, value, url, _EDIT_TIMEOUT_S)


class _Dev:
    """A running ``pluginctl dev --events jsonl`` and the events it has printed."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.seen: list[dict[str, object]] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.wait(lambda: any(e["event"] == "ready" for e in self.seen))
        ready = next(e for e in self.seen if e["event"] == "ready")
        self.url = str(ready["url"])

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)

    def wait(self, condition: object, timeout_s: float = _EDIT_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():  # type: ignore[operator]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.process.poll() is not None:
                raise BenchError(f"pluginctl dev: expected event not seen; saw {self.seen[-3:]}")
            with contextlib.suppress(queue.Empty):
                self.seen.append(json.loads(self._lines.get(timeout=min(remaining, 0.1))))


@contextlib.contextmanager
def _dev(edited: Path, probed: Path, data_dir: Path) -> Iterator[_Dev]:
    command = [
        sys.executable, "-m", "pluginctl", "dev", str(edited), str(probed),
        "--port", "0", "--events", "jsonl", "--no-status", "--data-dir", str(data_dir),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        yield _Dev(process)
    finally:
        _stop(process)


@contextlib.contextmanager
def _uvicorn(app_dir: Path) -> Iterator[str]:
    port = _free_port()
    command = [
        sys.executable, "-m", "uvicorn", "app:app", "--reload", "--reload-dir", str(app_dir),
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=app_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,  # its reloader's children end with the group
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(timeout=2.0) as client:
            _wait_for(client, f"{url}/value", "v0000", time.perf_counter())
        _settle(app_dir / "app.py", f"{url}/value")
        yield url
    finally:
        _stop(process, group=True)


def _settle(module: Path, url: str) -> None:
    """Save until a change is picked up: uvicorn serves before its reloader watches."""
    for attempt in range(_SETTLE_ATTEMPTS):
        with contextlib.suppress(BenchError):
            _edit_and_wait(module, f"w{attempt:04d}", url, timeout_s=1.0)
            return
    raise BenchError(f"uvicorn --reload picked up none of {_SETTLE_ATTEMPTS} saves")


def _stop(process: subprocess.Popen[str] | subprocess.Popen[bytes], *, group: bool = False) -> None:
    """SIGINT (to the process group we started, for uvicorn), then SIGKILL after 10 s."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGINT)
            else:
                process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL) if group else process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Prober:
    """Requests ``urls`` in turn every couple of milliseconds; counts what fails."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.requests = 0
        self.failures = 0
        self.first_failure: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, daemon=True)

    def __enter__(self) -> _Prober:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _probe(self) -> None:
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.is_set():
                for url in self.urls:
                    self.requests += 1
                    try:
                        status = client.get(url).status_code
                        problem = None if status == 200 else f"{url}: HTTP {status}"
                    except httpx.HTTPError as exc:
                        problem = f"{url}: {type(exc).__name__}"
                    if problem is not None:
                        self.failures += 1
                        self.first_failure = self.first_failure or problem
                time.sleep(_PROBE_S)


def _fixture_ready(plan: _Plan, scratch: Path) -> Metric:
    """The ``plugin`` fixture's work, timed: read, resolve, start with empty data."""
    from pluginctl.runtime.discovery import load_source
    from pluginctl.runtime.resolution import resolve
    from pluginctl.testing.harness import TestHost

    project = write_plugin(
        scratch / "plugins", _PLUGIN, body=_ROUTE, permissions=["routes"],
        manifest_extra=_ROUTES_MANIFEST,
    )  # fmt: skip
    host = TestHost(scratch / "data")
    host.start()
    samples: list[float] = []
    try:
        for index in range(plan.fixture_starts + 1):
            began = time.perf_counter()
            (source,) = resolve([load_source(project)])
            host.add(source)
            elapsed = (time.perf_counter() - began) * 1000
            host.remove(source.name)
            if index:  # the first start warms the zygote's standby
                samples.append(elapsed)
            time.sleep(0.01)  # as between tests: the standby is forked again meanwhile
    finally:
        host.stop()
    return FIXTURE_READY.alone(samples, extra={"starts": len(samples)})
