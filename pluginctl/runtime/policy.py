"""Permission checks and rate limits for one plugin's calls into the host.

The RPC layer calls `Policy.check` before every host API call a plugin's worker makes;
it raises `pluginctl.errors.PermissionDenied` or `pluginctl.errors.RateLimited`, which
travel back to the plugin as typed errors. The fast path is a dictionary look-up and a
token bucket update: about a microsecond.

What goes to the audit log (`pluginctl.runtime.audit.AuditLog`):

- ``permission.denied`` for a denied call. Repeats of the same denial within a second
  are folded into the next record's ``suppressed`` count, so a plugin retrying in a
  loop cannot flood the log, yet every denial is accounted for.
- ``rate.limited`` when a family's bucket is empty: at most one record per family a
  second, with ``suppressed`` counting the hits in between.
- ``permission.granted`` the first time a sensitive capability (``http:fetch``,
  ``plugins:call``) is used on each target, so the log shows what a plugin reached.

Example:
    >>> from pluginctl.errors import PermissionDenied, RateLimited
    >>> from pluginctl.manifest import RateLimit
    >>> from pluginctl.permissions import PermissionSet
    >>> policy = Policy(
    ...     "shop",
    ...     PermissionSet.parse(["kv", "events:publish:orders.*"]),
    ...     {"kv": RateLimit(rate_per_s=0.1, burst=2)},
    ... )
    >>> policy.check("events:publish", "orders.created", family="events")
    >>> try:
    ...     policy.check("events:publish", "users.created", family="events")
    ... except PermissionDenied as exc:
    ...     print(exc)
    plugin 'shop' lacks the permission 'events:publish:users.created'
    >>> policy.check("kv", family="kv"), policy.check("kv", family="kv")
    (None, None)
    >>> try:
    ...     policy.check("kv", family="kv")
    ... except RateLimited as exc:
    ...     print(exc, "- retry in about", round(exc.retry_after_s), "s")
    plugin 'shop' is over its 'kv' rate limit - retry in about 10 s
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Self

from pluginctl.errors import PermissionDenied, RateLimited
from pluginctl.manifest import RATE_LIMITED_CAPABILITIES
from pluginctl.permissions import is_host_topic
from pluginctl.runtime.audit import AuditThrottle

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from pluginctl.manifest import Manifest, RateLimit
    from pluginctl.permissions import Permission, PermissionSet
    from pluginctl.runtime.audit import AuditLog

__all__ = ["SENSITIVE_CAPABILITIES", "Policy", "PolicyTally", "TokenBucket"]

#: Capabilities whose first use on each target is written to the audit log.
SENSITIVE_CAPABILITIES: frozenset[str] = frozenset({"http:fetch", "plugins:call"})

_NO_RATES: Mapping[str, RateLimit] = MappingProxyType({})
_DECISION_CACHE_SIZE = 4096
_GRANTS_REMEMBERED = 4096


class TokenBucket:
    """``rate_per_s`` tokens a second, holding at most ``capacity``; starts full.

    Args:
        rate_per_s: How fast tokens come back.
        capacity: The most tokens held: the burst allowed after a quiet period.
        clock: Seconds from a monotonic clock; `time.monotonic` unless a test fakes it.

    Example:
        >>> bucket = TokenBucket(2.0, 1)
        >>> bucket.try_take(now=10.0), bucket.try_take(now=10.0), bucket.try_take(now=10.5)
        (0.0, 0.5, 0.0)
    """

    __slots__ = ("_clock", "_last", "_tokens", "capacity", "rate_per_s")

    def __init__(
        self, rate_per_s: float, capacity: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not rate_per_s > 0:
            raise ValueError(f"rate_per_s must be positive, not {rate_per_s!r}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity!r}")
        self.rate_per_s = float(rate_per_s)
        self.capacity = capacity
        self._clock = clock
        self._tokens = float(capacity)
        self._last: float | None = None

    @classmethod
    def from_limit(cls, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic) -> Self:
        """The bucket a manifest's ``[limits.rate.<family>]`` table describes."""
        return cls(limit.rate_per_s, limit.capacity, clock=clock)

    def try_take(self, now: float | None = None) -> float:
        """Take a token: 0.0 when one was taken, else the seconds until one is free.

        ``now`` defaults to the bucket's clock; a ``now`` earlier than the last one
        seen adds no tokens (time never runs backwards for the bucket).
        """
        if now is None:
            now = self._clock()
        last = self._last
        if last is None or now <= last:
            self._last = now if last is None else last
        else:
            self._tokens = min(self.capacity, self._tokens + (now - last) * self.rate_per_s)
            self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate_per_s

    @property
    def tokens(self) -> float:
        """The tokens held at the last `try_take` (not refilled to now)."""
        return self._tokens


@dataclass(slots=True)
class PolicyTally:
    """What a plugin's policies refused, for metrics; it outlives each policy (a reload).

    Attributes:
        denied: Denied calls by capability (``kv``, ``events:publish``, ...).
        rate_limited: Rate-limited calls by family (``calls``, ``kv``, ...).
    """

    denied: Counter[str] = field(default_factory=Counter)
    rate_limited: Counter[str] = field(default_factory=Counter)


class Policy:
    """What one plugin may call, and how often.

    Args:
        plugin: The plugin's name, used in errors and audit records.
        permissions: The permissions its manifest declares.
        rates: Its manifest's ``limits.rate``: a `RateLimit` per family.
        defaults: The host's rate limits for families the manifest does not limit;
            a family in neither is unlimited.
        audit: Where denials, rate limit hits and sensitive grants are recorded.
        clock: Seconds from a monotonic clock, for the buckets and audit throttling.
        tally: Where refusals are counted (a fresh one by default).
    """

    def __init__(
        self,
        plugin: str,
        permissions: PermissionSet,
        rates: Mapping[str, RateLimit],
        *,
        defaults: Mapping[str, RateLimit] = _NO_RATES,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.monotonic,
        tally: PolicyTally | None = None,
    ) -> None:
        self.plugin = plugin
        self.tally = PolicyTally() if tally is None else tally
        self.permissions = permissions
        self._audit = audit
        self._clock = clock
        self._bare, self._scoped = _index(permissions.permissions)
        self._decisions: dict[tuple[str, str], bool] = {}
        self._buckets = _buckets({**defaults, **rates}, clock=clock)
        self._throttles: dict[str, AuditThrottle] = {}
        self._granted: set[tuple[str, str]] = set()

    @classmethod
    def from_manifest(
        cls,
        manifest: Manifest,
        *,
        defaults: Mapping[str, RateLimit] = _NO_RATES,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> Self:
        """The policy a plugin's manifest declares, with the host's default rate limits."""
        return cls(
            manifest.name,
            manifest.permission_set,
            manifest.limits.rate,
            defaults=defaults,
            audit=audit,
            clock=clock,
        )

    def grants(self, capability: str, target: str | None = None) -> bool:
        """Whether the plugin may use ``capability`` (on ``target``); no audit, no limits.

        Example:
            >>> from pluginctl.permissions import PermissionSet
            >>> policy = Policy("shop", PermissionSet.parse(["db:write"]), {})
            >>> policy.grants("db:read"), policy.grants("kv")
            (True, False)
        """
        if target is None:
            return capability in self._bare
        decision = self._decisions.get((capability, target))
        if decision is None:
            decision = not (capability == "events:publish" and is_host_topic(target)) and any(
                p.allows(capability, target) for p in self._scoped.get(capability, ())
            )
            if len(self._decisions) >= _DECISION_CACHE_SIZE:
                self._decisions.clear()
            self._decisions[capability, target] = decision
        return decision

    def check(self, capability: str, target: str | None = None, *, family: str) -> None:
        """Allow one call using ``capability`` on ``target``, counted against ``family``.

        Args:
            capability: ``kv``, ``db:read``, ``events:publish``, ``http:fetch``, ...
            target: What a scoped capability reaches: a topic, a plugin, a host name.
            family: The rate limit the call counts against, one of
                `pluginctl.manifest.RATE_LIMITED_CAPABILITIES`.

        Raises:
            PermissionDenied: when the plugin lacks the permission (audited).
            RateLimited: when the family's bucket is empty (audited, throttled).
            ValueError: when ``family`` is not a rate-limited family (a host bug).
        """
        if not self.grants(capability, target):
            permission = capability if target is None else f"{capability}:{target}"
            self._denied(capability, target, permission)
            raise PermissionDenied(self.plugin, permission)
        self.limit(family)
        if capability in SENSITIVE_CAPABILITIES and target is not None:
            self._granted_once(capability, target)

    def require(self, capability: str, target: str | None = None) -> None:
        """Like `check`, for a permission that comes on top of one already checked.

        Nothing is counted against a rate limit: the call was counted by that `check`.

        Raises:
            PermissionDenied: when the plugin lacks the permission (audited).
        """
        if not self.grants(capability, target):
            permission = capability if target is None else f"{capability}:{target}"
            self._denied(capability, target, permission)
            raise PermissionDenied(self.plugin, permission)

    def limit(self, family: str) -> None:
        """Count one call against ``family``'s rate limit, with no permission check.

        For calls the plugin does not choose, such as HTTP requests routed into it
        (family ``calls``).

        Raises:
            RateLimited: when the family's bucket is empty (audited, throttled).
            ValueError: when ``family`` is not a rate-limited family.
        """
        try:
            bucket = self._buckets[family]
        except KeyError:
            known = ", ".join(RATE_LIMITED_CAPABILITIES)
            raise ValueError(f"{family!r} is not a rate limit family; one of: {known}") from None
        if bucket is None:
            return
        wait_s = bucket.try_take(self._clock())
        if wait_s:
            self._rate_limited(family, wait_s)
            raise RateLimited(self.plugin, family, retry_after_s=wait_s)

    def _denied(self, capability: str, target: str | None, permission: str) -> None:
        self.tally.denied[capability] += 1
        if self._audit is None:
            return
        suppressed = self._throttle(f"denied:{permission}").allow(self._clock())
        if suppressed is not None:
            self._audit.record(
                "permission.denied",
                plugin=self.plugin,
                permission=permission,
                capability=capability,
                target=target,
                suppressed=suppressed,
            )

    def _rate_limited(self, family: str, wait_s: float) -> None:
        self.tally.rate_limited[family] += 1
        if self._audit is None:
            return
        suppressed = self._throttle(f"rate:{family}").allow(self._clock())
        if suppressed is not None:
            self._audit.record(
                "rate.limited",
                plugin=self.plugin,
                family=family,
                retry_after_s=round(wait_s, 6),
                suppressed=suppressed,
            )

    def _granted_once(self, capability: str, target: str) -> None:
        key = (capability, target)
        if self._audit is None or key in self._granted:
            return
        if len(self._granted) < _GRANTS_REMEMBERED:
            self._granted.add(key)
            self._audit.record(
                "permission.granted",
                plugin=self.plugin,
                permission=f"{capability}:{target}",
                capability=capability,
                target=target,
            )

    def _throttle(self, key: str) -> AuditThrottle:
        throttle = self._throttles.get(key)
        if throttle is None:
            if len(self._throttles) >= _DECISION_CACHE_SIZE:
                self._throttles.clear()
            throttle = self._throttles[key] = AuditThrottle()
        return throttle

    def __repr__(self) -> str:
        return f"Policy({self.plugin!r})"


def _index(
    permissions: tuple[Permission, ...],
) -> tuple[frozenset[str], dict[str, tuple[Permission, ...]]]:
    """The bare capabilities held (``db:write`` implies ``db:read``) and the scoped ones."""
    bare = {p.capability for p in permissions if p.target is None}
    if "db:write" in bare:
        bare.add("db:read")
    scoped: dict[str, list[Permission]] = {}
    for permission in permissions:
        if permission.target is not None:
            scoped.setdefault(permission.capability, []).append(permission)
    return frozenset(bare), {cap: tuple(held) for cap, held in scoped.items()}


def _buckets(
    limits: Mapping[str, RateLimit], *, clock: Callable[[], float]
) -> dict[str, TokenBucket | None]:
    return {
        family: None
        if family not in limits
        else TokenBucket.from_limit(limits[family], clock=clock)
        for family in RATE_LIMITED_CAPABILITIES
    }
