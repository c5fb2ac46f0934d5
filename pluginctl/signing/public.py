"""Ed25519 public keys: what others trust, what checks a signature, and their ids.

A key's id is the lowercase hex sha256 of its 32-byte raw public key; its text form,
for sharing and for trust files, is ``ed25519:`` and the base64 of those bytes.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from pluginctl.errors import SigningKeyError
from pluginctl.signing._keytext import TEXT_PREFIX, b64_key

__all__ = ["PublicKey", "key_id_of"]

_RAW_SIZE = 32


def key_id_of(raw: bytes) -> str:
    """The id of a public key: the lowercase hex sha256 of its 32 raw bytes.

    Example:
        >>> key_id_of(bytes(32))
        '66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925'
    """
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True, slots=True)
class PublicKey:
    """An Ed25519 public key: what others trust, what checks a signature.

    Example:
        >>> key = PublicKey.from_text("ed25519:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=")
        >>> key.short_id
        '56475aa75463474c'
        >>> key.to_text()
        'ed25519:A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg='
    """

    raw: bytes

    def __post_init__(self) -> None:
        if len(self.raw) != _RAW_SIZE:
            raise SigningKeyError(
                f"an Ed25519 public key is {_RAW_SIZE} bytes, not {len(self.raw)}",
                hint="copy the whole key, as `pluginctl keys export` prints it",
            )

    def __repr__(self) -> str:
        return f"PublicKey({self.to_text()!r})"

    @property
    def key_id(self) -> str:
        """The key's id: the hex sha256 of `raw`."""
        return key_id_of(self.raw)

    @property
    def short_id(self) -> str:
        """The first 16 hex characters of the id, as listings show it."""
        return self.key_id[:16]

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Whether ``signature`` is this key's signature of ``data``; never raises for a bad one."""
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, data)
        except (InvalidSignature, ValueError):
            return False
        return True

    def to_text(self) -> str:
        """The key as one line, ``ed25519:`` and the base64 of its raw bytes."""
        return TEXT_PREFIX + base64.b64encode(self.raw).decode("ascii")

    @classmethod
    def from_text(cls, text: str) -> PublicKey:
        """Read a public key from ``ed25519:<base64>`` or a PEM ``PUBLIC KEY`` block.

        Raises:
            SigningKeyError: if the text is neither, is a private key, or is not Ed25519.
        """
        text = text.strip()
        if text.startswith(TEXT_PREFIX):
            return cls(b64_key(text, what="public key"))
        if "PRIVATE KEY-----" in text:
            raise SigningKeyError(
                "this is a private key; only a public key may be shared or trusted",
                hint="give the public key that `pluginctl keys export` prints",
            )
        if not text.startswith("-----BEGIN PUBLIC KEY-----"):
            raise SigningKeyError(
                "not a public key: expected ed25519:<base64> or a PEM PUBLIC KEY block",
                hint="give the key that `pluginctl keys export` prints",
            )
        try:
            loaded = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise SigningKeyError(
                "the PEM public key is damaged", hint="copy the whole block again"
            ) from None
        if not isinstance(loaded, Ed25519PublicKey):
            raise SigningKeyError(
                f"the PEM public key is not Ed25519 (it is {type(loaded).__name__})",
                hint="pluginctl signs with Ed25519 keys only: pluginctl keys generate makes one",
            )
        return cls(loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
