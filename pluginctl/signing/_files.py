"""Files that hold keys and trust: written whole or not at all, private ones kept private."""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from pluginctl.errors import SigningKeyError

__all__ = ["check_private_file", "ensure_private_dir", "write_atomic"]


def write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` in one step: readers see the old file or the new one.

    The file is created with ``mode`` from the start (never briefly wider), in the
    same directory, flushed to disk, then renamed over ``path``.

    Example:
        >>> import pathlib, tempfile
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "note.txt"
        >>> write_atomic(target, b"hello", mode=0o600)
        >>> target.read_bytes(), oct(target.stat().st_mode & 0o777)
        (b'hello', '0o600')
    """
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) if needed and make it ``0700``: only its owner enters."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) != 0o700:
        path.chmod(0o700)


def check_private_file(path: Path, *, what: str) -> None:
    """Refuse a private key file that someone else owns or that others may read.

    Raises:
        SigningKeyError: naming the file, its mode or owner, and the command that fixes it.
    """
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.getuid():
        raise SigningKeyError(
            f"{what} {path} is owned by uid {info.st_uid}, not by you (uid {os.getuid()});"
            " a private key must belong to the user who signs with it",
            hint=f"chown {os.getuid()} {path} && chmod 600 {path}",
        )
    if mode & 0o077:
        raise SigningKeyError(
            f"{what} {path} has mode {mode:04o}: others may read it; a private key must be 0600",
            hint=f"chmod 600 {path}",
        )
