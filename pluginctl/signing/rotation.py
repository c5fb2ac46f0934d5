"""Rotating a signing key: a new one takes over the old one's scopes, the old one retires."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import date

    from pluginctl.signing.keys import KeyInfo, KeyRing, SigningKey
    from pluginctl.signing.trust import StoredEntry, TrustStore

__all__ = ["Rotation", "rotate_key"]


@dataclass(frozen=True, slots=True)
class Rotation:
    """What `rotate_key` did.

    Attributes:
        old: The key that was retired.
        new: The key that replaces it, now the default.
        projects: The patterns the new key is trusted for in the user store.
        retired_in: The trust entries that now list the old key as retired.
    """

    old: KeyInfo
    new: SigningKey
    projects: list[str]
    retired_in: list[StoredEntry]


def rotate_key(
    ring: KeyRing,
    store: TrustStore,
    key_id: str | None = None,
    *,
    passphrase: str | None,
    today: date | None = None,
) -> Rotation:
    """Replace a key (default: the default key) with a new one of the same name.

    The new key is stored (encrypted unless ``passphrase`` is None) and made the
    default, and trusted in the user store for every pattern any store gives the old
    key (``*`` if none does). The old key is retired in the key ring and in each store
    that lists it as active: it still verifies what it signed, but no longer signs.
    The old key is never unlocked, so a lost passphrase does not stop a rotation.

    Raises:
        SigningKeyError: if there is no such key.
    """
    old = ring.info(key_id)
    projects = _scopes(store, old.key_id)
    new = ring.generate(old.name, passphrase=passphrase)
    store.trust(new.public, name=new.name, projects=projects, today=today)
    ring.retire(old.key_id)
    retired_in = store.retire(old.key_id, today=today)
    return Rotation(ring.info(old.key_id), new, projects, retired_in)


def _scopes(store: TrustStore, key_id: str) -> list[str]:
    listed = [
        stored.entry
        for stored in store.entries()
        if stored.entry.id == key_id and stored.entry.status != "revoked"
    ]
    patterns = [pattern for entry in listed for pattern in entry.projects]
    return list(dict.fromkeys(patterns)) or ["*"]
