"""Signing a wheel: a detached ``<wheel>.sig`` beside it, the wheel left byte-identical.

A wheel is signed only if it would pass verification's own checks (a sound archive,
a complete RECORD, no ``.pth``, consistent metadata, one plugin entry point), so a
signer never vouches for a wheel a host would refuse. Signing again with another key
adds a signature to the same envelope; signing with the same key replaces its own.

Example:
    >>> from pathlib import Path
    >>> signature_path(Path("dist/hello-1.0-py3-none-any.whl")).name
    'hello-1.0-py3-none-any.whl.sig'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pluginctl.atomic_file import write_atomically
from pluginctl.errors import SignatureError
from pluginctl.signing.archive import read_archive
from pluginctl.signing.envelope import (
    MAX_ENVELOPE_BYTES,
    Envelope,
    Predicate,
    SignedFile,
    Statement,
    Subject,
    decode_envelope,
    encode_envelope,
)
from pluginctl.signing.wheel import (
    check_metadata,
    check_policy,
    check_record,
    parse_name,
    read_plugin,
)

if TYPE_CHECKING:
    from pathlib import Path

    from pluginctl.signing.archive import Archive, ArchiveLimits
    from pluginctl.signing.keys import SigningKey
    from pluginctl.signing.wheel import WheelName

__all__ = ["SignResult", "read_signature", "sign_wheel", "signature_path", "statement_for"]

SIGNATURE_SUFFIX = ".sig"


@dataclass(frozen=True, slots=True)
class SignResult:
    """A signed wheel: where its signature is, who signed, how many signatures it has."""

    wheel: Path
    signature: Path
    key_id: str
    signatures: int
    sha256: str


def signature_path(wheel: Path) -> Path:
    """Where ``wheel``'s detached signature lives: the wheel's name plus ``.sig``."""
    return wheel.with_name(wheel.name + SIGNATURE_SUFFIX)


def statement_for(archive: Archive, name: WheelName) -> Statement:
    """The statement a signer makes about ``archive``: its name, hash and every member."""
    files = [SignedFile(m.path, m.sha256, m.size) for m in archive.members]
    return Statement(
        subject=[Subject(archive.path.name, {"sha256": archive.sha256})],
        predicate=Predicate(name.project, str(name.version), files),
    )


def sign_wheel(
    wheel: Path, key: SigningKey, *, replace: bool = False, limits: ArchiveLimits | None = None
) -> SignResult:
    """Sign ``wheel`` with ``key``, writing or extending ``<wheel>.sig``.

    Args:
        wheel: The wheel file; it is read, never written.
        key: The signing key.
        replace: Start a new envelope even if ``<wheel>.sig`` is for another wheel.
        limits: Archive limits (the defaults suit any plugin).

    Raises:
        SignatureError: the wheel would fail verification, or an existing ``.sig``
            belongs to another wheel (pass ``replace``).
    """
    name = parse_name(wheel.name)
    archive = read_archive(wheel, limits=limits)
    check_record(archive, name)
    check_policy((m.path for m in archive.members), subject=wheel.name)
    check_metadata(archive, name)
    read_plugin(archive, name)
    statement = statement_for(archive, name)
    target = signature_path(wheel)
    envelope = _existing(target, statement, replace=replace) or Envelope.for_statement(statement)
    signed = envelope.with_signature(key.key_id, key.sign(envelope.signed_bytes()))
    write_atomically(target, encode_envelope(signed))
    return SignResult(wheel, target, key.key_id, len(signed.signatures), archive.sha256)


def read_signature(path: Path) -> Envelope:
    """Read and strictly parse a ``.sig`` file, refusing one past the size limit unread.

    Raises:
        SignatureError: ``check="envelope"`` when it is missing, too big or malformed.
    """
    try:
        with path.open("rb") as file:
            data = file.read(MAX_ENVELOPE_BYTES + 1)
    except FileNotFoundError:
        raise SignatureError(
            f"{path.name}: no signature (the wheel is unsigned)",
            check="envelope",
            hint=f"sign it: pluginctl sign {path.with_suffix('')}",
        ) from None
    except OSError as exc:
        raise SignatureError(
            f"{path.name}: cannot be read: {exc.strerror or exc}", check="envelope"
        ) from None
    return decode_envelope(data)


def _existing(target: Path, statement: Statement, *, replace: bool) -> Envelope | None:
    if replace or not target.exists():
        return None
    envelope = read_signature(target)
    if envelope.statement() != statement:
        raise SignatureError(
            f"{target.name} signs another wheel than {target.with_suffix('').name} is now",
            check="subject",
            hint="the wheel was rebuilt: delete the old signature, or pass --replace",
        )
    return envelope
