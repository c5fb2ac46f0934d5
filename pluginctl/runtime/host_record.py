"""Where a running host can be found: ``<data_dir>/hosts/<pid>.json``, for ``pluginctl status``.

A host that serves HTTP writes one small file with its pid, its gateway's URL and the
token its ``/status`` endpoint asks for, readable by its user only (mode 0600, like
the runtime files of a Jupyter server), and removes it when it stops. `find_hosts`
lists the hosts running with a data directory; a file whose process is gone (the
host was killed) is stale, and removed as it is found.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> data_dir = Path(tempfile.mkdtemp())
    >>> with host_record(data_dir, url="http://127.0.0.1:8700", token="t") as record:
    ...     [found.url for found in find_hosts(data_dir)]
    ['http://127.0.0.1:8700']
    >>> find_hosts(data_dir)
    []
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["HostRecord", "find_hosts", "host_record"]

_DIRECTORY = "hosts"


class HostRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One running host, as its file says.

    Attributes:
        pid: The host's process id.
        url: Its HTTP gateway, ``http://HOST:PORT``.
        token: The bearer token of its ``/status`` endpoint.
        started_at: When it started (seconds since the epoch).
    """

    pid: int
    url: str
    token: str
    started_at: float

    def __repr__(self) -> str:
        return f"HostRecord(pid={self.pid}, url={self.url!r})"  # never the token


@contextlib.contextmanager
def host_record(data_dir: Path, *, url: str, token: str) -> Iterator[HostRecord]:
    """Write this process's record while the block runs; remove it afterwards."""
    record = HostRecord(pid=os.getpid(), url=url, token=token, started_at=time.time())
    directory = data_dir / _DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{record.pid}.json"
    partial = path.with_suffix(".tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(msgspec.json.encode(record))
    partial.replace(path)
    try:
        yield record
    finally:
        path.unlink(missing_ok=True)


def find_hosts(data_dir: Path) -> list[HostRecord]:
    """The hosts running with ``data_dir``, oldest first; stale records are removed."""
    directory = data_dir / _DIRECTORY
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            record = msgspec.json.decode(path.read_bytes(), type=HostRecord)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError):
            continue  # being written, or not ours: leave it alone
        if _alive(record.pid):
            found.append(record)
        else:
            path.unlink(missing_ok=True)
    return sorted(found, key=lambda record: record.started_at)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process: alive
    return True
