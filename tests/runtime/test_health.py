"""Health checks while plugins run: idle pings, the health hook, /healthz per plugin."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import pytest

from pluginctl.runtime.audit import read
from pluginctl.runtime.health import HealthPolicy
from pluginctl.runtime.plugin_runtime import PluginState
from pluginctl.runtime.supervisor import RestartPolicy
from tests.runtime.host_harness import EXAMPLES, FIXTURES, running_host, wait_for

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import httpx

    from pluginctl.runtime.host import Host
    from pluginctl.runtime.plugin_runtime import PluginRuntime

QUICK = HealthPolicy(interval_s=0.05, timeout_s=0.5, hook_timeout_s=0.3)


@contextlib.asynccontextmanager
async def moody_host(
    tmp_path: Path, policy: HealthPolicy = QUICK
) -> AsyncIterator[tuple[Host, httpx.AsyncClient, PluginRuntime]]:
    async with running_host(
        FIXTURES / "moody",
        EXAMPLES / "hello",
        data_dir=tmp_path,
        health=policy,
        restart=RestartPolicy(initial_backoff_s=0.05, jitter=0.0),
    ) as (host, client):
        moody = host.endpoint("moody")
        assert moody is not None
        assert moody.state is PluginState.ACTIVE, moody.last_error
        yield host, client, moody


def audit_events(tmp_path: Path, event: str) -> list[dict[str, object]]:
    return [e for e in read(tmp_path / "audit.jsonl") if e["event"] == event]


@pytest.mark.parametrize(
    ("verdict", "reason"),
    [
        (False, "the health hook returned False"),
        ({"ok": False, "reason": "the database is down"}, "the database is down"),
        ("raise", "the health hook raised"),
        ("typed", "the health hook raised UserError: the database is down"),
        ("hang", "the health hook did not answer within 0.3 s"),
        ("long", "x" * 255 + "…"),
    ],
    ids=["false", "dict", "raises", "raises-typed", "hangs", "long-reason-cut"],
)
def test_a_failing_health_hook_degrades_the_plugin_which_keeps_serving(
    tmp_path: Path, verdict: object, reason: str
) -> None:
    async def scenario() -> None:
        async with moody_host(tmp_path) as (_host, client, moody):
            await moody.call("export", "feel", [verdict], {})
            await wait_for(lambda: moody.status is PluginState.DEGRADED)
            assert moody.health.reason is not None
            assert reason in moody.health.reason
            assert (await client.get("/plugins/moody/ok")).status_code == 200  # still serves
            aggregate = await client.get("/healthz")
            assert aggregate.status_code == 503
            assert aggregate.json()["plugins"] == {"moody": "degraded", "hello": "active"}
            one = await client.get("/plugins/hello/hello/x")
            assert one.status_code == 200
            await moody.call("export", "feel", [True], {})
            await wait_for(lambda: moody.status is PluginState.ACTIVE)
            assert (await client.get("/healthz")).status_code == 200

    asyncio.run(scenario())
    unhealthy = audit_events(tmp_path, "plugin.unhealthy")
    assert unhealthy
    assert reason in str(unhealthy[0]["reason"])
    assert audit_events(tmp_path, "plugin.healthy")


def test_per_plugin_healthz(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with moody_host(tmp_path) as (host, client, moody):
            healthy = await client.get("/healthz/moody")
            assert healthy.status_code == 200
            assert healthy.json() == {
                "plugin": "moody",
                "state": "active",
                "healthy": True,
                "breaker": "closed",
            }
            await moody.call("export", "feel", [False], {})
            await wait_for(lambda: not moody.health.ok)
            sick = await client.get("/healthz/moody")
            assert sick.status_code == 503
            assert sick.headers["retry-after"] == "1"
            assert sick.json()["state"] == "degraded"
            assert "reason" not in sick.json()  # public: the reason is for /status
            assert (await client.get("/healthz/hello")).status_code == 200
            missing = await client.get("/healthz/nobody")
            assert missing.status_code == 404
            assert missing.json()["error"] == "no such plugin"
            await host.disable_plugin("moody")
            disabled = await client.get("/healthz/moody")
            assert disabled.status_code == 503
            assert disabled.json()["state"] == "disabled"
            # the operator's choice does not make the host unhealthy
            aggregate = await client.get("/healthz")
            assert aggregate.status_code == 200
            assert aggregate.json()["plugins"]["moody"] == "disabled"

    asyncio.run(scenario())


def test_an_unresponsive_worker_is_killed_and_restarted(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with moody_host(tmp_path) as (_host, client, moody):
            assert moody.process is not None
            frozen = moody.process.pid
            assert await moody.call("export", "freeze", [], {}) == "frozen"
            await wait_for(lambda: moody.pid not in (None, frozen), timeout_s=15)
            assert moody.restarts == 1
            assert moody.restarts_by_kind == {"unresponsive": 1}
            assert await moody.call("export", "echo", ["back"], {}) == "back"
            assert (await client.get("/plugins/hello/hello/x")).status_code == 200

    asyncio.run(scenario())
    killed = audit_events(tmp_path, "worker.killed")
    assert [e["reason"] for e in killed] == ["unresponsive"]
    assert "acknowledged no ping for 0.5 s" in str(killed[0]["detail"])
    crashed = audit_events(tmp_path, "worker.crashed")
    assert crashed[0]["kind"] == "unresponsive"


def test_a_worker_silent_on_a_call_within_its_deadline_is_not_killed(tmp_path: Path) -> None:
    """Pings go unanswered while a handler blocks the loop; its call's deadline judges."""

    async def scenario() -> None:
        async with moody_host(tmp_path) as (_host, _client, moody):
            pid = moody.pid
            answer = await moody.call("export", "block", [1.0], {}, timeout_s=5)  # > 0.55 s
            assert answer == "done"
            assert moody.pid == pid
            assert moody.restarts == 0

    asyncio.run(scenario())
    assert audit_events(tmp_path, "worker.killed") == []


def test_traffic_counts_as_liveness_and_an_idle_worker_is_pinged(tmp_path: Path) -> None:
    async def scenario() -> None:
        policy = HealthPolicy(interval_s=0.2, timeout_s=1.0, hook_timeout_s=1.0)
        async with moody_host(tmp_path, policy) as (_host, _client, moody):
            loop = asyncio.get_running_loop()
            busy_until = loop.time() + 1.0
            while loop.time() < busy_until:  # never idle for a whole interval
                await moody.call("export", "echo", [1], {})
                await asyncio.sleep(0.01)
            health = moody.health
            assert health.ping_s is None
            assert health.checked_at is not None  # the hook was still asked
            await wait_for(lambda: moody.health.ping_s is not None)  # idle now: pinged
            assert (moody.health.ping_s or 0) > 0

    asyncio.run(scenario())
