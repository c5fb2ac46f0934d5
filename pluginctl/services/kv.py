"""``api.kv``: each plugin's own key-value store, kept in SQLite so it survives restarts.

The host opens one `KeyValueStore` per plugin at
``<data_dir>/plugins/<name>/kv.sqlite3`` and calls it when the plugin's worker calls
``api.kv.get(...)`` and friends. Values are any msgpack-able data (the same data the RPC
layer carries), stored as msgpack bytes.

The methods are synchronous on purpose: a lookup in a local SQLite file in WAL mode
with ``synchronous=NORMAL`` takes a few microseconds, far less than handing it to a
thread, so the host calls them inline on its event loop. One connection is kept for
the store's lifetime and SQLite's statement cache keeps every query prepared.

Keys can expire (``ttl_s``). Expiry is stored as a wall-clock time, because it must
mean the same thing after a host restart; while the store is open, "now" is that wall
clock read once at open and advanced by `time.monotonic`, so an NTP step or a
manual clock change while the host runs neither resurrects nor kills keys. Expired keys
are invisible to every method at once and deleted lazily: on open, every
``purge_every`` writes, and by `KeyValueStore.purge_expired`.

Example:
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with KeyValueStore.open(folder / "greeter" / "kv.sqlite3") as kv:
    ...     kv.set("visits", 1)
    ...     kv.incr("visits", 2)
    ...     kv.set("user:1", {"name": "Ada", "langs": ["en", "fr"]})
    ...     kv.get("user:1"), kv.keys("user:"), kv.get("missing", "-")
    3
    ({'name': 'Ada', 'langs': ['en', 'fr']}, ['user:1'], '-')
"""

from __future__ import annotations

import math
import sqlite3
import time
from typing import TYPE_CHECKING, Self

import msgspec

from pluginctl.errors import RuntimeFault, UserError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import TracebackType

__all__ = ["MAX_KEYS_LIMIT", "MAX_KEY_CHARS", "MAX_VALUE_BYTES", "KeyValueStore", "anchored_clock"]

#: The longest key, in characters.
MAX_KEY_CHARS = 512
#: The largest value, as encoded msgpack bytes.
MAX_VALUE_BYTES = 1024 * 1024
#: The most keys one `KeyValueStore.keys` call returns.
MAX_KEYS_LIMIT = 10_000

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL,
    expires_at REAL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_expires_at ON kv (expires_at) WHERE expires_at IS NOT NULL;
"""
_GET = "SELECT value FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)"
_GET_WITH_EXPIRY = (
    "SELECT value, expires_at FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)"
)
_SET = "INSERT OR REPLACE INTO kv (key, value, expires_at) VALUES (?, ?, ?)"
_DELETE = "DELETE FROM kv WHERE key = ? AND (expires_at IS NULL OR expires_at > ?)"
_DELETE_ANY = "DELETE FROM kv WHERE key = ?"
_KEYS = (
    "SELECT key FROM kv WHERE key >= ? AND (expires_at IS NULL OR expires_at > ?)"
    " ORDER BY key LIMIT ?"
)
_KEYS_BELOW = (
    "SELECT key FROM kv WHERE key >= ? AND key < ? AND (expires_at IS NULL OR expires_at > ?)"
    " ORDER BY key LIMIT ?"
)
_PURGE = "DELETE FROM kv WHERE expires_at <= ?"


def anchored_clock() -> Callable[[], float]:
    """A wall clock that cannot jump: the time now, advanced by `time.monotonic`.

    Its readings are seconds since the epoch, so they compare with expiry times written
    by an earlier process, yet they never go backwards or leap while the process runs.

    Example:
        >>> clock = anchored_clock()
        >>> first = clock()
        >>> abs(first - time.time()) < 1.0, clock() >= first
        (True, True)
    """
    offset = time.time() - time.monotonic()
    monotonic = time.monotonic
    return lambda: offset + monotonic()


class KeyValueStore:
    """One plugin's key-value store in the SQLite file at ``path``.

    Use a store from the thread that opened it (the host's event loop thread); other
    processes or connections may share the file, and `incr` stays atomic across them.

    Args:
        path: The database file; its directory must exist (`open` creates it).
        clock: Seconds since the epoch, used for expiry; tests pass a fake one.
            The default is `anchored_clock`.
        purge_every: Delete expired keys after this many writes.

    Raises:
        RuntimeFault: when the file cannot be opened as a SQLite database.
    """

    def __init__(
        self,
        path: Path,
        *,
        clock: Callable[[], float] | None = None,
        purge_every: int = 1000,
    ) -> None:
        if purge_every < 1:
            raise ValueError(f"purge_every must be at least 1, not {purge_every}")
        self.path = path
        self._clock = clock if clock is not None else anchored_clock()
        self._purge_every = purge_every
        self._writes = 0
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder().decode
        try:
            self._db = sqlite3.connect(path, isolation_level=None, timeout=5.0)
        except sqlite3.Error as exc:
            raise _fault(path, exc) from exc
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(_PURGE, (self._clock(),))
        except sqlite3.Error as exc:
            self._db.close()
            raise _fault(path, exc) from exc

    @classmethod
    def open(
        cls, path: Path, *, clock: Callable[[], float] | None = None, purge_every: int = 1000
    ) -> Self:
        """Open (or create) the store at ``path``, creating its parent directories."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RuntimeFault(
                f"cannot create the directory of the kv store {path}: {exc.strerror}",
                hint="check the permissions of the host's data directory",
            ) from exc
        return cls(path, clock=clock, purge_every=purge_every)

    def get(self, key: str, default: object = None) -> object:
        """The value stored under ``key``, or ``default`` when it is missing or expired.

        Raises:
            UserError: when ``key`` is not a valid key.
        """
        _check_key(key)
        try:
            row = self._db.execute(_GET, (key, self._clock())).fetchone()
        except sqlite3.Error as exc:
            raise _fault(self.path, exc) from exc
        return default if row is None else self._decode(row[0])

    def set(self, key: str, value: object, *, ttl_s: float | None = None) -> None:
        """Store ``value`` under ``key``, replacing what was there.

        Args:
            key: A non-empty string of at most `MAX_KEY_CHARS` characters.
            value: Any msgpack-able data, at most `MAX_VALUE_BYTES` encoded.
            ttl_s: Seconds until the key expires; ``None`` keeps it until deleted.
                Setting a key again without ``ttl_s`` makes it permanent.

        Raises:
            UserError: for a bad key, a value that cannot be stored or is too large,
                or a ``ttl_s`` that is not a positive number.
        """
        _check_key(key)
        expires_at = None if ttl_s is None else self._clock() + _check_ttl(key, ttl_s)
        data = self._encode_value(key, value)
        try:
            self._db.execute(_SET, (key, data, expires_at))
        except sqlite3.Error as exc:
            raise _fault(self.path, exc) from exc
        self._wrote()

    def delete(self, key: str) -> bool:
        """Remove ``key``; whether it was there (an expired key was not)."""
        _check_key(key)
        try:
            removed = self._db.execute(_DELETE, (key, self._clock())).rowcount > 0
            if not removed:
                self._db.execute(_DELETE_ANY, (key,))  # drop an expired leftover too
        except sqlite3.Error as exc:
            raise _fault(self.path, exc) from exc
        return removed

    def keys(self, prefix: str = "", *, limit: int = 1000) -> list[str]:
        """The live keys that start with ``prefix``, sorted, at most ``limit`` of them.

        Example:
            >>> import tempfile, pathlib
            >>> with KeyValueStore.open(pathlib.Path(tempfile.mkdtemp()) / "kv") as kv:
            ...     for key in ("b:2", "a:1", "b:1", "c"):
            ...         kv.set(key, True)
            ...     kv.keys("b:"), kv.keys(limit=2)
            (['b:1', 'b:2'], ['a:1', 'b:1'])

        Raises:
            UserError: when ``limit`` is not between 1 and `MAX_KEYS_LIMIT`.
        """
        _check_listing(prefix, limit)
        upper = _prefix_upper_bound(prefix)
        now = self._clock()
        try:
            if upper is None:
                rows = self._db.execute(_KEYS, (prefix, now, limit)).fetchall()
            else:
                rows = self._db.execute(_KEYS_BELOW, (prefix, upper, now, limit)).fetchall()
        except sqlite3.Error as exc:
            raise _fault(self.path, exc) from exc
        return [row[0] for row in rows]

    def incr(self, key: str, by: int = 1) -> int:
        """Add ``by`` to the integer under ``key`` (a missing key counts as 0) and return it.

        The read and the write are one transaction, so concurrent increments, even from
        another connection to the same file, are never lost. A key's expiry is kept.

        Raises:
            UserError: when the key holds something other than an integer, ``by`` is not
                an integer, or the result leaves the 64-bit signed range.
        """
        _check_key(key)
        if isinstance(by, bool) or not isinstance(by, int):
            raise UserError(
                f"kv incr of {key!r}: the step must be an integer, not {type(by).__name__}",
                hint="pass an int, e.g. api.kv.incr(key, 5)",
            )
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                result = self._incr_in_transaction(key, by)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _fault(self.path, exc) from exc
        self._wrote()
        return result

    def _incr_in_transaction(self, key: str, by: int) -> int:
        row = self._db.execute(_GET_WITH_EXPIRY, (key, self._clock())).fetchone()
        current: object = 0 if row is None else self._decode(row[0])
        if isinstance(current, bool) or not isinstance(current, int):
            raise UserError(
                f"kv key {key!r} holds a {type(current).__name__}, not an integer, so it"
                " cannot be incremented",
                hint="delete the key or use another one for the counter",
            )
        result = current + by
        if not _INT64_MIN <= result <= _INT64_MAX:
            raise UserError(
                f"kv incr of {key!r} would leave the 64-bit integer range",
                hint="reset the counter with api.kv.set(key, 0)",
            )
        expires_at = None if row is None else row[1]
        self._db.execute(_SET, (key, self._encode(result), expires_at))
        return result

    def purge_expired(self) -> int:
        """Delete every expired key now; how many were deleted."""
        try:
            return self._db.execute(_PURGE, (self._clock(),)).rowcount
        except sqlite3.Error as exc:
            raise _fault(self.path, exc) from exc

    def close(self) -> None:
        """Close the database; calling it twice is harmless."""
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"KeyValueStore({str(self.path)!r})"

    def _encode_value(self, key: str, value: object) -> bytes:
        try:
            data = self._encode(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise UserError(
                f"kv value for {key!r} cannot be stored: {exc}",
                hint="store plain data: None, bool, int, float, str, bytes, lists and dicts",
            ) from None
        if len(data) > MAX_VALUE_BYTES:
            raise UserError(
                f"kv value for {key!r} is {len(data)} bytes encoded; the limit is"
                f" {MAX_VALUE_BYTES} (1 MiB)",
                hint="split it over several keys, or keep large data in api.db",
            )
        return data

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes >= self._purge_every:
            self._writes = 0
            self.purge_expired()


def _check_key(key: object) -> None:
    if type(key) is str and 0 < len(key) <= MAX_KEY_CHARS:
        return
    if not isinstance(key, str):
        message = f"kv keys are strings, not {type(key).__name__}"
    elif not key:
        message = "kv keys must not be empty"
    else:
        message = f"kv key {key[:40]!r}... is {len(key)} characters; the limit is {MAX_KEY_CHARS}"
    raise UserError(message, hint=f"use a non-empty string of at most {MAX_KEY_CHARS} characters")


def _check_listing(prefix: object, limit: object) -> None:
    if not isinstance(prefix, str) or len(prefix) > MAX_KEY_CHARS:
        raise UserError(
            f"kv key prefix {prefix!r} is not a string of at most {MAX_KEY_CHARS} characters",
            hint="pass the start of the keys to list, or nothing to list every key",
        )
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_KEYS_LIMIT:
        raise UserError(
            f"kv keys limit must be an integer from 1 to {MAX_KEYS_LIMIT}, not {limit!r}",
            hint="page through many keys with a longer prefix",
        )


def _check_ttl(key: str, ttl_s: object) -> float:
    if (
        isinstance(ttl_s, int | float)
        and not isinstance(ttl_s, bool)
        and math.isfinite(ttl_s)
        and ttl_s > 0
    ):
        return float(ttl_s)
    raise UserError(
        f"kv ttl_s for {key!r} must be a positive number of seconds, not {ttl_s!r}",
        hint="pass ttl_s=None (the default) to keep the key until it is deleted",
    )


def _prefix_upper_bound(prefix: str) -> str | None:
    """The smallest string above every string starting with ``prefix`` (None: no bound).

    SQLite compares text as UTF-8 bytes, which orders like code points, so bumping the
    last character that can be bumped gives an exclusive upper bound.

    Example:
        >>> (
        ...     _prefix_upper_bound("user:"),
        ...     _prefix_upper_bound(""),
        ...     _prefix_upper_bound("a\U0010ffff"),
        ... )
        ('user;', None, 'b')
    """
    chars = list(prefix)
    while chars:
        code = ord(chars.pop()) + 1
        if code == 0xD800:  # surrogates cannot be encoded; the next character is U+E000
            code = 0xE000
        if code <= 0x10FFFF:
            return "".join(chars) + chr(code)
    return None


def _fault(path: Path, exc: sqlite3.Error) -> RuntimeFault:
    return RuntimeFault(
        f"the kv store {path} failed: {exc}",
        hint="check free disk space and the file's permissions; a corrupt file can be"
        " moved aside, losing the plugin's stored keys",
    )
