"""Signing plugins: Ed25519 keys and where they live.

`KeyRing` keeps the user's private keys; `resolve_signing_key` picks the one to sign
with (``$PLUGINCTL_SIGNING_KEY`` in CI).
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

__all__ = [
    "PASSPHRASE_ENV",
    "SIGNING_KEY_ENV",
    "KeyInfo",
    "KeyRing",
    "PublicKey",
    "SigningKey",
    "key_id_of",
    "resolve_signing_key",
    "signing_key_from_env",
]
