"""``api.events``: publish/subscribe and request/reply between plugins, inside the host.

The `EventBus` only routes. It knows which plugin subscribed to which topic pattern
and hands each event to an injected ``deliver`` coroutine function, which the RPC layer
implements by calling into the subscriber's worker. Permission checks happen before
the bus is called (`pluginctl.runtime.policy.Policy`); the bus has none.

Rules:

- A topic is dotted lowercase segments (``orders.created``); a pattern may use ``*``
  for one segment and a final ``**`` for any rest (`pluginctl.permissions.topic_matches`).
- A plugin subscribed with several matching patterns gets an event once.
- A plugin receives its own published events when it subscribed to them: the bus does
  not guess that a subscription was not meant.
- A plugin never answers its own `EventBus.request`: it is asking somebody else, and
  calling itself back through the host could only deadlock a single-threaded worker.
- `EventBus.publish` does not wait for the deliveries: each runs in its own task, so a
  slow or failing subscriber never delays or fails the publisher or other subscribers.
  Failures are logged and passed to ``on_error``. When ``max_in_flight`` deliveries are
  already running, `EventBus.publish` waits for room (backpressure, not unbounded memory).

Example:
    >>> import asyncio
    >>> async def deliver(subscriber, topic, publisher, payload):
    ...     print(f"{subscriber} got {topic} from {publisher}: {payload}")
    ...     return "ok"
    >>> async def main():
    ...     bus = EventBus(deliver)
    ...     bus.subscribe("audit", "orders.*")
    ...     count = await bus.publish("shop", "orders.created", {"id": 7})
    ...     await bus.drain()
    ...     return count, await bus.request("shop", "orders.lookup", 7, timeout_s=1.0)
    >>> asyncio.run(main())
    audit got orders.created from shop: {'id': 7}
    audit got orders.lookup from shop: 7
    (1, 'ok')
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from pluginctl.errors import CallTimeout, RuntimeFault, UserError
from pluginctl.permissions import is_topic_pattern, topic_matches

__all__ = ["Deliver", "ErrorHandler", "EventBus"]

logger = logging.getLogger(__name__)

#: ``deliver(subscriber, topic, publisher, payload)``: hand one event to one plugin;
#: for a request, what it returns is the reply.
Deliver = Callable[[str, str, str, object], Awaitable[object]]

#: ``on_error(subscriber, topic, error)``: one delivery failed.
ErrorHandler = Callable[[str, str, BaseException], None]

_ROUTE_CACHE_SIZE = 4096
_TOPIC_HINT = "a topic is dotted lowercase words such as orders.created"
_PATTERN_HINT = "e.g. orders.created, orders.* (one segment) or orders.** (any rest)"


class EventBus:
    """Routes events from publishing plugins to subscribed plugins.

    Args:
        deliver: Hands one event to one subscriber (see `Deliver`).
        on_error: Called with the subscriber, the topic and the exception when a
            delivery fails; it must not raise (if it does, that is logged too).
        max_in_flight: How many deliveries may run at once before `publish` waits.
    """

    def __init__(
        self,
        deliver: Deliver,
        *,
        on_error: ErrorHandler | None = None,
        max_in_flight: int = 10_000,
    ) -> None:
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, not {max_in_flight}")
        self._deliver = deliver
        self._on_error = on_error
        self._subscriptions: dict[str, list[str]] = {}
        self._routes: dict[str, tuple[str, ...]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Semaphore(max_in_flight)
        self._observers: list[Callable[[str, str, object], None]] = []

    def observe(self, observer: Callable[[str, str, object], None]) -> Callable[[], None]:
        """Call ``observer(publisher, topic, payload)`` for every event published.

        For tools that watch the traffic (test fixtures, the admin UI); an observer
        sees every event, whoever subscribed, and must not raise. Returns the function
        that stops the observation.
        """
        self._observers.append(observer)
        return lambda: self._observers.remove(observer)

    def subscribe(self, plugin: str, pattern: str) -> None:
        """Deliver events whose topic matches ``pattern`` to ``plugin`` from now on.

        Raises:
            UserError: when ``pattern`` is not a topic pattern.
        """
        if not is_topic_pattern(pattern):
            raise UserError(f"{pattern!r} is not a topic pattern", hint=_PATTERN_HINT)
        patterns = self._subscriptions.setdefault(plugin, [])
        if pattern not in patterns:
            patterns.append(pattern)
            self._routes.clear()

    def unsubscribe(self, plugin: str, pattern: str) -> bool:
        """Stop one subscription; whether ``plugin`` had it."""
        patterns = self._subscriptions.get(plugin, [])
        if pattern not in patterns:
            return False
        patterns.remove(pattern)
        if not patterns:
            del self._subscriptions[plugin]
        self._routes.clear()
        return True

    def unsubscribe_all(self, plugin: str) -> None:
        """Forget every subscription of ``plugin`` (it stopped, or is reloading)."""
        if self._subscriptions.pop(plugin, None) is not None:
            self._routes.clear()

    def subscriptions(self, plugin: str) -> list[str]:
        """The patterns ``plugin`` subscribed to, in order."""
        return list(self._subscriptions.get(plugin, ()))

    def subscribers(self, topic: str) -> tuple[str, ...]:
        """The plugins an event on ``topic`` goes to, in the order they subscribed."""
        route = self._routes.get(topic)
        if route is None:
            route = tuple(
                plugin
                for plugin, patterns in self._subscriptions.items()
                if any(topic_matches(pattern, topic) for pattern in patterns)
            )
            if len(self._routes) >= _ROUTE_CACHE_SIZE:
                self._routes.clear()
            self._routes[topic] = route
        return route

    @property
    def in_flight(self) -> int:
        """How many deliveries are running now."""
        return len(self._tasks)

    async def publish(self, plugin: str, topic: str, payload: object) -> int:
        """Send an event from ``plugin`` to every subscriber of ``topic``; how many there are.

        Returns as soon as the deliveries are started; `drain` waits for them.

        Raises:
            UserError: when ``topic`` is not a topic (patterns cannot be published to).
        """
        _check_topic(topic)
        for observer in self._observers:
            observer(plugin, topic, payload)
        subscribers = self.subscribers(topic)
        for subscriber in subscribers:
            await self._room.acquire()
            task = asyncio.create_task(self._deliver_event(subscriber, topic, plugin, payload))
            self._tasks.add(task)
            task.add_done_callback(self._delivery_done)
        return len(subscribers)

    async def request(
        self, plugin: str, topic: str, payload: object, *, timeout_s: float
    ) -> object:
        """Ask the subscribers of ``topic`` and return the first reply.

        Every subscriber except ``plugin`` gets the request at once; the first delivery
        that returns something other than None, without raising, is the reply and the
        others are cancelled. None is no answer: a subscriber that only listens (to
        ``**``, say) must not answer for the one that knows. When every subscriber has
        answered None, or failed and at least one answered None, the reply is None.

        Raises:
            UserError: when no other plugin subscribes to ``topic``, or it is no topic.
            CallTimeout: when no reply came within ``timeout_s`` seconds.
            RuntimeFault: when every subscriber failed; the first failure is named.
        """
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s!r}")
        _check_topic(topic)
        responders = [s for s in self.subscribers(topic) if s != plugin]
        if not responders:
            raise UserError(
                f"no plugin subscribes to {topic!r}",
                hint="install and enable a plugin that answers it, or check the topic's"
                " spelling against the plugins' events:subscribe permissions",
            )
        tasks = {
            asyncio.create_task(self._call(responder, topic, plugin, payload)): responder
            for responder in responders
        }
        try:
            return await self._first_reply(tasks, topic, timeout_s)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _first_reply(
        self, tasks: dict[asyncio.Task[object], str], topic: str, timeout_s: float
    ) -> object:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        pending = set(tasks)
        failures: list[tuple[str, BaseException]] = []
        answered = False  # some subscriber returned None: not a reply, but an answer
        while pending:
            done, pending = await asyncio.wait(
                pending, timeout=deadline - loop.time(), return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                raise CallTimeout(
                    f"no reply to the request {topic!r} within {timeout_s:g} s",
                    hint="the answering plugin may be overloaded; retry, or raise the timeout",
                )
            for task in done:
                error = _cancelled() if task.cancelled() else task.exception()
                if error is None:
                    if task.result() is not None:
                        return task.result()
                    answered = True
                    continue
                failures.append((tasks[task], error))
                self._report(tasks[task], topic, error)
        if answered:
            return None
        subscriber, first = failures[0]
        raise RuntimeFault(
            f"every subscriber to {topic!r} failed to answer ({len(failures)});"
            f" {subscriber!r} said: {first}",
            hint=f"see the logs of plugin {subscriber!r}",
        ) from first

    async def drain(self) -> None:
        """Wait until every delivery started so far has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel every running delivery and wait for them to end."""
        for task in self._tasks:
            task.cancel()
        await self.drain()

    async def _call(self, subscriber: str, topic: str, publisher: str, payload: object) -> object:
        return await self._deliver(subscriber, topic, publisher, payload)

    async def _deliver_event(
        self, subscriber: str, topic: str, publisher: str, payload: object
    ) -> None:
        try:
            await self._deliver(subscriber, topic, publisher, payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  # any subscriber failure is reported, never raised
            self._report(subscriber, topic, exc)

    def _delivery_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._room.release()

    def _report(self, subscriber: str, topic: str, error: BaseException) -> None:
        logger.warning(
            "delivering %r to plugin %r failed: %s: %s",
            topic,
            subscriber,
            type(error).__name__,
            error,
        )
        if self._on_error is None:
            return
        try:
            self._on_error(subscriber, topic, error)
        except Exception:
            logger.exception("the event bus's on_error handler failed")


def _cancelled() -> RuntimeFault:
    return RuntimeFault("the delivery was cancelled before it answered")


def _check_topic(topic: str) -> None:
    if "*" in topic or not is_topic_pattern(topic):
        raise UserError(f"{topic!r} is not a topic", hint=_TOPIC_HINT)
