"""``host.traffic``: route calls per plugin, counted per interval, published to subscribers."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from pluginctl.runtime.call_stats import CallMetrics
from pluginctl.runtime.traffic import TOPIC, TrafficMeter, TrafficReporter
from pluginctl.services.events import EventBus
from tests.runtime.host_harness import EXAMPLES, running_host

if TYPE_CHECKING:
    from pathlib import Path

    import httpx


def routes(metrics: CallMetrics, *calls: tuple[str, str]) -> None:
    for method, outcome in calls:
        metrics.observe(method, 0.001, outcome)


def test_each_sample_counts_the_route_calls_since_the_last_one_whatever_their_outcome() -> None:
    hello, notes, meter = CallMetrics(), CallMetrics(), TrafficMeter()
    routes(hello, ("route:GET /hello/{name}", "ok"), ("route:GET /hello/{name}", "error"))
    routes(notes, ("export:all_notes", "ok"), ("event:notes.*", "ok"), ("panel:main", "ok"))
    assert meter.sample({"hello": hello, "notes": notes}) == {
        "hello": {"route:GET /hello/{name}": 2}
    }
    routes(hello, ("route:GET /", "timeout"))
    routes(notes, ("route:GET /notes", "ok"), ("route:GET /notes", "ok"))
    assert meter.sample({"hello": hello, "notes": notes}) == {
        "hello": {"route:GET /": 1},
        "notes": {"route:GET /notes": 2},
    }
    assert meter.sample({"hello": hello, "notes": notes}) == {}


def test_a_plugin_added_again_counts_from_zero_and_a_removed_one_is_forgotten() -> None:
    first, meter = CallMetrics(), TrafficMeter()
    routes(first, *[("route:GET /", "ok")] * 5)
    assert meter.sample({"hello": first}) == {"hello": {"route:GET /": 5}}
    again = CallMetrics()  # removed and added: its runtime, and its metrics, are new
    routes(again, ("route:GET /", "ok"))
    assert meter.sample({"hello": again}) == {"hello": {"route:GET /": 1}}
    assert meter.sample({}) == {}
    assert meter.sample({"hello": again}) == {"hello": {"route:GET /": 1}}  # forgotten


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_report_is_published_only_with_calls_and_a_subscriber() -> None:
    async def scenario() -> None:
        delivered: list[tuple[str, str, str, object]] = []

        async def deliver(subscriber: str, topic: str, publisher: str, payload: object) -> None:
            delivered.append((subscriber, topic, publisher, payload))

        bus, hello, clock = EventBus(deliver), CallMetrics(), Clock()
        reporter = TrafficReporter(bus, lambda: {"hello": hello}, every_s=10.0, clock=clock)
        routes(hello, ("route:GET /", "ok"))
        clock.now += 10.0
        assert await reporter.report() == 0  # nobody listens: counted, not published
        bus.subscribe("analytics", "host.**")
        clock.now += 10.0
        assert await reporter.report() == 0  # nothing new
        routes(hello, ("route:GET /", "ok"), ("route:GET /", "ok"))
        clock.now += 9.5
        assert await reporter.report() == 1
        await bus.drain()
        assert delivered == [
            (
                "analytics",
                TOPIC,
                "host",
                {"interval_s": 9.5, "plugins": {"hello": {"route:GET /": 2}}},
            )
        ]

    asyncio.run(scenario())


def test_the_interval_must_be_positive() -> None:
    async def deliver(subscriber: str, topic: str, publisher: str, payload: object) -> None:
        return None

    with pytest.raises(ValueError, match="every_s must be positive"):
        TrafficReporter(EventBus(deliver), dict, every_s=0)


def test_a_running_host_tells_a_subscribed_plugin_of_other_plugins_route_calls(
    tmp_path: Path,
) -> None:
    async def hello_hits(client: httpx.AsyncClient) -> object:
        stats = (await client.get("/plugins/analytics/stats")).json()
        return stats["routes"].get("hello", {}).get("GET /hello/{name}")

    async def scenario() -> list[tuple[str, str, object]]:
        seen: list[tuple[str, str, object]] = []
        async with running_host(
            EXAMPLES / "hello", EXAMPLES / "analytics", data_dir=tmp_path, traffic_every_s=0.2
        ) as (host, client):
            stop = host.events.observe(lambda *event: seen.append(event))
            for name in ("ada", "bob", "ada"):
                assert (await client.get(f"/plugins/hello/hello/{name}")).status_code == 200
            deadline = asyncio.get_running_loop().time() + 10
            while await hello_hits(client) != 3:
                assert asyncio.get_running_loop().time() < deadline, await hello_hits(client)
                await asyncio.sleep(0.05)
            stop()
        return seen

    reports = [(who, payload) for who, topic, payload in asyncio.run(scenario()) if topic == TOPIC]
    assert {who for who, _ in reports} == {"host"}
    hello = [payload["plugins"].get("hello", {}) for _, payload in reports]  # type: ignore[index]
    assert sum(routes.get("route:GET /hello/{name}", 0) for routes in hello) == 3
    assert all(0.1 < payload["interval_s"] < 5 for _, payload in reports)  # type: ignore[index]
