"""The audit log: what plugins were allowed, denied and did, one JSON object a line.

The host appends a record for every lifecycle change and every security decision worth
keeping (a denied permission, a sensitive grant, a rate limit hit, what the sandbox
refused, a breaker that opened, output dropped over its budget). The file is opened
with ``O_APPEND`` and each record is written with a single ``write``, so records from
many threads, or from several processes sharing the file, never interleave within a
line. Nothing is buffered in the process: a record is in the kernel when `record`
returns, and on disk too with ``fsync=True``.

Each line is ``{"ts": ..., "event": ..., "plugin": ..., **fields}`` with ``ts`` in
ISO 8601 UTC with milliseconds. Field values that JSON cannot hold are written as
their ``str()``.

Writing never raises into the caller by default: a full disk must not turn a
permission check or a plugin start into a crash. A record that cannot be written is
counted in `AuditLog.dropped` and logged (the first failure, then every 1000th).
Operators who prefer to fail closed pass ``strict=True``, and `record` then raises
`pluginctl.errors.RuntimeFault`.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "audit.jsonl"
    >>> with AuditLog(path) as audit:
    ...     audit.record("permission.denied", plugin="shop", permission="kv")
    >>> [(r["event"], r["plugin"], r["permission"]) for r in read(path)]
    [('permission.denied', 'shop', 'kv')]
"""

from __future__ import annotations

import errno
import json
import logging
import math
import os
import threading
import time
from typing import TYPE_CHECKING, Self

import msgspec

from pluginctl.errors import RuntimeFault

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from types import TracebackType

__all__ = ["EVENTS", "AuditLog", "AuditThrottle", "read"]

logger = logging.getLogger(__name__)

#: The event names the host writes.
EVENTS: frozenset[str] = frozenset(
    {
        "breaker.opened",
        "breaker.reset",
        "config.invalid",
        "migration.applied",
        "migration.edited",
        "migration.failed",
        "output.dropped",
        "permission.denied",
        "permission.granted",
        "plugin.active",
        "plugin.disabled",
        "plugin.enabled",
        "plugin.failed",
        "plugin.healthy",
        "plugin.reload_failed",
        "plugin.reloaded",
        "plugin.restart_scheduled",
        "plugin.restarted",
        "plugin.starting",
        "plugin.stopped",
        "plugin.unhealthy",
        "rate.limited",
        "sandbox",
        "sandbox.denied",
        "worker.crashed",
        "worker.killed",
    }
)

_RESERVED = frozenset({"ts", "event", "plugin"})
_LOG_EVERY_NTH_DROP = 1000


class AuditLog:
    """An append-only JSON-lines audit log at ``path``.

    Args:
        path: The log file; it and its directory are created (file mode 0600).
        fsync: Flush every record to disk before `record` returns (slower, survives
            a power cut).
        strict: Raise `RuntimeFault` when a record cannot be written, instead of
            counting it in `dropped`.

    Raises:
        RuntimeFault: when the file cannot be opened for appending.
    """

    def __init__(self, path: Path, *, fsync: bool = False, strict: bool = False) -> None:
        self.path = path
        self.fsync = fsync
        self.strict = strict
        #: How many records could not be written (only when not ``strict``).
        self.dropped = 0
        #: Called with each record (a dict) after it is written, in the recording
        #: thread; the host publishes lifecycle records as ``host.*`` events.
        self.listeners: list[Callable[[dict[str, object]], None]] = []
        self._lock = threading.Lock()
        self._encode = msgspec.json.Encoder(enc_hook=_as_text).encode
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fd: int | None = os.open(
                path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            _end_torn_line(self._fd, path)
        except OSError as exc:
            raise RuntimeFault(
                f"cannot open the audit log {path}: {exc.strerror}",
                hint="check that the host's data directory exists and is writable",
            ) from exc

    def record(self, event: str, *, plugin: str | None = None, **fields: object) -> None:
        """Append one record: the time, ``event``, ``plugin`` and ``fields``.

        Raises:
            ValueError: when a field is named ``ts`` (the timestamp's key).
            RuntimeFault: only with ``strict=True``, when the record cannot be written.
        """
        if "ts" in fields:
            raise ValueError("audit fields cannot be named 'ts'; it is the record's timestamp")
        entry = {"ts": _timestamp(), "event": event, "plugin": plugin, **fields}
        line = self._line(entry)
        try:
            with self._lock:  # only so that `close` cannot free the descriptor mid-write
                if self._fd is None:
                    raise OSError(errno.EBADF, "the audit log is closed")
                _write_all(self._fd, line)
                if self.fsync:
                    os.fsync(self._fd)
        except OSError as exc:
            self._failed(event, exc)
        for listener in self.listeners:
            try:
                listener(entry)
            except Exception:  # a listener's bug must not fail the caller's record
                logger.exception("an audit listener failed on %s", event)

    def close(self) -> None:
        """Close the file; later records are dropped (or raise, when ``strict``)."""
        with self._lock:
            fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

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
        return f"AuditLog({str(self.path)!r})"

    def _line(self, record: dict[str, object]) -> bytes:
        try:
            return self._encode(record) + b"\n"
        except (TypeError, ValueError, OverflowError):
            text = json.dumps(_jsonable(record), ensure_ascii=False, separators=(",", ":"))
            return text.encode("utf-8", "backslashreplace") + b"\n"

    def _failed(self, event: str, exc: OSError) -> None:
        if self.strict:
            raise RuntimeFault(
                f"cannot write the {event!r} record to the audit log {self.path}: {exc.strerror}",
                hint="free disk space, or check the file's permissions",
            ) from exc
        with self._lock:
            self.dropped += 1
            dropped = self.dropped
        if dropped == 1 or dropped % _LOG_EVERY_NTH_DROP == 0:
            logger.error(
                "audit log %s: cannot write records (%s); %d dropped so far",
                self.path,
                exc.strerror,
                dropped,
            )


class AuditThrottle:
    """At most one audit record per ``interval_s``; counts what it held back meanwhile.

    For records a plugin can cause in a loop (denials, rate limit hits, sandbox
    refusals): the first goes out at once, the ones within the interval are counted
    into the next.

    Example:
        >>> throttle = AuditThrottle()
        >>> throttle.allow(0.0), throttle.allow(0.5), throttle.allow(0.6, count=3)
        (0, None, None)
        >>> throttle.allow(1.2)  # four held back since the last record
        4
    """

    __slots__ = ("held", "interval_s", "last")

    def __init__(self, *, interval_s: float = 1.0) -> None:
        self.interval_s = interval_s
        self.last: float | None = None
        self.held = 0

    def allow(self, now: float, *, count: int = 1) -> int | None:
        """How many were held back since the last record, when one may be written now.

        None when not: then ``count`` more are held back for the next.
        """
        if self.last is not None and now - self.last < self.interval_s:
            self.held += count
            return None
        held, self.held, self.last = self.held, 0, now
        return held


def read(path: Path) -> Iterator[dict[str, object]]:
    """The records in the audit log at ``path``, oldest first.

    A line that is not a JSON object (a record torn by a crash mid-write) is skipped.
    """
    with path.open("rb") as file:
        for line in file:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def _end_torn_line(fd: int, path: Path) -> None:
    """Start on a fresh line if the last writer died in the middle of one.

    A writer opening the file while another is in the middle of a record may add an
    empty line; `read` skips those.
    """
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return
        with path.open("rb") as file:
            file.seek(size - 1)
            last = file.read(1)
        if last != b"\n":
            os.write(fd, b"\n")
    except OSError as exc:  # the next record then shares the torn line; `read` skips it
        logger.warning("audit log %s: cannot check its last line: %s", path, exc.strerror)


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    while written < len(data):  # only after a signal or a full disk; rare
        written += os.write(fd, data[written:])


def _timestamp() -> str:
    now = time.time()
    seconds = int(now)
    millis = int((now - seconds) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def _as_text(value: object) -> str:
    return str(value)


def _jsonable(value: object) -> object:
    """``value`` as plain JSON data: unknown objects and keys as text."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int):
        return value
    return str(value)
