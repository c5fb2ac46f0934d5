"""Signing plugins: Ed25519 keys, the stores that say which keys to trust, and rotation.

`KeyRing` keeps the user's private keys; `resolve_signing_key` picks the one to sign
with (``$PLUGINCTL_SIGNING_KEY`` in CI); `TrustStore` reads the user's and the
project's trust stores and `TrustStore.decide` says whether a key may sign a project.
"""

from __future__ import annotations

from pluginctl.signing.keys import (
    PASSPHRASE_ENV,
    SIGNING_KEY_ENV,
    KeyInfo,
    KeyRing,
    PublicKey,
    SigningKey,
    key_id_of,
    resolve_signing_key,
    signing_key_from_env,
)
from pluginctl.signing.rotation import Rotation, rotate_key
from pluginctl.signing.trust import (
    TRUST_FILENAME,
    StoredEntry,
    TrustDecision,
    TrustEntry,
    TrustStore,
)

__all__ = [
    "PASSPHRASE_ENV",
    "SIGNING_KEY_ENV",
    "TRUST_FILENAME",
    "KeyInfo",
    "KeyRing",
    "PublicKey",
    "Rotation",
    "SigningKey",
    "StoredEntry",
    "TrustDecision",
    "TrustEntry",
    "TrustStore",
    "key_id_of",
    "resolve_signing_key",
    "rotate_key",
    "signing_key_from_env",
]
