"""Signing plugins: Ed25519 keys, trust stores, signed wheels and their verification.

`KeyRing` keeps the user's private keys; `resolve_signing_key` picks the one to sign
with (``$PLUGINCTL_SIGNING_KEY`` in CI); `TrustStore` reads the user's and the
project's trust stores and `TrustStore.decide` says whether a key may sign a project.
`sign_wheel` writes a wheel's detached ``.sig``; `verify_wheel` runs every check on a
wheel and `verify_installed` on an installed plugin, each returning a `VerifyReport`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pluginctl.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from pluginctl.signing.installed import verify_installed
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
    from pluginctl.signing.sign import SignResult, sign_wheel, signature_path
    from pluginctl.signing.trust import (
        TRUST_FILENAME,
        StoredEntry,
        TrustDecision,
        TrustEntry,
        TrustStore,
    )
    from pluginctl.signing.verify import CHECKS, SignerReport, VerifyReport, exit_code, verify_wheel

__all__ = [
    "CHECKS",
    "PASSPHRASE_ENV",
    "SIGNING_KEY_ENV",
    "TRUST_FILENAME",
    "KeyInfo",
    "KeyRing",
    "PublicKey",
    "Rotation",
    "SignResult",
    "SignerReport",
    "SigningKey",
    "StoredEntry",
    "TrustDecision",
    "TrustEntry",
    "TrustStore",
    "VerifyReport",
    "exit_code",
    "key_id_of",
    "resolve_signing_key",
    "rotate_key",
    "sign_wheel",
    "signature_path",
    "signing_key_from_env",
    "verify_installed",
    "verify_wheel",
]

#: Where each public name lives: imported on first use, so that reading one module
#: (the archive checks, say) never pays for every other's imports.
_HOMES = {
    "CHECKS": "verify",
    "PASSPHRASE_ENV": "keys",
    "SIGNING_KEY_ENV": "keys",
    "TRUST_FILENAME": "trust",
    "KeyInfo": "keys",
    "KeyRing": "keys",
    "PublicKey": "keys",
    "Rotation": "rotation",
    "SignResult": "sign",
    "SignerReport": "verify",
    "SigningKey": "keys",
    "StoredEntry": "trust",
    "TrustDecision": "trust",
    "TrustEntry": "trust",
    "TrustStore": "trust",
    "VerifyReport": "verify",
    "exit_code": "verify",
    "key_id_of": "keys",
    "resolve_signing_key": "keys",
    "rotate_key": "rotation",
    "sign_wheel": "sign",
    "signature_path": "sign",
    "signing_key_from_env": "keys",
    "verify_installed": "installed",
    "verify_wheel": "verify",
}


__getattr__ = lazy_exports(__name__, _HOMES)
