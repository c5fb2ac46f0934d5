"""``host.traffic``: route calls per plugin, counted per interval, published to subscribers."""

from __future__ import annotations

import asyncio

import pytest

from pluginctl.runtime.call_stats import CallMetrics
from pluginctl.runtime.traffic import TOPIC, TrafficMeter, TrafficReporter
from pluginctl.services.events import EventBus


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
