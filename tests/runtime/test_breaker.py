"""Circuit breakers with real workers: a failing method is paused, probed, and let back."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import CallTimeout, CircuitOpen, RemoteError
from pluginctl.runtime.audit import read
from pluginctl.runtime.breaker import BreakerPolicy, CircuitBreaker
from tests.runtime.host_harness import FIXTURES, running_host, wait_for

if TYPE_CHECKING:
    from pathlib import Path

QUICK = BreakerPolicy(
    window_s=5.0, min_calls=4, failure_ratio=0.5, consecutive_timeouts=2, open_s=0.3
)


def test_a_failing_method_is_paused_then_probed_while_others_go_through(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(FIXTURES / "chaos", data_dir=tmp_path, breaker=QUICK) as (
            host,
            _client,
        ):
            chaos = host.endpoint("chaos")
            assert chaos is not None
            for _ in range(4):
                with pytest.raises(RemoteError):
                    await chaos.call("export", "raise", ["boom"], {})
            with pytest.raises(CircuitOpen) as refused:
                await chaos.call("export", "raise", ["boom"], {})
            assert refused.value.method == "export:raise"
            assert 0 < refused.value.retry_after_s <= QUICK.open_s
            assert await chaos.call("export", "echo", ["other"], {}) == "other"  # not paused
            assert chaos.describe()["open_methods"] == ["export:raise"]
            await asyncio.sleep(QUICK.open_s)
            with pytest.raises(RemoteError):  # the probe goes through, and fails
                await chaos.call("export", "raise", ["still"], {})
            with pytest.raises(CircuitOpen):  # so the breaker opens again
                await chaos.call("export", "raise", ["boom"], {})
            host.reset_breakers("chaos")
            with pytest.raises(RemoteError):  # reset: calls go through again
                await chaos.call("export", "raise", ["boom"], {})

    asyncio.run(asyncio.wait_for(scenario(), 30))
    [opened] = [r for r in read(tmp_path / "audit.jsonl") if r["event"] == "breaker.opened"]
    assert (opened["breaker"], opened["reason"]) == ("export:raise", "RuntimeError: boom")
    assert opened["open_s"] == QUICK.open_s


def test_timeouts_in_a_row_open_the_plugin_breaker_and_routes_answer_503(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_host(
            FIXTURES / "chaos", data_dir=tmp_path, breaker=QUICK, call_timeout_s=0.1
        ) as (host, client):
            chaos = host.endpoint("chaos")
            assert chaos is not None
            for _ in range(2):
                with pytest.raises(CallTimeout):
                    await chaos.call("export", "spin", [], {})
            assert chaos.describe()["breaker"] == "open"
            response = await client.get("/plugins/chaos/ok")
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
            assert "calls are paused" in response.json()["error"]
            await asyncio.sleep(QUICK.open_s)
            assert (await client.get("/plugins/chaos/ok")).status_code == 200  # the probe
            assert chaos.describe()["breaker"] == "closed"

    asyncio.run(asyncio.wait_for(scenario(), 30))
    opened = [r for r in read(tmp_path / "audit.jsonl") if r["event"] == "breaker.opened"]
    assert [r["breaker"] for r in opened] == ["plugin", "export:spin"]  # two timeouts each
    assert all("did not answer export within 0.1 s" in str(r["reason"]) for r in opened)


def state_of(breaker: CircuitBreaker) -> str:
    return breaker.state


def test_a_success_between_timeouts_keeps_the_breaker_closed() -> None:
    breaker = CircuitBreaker(QUICK)
    breaker.admit(0.0)
    breaker.failed(0.0, timeout=True, answered=5)
    breaker.admit(0.1)
    breaker.failed(0.1, timeout=True, answered=6)  # an answer came in between
    assert state_of(breaker) == "closed"
    breaker.admit(0.2)
    breaker.failed(0.2, timeout=True, answered=6)
    assert state_of(breaker) == "open"


def test_old_failures_leave_the_window() -> None:
    breaker = CircuitBreaker(QUICK)
    for t in range(3):
        breaker.admit(float(t))
        breaker.failed(float(t), timeout=False)
    for t in range(10, 13):  # the first three are out of the 5 s window now
        breaker.admit(float(t))
    breaker.failed(12.0, timeout=False)
    assert breaker.state == "closed"


def test_a_wrong_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="failure_ratio"):
        BreakerPolicy(failure_ratio=0)


def test_events_count_under_the_subscription_not_the_topic(tmp_path: Path) -> None:
    """A publisher inventing topics cannot grow the subscriber's breakers or metrics."""

    async def scenario() -> None:
        async with running_host(FIXTURES / "listener", data_dir=tmp_path) as (host, _):
            listener = host.endpoint("listener")
            assert listener is not None
            for n in range(30):
                await listener.call("export", "publish", [f"orders.n{n}", n], {})
            await wait_for(lambda: listener.calls.methods().get("event:orders.*") is not None)
            await wait_for(lambda: listener.calls.methods()["event:orders.*"].calls == 30)
            events = {key for key in listener.method_breakers if key.startswith("event:")}
            assert events == {"event:orders.*"}
            assert {k for k in listener.calls.methods() if k.startswith("event:")} == events

    asyncio.run(scenario())
