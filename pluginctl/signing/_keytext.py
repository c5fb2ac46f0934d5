"""Keys as text: PKCS8 PEM (maybe encrypted), and two one-line forms.

``ed25519:<base64>`` is a public key and ``ed25519-private:<base64>`` a raw private
one, so one is never taken for the other.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pluginctl.errors import SigningKeyError

__all__ = [
    "PASSPHRASE_ENV",
    "PRIVATE_PREFIX",
    "TEXT_PREFIX",
    "b64_key",
    "needs_passphrase",
    "read_private",
]

#: The environment variable that holds the passphrase of an encrypted private key.
PASSPHRASE_ENV = "PLUGINCTL_KEY_PASSPHRASE"  # noqa: S105  # a variable's name, not a secret
TEXT_PREFIX = "ed25519:"
PRIVATE_PREFIX = "ed25519-private:"
_RAW_SIZE = 32
_ENCRYPTED_PEM = "-----BEGIN ENCRYPTED PRIVATE KEY-----"


def b64_key(text: str, *, what: str) -> bytes:
    """The 32 raw bytes after ``ed25519:``; a `SigningKeyError` that never quotes ``text``."""
    try:
        raw = base64.b64decode(
            text.removeprefix(PRIVATE_PREFIX).removeprefix(TEXT_PREFIX), validate=True
        )
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _RAW_SIZE:
        raise SigningKeyError(
            f"not an Ed25519 {what}: the prefix must be followed by the base64 of"
            f" {_RAW_SIZE} bytes",
            hint="copy the whole key again",
        )
    return raw


def needs_passphrase(text: str) -> bool:
    """Whether a private key's text is encrypted (an ``ENCRYPTED PRIVATE KEY`` PEM block).

    Example:
        >>> needs_passphrase("ed25519-private:" + "A" * 43 + "=")
        False
    """
    return _ENCRYPTED_PEM in text


def read_private(text: str, *, passphrase: str | None, what: str) -> Ed25519PrivateKey:
    """The private key in ``text``; errors name it as ``what`` and never quote it."""
    text = text.strip()
    if text.startswith(PRIVATE_PREFIX):
        return Ed25519PrivateKey.from_private_bytes(b64_key(text, what="private key"))
    if text.startswith(TEXT_PREFIX) or "PUBLIC KEY-----" in text:
        raise SigningKeyError(
            f"{what} is a public key, not a private one",
            hint="give the text that `pluginctl keys export --private` prints",
        )
    if not text.startswith("-----BEGIN") or "PRIVATE KEY-----" not in text:
        raise SigningKeyError(
            f"{what} is not a private key: expected a PEM PRIVATE KEY block or"
            " ed25519-private:<base64>",
            hint="give the text that `pluginctl keys export --private` prints",
        )
    encrypted = needs_passphrase(text)
    if encrypted and not passphrase:
        raise SigningKeyError(
            f"{what} is encrypted and no passphrase was given",
            hint=f"set {PASSPHRASE_ENV}, or run it in a terminal to be asked",
        )
    try:
        loaded = serialization.load_pem_private_key(
            text.encode("ascii"), (passphrase or "").encode("utf-8") if encrypted else None
        )
    except (ValueError, TypeError, UnicodeEncodeError):
        if encrypted:
            raise SigningKeyError(
                f"the passphrase does not unlock {what}",
                hint=f"check {PASSPHRASE_ENV} or retype it; a lost passphrase cannot be"
                " recovered: make a new key with pluginctl keys rotate",
            ) from None
        raise SigningKeyError(
            f"{what} is a damaged PEM block", hint="copy the whole key again"
        ) from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SigningKeyError(
            f"{what} is not an Ed25519 key (it is {type(loaded).__name__})",
            hint="pluginctl signs with Ed25519 keys only: make one with pluginctl keys generate",
        )
    return loaded
