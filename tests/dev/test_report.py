"""What ``pluginctl dev`` shows people: a line per event, a live table on a terminal."""

from __future__ import annotations

import asyncio
import io
import json
from typing import TYPE_CHECKING

from rich.console import Console

from pluginctl.dev.manifest_diff import ManifestDiff
from pluginctl.dev.report import ConsoleReporter, JsonlReporter, Reporters
from tests.runtime.host_harness import EXAMPLES, running_host

if TYPE_CHECKING:
    from pathlib import Path


def test_the_console_and_the_event_stream_tell_the_same_story(tmp_path: Path) -> None:
    screen = io.StringIO()
    stream = io.StringIO()

    async def scenario() -> None:
        async with running_host(EXAMPLES / "hello", data_dir=tmp_path) as (host, client):
            await client.get("/plugins/hello/hello/ada")
            console = Console(file=screen, force_terminal=True, width=120, color_system=None)
            reporter = Reporters(
                JsonlReporter(host, stream), ConsoleReporter(host, console, live=True)
            )
            reporter.ready("http://127.0.0.1:8700")
            reporter.reload_started("hello", ["plugin.py"])
            reporter.reload_finished("hello", 6.4321, 2)
            reporter.reload_failed("hello", "compile", "plugin.py:3: invalid syntax", 0.7)
            reporter.static_changed("hello", ["index.html"])
            reporter.manifest_changed(
                "hello", ManifestDiff(("kv",), ("routes",), ("cache: added >=1",), ("version",))
            )
            reporter.dependencies_changed("hello", "reinstall: pip install -e .")
            reporter.stopped()

    asyncio.run(scenario())
    text = screen.getvalue()
    for expected in (
        "serving on http://127.0.0.1:8700",
        "reloaded hello in 6.4 ms (generation 2)",
        "hello does not compile",
        "the last good version keeps serving",
        "plugin.py:3: invalid syntax",
        "static hello: index.html (served from disk)",
        "permissions: +kv -routes",
        "dependencies: cache: added >=1",
        "reinstall: pip install -e .",
        "http://127.0.0.1:8700/plugins/hello/",  # the live table's URL column
        "stopped",
    ):
        assert expected in text, (expected, text)
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["event"] for e in events] == [
        "ready",
        "reload.started",
        "reload.finished",
        "reload.failed",
        "static.changed",
        "manifest.changed",
        "dependencies.changed",
        "stopped",
    ]
    assert events[0]["plugins"] == {"hello": "active"}
    assert events[2]["latency_ms"] == 6.43
    assert events[2]["requests"] == 1
    assert events[5]["permissions_added"] == ["kv"]


def test_without_a_terminal_there_is_no_live_table(tmp_path: Path) -> None:
    screen = io.StringIO()

    async def scenario() -> None:
        async with running_host(EXAMPLES / "hello", data_dir=tmp_path) as (host, _):
            reporter = ConsoleReporter(host, Console(file=screen, width=120), live=True)
            reporter.ready("http://127.0.0.1:8700")
            reporter.reload_finished("hello", 5.0, 2)
            reporter.stopped()

    asyncio.run(scenario())
    assert "last reload" not in screen.getvalue()
    assert "reloaded hello in 5.0 ms" in screen.getvalue()
