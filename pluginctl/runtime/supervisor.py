"""What to do when a plugin's worker dies: restart it after a backoff, or give up.

`CrashHistory` keeps one plugin's recent crashes and decides, for each new one,
either to restart after a jittered exponential backoff (about 100 ms, doubling up
to 30 s) or, after too many crashes in a window, to disable the plugin until an
operator enables it again. A worker that ran for a stable period before it died
starts the backoff afresh. The decisions are pure: the host applies them.

`Supervisor` applies them for a host: it schedules the restart of a crashed plugin,
disables a crash loop, and kills a worker that stays silent past a call's deadline
(or fails its health checks), recording why. `explain_exit` turns how a worker ended
— its exit code (`OUT_OF_MEMORY_EXIT`: it ran out of memory), or the signal — into
words an operator can act on, and `crash_kind` into a label for metrics.

Example:
    >>> policy = RestartPolicy(initial_backoff_s=0.1, jitter=0.0, max_crashes=3)
    >>> history = CrashHistory(policy)
    >>> [history.crashed(at=t, uptime_s=1.0).delay_s for t in (0.0, 1.0)]
    [0.1, 0.2]
    >>> history.crashed(at=2.0, uptime_s=1.0).disable
    True
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import msgspec

from pluginctl.errors import PluginctlError
from pluginctl.runtime.limits import OUT_OF_MEMORY_EXIT

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine

    from pluginctl.runtime.audit import AuditLog
    from pluginctl.runtime.channel import Call, Channel
    from pluginctl.runtime.plugin_runtime import PluginRuntime
    from pluginctl.runtime.processes import WorkerProcess

__all__ = [
    "CrashHistory",
    "Decision",
    "RestartPolicy",
    "Supervisor",
    "crash_kind",
    "explain_exit",
    "log_failure",
]

logger = logging.getLogger(__name__)

_MIN_PROBE_S = 0.05  # however late a timeout is noticed, a worker gets this to answer


class RestartPolicy(msgspec.Struct, kw_only=True, frozen=True):
    """How a plugin is restarted after a crash (``[defaults.restart]`` in pluginctl.toml).

    Attributes:
        initial_backoff_s: The wait before the first restart.
        max_backoff_s: The longest wait.
        multiplier: Each further crash multiplies the wait by this.
        jitter: The wait varies by up to this fraction either way, so plugins that
            crashed together do not restart together.
        stable_after_s: A worker that ran this long before crashing resets the backoff.
        max_crashes: This many crashes within ``window_s`` disable the plugin.
        window_s: The window for ``max_crashes``.
    """

    initial_backoff_s: float = 0.1
    max_backoff_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2
    stable_after_s: float = 30.0
    max_crashes: int = 5
    window_s: float = 60.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_backoff_s <= self.max_backoff_s:
            raise ValueError("restart backoff must satisfy 0 < initial_backoff_s <= max_backoff_s")
        if self.multiplier < 1 or not 0 <= self.jitter < 1:
            raise ValueError("restart multiplier must be >= 1 and jitter in [0, 1)")
        if self.max_crashes < 1 or self.window_s <= 0 or self.stable_after_s <= 0:
            raise ValueError("max_crashes, window_s and stable_after_s must be positive")


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do about one crash.

    Attributes:
        disable: Give up: too many crashes in the window.
        delay_s: Otherwise, restart after this long.
        crashes_in_window: How many crashes the window holds now, this one included.
        attempt: Which restart in a row this is (1 after a stable run).
    """

    disable: bool
    delay_s: float
    crashes_in_window: int
    attempt: int


@dataclass
class CrashHistory:
    """One plugin's recent crashes, and the decision each new one leads to."""

    policy: RestartPolicy
    rng: random.Random = field(default_factory=random.Random)
    _times: deque[float] = field(default_factory=deque)
    _attempt: int = 0

    def crashed(self, *, at: float, uptime_s: float | None) -> Decision:
        """Record a crash at time ``at`` of a worker that had run ``uptime_s`` seconds.

        ``uptime_s`` is None when the worker never became active (it failed to start).
        """
        policy = self.policy
        if uptime_s is not None and uptime_s >= policy.stable_after_s:
            self._attempt = 0
        self._times.append(at)
        while self._times and self._times[0] <= at - policy.window_s:
            self._times.popleft()
        self._attempt += 1
        if len(self._times) >= policy.max_crashes:
            return Decision(True, 0.0, len(self._times), self._attempt)
        base = policy.initial_backoff_s * policy.multiplier ** (self._attempt - 1)
        spread = 1 + policy.jitter * (2 * self.rng.random() - 1)
        delay = min(policy.max_backoff_s, base) * spread
        return Decision(False, delay, len(self._times), self._attempt)

    def reset(self) -> None:
        """Forget every crash (the plugin was enabled again by an operator)."""
        self._times.clear()
        self._attempt = 0


_SIGNAL_MEANINGS = {
    signal.SIGSEGV: "a segmentation fault: native code crashed",
    signal.SIGBUS: "a bus error: native code crashed",
    signal.SIGABRT: "it aborted (native code called abort)",
    signal.SIGILL: "an illegal instruction: native code crashed",
    signal.SIGFPE: "an arithmetic fault in native code",
    signal.SIGXCPU: "it used up its CPU time limit (limits.cpu_seconds)",
    signal.SIGXFSZ: "it wrote a file over its size limit (limits.file_size_mb)",
    signal.SIGSYS: "it made a system call the sandbox forbids (seccomp)",
}


_UNSENT_SIGKILL = (
    "not sent by the host: perhaps the kernel's out-of-memory killer"
    " (see the kernel log; limits.memory_mb keeps a plugin below it)"
)


def explain_exit(code: int, reason: str, *, memory_mb: int | None = None) -> str:
    """How a worker ended, with what it means when the code or the signal tells.

    The host explains the ends it caused itself (a kill past a deadline, a dropped
    worker) in its own words; a ``SIGKILL`` that reaches this function was not its
    own. ``memory_mb`` is the plugin's memory limit, for a worker out of memory.

    Example:
        >>> explain_exit(-11, "killed by SIGSEGV")
        'killed by SIGSEGV: a segmentation fault: native code crashed'
        >>> explain_exit(3, "exited with code 3")
        'exited with code 3'
        >>> explain_exit(OUT_OF_MEMORY_EXIT, "exited with code 86", memory_mb=256)
        'exited with code 86: it ran out of memory (limits.memory_mb = 256)'
    """
    if code == OUT_OF_MEMORY_EXIT:
        limit = "no limits.memory_mb" if memory_mb is None else f"limits.memory_mb = {memory_mb}"
        return f"{reason}: it ran out of memory ({limit})"
    if code >= 0:
        return reason
    if code == -signal.SIGKILL and reason == "killed by SIGKILL":
        return f"{reason}, {_UNSENT_SIGKILL}"
    try:
        meaning = _SIGNAL_MEANINGS.get(signal.Signals(-code))
    except ValueError:
        meaning = None
    return reason if meaning is None else f"{reason}: {meaning}"


def crash_kind(code: int) -> str:
    """A short label for how a worker ended, for metrics (``restarts_total{reason=...}``).

    Example:
        >>> crash_kind(3), crash_kind(-signal.SIGSEGV), crash_kind(-signal.SIGXCPU)
        ('exit', 'signal:SIGSEGV', 'cpu_limit')
        >>> crash_kind(OUT_OF_MEMORY_EXIT)
        'memory'
    """
    if code == OUT_OF_MEMORY_EXIT:
        return "memory"
    if code >= 0:
        return "exit"
    try:
        number = signal.Signals(-code)
    except ValueError:
        return f"signal:{-code}"
    return _SIGNAL_KINDS.get(number, f"signal:{number.name}")


_SIGNAL_KINDS = {
    signal.SIGXCPU: "cpu_limit",
    signal.SIGXFSZ: "file_size_limit",
    signal.SIGSYS: "seccomp",
    signal.SIGKILL: "killed",
}


class Supervisor:
    """Restarts a host's crashed plugins, disables crash loops, ends stuck workers.

    The host tells it when a worker died (`crashed`) and when a call timed out
    (`check_stuck`); it tells the host when to start a plugin again through
    ``restart``, a coroutine that starts a fresh worker and returns whether the
    plugin is active again (None when the restart no longer applies: the plugin
    was stopped, disabled, removed or reloaded meanwhile).

    Args:
        audit: Where each decision is recorded.
        restart: Starts ``runtime`` again in a fresh worker (see above).
        deadline_grace_s: How long past a call's deadline a silent worker lives on.
    """

    def __init__(
        self,
        *,
        audit: AuditLog,
        restart: Callable[[PluginRuntime], Awaitable[bool | None]],
        deadline_grace_s: float,
    ) -> None:
        self.audit = audit
        self._restart = restart
        self._grace_s = deadline_grace_s
        self._tasks: set[asyncio.Future[None]] = set()
        self._probing: set[Channel] = set()

    def crashed(self, runtime: PluginRuntime) -> None:
        """``runtime``'s worker died: restart it after its backoff, or disable it."""
        assert runtime.crashes is not None
        now = time.monotonic()
        uptime = now - runtime.started_at if runtime.started_at is not None else None
        runtime.started_at = None
        decision = runtime.crashes.crashed(at=now, uptime_s=uptime)
        if decision.disable:
            self._disable(runtime, decision)
            return
        runtime.restart_at = now + decision.delay_s
        runtime.restart_handle = asyncio.get_running_loop().call_later(
            decision.delay_s, lambda: self._spawn(self._restart_now(runtime))
        )
        self.audit.record(
            "plugin.restart_scheduled",
            plugin=runtime.name,
            delay_s=round(decision.delay_s, 3),
            attempt=decision.attempt,
        )

    def _disable(self, runtime: PluginRuntime, decision: Decision) -> None:
        from pluginctl.runtime.plugin_runtime import PluginState

        policy = runtime.crashes.policy if runtime.crashes is not None else RestartPolicy()
        runtime.state = PluginState.DISABLED
        runtime.last_error = (
            f"disabled after {decision.crashes_in_window} crashes within"
            f" {policy.window_s:g} s; the last: {runtime.last_error}"
        )
        self.audit.record(
            "plugin.disabled",
            plugin=runtime.name,
            reason="crash loop",
            crashes=decision.crashes_in_window,
        )
        logger.warning("plugin %s: %s", runtime.name, runtime.last_error)

    async def _restart_now(self, runtime: PluginRuntime) -> None:
        runtime.restart_handle = None
        runtime.restart_at = None
        active = await self._restart(runtime)
        if active is True:
            self.audit.record("plugin.restarted", plugin=runtime.name, restarts=runtime.restarts)
        elif active is False:
            self.crashed(runtime)  # it failed to start: round again, or disabled

    def cancel(self, runtime: PluginRuntime) -> None:
        """Forget a scheduled restart of ``runtime`` (it is being stopped or started)."""
        if runtime.restart_handle is not None:
            runtime.restart_handle.cancel()
            runtime.restart_handle = None
        runtime.restart_at = None

    def check_stuck(self, runtime: PluginRuntime, call: Call) -> None:
        """``call`` to ``runtime`` timed out: kill its worker if it stays silent past the grace.

        Only the worker that serves the plugin now is probed (a call to a worker being
        retired or replaced has its own end). The grace counts from the call's deadline,
        so a timeout noticed late does not push the kill later, but the worker always
        gets a short while to answer.
        """
        process, channel = runtime.process, runtime.channel
        if process is None or channel is not call.channel or channel in self._probing:
            return
        self._probing.add(channel)
        wait_s = self._grace_s
        if call.deadline != math.inf:
            wait_s = call.deadline + self._grace_s - asyncio.get_running_loop().time()
        wait_s = max(wait_s, min(self._grace_s, _MIN_PROBE_S))
        self._spawn(self._probe_stuck(runtime, process, channel, wait_s))

    async def _probe_stuck(
        self, runtime: PluginRuntime, process: WorkerProcess, channel: Channel, wait_s: float
    ) -> None:
        grace, sent = self._grace_s, time.monotonic()
        try:
            await channel.ping(timeout_s=wait_s)
        except (PluginctlError, OSError):
            if channel.last_heard > sent:
                return  # it answered something meanwhile: alive, only slow
            self.kill(
                runtime,
                process,
                reason=(
                    f"was killed by the host: a call overran its deadline and the worker"
                    f" then answered nothing for {grace:g} s (stuck in a loop or in native code)"
                ),
                kind="deadline",
            )
        finally:
            self._probing.discard(channel)

    def kill(
        self, runtime: PluginRuntime, process: WorkerProcess, *, reason: str, kind: str
    ) -> None:
        """End ``runtime``'s worker ``process`` now, for ``reason``; the crash path follows.

        Nothing happens when ``process`` is no longer the plugin's worker or has ended.
        """
        if runtime.process is not process or process.exited.done():
            return
        runtime.exit_reason, runtime.exit_kind = reason, kind
        self.audit.record("worker.killed", plugin=runtime.name, reason=kind, detail=reason)
        process.send_signal(signal.SIGKILL)

    async def aclose(self) -> None:
        """Cancel every probe and restart in progress (the host is stopping)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coroutine: Coroutine[object, object, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(log_failure)


def log_failure(task: asyncio.Future[None]) -> None:
    """A background task's done-callback: an exception that ended it is a bug, logged."""
    if not task.cancelled() and task.exception() is not None:
        logger.error("a background task of the host failed", exc_info=task.exception())
