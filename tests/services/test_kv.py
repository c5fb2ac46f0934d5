from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import RuntimeFault, UserError
from pluginctl.services.kv import MAX_KEY_CHARS, MAX_VALUE_BYTES, KeyValueStore, anchored_clock

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path


class FakeClock:
    """Seconds since the epoch that move only when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "plugins" / "greeter" / "kv.sqlite3"


@pytest.fixture
def kv(path: Path, clock: FakeClock) -> Iterator[KeyValueStore]:
    with KeyValueStore.open(path, clock=clock) as store:
        yield store


def _rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        count: int = db.execute("SELECT count(*) FROM kv").fetchone()[0]
    db.close()
    return count


# ------------------------------------------------------------------ basics


def test_open_creates_the_parent_directories_and_a_wal_database(path: Path) -> None:
    with KeyValueStore.open(path) as kv:
        kv.set("a", 1)
    assert path.is_file()
    with sqlite3.connect(path) as db:
        mode = db.execute("PRAGMA journal_mode").fetchone()[0]
    db.close()
    assert mode == "wal"


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -(2**63),
        2**64 - 1,
        3.5,
        "",
        "héllo ✓",
        b"\x00\xff",
        [1, "two", [3.0]],
        {"nested": {"list": [1, 2], "none": None}},
    ],
)
def test_values_round_trip(kv: KeyValueStore, value: object) -> None:
    kv.set("k", value)
    assert kv.get("k") == value
    assert type(kv.get("k")) is type(value)


def test_get_of_a_missing_key_returns_the_default(kv: KeyValueStore) -> None:
    assert kv.get("nope") is None
    assert kv.get("nope", 42) == 42


def test_a_stored_none_is_not_the_default(kv: KeyValueStore) -> None:
    kv.set("k", None)
    assert kv.get("k", "default") is None


def test_set_replaces(kv: KeyValueStore) -> None:
    kv.set("k", 1)
    kv.set("k", "two")
    assert kv.get("k") == "two"
    assert kv.keys() == ["k"]


def test_delete_says_whether_the_key_was_there(kv: KeyValueStore) -> None:
    kv.set("k", 1)
    assert kv.delete("k") is True
    assert kv.delete("k") is False
    assert kv.get("k") is None


def test_values_survive_reopening(path: Path, clock: FakeClock) -> None:
    with KeyValueStore.open(path, clock=clock) as kv:
        kv.set("user:1", {"name": "Ada"})
        kv.set("session", "abc", ttl_s=60)
        kv.incr("visits", 5)
    with KeyValueStore.open(path, clock=clock) as kv:
        assert kv.get("user:1") == {"name": "Ada"}
        assert kv.get("session") == "abc"
        assert kv.incr("visits") == 6


def test_close_twice_is_harmless(path: Path) -> None:
    kv = KeyValueStore.open(path)
    kv.close()
    kv.close()


# ------------------------------------------------------------------ keys


def test_keys_lists_by_prefix_in_order(kv: KeyValueStore) -> None:
    for key in ("user:2", "user:10", "session:1", "user:1", "user", "userx"):
        kv.set(key, 0)
    assert kv.keys("user:") == ["user:1", "user:10", "user:2"]
    assert kv.keys() == ["session:1", "user", "user:1", "user:10", "user:2", "userx"]
    assert kv.keys("nothing") == []


def test_keys_prefix_is_literal_not_a_pattern(kv: KeyValueStore) -> None:
    for key in ("a%b", "axb", "a_b", "A%B"):
        kv.set(key, 0)
    assert kv.keys("a%") == ["a%b"]
    assert kv.keys("a_") == ["a_b"]


def test_keys_with_unusual_characters(kv: KeyValueStore) -> None:
    keys = ["\U0010ffff", "\U0010ffff\U0010ffff", "a\U0010ffffz", "\ud7ffx", "\ue000"]
    for key in keys:
        kv.set(key, 0)
    assert kv.keys("\U0010ffff") == ["\U0010ffff", "\U0010ffff\U0010ffff"]
    assert kv.keys("a\U0010ffff") == ["a\U0010ffffz"]
    assert kv.keys("\ud7ff") == ["\ud7ffx"]


def test_keys_limit(kv: KeyValueStore) -> None:
    for index in range(20):
        kv.set(f"k{index:02d}", index)
    assert kv.keys("k", limit=3) == ["k00", "k01", "k02"]


@pytest.mark.parametrize("limit", [0, -1, 10_001, True, 2.5])
def test_keys_limit_must_be_sensible(kv: KeyValueStore, limit: int) -> None:
    with pytest.raises(UserError, match="limit"):
        kv.keys(limit=limit)


# ------------------------------------------------------------------ TTL


def test_an_expired_key_is_invisible_to_every_method(kv: KeyValueStore, clock: FakeClock) -> None:
    kv.set("session", "abc", ttl_s=10)
    clock.advance(9.999)
    assert kv.get("session") == "abc"
    assert kv.keys() == ["session"]
    clock.advance(0.001)
    assert kv.get("session", "gone") == "gone"
    assert kv.keys() == []
    assert kv.delete("session") is False
    assert kv.incr("session") == 1  # a fresh counter, not the expired string


def test_setting_again_without_ttl_makes_a_key_permanent(
    kv: KeyValueStore, clock: FakeClock
) -> None:
    kv.set("k", 1, ttl_s=1)
    kv.set("k", 2)
    clock.advance(3600)
    assert kv.get("k") == 2


def test_incr_keeps_the_expiry(kv: KeyValueStore, clock: FakeClock) -> None:
    kv.set("hits", 1, ttl_s=10)
    clock.advance(5)
    assert kv.incr("hits") == 2
    clock.advance(5)
    assert kv.get("hits") is None


def test_expiry_holds_across_reopening(path: Path, clock: FakeClock) -> None:
    with KeyValueStore.open(path, clock=clock) as kv:
        kv.set("short", 1, ttl_s=5)
        kv.set("long", 2, ttl_s=500)
    clock.advance(60)
    with KeyValueStore.open(path, clock=clock) as kv:
        assert kv.get("short") is None
        assert kv.get("long") == 2
    assert _rows(path) == 1  # opening purged the expired key


def test_expired_keys_are_purged_every_n_writes(path: Path, clock: FakeClock) -> None:
    with KeyValueStore.open(path, clock=clock, purge_every=5) as kv:
        for index in range(3):
            kv.set(f"tmp{index}", index, ttl_s=1)
        clock.advance(2)
        assert _rows(path) == 3
        kv.set("a", 1)  # fourth write
        assert _rows(path) == 4
        kv.set("b", 1)  # fifth write: purge
        assert _rows(path) == 2


def test_purge_expired_says_how_many(kv: KeyValueStore, clock: FakeClock) -> None:
    kv.set("a", 1, ttl_s=1)
    kv.set("b", 1, ttl_s=1)
    kv.set("c", 1)
    clock.advance(1)
    assert kv.purge_expired() == 2
    assert kv.keys() == ["c"]


@pytest.mark.parametrize("ttl_s", [0, -1, float("nan"), float("inf"), True, "10"])
def test_ttl_must_be_a_positive_number(kv: KeyValueStore, ttl_s: float) -> None:
    with pytest.raises(UserError, match="ttl_s for 'k' must be a positive number") as info:
        kv.set("k", 1, ttl_s=ttl_s)
    assert info.value.hint is not None
    assert kv.get("k") is None


def test_anchored_clock_reads_the_wall_clock_and_never_goes_back() -> None:
    clock = anchored_clock()
    readings = [clock() for _ in range(1000)]
    assert readings == sorted(readings)


# ------------------------------------------------------------------ incr


def test_incr_counts_from_zero(kv: KeyValueStore) -> None:
    assert kv.incr("n") == 1
    assert kv.incr("n", 10) == 11
    assert kv.incr("n", -20) == -9
    assert kv.get("n") == -9


def test_incr_refuses_a_non_integer(kv: KeyValueStore) -> None:
    kv.set("name", "Ada")
    kv.set("flag", True)
    with pytest.raises(UserError, match="'name' holds a str, not an integer"):
        kv.incr("name")
    with pytest.raises(UserError, match="'flag' holds a bool"):
        kv.incr("flag")
    with pytest.raises(UserError, match="step must be an integer"):
        kv.incr("n", 1.5)  # type: ignore[arg-type]  # the point of the test
    assert kv.get("name") == "Ada"
    kv.set("after", 1)  # the failed transactions were rolled back
    assert kv.incr("after") == 2


def test_incr_refuses_to_leave_int64(kv: KeyValueStore) -> None:
    kv.set("n", 2**63 - 1)
    with pytest.raises(UserError, match="64-bit"):
        kv.incr("n")
    assert kv.get("n") == 2**63 - 1


def test_concurrent_incr_from_tasks_loses_nothing(kv: KeyValueStore) -> None:
    async def bump(times: int) -> None:
        for _ in range(times):
            kv.incr("n")
            await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(bump(50) for _ in range(20)))

    asyncio.run(main())
    assert kv.get("n") == 1000


def test_concurrent_incr_from_several_connections_loses_nothing(path: Path) -> None:
    KeyValueStore.open(path).close()
    threads, times = 8, 200
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            with KeyValueStore(path) as store:
                for _ in range(times):
                    store.incr("n")
        except BaseException as exc:  # noqa: BLE001  # reported to the main thread
            errors.append(exc)

    workers = [threading.Thread(target=bump) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    with KeyValueStore(path) as kv:
        assert kv.get("n") == threads * times


# ------------------------------------------------------------------ limits and errors


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "must not be empty"),
        ("x" * (MAX_KEY_CHARS + 1), "513 characters; the limit is 512"),
        (7, "kv keys are strings, not int"),
        (None, "kv keys are strings, not NoneType"),
    ],
)
def test_bad_keys_are_user_errors(kv: KeyValueStore, key: str, message: str) -> None:
    calls: list[Callable[[], object]] = [
        lambda: kv.get(key),
        lambda: kv.set(key, 1),
        lambda: kv.delete(key),
        lambda: kv.incr(key),
    ]
    for call in calls:
        with pytest.raises(UserError, match=message) as info:
            call()
        assert info.value.hint == "use a non-empty string of at most 512 characters"


def test_the_longest_key_is_fine(kv: KeyValueStore) -> None:
    key = "é" * MAX_KEY_CHARS
    kv.set(key, 1)
    assert kv.get(key) == 1


def test_a_value_that_cannot_be_encoded_names_the_key(kv: KeyValueStore) -> None:
    with pytest.raises(UserError, match="kv value for 'obj' cannot be stored") as info:
        kv.set("obj", object())
    assert info.value.hint is not None
    assert "plain data" in info.value.hint
    with pytest.raises(UserError, match="kv value for 'huge' cannot be stored"):
        kv.set("huge", 2**65)
    assert kv.keys() == []


def test_values_are_limited_to_one_mebibyte(kv: KeyValueStore) -> None:
    fits = b"x" * (MAX_VALUE_BYTES - 5)  # bin32 header: 5 bytes
    kv.set("fits", fits)
    assert kv.get("fits") == fits
    with pytest.raises(UserError, match=r"'big' is 1048577 bytes encoded; the limit is 1048576"):
        kv.set("big", b"x" * (MAX_VALUE_BYTES - 4))
    assert kv.get("big") is None


def test_a_file_that_is_not_a_database_is_a_runtime_fault(tmp_path: Path) -> None:
    path = tmp_path / "kv.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(RuntimeFault, match=r"the kv store .*kv\.sqlite3 failed") as info:
        KeyValueStore.open(path)
    assert info.value.hint is not None


def test_an_unwritable_directory_is_a_runtime_fault(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(RuntimeFault, match="cannot create the directory"):
        KeyValueStore.open(blocker / "plugins" / "kv.sqlite3")


def test_purge_every_must_be_positive(path: Path) -> None:
    with pytest.raises(ValueError, match="purge_every"):
        KeyValueStore(path, purge_every=0)


def test_repr_names_the_file(kv: KeyValueStore, path: Path) -> None:
    assert str(path) in repr(kv)
