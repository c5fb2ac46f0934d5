"""Writing a file so that readers see the old content or the new, never half of either."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(target: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``target`` through a synced temporary file in the same directory.

    The file gets ``mode`` before it takes ``target``'s name, so a private file is
    never readable by others, even for a moment.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "note.txt"
        >>> write_atomically(path, b"hello", mode=0o600)
        >>> path.read_bytes(), oct(path.stat().st_mode & 0o777)
        (b'hello', '0o600')
    """
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
