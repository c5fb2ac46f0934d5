from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

import pytest

from pluginctl.errors import CallTimeout, RuntimeFault, UserError
from pluginctl.services.events import EventBus


@dataclass(frozen=True)
class Delivery:
    subscriber: str
    topic: str
    publisher: str
    payload: object


@dataclass
class Plugins:
    """A fake RPC layer: records deliveries; some subscribers fail, stall or answer late."""

    delivered: list[Delivery] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    delays: dict[str, float] = field(default_factory=dict)
    replies: dict[str, object] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)

    async def deliver(self, subscriber: str, topic: str, publisher: str, payload: object) -> object:
        try:
            await asyncio.sleep(self.delays.get(subscriber, 0))
        except asyncio.CancelledError:
            self.cancelled.append(subscriber)
            raise
        if subscriber in self.failing:
            raise RuntimeError(f"{subscriber} broke")
        self.delivered.append(Delivery(subscriber, topic, publisher, payload))
        return self.replies.get(subscriber, f"reply from {subscriber}")


def _subscribers(plugins: Plugins) -> list[str]:
    return sorted(d.subscriber for d in plugins.delivered)


# ------------------------------------------------------------------ subscriptions


def test_patterns_route_events() -> None:
    plugins = Plugins()
    bus = EventBus(plugins.deliver)
    bus.subscribe("exact", "orders.created")
    bus.subscribe("one", "orders.*")
    bus.subscribe("rest", "orders.**")
    bus.subscribe("all", "**")
    bus.subscribe("other", "users.*")

    async def main() -> list[int]:
        counts = [
            await bus.publish("shop", "orders.created", {"id": 1}),
            await bus.publish("shop", "orders.item.added", {"id": 1}),
            await bus.publish("shop", "payments.failed", None),
        ]
        await bus.drain()
        return counts

    assert asyncio.run(main()) == [4, 2, 1]
    by_topic: dict[str, list[str]] = {}
    for delivery in plugins.delivered:
        by_topic.setdefault(delivery.topic, []).append(delivery.subscriber)
    assert sorted(by_topic["orders.created"]) == ["all", "exact", "one", "rest"]
    assert sorted(by_topic["orders.item.added"]) == ["all", "rest"]
    assert by_topic["payments.failed"] == ["all"]
    assert {d.publisher for d in plugins.delivered} == {"shop"}
    assert plugins.delivered[0].payload == {"id": 1}


def test_a_plugin_matching_twice_gets_the_event_once() -> None:
    plugins = Plugins()
    bus = EventBus(plugins.deliver)
    bus.subscribe("audit", "orders.*")
    bus.subscribe("audit", "orders.created")
    bus.subscribe("audit", "orders.*")  # a repeat is ignored
    assert bus.subscriptions("audit") == ["orders.*", "orders.created"]

    async def main() -> int:
        count = await bus.publish("shop", "orders.created", 1)
        await bus.drain()
        return count

    assert asyncio.run(main()) == 1
    assert _subscribers(plugins) == ["audit"]


def test_a_subscribed_publisher_receives_its_own_events() -> None:
    plugins = Plugins()
    bus = EventBus(plugins.deliver)
    bus.subscribe("shop", "orders.*")

    async def main() -> int:
        count = await bus.publish("shop", "orders.created", 1)
        await bus.drain()
        return count

    assert asyncio.run(main()) == 1
    assert plugins.delivered == [Delivery("shop", "orders.created", "shop", 1)]


def test_publishing_with_no_subscribers_delivers_nothing() -> None:
    plugins = Plugins()
    bus = EventBus(plugins.deliver)
    assert asyncio.run(bus.publish("shop", "orders.created", 1)) == 0
    assert plugins.delivered == []


def test_unsubscribe_and_unsubscribe_all() -> None:
    plugins = Plugins()
    bus = EventBus(plugins.deliver)
    bus.subscribe("a", "orders.*")
    bus.subscribe("a", "users.*")
    bus.subscribe("b", "orders.*")
    assert bus.subscribers("orders.created") == ("a", "b")  # the route is cached now
    assert bus.unsubscribe("a", "orders.*") is True
    assert bus.unsubscribe("a", "orders.*") is False
    assert bus.subscribers("orders.created") == ("b",)
    assert bus.subscribers("users.created") == ("a",)
    bus.unsubscribe_all("a")
    bus.unsubscribe_all("never-subscribed")
    assert bus.subscribers("users.created") == ()
    assert bus.subscriptions("a") == []
    bus.subscribe("a", "users.*")  # a reloaded plugin subscribes again
    assert bus.subscribers("users.created") == ("a",)


@pytest.mark.parametrize("pattern", ["", "Orders", "orders..x", "orders.**.x", "orders created"])
def test_subscribe_refuses_a_bad_pattern(pattern: str) -> None:
    bus = EventBus(Plugins().deliver)
    with pytest.raises(UserError, match="is not a topic pattern") as info:
        bus.subscribe("a", pattern)
    assert info.value.hint is not None


@pytest.mark.parametrize("topic", ["orders.*", "orders.**", "**", "", "Orders.Created"])
def test_publish_and_request_refuse_a_pattern_or_bad_topic(topic: str) -> None:
    bus = EventBus(Plugins().deliver)
    bus.subscribe("a", "**")
    with pytest.raises(UserError, match="is not a topic"):
        asyncio.run(bus.publish("shop", topic, 1))
    with pytest.raises(UserError, match="is not a topic"):
        asyncio.run(bus.request("shop", topic, 1, timeout_s=1))


# ------------------------------------------------------------------ delivery


def test_publish_does_not_wait_for_slow_subscribers() -> None:
    plugins = Plugins(delays={"slow": 0.2})
    bus = EventBus(plugins.deliver)
    bus.subscribe("slow", "orders.*")
    bus.subscribe("fast", "orders.*")

    async def main() -> tuple[float, float, list[str]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await bus.publish("shop", "orders.created", 1)
        published = loop.time() - start
        assert bus.in_flight == 2
        await asyncio.sleep(0.05)
        early = _subscribers(plugins)
        await bus.drain()
        return published, loop.time() - start, early

    published, total, early = asyncio.run(main())
    assert published < 0.05
    assert total >= 0.2
    assert early == ["fast"]
    assert _subscribers(plugins) == ["fast", "slow"]


def test_a_failing_subscriber_affects_nobody_else(caplog: pytest.LogCaptureFixture) -> None:
    plugins = Plugins(failing={"broken"})
    errors: list[tuple[str, str, str]] = []
    bus = EventBus(
        plugins.deliver,
        on_error=lambda plugin, topic, exc: errors.append((plugin, topic, str(exc))),
    )
    for name in ("before", "broken", "after"):
        bus.subscribe(name, "orders.*")

    async def main() -> int:
        count = await bus.publish("shop", "orders.created", 1)
        await bus.drain()
        return count

    with caplog.at_level(logging.WARNING, logger="pluginctl.services.events"):
        assert asyncio.run(main()) == 3
    assert _subscribers(plugins) == ["after", "before"]
    assert errors == [("broken", "orders.created", "broken broke")]
    assert "delivering 'orders.created' to plugin 'broken' failed: RuntimeError" in caplog.text


def test_a_failing_on_error_handler_is_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    plugins = Plugins(failing={"broken"})

    def on_error(plugin: str, topic: str, exc: BaseException) -> None:
        raise ValueError("handler bug")

    bus = EventBus(plugins.deliver, on_error=on_error)
    bus.subscribe("broken", "orders.*")
    bus.subscribe("fine", "orders.*")

    async def main() -> None:
        await bus.publish("shop", "orders.created", 1)
        await bus.drain()

    with caplog.at_level(logging.WARNING, logger="pluginctl.services.events"):
        asyncio.run(main())
    assert _subscribers(plugins) == ["fine"]
    assert "on_error handler failed" in caplog.text


def test_publish_waits_for_room_when_too_many_deliveries_run() -> None:
    plugins = Plugins(delays={"slow": 0.05})
    bus = EventBus(plugins.deliver, max_in_flight=2)
    bus.subscribe("slow", "orders.*")

    async def main() -> list[int]:
        in_flight = []
        for index in range(5):
            await bus.publish("shop", "orders.created", index)
            in_flight.append(bus.in_flight)
        await bus.drain()
        return in_flight

    assert max(asyncio.run(main())) <= 2
    assert [d.payload for d in plugins.delivered] == [0, 1, 2, 3, 4]


def test_aclose_cancels_running_deliveries() -> None:
    plugins = Plugins(delays={"stuck": 60})
    bus = EventBus(plugins.deliver)
    bus.subscribe("stuck", "orders.*")

    async def main() -> None:
        await bus.publish("shop", "orders.created", 1)
        await asyncio.sleep(0)
        await bus.aclose()

    asyncio.run(main())
    assert plugins.cancelled == ["stuck"]
    assert bus.in_flight == 0


def test_max_in_flight_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_in_flight"):
        EventBus(Plugins().deliver, max_in_flight=0)


# ------------------------------------------------------------------ request/reply


def test_request_returns_the_first_reply_and_cancels_the_rest() -> None:
    plugins = Plugins(delays={"slow": 5, "quick": 0.01})
    bus = EventBus(plugins.deliver)
    bus.subscribe("slow", "prices.*")
    bus.subscribe("quick", "prices.*")

    reply = asyncio.run(bus.request("shop", "prices.lookup", {"sku": 1}, timeout_s=2))
    assert reply == "reply from quick"
    assert plugins.cancelled == ["slow"]
    assert plugins.delivered == [Delivery("quick", "prices.lookup", "shop", {"sku": 1})]


def test_a_reply_may_be_none() -> None:
    plugins = Plugins(replies={"b": None})
    bus = EventBus(plugins.deliver)
    bus.subscribe("b", "q.x")
    assert asyncio.run(bus.request("a", "q.x", 1, timeout_s=1)) is None


def test_a_none_from_a_listener_does_not_answer_for_the_subscriber_that_knows() -> None:
    plugins = Plugins(replies={"listener": None}, delays={"pricing": 0.05})
    bus = EventBus(plugins.deliver)
    bus.subscribe("listener", "**")  # counts every event: answers None, at once
    bus.subscribe("pricing", "prices.*")
    assert asyncio.run(bus.request("shop", "prices.lookup", 1, timeout_s=2)) == "reply from pricing"


def test_a_none_is_the_reply_when_nobody_answers_more() -> None:
    plugins = Plugins(replies={"listener": None}, failing={"broken"})
    bus = EventBus(plugins.deliver)
    bus.subscribe("listener", "**")
    bus.subscribe("broken", "prices.*")
    assert asyncio.run(bus.request("shop", "prices.lookup", 1, timeout_s=2)) is None


def test_request_skips_failing_subscribers() -> None:
    plugins = Plugins(failing={"broken"}, delays={"good": 0.02})
    errors: list[str] = []
    bus = EventBus(plugins.deliver, on_error=lambda plugin, topic, exc: errors.append(plugin))
    bus.subscribe("broken", "prices.*")
    bus.subscribe("good", "prices.*")

    assert asyncio.run(bus.request("shop", "prices.lookup", 1, timeout_s=2)) == "reply from good"
    assert errors == ["broken"]


def test_request_when_every_subscriber_fails() -> None:
    plugins = Plugins(failing={"a", "b"})
    bus = EventBus(plugins.deliver)
    bus.subscribe("a", "prices.*")
    bus.subscribe("b", "prices.*")

    with pytest.raises(RuntimeFault, match=r"every subscriber to 'prices.lookup' failed") as info:
        asyncio.run(bus.request("shop", "prices.lookup", 1, timeout_s=2))
    assert "broke" in str(info.value)
    assert isinstance(info.value.__cause__, RuntimeError)


def test_request_times_out() -> None:
    plugins = Plugins(delays={"sleepy": 10})
    bus = EventBus(plugins.deliver)
    bus.subscribe("sleepy", "prices.*")

    async def main() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(
            CallTimeout, match=r"no reply to the request 'prices.lookup' within 0.05 s"
        ):
            await bus.request("shop", "prices.lookup", 1, timeout_s=0.05)
        return loop.time() - start

    elapsed = asyncio.run(main())
    assert 0.05 <= elapsed < 1
    assert plugins.cancelled == ["sleepy"]


def test_request_with_no_subscriber_is_a_user_error() -> None:
    bus = EventBus(Plugins().deliver)
    with pytest.raises(UserError, match=r"no plugin subscribes to 'prices\.lookup'") as info:
        asyncio.run(bus.request("shop", "prices.lookup", 1, timeout_s=1))
    assert info.value.hint is not None


def test_a_plugin_never_answers_its_own_request() -> None:
    plugins = Plugins()
    bus = EventBus(plugins.deliver)
    bus.subscribe("shop", "prices.*")
    with pytest.raises(UserError, match="no plugin subscribes"):
        asyncio.run(bus.request("shop", "prices.lookup", 1, timeout_s=1))
    bus.subscribe("pricing", "prices.*")
    assert asyncio.run(bus.request("shop", "prices.lookup", 1, timeout_s=1)) == "reply from pricing"
    assert [d.subscriber for d in plugins.delivered] == ["pricing"]


@pytest.mark.parametrize("timeout_s", [0, -1, float("nan")])
def test_request_timeout_must_be_positive(timeout_s: float) -> None:
    bus = EventBus(Plugins().deliver)
    with pytest.raises(ValueError, match="timeout_s"):
        asyncio.run(bus.request("a", "b.c", 1, timeout_s=timeout_s))


def test_a_cancelled_delivery_counts_as_a_failed_reply() -> None:
    async def deliver(subscriber: str, topic: str, publisher: str, payload: object) -> object:
        if subscriber == "gone":
            raise asyncio.CancelledError  # the RPC layer gave up: the worker died
        await asyncio.sleep(0.02)
        return "late but fine"

    bus = EventBus(deliver)
    bus.subscribe("gone", "q.*")
    bus.subscribe("there", "q.*")
    assert asyncio.run(bus.request("a", "q.x", 1, timeout_s=1)) == "late but fine"
