from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import PermissionDenied, RateLimited
from pluginctl.manifest import RATE_LIMITED_CAPABILITIES, Manifest, RateLimit
from pluginctl.permissions import PermissionSet
from pluginctl.runtime.audit import AuditLog, read
from pluginctl.runtime.policy import Policy, TokenBucket

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    with AuditLog(tmp_path / "audit.jsonl") as log:
        yield log


def _records(audit: AuditLog, event: str | None = None) -> list[dict[str, object]]:
    return [r for r in read(audit.path) if event is None or r["event"] == event]


def _policy(
    permissions: list[str],
    rates: Mapping[str, RateLimit] | None = None,
    *,
    audit: AuditLog | None = None,
    clock: FakeClock | None = None,
    defaults: Mapping[str, RateLimit] | None = None,
) -> Policy:
    return Policy(
        "shop",
        PermissionSet.parse(permissions),
        rates or {},
        defaults=defaults or {},
        audit=audit,
        clock=clock or FakeClock(),
    )


# ------------------------------------------------------------------ TokenBucket


def test_a_bucket_starts_full_and_refills_at_its_rate() -> None:
    bucket = TokenBucket(10.0, 3)
    assert [bucket.try_take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.try_take(0.0) == pytest.approx(0.1)
    assert bucket.try_take(0.05) == pytest.approx(0.05)
    assert bucket.try_take(0.1) == 0.0
    assert bucket.try_take(0.1) == pytest.approx(0.1)


def test_a_bucket_never_holds_more_than_its_capacity() -> None:
    bucket = TokenBucket(10.0, 2)
    bucket.try_take(0.0)
    assert [bucket.try_take(3600.0) for _ in range(3)] == [0.0, 0.0, pytest.approx(0.1)]


def test_a_clock_going_backwards_adds_no_tokens() -> None:
    bucket = TokenBucket(1.0, 1)
    assert bucket.try_take(100.0) == 0.0
    assert bucket.try_take(50.0) == pytest.approx(1.0)
    assert bucket.try_take(100.5) == pytest.approx(0.5)
    assert bucket.try_take(101.0) == 0.0


def test_a_bucket_uses_its_clock_when_no_time_is_given(clock: FakeClock) -> None:
    bucket = TokenBucket(2.0, 1, clock=clock)
    assert bucket.try_take() == 0.0
    assert bucket.try_take() == pytest.approx(0.5)
    clock.advance(0.5)
    assert bucket.try_take() == 0.0


def test_a_bucket_from_a_manifest_limit() -> None:
    bucket = TokenBucket.from_limit(RateLimit(rate_per_s=2.5))
    assert (bucket.rate_per_s, bucket.capacity) == (2.5, 3)


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (-1, 1), (1, 0)])
def test_a_bucket_needs_a_positive_rate_and_capacity(rate: float, capacity: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        TokenBucket(rate, capacity)


# ------------------------------------------------------------------ grants


@pytest.mark.parametrize(
    ("permissions", "capability", "target", "granted"),
    [
        (["kv"], "kv", None, True),
        (["kv"], "db:read", None, False),
        (["db:write"], "db:read", None, True),
        (["db:read"], "db:write", None, False),
        (["events:publish:orders.*"], "events:publish", "orders.created", True),
        (["events:publish:orders.*"], "events:publish", "orders.a.b", False),
        (["events:publish:orders.*"], "events:subscribe", "orders.created", False),
        (["events:publish:orders.*"], "events:publish", None, False),
        (["events:subscribe:orders.**"], "events:subscribe", "orders.a.b", True),
        (["plugins:call:billing"], "plugins:call", "billing", True),
        (["plugins:call:billing"], "plugins:call", "billing-2", False),
        (["http:fetch:*.example.com"], "http:fetch", "api.example.com", True),
        (["http:fetch:*.example.com"], "http:fetch", "API.Example.com", True),
        (["http:fetch:*.example.com"], "http:fetch", "example.com", False),
        (["kv"], "kv", "some-target", False),
        ([], "kv", None, False),
    ],
)
def test_grants_agrees_with_the_permission_set(
    permissions: list[str], capability: str, target: str | None, granted: bool
) -> None:
    policy = _policy(permissions)
    assert policy.grants(capability, target) is granted
    assert policy.grants(capability, target) is granted  # from the cache this time
    assert PermissionSet.parse(permissions).allows(capability, target) is granted


def test_grants_writes_nothing(audit: AuditLog) -> None:
    policy = _policy(["http:fetch:api.example.com"], audit=audit)
    assert policy.grants("http:fetch", "api.example.com")
    assert not policy.grants("kv")
    assert _records(audit) == []


def test_many_distinct_targets_keep_the_decision_cache_bounded() -> None:
    policy = _policy(["http:fetch:*.example.com"])
    for index in range(10_000):
        assert policy.grants("http:fetch", f"h{index}.example.com")
    assert not policy.grants("http:fetch", "evil.test")


# ------------------------------------------------------------------ denial


def test_a_denied_call_raises_and_is_audited(audit: AuditLog) -> None:
    policy = _policy(["events:publish:orders.*"], audit=audit)
    with pytest.raises(PermissionDenied) as info:
        policy.check("events:publish", "users.created", family="events")
    assert info.value.plugin == "shop"
    assert info.value.permission == "events:publish:users.created"
    assert info.value.hint == 'add "events:publish:users.created" to permissions in its plugin.toml'
    [record] = _records(audit)
    assert {k: v for k, v in record.items() if k != "ts"} == {
        "event": "permission.denied",
        "plugin": "shop",
        "permission": "events:publish:users.created",
        "capability": "events:publish",
        "target": "users.created",
        "suppressed": 0,
    }


def test_a_denied_bare_permission_names_it(audit: AuditLog) -> None:
    policy = _policy([], audit=audit)
    with pytest.raises(PermissionDenied, match="lacks the permission 'db:write'"):
        policy.check("db:write", family="db")
    [record] = _records(audit)
    assert record["permission"] == "db:write"
    assert record["target"] is None


def test_repeated_denials_are_folded_into_one_record_a_second(
    audit: AuditLog, clock: FakeClock
) -> None:
    policy = _policy([], audit=audit, clock=clock)
    for _ in range(5):
        with pytest.raises(PermissionDenied):
            policy.check("kv", family="kv")
        clock.advance(0.1)
    with pytest.raises(PermissionDenied):
        policy.check("db:read", family="db")  # a different permission is recorded at once
    clock.advance(0.6)
    with pytest.raises(PermissionDenied):
        policy.check("kv", family="kv")
    records = _records(audit, "permission.denied")
    assert [(r["permission"], r["suppressed"]) for r in records] == [
        ("kv", 0),
        ("db:read", 0),
        ("kv", 4),
    ]


def test_a_denied_call_takes_no_token(clock: FakeClock) -> None:
    policy = _policy(["kv"], {"kv": RateLimit(rate_per_s=1, burst=1)}, clock=clock)
    with pytest.raises(PermissionDenied):
        policy.check("db:read", family="kv")
    policy.check("kv", family="kv")


def test_without_an_audit_log_denials_still_raise() -> None:
    with pytest.raises(PermissionDenied):
        _policy([]).check("kv", family="kv")


# ------------------------------------------------------------------ rate limits


def test_the_rate_limit_is_exact(clock: FakeClock) -> None:
    policy = _policy(["kv"], {"kv": RateLimit(rate_per_s=4, burst=2)}, clock=clock)
    policy.check("kv", family="kv")
    policy.check("kv", family="kv")
    with pytest.raises(RateLimited) as info:
        policy.check("kv", family="kv")
    assert info.value.capability == "kv"
    assert info.value.retry_after_s == pytest.approx(0.25)
    assert info.value.hint == "retry after 0.250 s, or raise limits.rate.kv"
    clock.advance(0.1)
    with pytest.raises(RateLimited) as info:
        policy.check("kv", family="kv")
    assert info.value.retry_after_s == pytest.approx(0.15)
    clock.advance(0.15)
    policy.check("kv", family="kv")
    clock.advance(10)  # refills to the burst, not beyond
    policy.check("kv", family="kv")
    policy.check("kv", family="kv")
    with pytest.raises(RateLimited):
        policy.check("kv", family="kv")


def test_families_have_separate_buckets(clock: FakeClock) -> None:
    rates = {"kv": RateLimit(rate_per_s=1, burst=1), "db": RateLimit(rate_per_s=1, burst=1)}
    policy = _policy(["kv", "db:write"], rates, clock=clock)
    policy.check("kv", family="kv")
    policy.check("db:write", family="db")
    with pytest.raises(RateLimited, match="'db' rate limit"):
        policy.check("db:read", family="db")
    with pytest.raises(RateLimited, match="'kv' rate limit"):
        policy.check("kv", family="kv")


def test_host_defaults_apply_where_the_manifest_is_silent(clock: FakeClock) -> None:
    policy = _policy(
        ["kv", "db:read"],
        {"kv": RateLimit(rate_per_s=100, burst=100)},
        defaults={"kv": RateLimit(rate_per_s=1, burst=1), "db": RateLimit(rate_per_s=1, burst=1)},
        clock=clock,
    )
    for _ in range(100):
        policy.check("kv", family="kv")  # the manifest's limit wins
    policy.check("db:read", family="db")
    with pytest.raises(RateLimited):
        policy.check("db:read", family="db")  # the host's default applies


def test_a_family_limited_nowhere_is_unlimited(clock: FakeClock) -> None:
    policy = _policy(["kv"], clock=clock)
    for _ in range(10_000):
        policy.check("kv", family="kv")


def test_limit_counts_calls_without_a_permission(clock: FakeClock) -> None:
    policy = _policy([], {"calls": RateLimit(rate_per_s=1, burst=2)}, clock=clock)
    policy.limit("calls")
    policy.limit("calls")
    with pytest.raises(RateLimited, match="'calls'"):
        policy.limit("calls")


def test_an_unknown_family_is_a_host_bug() -> None:
    policy = _policy(["kv"])
    with pytest.raises(ValueError, match="'kvs' is not a rate limit family"):
        policy.check("kv", family="kvs")
    for family in RATE_LIMITED_CAPABILITIES:
        policy.limit(family)


def test_rate_limit_records_are_throttled_and_count_the_rest(
    audit: AuditLog, clock: FakeClock
) -> None:
    rates = {"kv": RateLimit(rate_per_s=0.001, burst=1), "db": RateLimit(rate_per_s=0.001, burst=1)}
    policy = _policy(["kv", "db:read"], rates, audit=audit, clock=clock)
    policy.check("kv", family="kv")
    policy.check("db:read", family="db")
    for _ in range(10):
        for family, capability in (("kv", "kv"), ("db", "db:read")):
            with pytest.raises(RateLimited):
                policy.check(capability, family=family)
        clock.advance(0.25)
    records = _records(audit, "rate.limited")
    assert [(r["family"], r["suppressed"]) for r in records] == [
        ("kv", 0),
        ("db", 0),
        ("kv", 3),
        ("db", 3),
        ("kv", 3),
        ("db", 3),
    ]
    assert records[0]["plugin"] == "shop"
    assert isinstance(records[0]["retry_after_s"], float)


# ------------------------------------------------------------------ sensitive grants


def test_sensitive_grants_are_recorded_once_per_target(audit: AuditLog) -> None:
    policy = _policy(
        ["http:fetch:*.example.com", "plugins:call:billing", "events:publish:orders.*"],
        audit=audit,
    )
    for _ in range(3):
        policy.check("http:fetch", "api.example.com", family="http")
        policy.check("http:fetch", "cdn.example.com", family="http")
        policy.check("plugins:call", "billing", family="plugins")
        policy.check("events:publish", "orders.created", family="events")
    granted = _records(audit, "permission.granted")
    assert [(r["plugin"], r["permission"]) for r in granted] == [
        ("shop", "http:fetch:api.example.com"),
        ("shop", "http:fetch:cdn.example.com"),
        ("shop", "plugins:call:billing"),
    ]
    assert granted[0]["capability"] == "http:fetch"
    assert granted[0]["target"] == "api.example.com"


def test_a_rate_limited_sensitive_call_is_not_recorded_as_granted(
    audit: AuditLog, clock: FakeClock
) -> None:
    policy = _policy(
        ["http:fetch:api.example.com", "http:fetch:b.example.com"],
        {"http": RateLimit(rate_per_s=1, burst=1)},
        audit=audit,
        clock=clock,
    )
    policy.check("http:fetch", "api.example.com", family="http")
    with pytest.raises(RateLimited):
        policy.check("http:fetch", "b.example.com", family="http")
    assert [r["target"] for r in _records(audit, "permission.granted")] == ["api.example.com"]


# ------------------------------------------------------------------ from a manifest


def test_a_policy_from_a_manifest() -> None:
    manifest = Manifest.from_text(
        """
name = "shop"
version = "1.0.0"
permissions = ["kv", "plugins:call:billing"]
[limits.rate.kv]
rate_per_s = 1
burst = 1
"""
    )
    clock = FakeClock()
    policy = Policy.from_manifest(manifest, clock=clock)
    assert policy.plugin == "shop"
    assert repr(policy) == "Policy('shop')"
    policy.check("plugins:call", "billing", family="plugins")
    policy.check("kv", family="kv")
    with pytest.raises(RateLimited):
        policy.check("kv", family="kv")
    with pytest.raises(PermissionDenied):
        policy.check("plugins:call", "users", family="plugins")
