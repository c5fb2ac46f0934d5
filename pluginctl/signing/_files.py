"""Files that hold private keys: in a 0700 directory, 0600, owned by the signer.

They are written with `pluginctl.atomic_file.write_atomically`: whole or not at all.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from pluginctl.errors import SigningKeyError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["check_private_file", "ensure_private_dir"]


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
