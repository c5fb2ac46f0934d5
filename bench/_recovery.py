"""A plugin back to serving, timed: after a crash, after a start, after a stuck call.

The ``faults`` suite's stopwatches. None of them polls: on two cores a loop that spins
waiting for a state change would take the CPU from the zygote and the worker whose
work it times. They wait for events instead, and `AuditClock` provides the host's:
it times every audit record the host writes (``plugin.restart_scheduled``,
``plugin.starting``, ``plugin.active``, ``worker.killed``...) the moment it is written,
and lets a stopwatch await the next one.

- `crash_once` kills a worker (SIGKILL to its pid, or the plugin's ``exit`` export) and
  times it back to serving (`Recovery`).
- `fresh_start_ms` times `Host.enable_plugin` to the first answer: a start, no crash.
- `overrun_ms` times a call stuck in Python past its deadline until the worker answers
  again; `native_overrun` a call stuck in C until the host has killed the worker (`Kill`).

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
from typing import TYPE_CHECKING, TypeVar

from bench._errors import BenchError
from pluginctl.errors import CallTimeout
from pluginctl.runtime.plugin_runtime import PluginState

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from pluginctl.runtime.audit import AuditLog
    from pluginctl.runtime.host import Host
    from pluginctl.runtime.plugin_runtime import PluginRuntime

__all__ = [
    "SETTLE_S",
    "AuditClock",
    "Kill",
    "Recovery",
    "crash_once",
    "fresh_start_ms",
    "native_overrun",
    "overrun_ms",
]

T = TypeVar("T")

#: A pause between two starts: the zygote forks its next standby worker meanwhile.
SETTLE_S = 0.03
_TIMEOUT_S = 10.0


class AuditClock:
    """The moment the host writes each audit record, on `time.perf_counter`.

    Inside ``with AuditClock(host):`` the host's `AuditLog` instance records through
    this clock: each record is written as before, then timed, and whoever awaits
    `next` for it is woken. Leaving the block restores the log.
    """

    def __init__(self, host: Host) -> None:
        self._audit: AuditLog = host.audit
        self._record = host.audit.record
        self._waiting: dict[tuple[str, str], list[asyncio.Future[float]]] = {}

    def __enter__(self) -> AuditClock:
        self._audit.record = self._timed  # type: ignore[method-assign]  # this instance only
        return self

    def __exit__(self, *_: object) -> None:
        vars(self._audit).pop("record", None)  # the class's method again

    def next(self, plugin: str, event: str) -> asyncio.Future[float]:
        """The time of the next ``event`` the host records for ``plugin``, once it does."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault((plugin, event), []).append(future)
        return future

    def _timed(self, event: str, *, plugin: str | None = None, **fields: object) -> None:
        self._record(event, plugin=plugin, **fields)
        now = time.perf_counter()
        for future in self._waiting.pop((plugin or "", event), []):
            if not future.done():
                future.set_result(now)


async def _at(moment: asyncio.Future[T], what: str) -> T:
    """When ``moment`` happens, or `BenchError` after the stopwatches' timeout."""
    try:
        return await asyncio.wait_for(asyncio.shield(moment), _TIMEOUT_S)
    except TimeoutError:
        raise BenchError(f"{what} did not happen within {_TIMEOUT_S:g} s") from None


@dataclass(frozen=True, slots=True)
class Recovery:
    """One crash, in milliseconds from the kill."""

    scheduled_ms: float  # the host has seen the death and scheduled the restart
    resumed_ms: float  # the backoff is over: the restart begins
    serving_ms: float  # the new worker has answered

    @property
    def healthy_ms(self) -> float:
        """Kill to serving, without the backoff."""
        return self.serving_ms - (self.resumed_ms - self.scheduled_ms)


async def crash_once(runtime: PluginRuntime, clock: AuditClock, how: str) -> Recovery:
    """Kill the plugin's worker ``how`` (``sigkill`` or ``exit``); time it back to serving."""
    old, name = runtime.process, runtime.name
    if old is None or runtime.state is not PluginState.ACTIVE:
        raise BenchError(f"plugin {name!r} is not serving before the crash")
    scheduled = clock.next(name, "plugin.restart_scheduled")
    resumed = clock.next(name, "plugin.starting")
    active = clock.next(name, "plugin.active")
    start = time.perf_counter()
    fatal: Awaitable[object] | None = None
    if how == "sigkill":
        os.kill(old.pid, signal.SIGKILL)
    else:
        fatal = asyncio.ensure_future(runtime.call("export", "exit", [], {}))
    try:
        await _at(active, f"plugin {name!r} active again after the crash")
        await runtime.call("export", "echo", ["back"], {})
        end = time.perf_counter()
    finally:
        if fatal is not None:  # it failed, with its worker: collect the error
            await asyncio.gather(fatal, return_exceptions=True)
    return Recovery(
        (scheduled.result() - start) * 1000, (resumed.result() - start) * 1000, (end - start) * 1000
    )


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


async def native_overrun(runtime: PluginRuntime, clock: AuditClock, *, deadline_s: float) -> Kill:
    """Call ``native`` (stuck in C) with a deadline; when the host fails it, kills, sees it end."""
    process, name = runtime.process, runtime.name
    if process is None:
        raise BenchError(f"plugin {name!r} has no worker")
    killed = clock.next(name, "worker.killed")
    active = clock.next(name, "plugin.active")
    deadline = time.perf_counter() + deadline_s
    try:
        await runtime.call("export", "native", [], {}, timeout_s=deadline_s)
    except CallTimeout:
        failed = time.perf_counter()
    else:
        raise BenchError("export 'native' returned: it was meant to be stuck")
    ended = await _at(process.exited, "the end of the worker stuck in C")
    gone = time.perf_counter()
    if ended.code != -signal.SIGKILL or not killed.done():
        raise BenchError(f"the stuck worker was not killed by the host: it {ended.reason}")
    await _at(active, f"plugin {name!r} active again after the kill")
    return Kill(
        (failed - deadline) * 1000, (killed.result() - deadline) * 1000, (gone - deadline) * 1000
    )
