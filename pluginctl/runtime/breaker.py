"""Circuit breakers: stop calling a plugin (or one of its methods) that keeps failing.

Each plugin has a breaker for the worker as a whole, fed by timeouts and crashes,
and one per method (``export:get``, ``route:GET /items``, ``event:orders.*``), fed by
every failure, the handler's own errors included: one broken export is paused while
the rest of the plugin serves.

A breaker is *closed* (calls go through) until, within its window, enough calls
failed — a failure ratio over a minimum number of calls, or several timeouts in a
row — and then it *opens*: calls fail at once with `CircuitOpen` (HTTP 503 with
``Retry-After``), costing the plugin nothing. After a cool-down it is *half-open*:
one probe call goes through; if it succeeds the breaker closes, if it fails it opens
again.

Counting is cheap on purpose: a call adds one to a time bucket, a failure one more;
only probe calls get a completion callback.

Example:
    >>> policy = BreakerPolicy(min_calls=4, failure_ratio=0.5, open_s=1.0)
    >>> breaker = CircuitBreaker(policy)
    >>> for t in range(4):
    ...     _ = breaker.admit(float(t))
    ...     breaker.failed(float(t), timeout=False)
    >>> breaker.state, breaker.admit(3.5), breaker.retry_after_s(3.5)
    ('open', False, 0.5)
    >>> breaker.admit(4.5), breaker.state
    ('probe', 'half-open')
    >>> breaker.probe_done(4.6, ok=True)
    >>> breaker.state
    'closed'
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import msgspec

__all__ = ["Admission", "BreakerPolicy", "CircuitBreaker"]

Admission = bool | Literal["probe"]


class BreakerPolicy(msgspec.Struct, kw_only=True, frozen=True):
    """When a breaker opens, and for how long (``[defaults.breaker]`` in pluginctl.toml).

    Attributes:
        window_s: The failure ratio counts the calls of this last stretch of time.
        min_calls: A ratio over fewer calls than this does not open the breaker.
        failure_ratio: Failed calls over all calls in the window that opens it.
        consecutive_timeouts: This many timeouts with no answer between them open it.
        open_s: How long it stays open before a probe call may go through.
    """

    window_s: float = 10.0
    min_calls: int = 20
    failure_ratio: float = 0.5
    consecutive_timeouts: int = 3
    open_s: float = 5.0

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.open_s <= 0:
            raise ValueError("window_s and open_s must be positive")
        if self.min_calls < 1 or self.consecutive_timeouts < 1:
            raise ValueError("min_calls and consecutive_timeouts must be at least 1")
        if not 0 < self.failure_ratio <= 1:
            raise ValueError("failure_ratio must be in (0, 1]")


_BUCKETS = 10  # the window in this many slices


@dataclass
class CircuitBreaker:
    """One breaker: for a plugin, or for one of its methods."""

    policy: BreakerPolicy
    state: Literal["closed", "open", "half-open"] = "closed"
    opened_at: float = -math.inf
    opened: int = 0
    _buckets: deque[list[float]] = field(default_factory=deque)  # [start, calls, failures]
    _timeouts_in_a_row: int = 0
    _answered_at_last_timeout: int = -1
    _probing: bool = False
    _current: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    _bucket_end: float = -math.inf

    def admit(self, now: float) -> Admission:
        """May a call go through now? True, False, or ``"probe"`` (report it with `probe_done`)."""
        if self.state == "closed":
            if now < self._bucket_end:  # the common case, kept short: every call comes here
                self._current[1] += 1
            else:
                self._bucket(now)[1] += 1
            return True
        if self.state == "open":
            if now < self.opened_at + self.policy.open_s:
                return False
            self.state = "half-open"
        if self._probing:
            return False
        self._probing = True
        return "probe"

    def failed(self, now: float, *, timeout: bool, answered: int = 0) -> None:
        """A call admitted earlier failed; ``answered`` counts the plugin's answers so far."""
        if self.state != "closed":
            return
        self._bucket(now)[2] += 1
        if timeout:
            if answered == self._answered_at_last_timeout:
                self._timeouts_in_a_row += 1
            else:
                self._timeouts_in_a_row = 1
            self._answered_at_last_timeout = answered
            if self._timeouts_in_a_row >= self.policy.consecutive_timeouts:
                self._open(now)
                return
        calls = failures = 0.0
        for _, bucket_calls, bucket_failures in self._buckets:
            calls += bucket_calls
            failures += bucket_failures
        if calls >= self.policy.min_calls and failures / calls >= self.policy.failure_ratio:
            self._open(now)

    def probe_done(self, now: float, *, ok: bool) -> None:
        """The probe call ended: close the breaker if it succeeded, open it again if not."""
        self._probing = False
        if ok:
            self.reset()
        else:
            self._open(now)

    def retry_after_s(self, now: float) -> float:
        """How long until a probe may go through (0 when it may now)."""
        if self.state == "closed":
            return 0.0
        return max(0.0, self.opened_at + self.policy.open_s - now)

    def reset(self) -> None:
        """Close the breaker and forget its counts (an operator reset, or a good probe)."""
        self.state = "closed"
        self._buckets.clear()
        self._bucket_end = -math.inf
        self._timeouts_in_a_row = 0
        self._answered_at_last_timeout = -1
        self._probing = False

    def _open(self, now: float) -> None:
        self.state = "open"
        self.opened_at = now
        self.opened += 1
        self._buckets.clear()
        self._bucket_end = -math.inf
        self._timeouts_in_a_row = 0

    def _bucket(self, now: float) -> list[float]:
        if now < self._bucket_end:
            return self._current
        buckets = self._buckets
        self._current = [now, 0.0, 0.0]
        self._bucket_end = now + self.policy.window_s / _BUCKETS
        buckets.append(self._current)
        while buckets and buckets[0][0] <= now - self.policy.window_s:
            buckets.popleft()
        return self._current
