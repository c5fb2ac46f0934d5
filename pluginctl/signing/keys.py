"""Ed25519 signing keys: public keys to share, private keys to sign with, and where they live.

A key's id is the lowercase hex sha256 of its 32-byte raw public key. Private keys
live in a `KeyRing`, a directory under the user's config directory
(``~/.config/pluginctl/keys`` on Linux, following ``XDG_CONFIG_HOME``): one PKCS8
PEM file per key, mode ``0600`` in a ``0700`` directory, encrypted with a passphrase
unless made with ``--no-passphrase``; ``keys.json`` beside them holds each key's name,
creation time and status, and which key is the default.

In CI, ``PLUGINCTL_SIGNING_KEY`` may hold a whole private key instead (PEM, or
``ed25519-private:`` and the base64 of the 32 raw private bytes), and
``PLUGINCTL_KEY_PASSPHRASE`` the passphrase of an encrypted one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pluginctl.atomic_file import write_atomically
from pluginctl.errors import SigningKeyError
from pluginctl.signing._files import check_private_file, ensure_private_dir
from pluginctl.signing._keyring_index import KeyIndex, KeyRecord, read_index, write_index
from pluginctl.signing._keytext import PASSPHRASE_ENV, needs_passphrase, read_private
from pluginctl.signing.public import PublicKey, key_id_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path

__all__ = [
    "PASSPHRASE_ENV",
    "SIGNING_KEY_ENV",
    "KeyInfo",
    "KeyRing",
    "PublicKey",
    "SigningKey",
    "key_id_of",
    "match_key_id",
    "needs_passphrase",
    "resolve_signing_key",
    "signing_key_from_env",
    "user_config_path",
]

#: The environment variable that holds a whole private key, for CI.
SIGNING_KEY_ENV = "PLUGINCTL_SIGNING_KEY"
_GENERATE_HINT = "run: pluginctl keys generate"


def user_config_path() -> Path:
    """The pluginctl directory in the user's config directory, as platformdirs finds it.

    On Linux that is ``$XDG_CONFIG_HOME/pluginctl`` (``~/.config/pluginctl``).
    """
    import platformdirs

    return platformdirs.user_config_path("pluginctl", appauthor=False)


@dataclass(frozen=True)
class SigningKey:
    """A private key ready to sign; its secret half never appears in its repr.

    Example:
        >>> key = SigningKey.generate("demo")
        >>> key.public.verify(key.sign(b"wheel"), b"wheel")
        True
        >>> "private" in repr(key)
        False
    """

    key_id: str
    name: str
    public: PublicKey
    _private: Ed25519PrivateKey = field(repr=False, compare=False)

    @classmethod
    def generate(cls, name: str = "ephemeral") -> SigningKey:
        """A new key held only in memory (`KeyRing.generate` also stores one)."""
        return cls._of(Ed25519PrivateKey.generate(), name=name)

    @classmethod
    def from_text(cls, text: str, *, name: str, passphrase: str | None = None) -> SigningKey:
        """Read a private key: PKCS8 PEM (encrypted with ``passphrase``) or raw.

        The raw form is ``ed25519-private:`` and the base64 of the 32 private bytes.

        Raises:
            SigningKeyError: for any other text, a missing or wrong passphrase, or a
                key that is not Ed25519; the message never quotes the text.
        """
        return cls._of(read_private(text, passphrase=passphrase, what=name), name=name)

    @classmethod
    def _of(cls, private: Ed25519PrivateKey, *, name: str) -> SigningKey:
        raw = private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        public = PublicKey(raw)
        return cls(public.key_id, name, public, private)

    @property
    def short_id(self) -> str:
        """The first 16 hex characters of the id."""
        return self.key_id[:16]

    def sign(self, data: bytes) -> bytes:
        """The 64-byte Ed25519 signature of ``data``."""
        return self._private.sign(data)

    def _pem(self, passphrase: str | None) -> bytes:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
            if passphrase is not None
            else serialization.NoEncryption()
        )
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )


def match_key_id(prefix: str, ids: Iterable[str], *, where: str) -> str:
    """The one id in ``ids`` that starts with ``prefix`` (any case).

    Raises:
        SigningKeyError: when no id or several ids start with it; ``where`` names what
            was searched, for the message.

    Example:
        >>> match_key_id("AB1", ["ab12", "cd34"], where="your key ring")
        'ab12'
    """
    wanted = prefix.strip().lower()
    found = sorted({key_id for key_id in ids if key_id.startswith(wanted)}) if wanted else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise SigningKeyError(
            f"no key {prefix!r} in {where}",
            hint="pluginctl keys list shows every key and its id",
        )
    listed = ", ".join(key_id[:16] for key_id in found)
    raise SigningKeyError(
        f"{prefix!r} is the start of {len(found)} keys in {where}: {listed}",
        hint="give more characters of the key id",
    )


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What `KeyRing.keys` tells about one key, without unlocking it.

    Attributes:
        key_id: The key's id.
        name: A name for people (``ada@laptop``, ``ci``).
        created: When it was made or imported (UTC).
        encrypted: Whether its file needs a passphrase.
        status: ``active``, or ``retired`` once `KeyRing.retire` (or a rotation) retired it.
        default: Whether it is the key that signs when none is named.
        public: Its public key.
        path: Its private key file.
        retired: When it was retired.
    """

    key_id: str
    name: str
    created: datetime
    encrypted: bool
    status: Literal["active", "retired"]
    default: bool
    public: PublicKey
    path: Path
    retired: datetime | None = None

    @property
    def short_id(self) -> str:
        """The first 16 hex characters of the id."""
        return self.key_id[:16]


class KeyRing:
    """The private keys in one directory (`KeyRing.default`: the user's).

    Example:
        >>> import pathlib, tempfile
        >>> ring = KeyRing(pathlib.Path(tempfile.mkdtemp()) / "keys")
        >>> key = ring.generate("ci", passphrase=None)
        >>> ring.load(key.key_id[:8]).public == key.public
        True
        >>> [(info.name, info.default, info.encrypted) for info in ring.keys()]
        [('ci', True, False)]
    """

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    @classmethod
    def default(cls) -> KeyRing:
        """The user's key ring, in ``keys`` under `user_config_path`."""
        return cls(user_config_path() / "keys")

    @property
    def directory(self) -> Path:
        """Where the key files are."""
        return self._directory

    def generate(self, name: str, *, passphrase: str | None) -> SigningKey:
        """Make a new key, store it (encrypted unless ``passphrase`` is None), make it the default.

        Raises:
            SigningKeyError: for an empty name or an empty passphrase.
        """
        key = SigningKey.generate(_checked_name(name))
        self._store(key, passphrase=passphrase, make_default=True)
        return key

    def import_private(
        self,
        text: str,
        *,
        passphrase: str | None,
        name: str | None = None,
        unlock: str | None = None,
    ) -> SigningKey:
        """Store a private key made elsewhere, e.g. one exported from another machine.

        It becomes the default key only if there was none.

        Args:
            text: The key, as `export_private` or ``pluginctl keys export --private`` wrote it.
            passphrase: What the stored copy is encrypted with; None stores it unencrypted.
            name: Its name here (default: ``imported``).
            unlock: The passphrase of ``text`` if it is encrypted (default:
                ``$PLUGINCTL_KEY_PASSPHRASE``).

        Raises:
            SigningKeyError: if the text is not a key, cannot be unlocked, or is already here.
        """
        secret = unlock if unlock is not None else os.environ.get(PASSPHRASE_ENV)
        private = read_private(text, passphrase=secret, what="the key to import")
        key = SigningKey._of(private, name=_checked_name(name or "imported"))
        if key.key_id in self._index().keys:
            raise SigningKeyError(
                f"key {key.short_id} is already in the key ring {self._directory}",
                hint="pluginctl keys list shows it",
            )
        self._store(key, passphrase=passphrase, make_default=self._index().default is None)
        return key

    def keys(self) -> list[KeyInfo]:
        """Every key here, oldest first; no key is unlocked."""
        index = self._index()
        infos = [self._info(key_id, record, index) for key_id, record in index.keys.items()]
        return sorted(infos, key=lambda info: info.created)

    def info(self, key_id: str | None = None) -> KeyInfo:
        """One key's `KeyInfo`: the default one, or the one whose id starts with ``key_id``."""
        index = self._index()
        found = self._resolve(key_id, index)
        return self._info(found, index.keys[found], index)

    def load(
        self, key_id: str | None = None, *, passphrase: Callable[[], str] | None = None
    ) -> SigningKey:
        """Unlock a key to sign with: the default one, or the one whose id starts with ``key_id``.

        An encrypted key takes its passphrase from ``$PLUGINCTL_KEY_PASSPHRASE`` or else
        by calling ``passphrase`` (a prompt).

        Raises:
            SigningKeyError: no such key, a wrong or missing passphrase, or a key file
                others may read or that someone else owns (with the ``chmod`` that fixes it).
        """
        info = self.info(key_id)
        what = f"key {info.short_id} ({info.name})"
        if not info.path.exists():
            raise SigningKeyError(
                f"the file of {what} is missing: {info.path}",
                hint="import the key again with pluginctl keys import FILE",
            )
        check_private_file(info.path, what=f"the file of {what}")
        text = info.path.read_text(encoding="ascii")
        secret: str | None = None
        if needs_passphrase(text):
            secret = os.environ.get(PASSPHRASE_ENV) or (passphrase() if passphrase else None)
        key = SigningKey._of(read_private(text, passphrase=secret, what=what), name=info.name)
        if key.key_id != info.key_id:
            raise SigningKeyError(
                f"the file of {what} holds another key ({key.short_id}): {info.path}",
                hint="put the right file back, or import the key again with pluginctl keys import",
            )
        return key

    def export_public(self, key_id: str | None = None) -> PublicKey:
        """A key's public half, read without unlocking it."""
        return self.info(key_id).public

    def export_private(self, key_id: str | None = None) -> str:
        """A key's private PEM exactly as stored (encrypted if it is), e.g. for a CI secret."""
        info = self.info(key_id)
        check_private_file(info.path, what=f"the file of key {info.short_id} ({info.name})")
        return info.path.read_text(encoding="ascii")

    def retire(self, key_id: str) -> KeyInfo:
        """Mark a key retired: it stays here (and verifies) but no longer signs."""
        index = self._index()
        found = self._resolve(key_id, index)
        record = index.keys[found]
        if record.status != "retired":
            index.keys[found] = msgspec.structs.replace(
                record, status="retired", retired=datetime.now(UTC)
            )
            self._write_index(index)
        return self._info(found, index.keys[found], index)

    def set_default(self, key_id: str) -> KeyInfo:
        """Make a key the one that signs when none is named."""
        index = self._index()
        index.default = self._resolve(key_id, index)
        self._write_index(index)
        return self._info(index.default, index.keys[index.default], index)

    # -- inside ----------------------------------------------------------------

    def _index(self) -> KeyIndex:
        return read_index(self._directory)

    def _write_index(self, index: KeyIndex) -> None:
        write_index(self._directory, index)

    def _resolve(self, key_id: str | None, index: KeyIndex) -> str:
        if key_id is not None:
            return match_key_id(key_id, index.keys, where=f"the key ring {self._directory}")
        if index.default is None or index.default not in index.keys:
            raise SigningKeyError(
                f"there is no default signing key in {self._directory}", hint=_GENERATE_HINT
            )
        return index.default

    def _info(self, key_id: str, record: KeyRecord, index: KeyIndex) -> KeyInfo:
        return KeyInfo(
            key_id=key_id,
            name=record.name,
            created=record.created,
            encrypted=record.encrypted,
            status=record.status,
            default=key_id == index.default,
            public=PublicKey.from_text(record.public_key),
            path=self._directory / f"{key_id}.pem",
            retired=record.retired,
        )

    def _store(self, key: SigningKey, *, passphrase: str | None, make_default: bool) -> None:
        if passphrase is not None and not passphrase:
            raise SigningKeyError(
                "the passphrase is empty",
                hint="type a passphrase, or pass --no-passphrase for an unencrypted key",
            )
        ensure_private_dir(self._directory)
        write_atomically(self._directory / f"{key.key_id}.pem", key._pem(passphrase), mode=0o600)
        index = self._index()
        index.keys[key.key_id] = KeyRecord(
            name=key.name,
            created=datetime.now(UTC),
            public_key=key.public.to_text(),
            encrypted=passphrase is not None,
        )
        if make_default:
            index.default = key.key_id
        self._write_index(index)


def _checked_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise SigningKeyError(
            f"{name!r} is not a key name: it must be 1 to 100 printable characters",
            hint="name it for who or what signs with it, e.g. --name ada@laptop or --name ci",
        )
    return name


def signing_key_from_env(environ: Mapping[str, str] = os.environ) -> SigningKey | None:
    """The private key in ``$PLUGINCTL_SIGNING_KEY``, if that is set (for CI).

    An encrypted PEM key is unlocked with ``$PLUGINCTL_KEY_PASSPHRASE``.

    Raises:
        SigningKeyError: if the variable holds no valid key or its passphrase is wrong;
            the message never quotes the variable's value.

    Example:
        >>> env = {"PLUGINCTL_SIGNING_KEY": "ed25519-private:" + "A" * 43 + "="}
        >>> signing_key_from_env(env).name
        'PLUGINCTL_SIGNING_KEY'
        >>> signing_key_from_env({}) is None
        True
    """
    text = environ.get(SIGNING_KEY_ENV, "").strip()
    if not text:
        return None
    what = f"the key in {SIGNING_KEY_ENV}"
    private = read_private(text, passphrase=environ.get(PASSPHRASE_ENV), what=what)
    return SigningKey._of(private, name=SIGNING_KEY_ENV)


def resolve_signing_key(
    key: str | None,
    *,
    ring: KeyRing | None = None,
    prompt: Callable[[], str] | None = None,
) -> SigningKey:
    """The key to sign with: the CI key, the named key, or the default key.

    ``$PLUGINCTL_SIGNING_KEY`` wins when it is set and ``key`` is None; otherwise the
    key of ``ring`` (default: the user's) whose id starts with ``key``, or its default.

    Raises:
        SigningKeyError: when there is no key at all (hint: ``pluginctl keys generate``),
            when the key is retired, or when it cannot be unlocked.
    """
    if key is None:
        from_env = signing_key_from_env()
        if from_env is not None:
            return from_env
    ring = ring or KeyRing.default()
    if key is None and not ring.keys():
        raise SigningKeyError(
            f"no signing key: {SIGNING_KEY_ENV} is not set and {ring.directory} holds no key",
            hint=f"{_GENERATE_HINT} (in CI: set {SIGNING_KEY_ENV})",
        )
    info = ring.info(key)
    if info.status == "retired":
        raise SigningKeyError(
            f"key {info.short_id} ({info.name}) is retired: retired keys no longer sign",
            hint="sign with your current key (pluginctl keys list shows it), or make one:"
            f" pluginctl keys rotate {info.short_id}",
        )
    return ring.load(info.key_id, passphrase=prompt)
