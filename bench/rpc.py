"""Host-to-worker RPC and the host API, against a raw socketpair msgpack echo.

Every figure goes through the real stack: a `Host` starts a generated plugin in a
worker forked from its zygote, and calls reach it through `PluginRuntime.call` and the
`Channel`, with ids, deadlines and typed frames. The anchor, `RawEcho`, is a second
process echoing the same payload over a blocking socketpair with the same length
prefix and msgspec codec. Subject and anchor alternate in blocks (ABAB...), so drift
hits both alike.

Metrics:
    rpc_roundtrip_p50_us: one ``export`` call to the plugin's async ``echo``, awaited
        before the next; against one raw echo; goal <= 1.5. Extra: the p50 and p95 of
        `Channel.ping` on the same channel.
    host_api_call_p50_us: ``await api.kv.get("k")`` timed inside the worker: the call
        crosses to the host, passes the permission check and the ``kv`` rate limit (the
        plugin's manifest sets one, so the bucket is updated on every call), reads
        SQLite and returns the stored payload; against one raw echo; goal <= 2.0.
    rpc_pipelined_calls_per_s: ``asyncio.gather`` of 64 ``echo`` calls at a time;
        against 64 raw frames written one by one, then their 64 echoes read; goal >= 0.5
        (higher is better).
    pluggy_hook_call_us: a pluggy hook with one implementation called in process, per
        call: context for what isolation costs; no anchor, no goal.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from bench._errors import BenchError
from bench._stats import p50, p95
from bench._workers import (
    ECHO_EXPORT,
    PAYLOAD,
    RawEcho,
    Spec,
    active,
    guarded,
    running_host,
    write_plugin,
)
from pluginctl.runtime.discovery import load_source
from pluginctl.runtime.loop import run as run_loop

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from bench._metric import Metric
    from pluginctl.runtime.plugin_runtime import PluginRuntime

__all__ = ["run"]

PLUGIN = "bench-rpc"
RAW = "raw_socketpair_msgpack"
RAW_PIPELINED = "raw_socketpair_msgpack_pipelined"

ROUNDTRIP = Spec("rpc_roundtrip_p50_us", "us", RAW, "<= 1.5")
HOST_API = Spec("host_api_call_p50_us", "us", RAW, "<= 2.0")
PIPELINED = Spec("rpc_pipelined_calls_per_s", "calls/s", RAW_PIPELINED, ">= 0.5")
PLUGGY = Spec("pluggy_hook_call_us", "us", None, None)

_KV_EXPORTS = '''
@plugin.export("kv_put")
async def kv_put(key: str, value: Any, *, api: Any) -> None:
    """Store ``value`` for ``kv_loop`` to read."""
    await api.kv.set(key, value)


@plugin.export("kv_loop")
async def kv_loop(key: str, count: int, *, api: Any) -> dict[str, Any]:
    """Read ``key`` ``count`` times, timing each host API call in microseconds."""
    clock = time.perf_counter_ns
    get = api.kv.get
    timings = []
    value = None
    for _ in range(count):
        start = clock()
        value = await get(key)
        timings.append((clock() - start) / 1e3)
    return {"timings_us": timings, "value": value}
'''

# A limit no benchmark reaches: the bucket is still checked and updated on every call.
_KV_RATE = """
[limits.rate.kv]
rate_per_s = 1000000000.0
burst = 1000000000
"""


class _KvLoop(msgspec.Struct):
    timings_us: list[float]
    value: object


@dataclass(frozen=True, slots=True)
class _Plan:
    """How much to measure.

    Attributes:
        warmup_rounds: Untimed rounds first (imports, caches, CPU frequency).
        rounds: Timed rounds; each has one block of the subject and one of the anchor.
        calls: Sequential calls per block.
        in_flight: Calls gathered at once in the pipelined figure.
        batches: Gathers per pipelined sample.
        hook_samples: Samples of the pluggy figure.
        hook_calls: Hook calls averaged into one pluggy sample.
    """

    warmup_rounds: int
    rounds: int
    calls: int
    in_flight: int
    batches: int
    hook_samples: int
    hook_calls: int


_QUICK = _Plan(
    warmup_rounds=1, rounds=4, calls=200, in_flight=64, batches=4, hook_samples=20, hook_calls=1000
)
_FULL = _Plan(
    warmup_rounds=2,
    rounds=30,
    calls=1000,
    in_flight=64,
    batches=16,
    hook_samples=200,
    hook_calls=5000,
)


def run(*, quick: bool) -> list[Metric]:
    """Measure the suite's four metrics; ``quick`` takes few samples."""
    return run_loop(_run(_QUICK if quick else _FULL))


async def _run(plan: _Plan) -> list[Metric]:
    with tempfile.TemporaryDirectory(prefix="pluginctl-bench-rpc-") as scratch:
        rpc = await guarded(
            [ROUNDTRIP, HOST_API, PIPELINED], lambda: _measure_rpc(plan, Path(scratch))
        )
    return [*rpc, _pluggy(plan)]


async def _measure_rpc(plan: _Plan, scratch: Path) -> list[Metric]:
    project = write_plugin(
        scratch,
        PLUGIN,
        body=ECHO_EXPORT + _KV_EXPORTS,
        permissions=["kv"],
        exports=["echo", "kv_put", "kv_loop"],
        manifest_extra=_KV_RATE,
    )
    source = load_source(project)
    with RawEcho() as raw:
        async with running_host([source], scratch / "data") as host:
            runtime = active(host, PLUGIN)
            return [
                *await guarded([ROUNDTRIP], lambda: _roundtrip(runtime, raw, plan)),
                *await guarded([HOST_API], lambda: _host_api(runtime, raw, plan)),
                *await guarded([PIPELINED], lambda: _pipelined(runtime, raw, plan)),
            ]


async def _roundtrip(runtime: PluginRuntime, raw: RawEcho, plan: _Plan) -> list[Metric]:
    channel = runtime.channel
    if channel is None:
        raise BenchError(f"plugin {PLUGIN!r} has no channel")

    def echo() -> Awaitable[object]:
        return runtime.call("export", "echo", [PAYLOAD], {})

    if await echo() != PAYLOAD:
        raise BenchError("the echo export did not return its payload")
    subject: list[float] = []
    anchor: list[float] = []
    pings: list[float] = []
    for index in range(plan.warmup_rounds + plan.rounds):
        calls = await _time_each(echo, plan.calls)
        raws = [raw.roundtrip_us(PAYLOAD) for _ in range(plan.calls)]
        pongs = await _time_each(lambda: channel.ping(timeout_s=5.0), plan.calls)
        if index >= plan.warmup_rounds:
            subject += calls
            anchor += raws
            pings += pongs
    extra = {
        "ping_p50_us": p50(pings),
        "ping_p95_us": p95(pings),
        "payload_bytes": len(msgspec.msgpack.encode(PAYLOAD)),
    }
    return [ROUNDTRIP.compare(subject, anchor, extra=extra)]


async def _host_api(runtime: PluginRuntime, raw: RawEcho, plan: _Plan) -> list[Metric]:
    await runtime.call("export", "kv_put", ["k", PAYLOAD], {})
    subject: list[float] = []
    anchor: list[float] = []
    for index in range(plan.warmup_rounds + plan.rounds):
        reply = await runtime.call("export", "kv_loop", ["k", plan.calls], {}, timeout_s=120.0)
        inside = msgspec.convert(reply, _KvLoop)
        if inside.value != PAYLOAD:
            raise BenchError(f"api.kv.get returned {inside.value!r}, not the stored payload")
        raws = [raw.roundtrip_us(PAYLOAD) for _ in range(plan.calls)]
        if index >= plan.warmup_rounds:
            subject += inside.timings_us
            anchor += raws
    return [HOST_API.compare(subject, anchor, extra={"timed_in": "worker"})]


async def _pipelined(runtime: PluginRuntime, raw: RawEcho, plan: _Plan) -> list[Metric]:
    in_flight = plan.in_flight

    async def gather() -> None:
        calls = (runtime.call("export", "echo", [PAYLOAD], {}) for _ in range(in_flight))
        replies = await asyncio.gather(*calls)
        if len(replies) != in_flight:
            raise BenchError("a pipelined batch lost replies")

    calls_per_sample = in_flight * plan.batches
    subject: list[float] = []
    anchor: list[float] = []
    for index in range(plan.warmup_rounds + plan.rounds):
        start = time.perf_counter_ns()
        for _ in range(plan.batches):
            await gather()
        elapsed_s = (time.perf_counter_ns() - start) / 1e9
        raw_s = sum(raw.pipelined_s(PAYLOAD, in_flight) for _ in range(plan.batches))
        if index >= plan.warmup_rounds:
            subject.append(calls_per_sample / elapsed_s)
            anchor.append(calls_per_sample / raw_s)
    extra = {"in_flight": in_flight, "calls_per_sample": calls_per_sample}
    return [PIPELINED.compare(subject, anchor, extra=extra)]


async def _time_each(call: Callable[[], Awaitable[object]], count: int) -> list[float]:
    """Await ``call()`` ``count`` times, one after the other; microseconds each."""
    clock = time.perf_counter_ns
    samples = []
    for _ in range(count):
        start = clock()
        await call()
        samples.append((clock() - start) / 1e3)
    return samples


def _pluggy(plan: _Plan) -> Metric:
    """Per-call time of a pluggy hook with one implementation, averaged over batches."""
    try:
        import pluggy
    except ImportError:
        return PLUGGY.failed("pluggy is not installed: pip install pluggy")

    spec = pluggy.HookspecMarker("pluginctl_bench")
    impl = pluggy.HookimplMarker("pluginctl_bench")

    class Hooks:
        @spec
        def echo(self, payload: object) -> object:
            """Return the payload."""

    class Echo:
        @impl
        def echo(self, payload: object) -> object:
            return payload

    manager = pluggy.PluginManager("pluginctl_bench")
    manager.add_hookspecs(Hooks)
    manager.register(Echo())
    hook = manager.hook.echo
    if hook(payload=PAYLOAD) != [PAYLOAD]:
        return PLUGGY.failed("the pluggy hook did not return its payload")
    samples = []
    for _ in range(plan.hook_samples):
        start = time.perf_counter_ns()
        for _ in range(plan.hook_calls):
            hook(payload=PAYLOAD)
        samples.append((time.perf_counter_ns() - start) / 1e3 / plan.hook_calls)
    return PLUGGY.alone(samples, extra={"calls_per_sample": plan.hook_calls})
