"""/metrics, /status and /control of a real host: what an operator's Prometheus and CLI use."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pluginctl.errors import PermissionDenied, RemoteError
from pluginctl.manifest import RateLimit
from pluginctl.runtime.audit import read
from pluginctl.runtime.breaker import BreakerPolicy
from pluginctl.runtime.supervisor import RestartPolicy
from pluginctl.web.gateway import build_app
from tests.runtime.host_harness import (
    EXAMPLES,
    FIXTURES,
    needs_sandbox,
    running_host,
    wait_for,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from pluginctl.runtime.host import Host
    from pluginctl.runtime.plugin_runtime import PluginRuntime

TOKEN = "s3cret-token"  # noqa: S105  # a test token, not a secret
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@contextlib.asynccontextmanager
async def observed_host(tmp_path: Path) -> AsyncIterator[tuple[Host, httpx.AsyncClient]]:
    async with running_host(
        FIXTURES / "chaos",
        FIXTURES / "nosy",
        EXAMPLES / "hello",
        FIXTURES / "misbehaves",
        data_dir=tmp_path,
        restart=RestartPolicy(initial_backoff_s=0.05, jitter=0.0),
        breaker=BreakerPolicy(min_calls=3, window_s=30.0, open_s=30.0),
    ) as (host, _):
        transport = httpx.ASGITransport(app=build_app(host, control_token=TOKEN))
        async with httpx.AsyncClient(transport=transport, base_url="http://host") as client:
            yield host, client


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


async def open_a_method_breaker(host: Host) -> PluginRuntime:
    """Three failures of chaos's ``raise`` export: its breaker (min_calls 3) opens."""
    chaos = host.endpoint("chaos")
    assert chaos is not None
    for _ in range(3):
        with pytest.raises(RemoteError):
            await chaos.call("export", "raise", ["no"], {})
    return chaos


async def exercise(host: Host, client: httpx.AsyncClient) -> None:
    """Calls that succeed, fail, are denied, open a breaker and crash a worker."""
    for _ in range(3):
        assert (await client.get("/plugins/hello/hello/ada")).status_code == 200
    await open_a_method_breaker(host)
    nosy = host.endpoint("nosy")
    assert nosy is not None
    assert await nosy.call("export", "try_kv", [], {}) == {
        "denied": "kv",
        "type": PermissionDenied.__name__,
    }
    bad = host.endpoint("misbehaves")
    assert bad is not None
    pid = bad.pid
    with contextlib.suppress(Exception):
        await bad.call("export", "exit", [7], {})
    await wait_for(lambda: bad.pid is not None and bad.pid != pid)


def test_metrics_count_calls_failures_breakers_denials_restarts_and_memory(
    tmp_path: Path,
) -> None:
    async def scenario() -> Samples:
        async with observed_host(tmp_path) as (host, client):
            await exercise(host, client)
            return await scrape(client)

    samples = asyncio.run(scenario())
    route = {"plugin": "hello", "method": "route:GET /hello/{name}"}
    assert value(samples, "pluginctl_calls_total", **route, outcome="ok") == 3
    assert value(samples, "pluginctl_call_duration_seconds_count", **route) == 3
    assert value(samples, "pluginctl_call_duration_seconds_bucket", **route, le="+Inf") == 3
    assert value(samples, "pluginctl_call_duration_seconds_sum", **route) > 0
    failing = {"plugin": "chaos", "method": "export:raise"}
    assert value(samples, "pluginctl_calls_total", **failing, outcome="error") == 3
    assert value(samples, "pluginctl_breaker_state", **failing) == 2  # open
    assert value(samples, "pluginctl_breaker_state", plugin="chaos", method="*") == 0
    assert value(samples, "pluginctl_permission_denied_total", plugin="nosy", capability="kv") == 1
    assert value(samples, "pluginctl_worker_crashes_total", plugin="misbehaves", reason="exit") == 1
    assert value(samples, "pluginctl_restarts_total", plugin="misbehaves", reason="exit") == 1
    assert value(samples, "pluginctl_plugin_state", plugin="hello", state="active") == 1
    # one method's breaker is open, the plugin's is not: it is active, not degraded
    assert value(samples, "pluginctl_plugin_state", plugin="chaos", state="active") == 1
    assert value(samples, "pluginctl_plugin_state", plugin="chaos", state="degraded") == 0
    assert value(samples, "pluginctl_plugin_up", plugin="misbehaves") == 1
    assert value(samples, "pluginctl_worker_rss_bytes", plugin="hello") > 1024 * 1024
    uss = value(samples, "pluginctl_worker_uss_bytes", plugin="hello")
    assert 0 < uss < value(samples, "pluginctl_worker_rss_bytes", plugin="hello")


def test_a_rate_limited_route_is_counted(tmp_path: Path) -> None:
    async def scenario() -> Samples:
        async with running_host(
            EXAMPLES / "hello",
            data_dir=tmp_path,
            default_rates={"calls": RateLimit(rate_per_s=0.001, burst=2)},
        ) as (_host, client):
            statuses = [(await client.get("/plugins/hello/hello/x")).status_code for _ in range(4)]
            assert statuses == [200, 200, 429, 429]
            return await scrape(client)

    samples = asyncio.run(scenario())
    assert value(samples, "pluginctl_rate_limited_total", plugin="hello", family="calls") == 2


def test_status_needs_the_token_and_reports_every_plugin(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with observed_host(tmp_path) as (host, client):
            await exercise(host, client)
            for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
                refused = await client.get("/status", headers=headers)
                assert refused.status_code == 401
                assert refused.headers["www-authenticate"] == 'Bearer realm="pluginctl"'
            response = await client.get("/status", headers={"authorization": f"Bearer {TOKEN}"})
            assert response.status_code == 200
            report = response.json()
            assert report["host"]["data_dir"] == str(tmp_path)
            plugins = {plugin["name"]: plugin for plugin in report["plugins"]}
            assert set(plugins) == {"chaos", "nosy", "hello", "misbehaves"}
            hello = plugins["hello"]
            assert hello["calls"] == 3
            assert hello["failures"] == 0
            assert hello["latency_ms"]["p50"] > 0
            assert hello["uss_bytes"] > 0
            assert plugins["chaos"]["open_methods"] == ["export:raise"]
            assert plugins["chaos"]["outcomes"] == {"error": 3}
            assert plugins["misbehaves"]["restarts_by_reason"] == {"exit": 1}
            assert plugins["nosy"]["denied"] == {"kv": 1}

    asyncio.run(scenario())


def test_without_a_token_there_is_no_status_route(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(EXAMPLES / "hello", data_dir=tmp_path) as (_, client):
            assert (await client.get("/status")).status_code == 404
            assert (await client.get("/metrics")).status_code == 200

    asyncio.run(scenario())


def test_control_enables_disables_and_resets_breakers_with_the_token(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with observed_host(tmp_path) as (host, client):
            auth = {"authorization": f"Bearer {TOKEN}"}
            assert (await client.post("/control/plugins/hello/disable")).status_code == 401
            disabled = await client.post("/control/plugins/hello/disable", headers=auth)
            assert disabled.status_code == 200
            assert disabled.json()["state"] == "disabled"
            assert (await client.get("/plugins/hello/hello/x")).status_code == 503
            again = await client.post("/control/plugins/hello/enable", headers=auth)
            assert again.json()["state"] == "active"
            assert (await client.get("/plugins/hello/hello/x")).status_code == 200
            chaos = await open_a_method_breaker(host)
            assert chaos.describe()["open_methods"] == ["export:raise"]
            reset = await client.post("/control/plugins/chaos/enable", headers=auth)
            assert reset.json()["open_methods"] == []
            missing = await client.post("/control/plugins/ghost/enable", headers=auth)
            assert missing.status_code == 404
            wrong = await client.post("/control/plugins/hello/restart", headers=auth)
            assert wrong.status_code == 404
            assert (
                await client.get("/control/plugins/hello/enable", headers=auth)
            ).status_code == 405

    asyncio.run(scenario())
    recorded = [e["event"] for e in read(tmp_path / "audit.jsonl") if e.get("plugin") == "hello"]
    assert "plugin.disabled" in recorded
    assert "plugin.enabled" in recorded


@needs_sandbox
def test_sandbox_refusals_and_output_are_counted(tmp_path: Path) -> None:
    async def scenario() -> Samples:
        async with running_host(FIXTURES / "snoop", FIXTURES / "chatty", data_dir=tmp_path) as (
            host,
            client,
        ):
            snoop, chatty = host.endpoint("snoop"), host.endpoint("chatty")
            assert snoop is not None
            assert chatty is not None
            with pytest.raises(RemoteError, match="PermissionError"):
                await snoop.call("export", "connect", [], {})
            await wait_for(lambda: snoop.sandbox_denied["socket"] == 1)
            await chatty.call("export", "speak", [], {})
            await wait_for(lambda: chatty.output is not None and chatty.output.lines >= 4)
            return await scrape(client)

    samples = asyncio.run(scenario())
    assert value(samples, "pluginctl_sandbox_denied_total", plugin="snoop", operation="socket") == 1
    assert value(samples, "pluginctl_output_lines_total", plugin="chatty") >= 4
    assert value(samples, "pluginctl_output_dropped_lines_total", plugin="chatty") == 0
