"""The host with real workers: the examples, and every way a plugin can misbehave."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, cast

import pytest

from pluginctl.errors import CallTimeout, RemoteError, UserError, WorkerCrashed
from pluginctl.runtime.audit import read
from pluginctl.runtime.discovery import load_source
from pluginctl.runtime.plugin_runtime import PluginState
from tests.runtime.host_harness import EXAMPLES, FIXTURES, running_host, wait_for

if TYPE_CHECKING:
    from pathlib import Path


def audit(data_dir: Path) -> list[dict[str, object]]:
    return list(read(data_dir / "audit.jsonl"))


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_the_examples_serve_over_http_and_call_across_workers(
    tmp_path: Path, start_method: str
) -> None:
    async def scenario() -> None:
        paths = (EXAMPLES / "hello", EXAMPLES / "cache", EXAMPLES / "greeter")
        async with running_host(*paths, data_dir=tmp_path, start_method=start_method) as (
            host,
            client,
        ):
            assert [p.name for p in host.plugins] == ["cache", "greeter", "hello"]
            assert {p.state for p in host.plugins} == {PluginState.ACTIVE}
            pids = {p.process.pid for p in host.plugins if p.process}
            assert len(pids) == 3
            first = (await client.get("/plugins/greeter/hello/ada")).json()
            second = (await client.get("/plugins/greeter/hello/ada")).json()
            assert first == {"greeting": "Hello, ada!", "count": 1, "cached": False}
            assert second == {"greeting": "Hello, ada!", "count": 2, "cached": True}
            hello = await client.get("/plugins/hello/hello/bob")
            assert hello.json()["visits"] == 1
            page = await client.get("/plugins/hello/static/index.html")
            assert page.status_code == 200
            assert "Hello from a plugin" in page.text
            health = await client.get("/healthz")
            assert health.status_code == 200
            assert health.json()["plugins"] == {
                "cache": "active",
                "greeter": "active",
                "hello": "active",
            }

    asyncio.run(scenario())
    events = [(r["event"], r["plugin"]) for r in audit(tmp_path)]
    assert ("plugin.active", "greeter") in events
    assert ("permission.granted", "greeter") in events
    assert events[-1] == ("plugin.stopped", "cache")  # stopped in reverse start order


def test_kv_survives_a_host_restart(tmp_path: Path) -> None:
    async def visit() -> object:
        async with running_host(EXAMPLES / "hello", data_dir=tmp_path) as (_, client):
            return (await client.get("/plugins/hello/hello/eve")).json()["visits"]

    assert asyncio.run(visit()) == 1
    assert asyncio.run(visit()) == 2


def test_plugins_are_added_and_removed_while_the_host_runs(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(EXAMPLES / "cache", data_dir=tmp_path) as (host, client):
            hello = load_source(EXAMPLES / "hello")
            added = await host.add_plugin(hello)
            assert added.state is PluginState.ACTIVE
            assert (await client.get("/plugins/hello/hello/ada")).json()["visits"] == 1
            with pytest.raises(UserError, match="already runs a plugin named 'hello'"):
                await host.add_plugin(hello)
            await host.remove_plugin("hello")
            assert host.endpoint("hello") is None
            assert (await client.get("/plugins/hello/hello/ada")).status_code == 404
            with pytest.raises(UserError, match="runs no plugin named 'hello'"):
                await host.remove_plugin("hello")
            again = await host.add_plugin(hello)  # its data is kept
            assert again.state is PluginState.ACTIVE
            assert (await client.get("/plugins/hello/hello/ada")).json()["visits"] == 2
            assert [p.name for p in host.plugins] == ["cache", "hello"]
        events = [e["event"] for e in audit(tmp_path) if e.get("plugin") == "hello"]
        assert events.count("plugin.active") == 2
        assert "plugin.stopped" in events

    asyncio.run(scenario())


def test_a_plugin_that_fails_on_import_shows_its_traceback_and_others_run(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        paths = (FIXTURES / "import-error", FIXTURES / "activate-fails", EXAMPLES / "hello")
        async with running_host(*paths, data_dir=tmp_path) as (host, client):
            states = {p.name: p.state for p in host.plugins}
            assert states == {
                "activate-fails": PluginState.FAILED,
                "hello": PluginState.ACTIVE,
                "import-error": PluginState.FAILED,
            }
            broken = host.endpoint("import-error")
            assert broken is not None
            assert broken.last_error is not None
            assert "import_error/plugin.py" in broken.last_error
            assert "KeyError: 'timeout'" in broken.last_error
            activate = host.endpoint("activate-fails")
            assert activate is not None
            assert activate.last_error is not None
            assert "the database URL is missing" in activate.last_error
            assert (await client.get("/plugins/hello/hello/x")).status_code == 200
            health = await client.get("/healthz")
            assert health.status_code == 503

    asyncio.run(scenario())
    failed = [r for r in audit(tmp_path) if r["event"] == "plugin.failed"]
    assert {r["plugin"] for r in failed} == {"import-error", "activate-fails"}


def test_permission_denied_inside_the_plugin_and_in_the_audit_log(tmp_path: Path) -> None:
    async def scenario() -> None:
        paths = (FIXTURES / "nosy", FIXTURES / "misbehaves")
        async with running_host(*paths, data_dir=tmp_path) as (host, client):
            nosy = host.endpoint("nosy")
            assert nosy is not None
            assert await nosy.call("export", "try_kv", [], {}) == {
                "denied": "kv",
                "type": "PermissionDenied",
            }
            assert await nosy.call("export", "try_publish", ["orders.created"], {}) == {
                "denied": "events:publish:orders.created"
            }
            # a sync handler gets the same typed error through the blocking api
            assert (await client.get("/plugins/nosy/kv")).json() == {"denied": "kv"}
            # an uncaught denial is the plugin's failure: a 500 that shows nothing inside
            leaked = await client.get("/plugins/nosy/leak")
            assert leaked.status_code == 500
            assert leaked.json()["error"] == "the plugin failed"
            # a granted cross-plugin call works
            assert await nosy.call("export", "call_other", ["misbehaves", "echo", 5], {}) == 5

    asyncio.run(scenario())
    denied = {r["permission"] for r in audit(tmp_path) if r["event"] == "permission.denied"}
    assert {"kv", "events:publish:orders.created"} <= denied


def test_events_reach_subscribers_in_other_workers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(FIXTURES / "listener", data_dir=tmp_path) as (host, _):
            listener = host.endpoint("listener")
            assert listener is not None
            count = await listener.call("export", "publish", ["orders.created", {"id": 7}], {})
            assert count == 1
            await host.events.drain()
            seen = await listener.call("export", "seen", ["orders.created"], {})
            assert seen == {"payload": {"id": 7}, "from": "listener"}
            # both handlers matching the topic ran: the async one and the sync one
            assert await listener.call("export", "created", [], {}) == 1
            await listener.call("export", "publish", ["orders.shipped", {"id": 7}], {})
            await host.events.drain()
            assert await listener.call("export", "created", [], {}) == 1

    asyncio.run(scenario())


def test_errors_and_timeouts_cross_the_boundary_typed(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(FIXTURES / "misbehaves", data_dir=tmp_path) as (host, client):
            bad = host.endpoint("misbehaves")
            assert bad is not None
            with pytest.raises(CallTimeout):
                await bad.call("export", "sleep", [5], {}, timeout_s=0.1)
            with pytest.raises(RemoteError, match="has no export"):
                await bad.call("export", "missing", [], {})
            response = await client.get("/plugins/misbehaves/boom")
            assert response.status_code == 500
            assert "secret detail" not in response.text
            assert response.json()["request_id"] == response.headers["x-request-id"]
            assert bad.state is PluginState.ACTIVE
            assert await bad.call("export", "echo", ["still here"], {}) == "still here"

    asyncio.run(scenario())


def test_calls_after_stop_say_the_worker_is_gone(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(FIXTURES / "misbehaves", data_dir=tmp_path) as (host, _):
            bad = host.endpoint("misbehaves")
            assert bad is not None
        assert bad.state is PluginState.RESOLVED
        with pytest.raises(WorkerCrashed, match="misbehaves"):
            await bad.call("export", "echo", [1], {})

    asyncio.run(scenario())


def test_output_and_logs_are_forwarded_with_the_plugin_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        settings = {"chatty": {"word": "bonjour"}}
        async with running_host(FIXTURES / "chatty", data_dir=tmp_path, settings=settings) as (
            host,
            _,
        ):
            chatty = host.endpoint("chatty")
            assert chatty is not None
            assert await chatty.call("export", "speak", [], {}) == "bonjour"
            await wait_for(lambda: len(lines()) >= 4)

    def lines() -> list[tuple[str, str]]:
        return [
            (r.name, r.getMessage()) for r in caplog.records if r.name == "pluginctl.plugin.chatty"
        ]

    caplog.set_level("DEBUG", logger="pluginctl.plugin")
    asyncio.run(scenario())
    messages = [message for _, message in lines()]
    assert "stdout: printed bonjour" in messages
    assert "stderr: to stderr" in messages
    assert "stdout: raw bytes from C level" in messages
    assert any(m.startswith("structured") and "'order': 7" in m for m in messages)


def test_invalid_operator_settings_keep_the_plugin_from_starting(tmp_path: Path) -> None:
    async def scenario() -> None:
        settings = {"chatty": {"wrod": "x"}}
        async with running_host(FIXTURES / "chatty", data_dir=tmp_path, settings=settings) as (
            host,
            _,
        ):
            chatty = host.endpoint("chatty")
            assert chatty is not None
            assert chatty.state is PluginState.FAILED
            assert chatty.last_error is not None
            assert "plugin.chatty.config.wrod" in chatty.last_error
            assert chatty.process is None

    asyncio.run(scenario())
    [record] = [r for r in audit(tmp_path) if r["event"] == "config.invalid"]
    assert record["hint"] == "did you mean 'word'?"


def test_spawned_workers_get_settings_off_the_command_line(tmp_path: Path) -> None:
    import psutil

    async def scenario() -> None:
        settings = {"chatty": {"word": "s3cret-value"}}
        async with running_host(
            FIXTURES / "chatty", data_dir=tmp_path, settings=settings, start_method="spawn"
        ) as (host, _):
            chatty = host.endpoint("chatty")
            assert chatty is not None
            assert chatty.process is not None
            assert chatty.process.started_by == "spawn"
            assert await chatty.call("export", "speak", [], {}) == "s3cret-value"
            command_line = " ".join(psutil.Process(chatty.process.pid).cmdline())
            assert "s3cret-value" not in command_line

    asyncio.run(scenario())


def test_host_events_come_only_from_the_host(tmp_path: Path) -> None:
    """``host.*`` events are the host's word: no plugin publishes anything its subscribers see."""

    async def scenario() -> None:
        async with running_host(EXAMPLES / "hello", FIXTURES / "spoofer", data_dir=tmp_path) as (
            host,
            _,
        ):
            spoofer = host.endpoint("spoofer")
            assert spoofer is not None
            for topic in ("host.plugin.failed", "host"):  # "host.**" matches "host" too
                assert await spoofer.call("export", "publish", [topic], {}) == "PermissionDenied"
            await host.disable_plugin("hello")
            heard: list[list[str]] = []

            async def hears_the_disable() -> bool:
                heard[:] = cast("list[list[str]]", await spoofer.call("export", "heard", [], {}))
                return ["host.plugin.disabled", "host"] in heard

            deadline = asyncio.get_running_loop().time() + 10
            while not await hears_the_disable():
                assert asyncio.get_running_loop().time() < deadline, heard
                await asyncio.sleep(0.05)
            assert all(topic.startswith("host.") for topic, _ in heard), heard

    asyncio.run(scenario())
