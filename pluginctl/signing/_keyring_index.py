"""``keys.json``: what a key ring knows about its keys without unlocking them."""

from __future__ import annotations

from datetime import datetime  # msgspec reads the annotations at run time
from typing import TYPE_CHECKING, Literal

import msgspec

from pluginctl.atomic_file import write_atomically
from pluginctl.errors import SigningKeyError
from pluginctl.signing._files import ensure_private_dir

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["KeyIndex", "KeyRecord", "read_index", "write_index"]

INDEX_NAME = "keys.json"


class KeyRecord(msgspec.Struct, kw_only=True):
    """One key's entry: its name, when it was made, its public key and status."""

    name: str
    created: datetime
    public_key: str
    encrypted: bool
    status: Literal["active", "retired"] = "active"
    retired: datetime | None = None


class KeyIndex(msgspec.Struct, kw_only=True):
    """Every key in the ring, by id, and which one is the default."""

    default: str | None = None
    keys: dict[str, KeyRecord] = {}


def read_index(directory: Path) -> KeyIndex:
    """The ring's index; empty when there is none yet.

    Raises:
        SigningKeyError: if the file is damaged, with how to recover.
    """
    path = directory / INDEX_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return KeyIndex()
    try:
        return msgspec.json.decode(data, type=KeyIndex)
    except msgspec.DecodeError as exc:
        raise SigningKeyError(
            f"the key ring's index {path} is damaged: {exc}",
            hint=f"restore it from a backup, or move {directory} away and import"
            " your keys again with pluginctl keys import",
        ) from None


def write_index(directory: Path, index: KeyIndex) -> None:
    """Write the index whole, mode 0600, in the ring's 0700 directory."""
    ensure_private_dir(directory)
    data = msgspec.json.format(msgspec.json.encode(index))
    write_atomically(directory / INDEX_NAME, data, mode=0o600)
