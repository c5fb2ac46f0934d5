"""The admin UI: its polled dashboard, a panel's round trip, and what watching it costs.

A real ``pluginctl run`` in a process of its own serves eight generated plugins, each
with one route and one admin panel, with ``PLUGINCTL_ADMIN_TOKEN`` set; this process
is the client (httpx, one kept-alive connection). Subject and anchor requests
alternate, so both see the same machine.

Metrics:
    dashboard_ms: ``GET /admin/live/dashboard``, the part of the dashboard its script
        fetches every two seconds (every plugin's figures and sparkline, the recent
        problems, as HTML); anchor ``GET /metrics``, the other way an operator
        watches a host (a Prometheus scrape of the same plugins); goal <= 1.
    panel_ms: ``GET /admin/frames/<key>``, a panel rendered by its plugin's worker
        (a call to the worker, the sandbox policy, the page around it); anchor a
        route of the same plugin answering the same text; goal <= 1.5.
    watched_route_ms: a route's latency while five dashboards are open, each
        fetching its live part every two seconds as the page does; anchor the
        same route with no dashboard open, in alternating phases; goal <= 1.1.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from bench._errors import BenchError
from bench._indexes import stop_process
from bench._workers import EXPECTED_FAILURES, Spec, describe_failure, write_plugin

if TYPE_CHECKING:
    from collections.abc import Iterator

    from bench._metric import Metric

__all__ = ["DASHBOARD", "PANEL", "WATCHED", "run"]

DASHBOARD = Spec("dashboard_ms", "ms", "a Prometheus scrape of /metrics", "<= 1")
PANEL = Spec("panel_ms", "ms", "a route of the same plugin", "<= 1.5")
WATCHED = Spec("watched_route_ms", "ms", "the route with no dashboard open", "<= 1.1")
PLUGINS = 8
_FAILURES: tuple[type[BaseException], ...] = (*EXPECTED_FAILURES, httpx.HTTPError)
WATCHERS = 5
TOKEN = "bench-admin-token-0123456789"  # a throwaway host's
_BODY = """
TEXT = "<h2>Orders</h2><ul>" + "".join(f"<li>order {i}</li>" for i in range(40)) + "</ul>"


@plugin.route("GET", "/ping")
async def ping(request: Any, api: Any) -> str:
    return TEXT


@plugin.admin_panel("main")
async def main(request: Any, api: Any) -> str:
    return TEXT
"""
_MANIFEST = '[routes]\nprefix = "/"\n\n[admin]\npanels = [{ id = "main", title = "Orders" }]\n'


def run(*, quick: bool) -> list[Metric]:
    """Measure every metric of the suite; ``quick`` takes few samples."""
    rounds = 30 if quick else 300
    with (
        tempfile.TemporaryDirectory(prefix="bench-admin-") as scratch,
        _host(Path(scratch)) as host,
    ):
        metrics = []
        for spec, measure in ((DASHBOARD, _dashboard), (PANEL, _panel), (WATCHED, _watched)):
            try:
                metrics.append(measure(host, rounds if spec is not WATCHED else rounds * 4))
            except _FAILURES as exc:
                metrics.append(spec.failed(describe_failure(exc)))
        return metrics


class _Host:
    """The running host: its URL and a logged-in client."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=30)
        login = self.client.post("/admin/login", data={"token": TOKEN})
        if login.status_code != 303:
            raise BenchError(f"the admin login answered {login.status_code}")

    def timed(self, path: str, **headers: str) -> float:
        """One ``GET``'s wall time in ms; a status other than 200 is an error."""
        began = time.perf_counter()
        reply = self.client.get(path, headers=headers)
        elapsed = (time.perf_counter() - began) * 1000
        if reply.status_code != 200:
            raise BenchError(f"GET {path} answered {reply.status_code}")
        return elapsed


@contextlib.contextmanager
def _host(root: Path) -> Iterator[_Host]:
    command = [sys.executable, "-m", "pluginctl", "run", "--no-installed", "--port", "0"]
    command += ["--data-dir", str(root / "data")]
    for index in range(PLUGINS):
        project = write_plugin(
            root / "plugins",
            f"shop-{index}",
            body=_BODY,
            permissions=["routes", "admin"],
            manifest_extra=_MANIFEST,
        )
        command += ["--plugin", str(project)]
    env = {**os.environ, "PLUGINCTL_ADMIN_TOKEN": TOKEN}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        host = _Host(_serving_url(process))
        try:
            yield host
        finally:
            host.client.close()
    finally:
        stop_process(process)  # its output is drained by _serving_url's thread


def _serving_url(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    for line in process.stdout:
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            threading.Thread(target=process.stdout.read, daemon=True).start()  # keep it drained
            return found.group(1)
    raise BenchError("pluginctl run ended before it served")


def _dashboard(host: _Host, rounds: int) -> Metric:
    subject, anchor = [], []
    for _ in range(5):  # warm up both
        host.timed("/admin/live/dashboard")
        host.timed("/metrics")
    for _ in range(rounds):
        subject.append(host.timed("/admin/live/dashboard"))
        anchor.append(host.timed("/metrics"))
    return DASHBOARD.compare(subject, anchor, extra={"plugins": PLUGINS})


def _panel(host: _Host, rounds: int) -> Metric:
    page = host.client.get("/admin/plugins/shop-0/panels/main").text
    found = re.search(r'<iframe class="panel" src="([^"]+)"', page)
    if found is None:
        raise BenchError("the panel page has no frame")
    frame = found.group(1)
    subject, anchor = [], []
    for _ in range(5):
        host.timed(frame)
        host.timed("/plugins/shop-0/ping")
    for _ in range(rounds):
        subject.append(host.timed(frame))
        anchor.append(host.timed("/plugins/shop-0/ping"))
    return PANEL.compare(subject, anchor)


def _watched(host: _Host, rounds: int) -> Metric:
    """Alternate phases with and without five dashboards polling; time the route."""
    watched: list[float] = []
    alone: list[float] = []
    phases, per_phase = 6, max(10, rounds // 6)
    for phase in range(phases):
        samples = watched if phase % 2 else alone
        with _watchers(host.url, WATCHERS if phase % 2 else 0):
            for _ in range(per_phase):
                samples.append(host.timed("/plugins/shop-1/ping"))
                time.sleep(0.01)
    return WATCHED.compare(watched, alone, extra={"watchers": WATCHERS})


@contextlib.contextmanager
def _watchers(url: str, count: int) -> Iterator[None]:
    """``count`` logged-in browsers' worth of polling, from a process of their own.

    In this process their threads would take the interpreter from the timed client
    and blur the very latency they are meant to disturb.
    """
    if not count:
        yield
        return
    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    watching = context.Process(target=_watch_all, args=(url, count, stop), daemon=True)
    watching.start()
    try:
        time.sleep(0.5)  # logged in, first fetches under way
        yield
    finally:
        stop.set()
        watching.join(timeout=30)
        if watching.is_alive():
            watching.kill()
            watching.join()


def _watch_all(url: str, count: int, stop: threading.Event) -> None:
    """Poll the live dashboard every 2 s from ``count`` clients, spread over the period."""

    def watch(offset: float) -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            client.post("/admin/login", data={"token": TOKEN})
            stop.wait(offset)
            while not stop.is_set():
                client.get("/admin/live/dashboard")
                stop.wait(2.0)

    threads = [threading.Thread(target=watch, args=(2.0 * i / count,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
