"""The ``faults`` suite's fail-fast figures: what the host spends refusing a call.

Three refusals, each timed in process as the mean over a batch of calls, with the
anchor's batch right after (``PLAIN``): raising and catching a plain exception in the
same kind of loop.

- ``breaker``: `PluginRuntime.call` to a method whose circuit breaker is open, awaited
  to its `CircuitOpen`. `open_breaker` opens it with real failures first.
- ``rate_limited``: `Policy.check` of a ``kv`` call when the bucket is empty (a
  manifest with `EMPTY_KV`, its one token taken), raising `RateLimited`.
- ``denied``: `Policy.check` of ``events:publish``, which the manifest does not grant,
  raising `PermissionDenied`.

Example:
    >>> batch_us(plain_refusal, 100) > 0
    True
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from bench._errors import BenchError
from pluginctl.errors import CircuitOpen, PermissionDenied, RateLimited, RemoteError
from pluginctl.runtime.breaker import BreakerPolicy

if TYPE_CHECKING:
    from collections.abc import Callable

    from pluginctl.runtime.plugin_runtime import PluginRuntime
    from pluginctl.runtime.policy import Policy

__all__ = [
    "EMPTY_KV",
    "KINDS",
    "PLAIN",
    "QUICK_TO_OPEN",
    "batch_us",
    "breaker_batch_us",
    "open_breaker",
    "plain_refusal",
    "refusers",
]

#: What the anchor does, as the report names it.
PLAIN = "raise and catch a plain exception"
#: The refusals, in the order they are measured.
KINDS = ("breaker", "rate_limited", "denied")
#: A breaker that opens after a few failures and stays open for the whole measurement.
QUICK_TO_OPEN = BreakerPolicy(min_calls=4, failure_ratio=0.5, open_s=3600.0)
#: Manifest TOML: one ``kv`` token, never refilled in a run: then the bucket is empty.
EMPTY_KV = "\n[limits.rate.kv]\nrate_per_s = 0.0001\nburst = 1\n"

_EXPORT = "raise"


class _Refusal(Exception):
    """The anchor's exception: raised and caught, nothing else."""


def plain_refusal() -> None:
    """The anchor: raise a plain exception and catch it."""
    try:
        raise _Refusal("refused")
    except _Refusal:
        return


def refusers(policy: Policy) -> dict[str, Callable[[], None]]:
    """The policy's two refusals as calls: ``rate_limited`` and ``denied``.

    The ``kv`` bucket must be empty (`EMPTY_KV`, its token taken); a call that is let
    through raises `BenchError`.
    """

    def rate_limited() -> None:
        try:
            policy.check("kv", family="kv")
        except RateLimited:
            return
        raise BenchError("the kv bucket was not empty")

    def denied() -> None:
        try:
            policy.check("events:publish", "bench.secret", family="events")
        except PermissionDenied:
            return
        raise BenchError("events:publish was granted")

    return {"rate_limited": rate_limited, "denied": denied}


def batch_us(refuse: Callable[[], None], calls: int) -> float:
    """The mean time of ``refuse()`` over ``calls`` calls, in microseconds."""
    start = time.perf_counter_ns()
    for _ in range(calls):
        refuse()
    return (time.perf_counter_ns() - start) / 1e3 / calls


async def breaker_batch_us(runtime: PluginRuntime, calls: int) -> float:
    """The mean time of a call refused by the open breaker, awaited, in microseconds."""
    call = runtime.call
    start = time.perf_counter_ns()
    for _ in range(calls):
        try:
            await call("export", _EXPORT, [], {})
        except CircuitOpen:
            continue
        raise BenchError("the open breaker let a call through")
    return (time.perf_counter_ns() - start) / 1e3 / calls


async def open_breaker(runtime: PluginRuntime) -> None:
    """Fail the plugin's ``raise`` export until its breaker opens.

    Raises:
        BenchError: when it has not opened after twice the calls its policy needs.
    """
    for _ in range(QUICK_TO_OPEN.min_calls * 2):
        try:
            await runtime.call("export", _EXPORT, [], {})
        except CircuitOpen:
            break
        except RemoteError:  # the handler raised: the failure the breaker counts
            continue
    breaker = runtime.method_breakers.get(f"export:{_EXPORT}")
    if breaker is None or breaker.state != "open":
        raise BenchError(f"the breaker of export {_EXPORT!r} did not open")
