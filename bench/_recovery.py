"""A plugin back to serving, timed on the host's event loop: after a crash, after a stuck call.

The ``faults`` suite's stopwatches. Each turns the host's event loop (``asyncio.sleep(0)``)
while it waits, and notes what it sees on the plugin's `PluginRuntime` as it happens:

- `crash_once` kills a worker (SIGKILL, or the plugin's ``exit`` export) and times it
  back to serving, noting when the host scheduled the restart and when the backoff
  ended (`Recovery`).
- `fresh_start_ms` times `Host.enable_plugin` to the first answer: a start with no crash.
- `overrun_ms` times a call stuck in Python past its deadline, until the worker answers
  again; `native_overrun` a call stuck in C, until the host has killed the worker (`Kill`).

Example:
    >>> Recovery(scheduled_ms=2.0, resumed_ms=3.0, serving_ms=12.0).healthy_ms
    11.0
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench._errors import BenchError
from pluginctl.errors import CallTimeout
from pluginctl.runtime.plugin_runtime import PluginState

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from pluginctl.runtime.host import Host
    from pluginctl.runtime.plugin_runtime import PluginRuntime
    from pluginctl.runtime.processes import WorkerProcess

__all__ = [
    "SETTLE_S",
    "Kill",
    "Recovery",
    "crash_once",
    "fresh_start_ms",
    "native_overrun",
    "overrun_ms",
    "until_serving_anew",
]

#: A pause between two starts: the zygote forks its next standby worker meanwhile.
SETTLE_S = 0.03
_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Recovery:
    """One crash, timed on the host's event loop, in milliseconds from the kill."""

    scheduled_ms: float  # the host has seen the death and scheduled the restart
    resumed_ms: float  # the backoff is over: the restart begins
    serving_ms: float  # the new worker has answered

    @property
    def healthy_ms(self) -> float:
        """Kill to serving, without the backoff."""
        return self.serving_ms - (self.resumed_ms - self.scheduled_ms)


class _RestartWatch:
    """Notes, turn by turn, when a plugin's restart is scheduled and when it begins."""

    def __init__(self, runtime: PluginRuntime, start: float) -> None:
        self.runtime = runtime
        self.start = start
        self.scheduled: float | None = None
        self.resumed: float | None = None

    def observe(self, now: float) -> None:
        pending = self.runtime.restart_at is not None
        if self.scheduled is None and pending:
            self.scheduled = now
        elif self.scheduled is not None and self.resumed is None and not pending:
            self.resumed = now

    def recovery(self, end: float) -> Recovery:
        if self.scheduled is None or self.resumed is None:
            raise BenchError(f"the restart of {self.runtime.name!r} was never seen scheduled")
        return Recovery(
            (self.scheduled - self.start) * 1000,
            (self.resumed - self.start) * 1000,
            (end - self.start) * 1000,
        )


async def crash_once(runtime: PluginRuntime, how: str) -> Recovery:
    """Kill the plugin's worker ``how`` (``sigkill`` or ``exit``); time it back to serving."""
    old = runtime.process
    if old is None or runtime.state is not PluginState.ACTIVE:
        raise BenchError(f"plugin {runtime.name!r} is not serving before the crash")
    start = time.perf_counter()
    fatal: Awaitable[object] | None = None
    if how == "sigkill":
        os.kill(old.pid, signal.SIGKILL)
    else:
        fatal = asyncio.ensure_future(runtime.call("export", "exit", [], {}))
    watch = _RestartWatch(runtime, start)
    try:
        await until_serving_anew(runtime, old, watch=watch)
        await runtime.call("export", "echo", ["back"], {})
        end = time.perf_counter()
    finally:
        if fatal is not None:  # it failed, with its worker: collect the error
            await asyncio.gather(fatal, return_exceptions=True)
    return watch.recovery(end)


async def until_serving_anew(
    runtime: PluginRuntime, old: WorkerProcess, *, watch: _RestartWatch | None = None
) -> None:
    """Turn the event loop until ``runtime`` is active in a worker other than ``old``."""
    deadline = time.perf_counter() + _TIMEOUT_S
    while runtime.state is not PluginState.ACTIVE or runtime.process is old:
        now = time.perf_counter()
        if now > deadline:
            reason = runtime.last_error or str(runtime.state)
            raise BenchError(f"plugin {runtime.name!r} did not come back: {reason}")
        if watch is not None:
            watch.observe(now)
        await asyncio.sleep(0)  # one turn: every ready callback and I/O event runs


async def fresh_start_ms(host: Host, name: str) -> float:
    """Stop the plugin, then time `Host.enable_plugin` until its first answer, in ms."""
    await host.disable_plugin(name)
    await asyncio.sleep(SETTLE_S)
    start = time.perf_counter()
    runtime = await host.enable_plugin(name)
    if runtime.state is not PluginState.ACTIVE:
        raise BenchError(f"plugin {name!r} did not start again: {runtime.last_error}")
    await runtime.call("export", "echo", ["fresh"], {})
    return (time.perf_counter() - start) * 1000


async def overrun_ms(runtime: PluginRuntime, export: str, *, deadline_s: float) -> float:
    """Call ``export`` (stuck in Python) with a deadline, an echo behind it; ms past it."""
    start = time.perf_counter()
    stuck = runtime.call("export", export, [], {}, timeout_s=deadline_s)
    behind = runtime.call("export", "echo", ["free"], {}, timeout_s=_TIMEOUT_S)
    try:
        await stuck
    except CallTimeout:
        pass
    else:
        raise BenchError(f"export {export!r} returned: it was meant to be stuck")
    await behind
    return (time.perf_counter() - start - deadline_s) * 1000


@dataclass(frozen=True, slots=True)
class Kill:
    """One call stuck in C, in milliseconds past its deadline."""

    failed_ms: float  # the caller got its CallTimeout
    killed_ms: float  # the host gave up on the silent worker and sent SIGKILL
    ended_ms: float  # the host saw the worker's end


async def native_overrun(runtime: PluginRuntime, *, deadline_s: float) -> Kill:
    """Call ``native`` (stuck in C) with a deadline; when the host fails it, kills, sees it end."""
    process = runtime.process
    if process is None:
        raise BenchError(f"plugin {runtime.name!r} has no worker")
    deadline = time.perf_counter() + deadline_s
    try:
        await runtime.call("export", "native", [], {}, timeout_s=deadline_s)
    except CallTimeout:
        failed = time.perf_counter()
    else:
        raise BenchError("export 'native' returned: it was meant to be stuck")
    killed = None
    while not process.exited.done():  # the host says why just before it sends SIGKILL
        if killed is None and runtime.exit_reason is not None:
            killed = time.perf_counter()
        if time.perf_counter() > deadline + _TIMEOUT_S:
            raise BenchError("the worker stuck in C was not killed")
        await asyncio.sleep(0)
    ended = time.perf_counter()
    if process.exited.result().code != -signal.SIGKILL:
        raise BenchError(f"the stuck worker was not killed: it {process.exited.result().reason}")
    await until_serving_anew(runtime, process)
    killed = ended if killed is None else killed
    return Kill(*((moment - deadline) * 1000 for moment in (failed, killed, ended)))
