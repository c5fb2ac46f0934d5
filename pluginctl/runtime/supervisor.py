"""What to do when a plugin's worker dies: restart it after a backoff, or give up.

`CrashHistory` keeps one plugin's recent crashes and decides, for each new one,
either to restart after a jittered exponential backoff (about 100 ms, doubling up
to 30 s) or, after too many crashes in a window, to disable the plugin until an
operator enables it again. A worker that ran for a stable period before it died
starts the backoff afresh. The decisions are pure: the host applies them.

`explain_exit` turns how a worker ended into words an operator can act on.

Example:
    >>> policy = RestartPolicy(initial_backoff_s=0.1, jitter=0.0, max_crashes=3)
    >>> history = CrashHistory(policy)
    >>> [history.crashed(at=t, uptime_s=1.0).delay_s for t in (0.0, 1.0)]
    [0.1, 0.2]
    >>> history.crashed(at=2.0, uptime_s=1.0).disable
    True
"""

from __future__ import annotations

import random
import signal
from collections import deque
from dataclasses import dataclass, field

import msgspec

__all__ = ["CrashHistory", "Decision", "RestartPolicy", "explain_exit"]


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


def explain_exit(code: int, reason: str) -> str:
    """How a worker ended, with what it means when the signal tells.

    Example:
        >>> explain_exit(-11, "killed by SIGSEGV")
        'killed by SIGSEGV: a segmentation fault: native code crashed'
        >>> explain_exit(3, "exited with code 3")
        'exited with code 3'
    """
    if code >= 0:
        return reason
    try:
        meaning = _SIGNAL_MEANINGS.get(signal.Signals(-code))
    except ValueError:
        meaning = None
    return reason if meaning is None else f"{reason}: {meaning}"
