"""The detached signature: a DSSE envelope over an in-toto statement about one wheel.

``<wheel>.sig`` is JSON::

    {
        "payloadType": "application/vnd.in-toto+json",
        "payload": "<base64 of the statement>",
        "signatures": [{"keyid": "<sha256 of the raw public key, hex>", "sig": "<base64>"}],
    }

Each signature is Ed25519 over DSSE's pre-authentication encoding of the payload
type and payload (`pae`), so the type cannot be swapped. The statement binds the
wheel's file name and sha256 (its subject) and lists every member of the archive
with its sha256 and size (the predicate), so a verifier can say which file changed.

Decoding is strict: the file has a size limit, must be UTF-8 JSON without
duplicate keys or non-finite numbers, must have exactly these fields with these
types, at most `MAX_SIGNATURES` signatures whose key ids are lowercase hex, and
base64 must be canonical.

Example:
    >>> statement = Statement(
    ...     subject=[Subject("x-1.0-py3-none-any.whl", {"sha256": "ab" * 32})],
    ...     predicate=Predicate("x", "1.0", [SignedFile("x/__init__.py", "cd" * 32, 0)]),
    ... )
    >>> envelope = Envelope.for_statement(statement).with_signature("ef" * 32, b"signature")
    >>> decode_envelope(encode_envelope(envelope)).statement() == statement
    True
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Final, Literal, TypeVar

import msgspec

from pluginctl.errors import SignatureError

__all__ = [
    "MAX_ENVELOPE_BYTES",
    "MAX_SIGNATURES",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "Envelope",
    "EnvelopeSignature",
    "Predicate",
    "SignedFile",
    "Statement",
    "Subject",
    "decode_envelope",
    "encode_envelope",
    "pae",
    "signature_bytes",
]

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE: Final = "https://pluginctl.dev/attestation/wheel/v1"
#: A signature file past this size is refused unread: 64 MiB covers 200,000 members.
MAX_ENVELOPE_BYTES = 64 * 1024 * 1024
#: Signatures one envelope may carry: each by a known key costs a verification.
MAX_SIGNATURES = 64

_T = TypeVar("_T")
_KEY_ID = re.compile(r"[0-9a-f]{64}")
_HINT = "the signature file is damaged or was edited: sign the wheel again (pluginctl sign)"


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Base of the envelope's parts: no unknown fields, immutable."""


class SignedFile(_Strict, frozen=True):
    """One archive member as signed: its name, sha256 (hex) and size in bytes."""

    path: str
    sha256: str
    size: int


class Predicate(_Strict, frozen=True):
    """What the signer says about the wheel: its project, version and every member."""

    project: str
    version: str
    files: list[SignedFile]


class Subject(_Strict, frozen=True):
    """The wheel the statement is about: file name and ``{"sha256": hex}``."""

    name: str
    digest: dict[str, str]


class Statement(_Strict, frozen=True, rename={"type": "_type", "predicate_type": "predicateType"}):
    """An in-toto v1 statement whose one subject is the wheel."""

    subject: list[Subject]
    predicate: Predicate
    type: Literal["https://in-toto.io/Statement/v1"] = "https://in-toto.io/Statement/v1"
    predicate_type: Literal["https://pluginctl.dev/attestation/wheel/v1"] = (
        "https://pluginctl.dev/attestation/wheel/v1"
    )

    def encode(self) -> bytes:
        """The payload bytes: compact JSON, fields in a fixed order."""
        return msgspec.json.encode(self)


class EnvelopeSignature(_Strict, frozen=True):
    """One signature: the signing key's id and the Ed25519 signature, base64."""

    keyid: str
    sig: str


class Envelope(_Strict, frozen=True, rename={"payload_type": "payloadType"}):
    """A DSSE envelope: the payload, its type, and one or more signatures."""

    payload: str
    payload_type: str
    signatures: list[EnvelopeSignature]

    @classmethod
    def for_statement(cls, statement: Statement) -> Envelope:
        """An envelope carrying ``statement``, not yet signed."""
        encoded = base64.b64encode(statement.encode()).decode("ascii")
        return cls(payload=encoded, payload_type=PAYLOAD_TYPE, signatures=[])

    def payload_bytes(self) -> bytes:
        """The payload, decoded (strict base64)."""
        return _b64(self.payload, "payload")

    def signed_bytes(self) -> bytes:
        """What each signature signs: DSSE's pre-authentication encoding."""
        return pae(self.payload_type, self.payload_bytes())

    def statement(self) -> Statement:
        """The payload as a statement.

        Raises:
            SignatureError: ``check="envelope"`` for the wrong type or a malformed one.
        """
        if self.payload_type != PAYLOAD_TYPE:
            raise _malformed(f"payloadType is {self.payload_type!r}, not {PAYLOAD_TYPE!r}")
        return _convert(_strict_json(self.payload_bytes(), "payload"), Statement, "payload")

    def with_signature(self, keyid: str, signature: bytes) -> Envelope:
        """This envelope plus a signature by ``keyid`` (replacing an older one by it)."""
        kept = [s for s in self.signatures if s.keyid != keyid]
        added = EnvelopeSignature(keyid, base64.b64encode(signature).decode("ascii"))
        return Envelope(self.payload, self.payload_type, [*kept, added])


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1's pre-authentication encoding of a payload and its type.

    Example:
        >>> pae("t", b"body")
        b'DSSEv1 1 t 4 body'
    """
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def encode_envelope(envelope: Envelope) -> bytes:
    """The envelope as the bytes of a ``.sig`` file: indented JSON and a newline."""
    return msgspec.json.format(msgspec.json.encode(envelope), indent=2) + b"\n"


def decode_envelope(data: bytes) -> Envelope:
    """Parse a ``.sig`` file, strictly.

    Raises:
        SignatureError: ``check="envelope"``, saying what is malformed.
    """
    if len(data) > MAX_ENVELOPE_BYTES:
        raise _malformed(f"{len(data)} bytes, past the limit of {MAX_ENVELOPE_BYTES}")
    envelope = _convert(_strict_json(data, "signature file"), Envelope, "signature file")
    if not envelope.signatures:
        raise _malformed("no signatures in the envelope")
    if len(envelope.signatures) > MAX_SIGNATURES:
        raise _malformed(
            f"{len(envelope.signatures)} signatures, past the limit of {MAX_SIGNATURES}"
        )
    for signature in envelope.signatures:
        _b64(signature.sig, "sig")
        if not _KEY_ID.fullmatch(signature.keyid):
            raise _malformed(
                f"keyid {signature.keyid[:70]!r} is not a key id: 64 lowercase hex characters"
                " (the sha256 of the raw public key)"
            )
    return envelope


def signature_bytes(signature: EnvelopeSignature) -> bytes:
    """The raw Ed25519 signature."""
    return _b64(signature.sig, "sig")


def _strict_json(data: bytes, what: str) -> object:
    try:
        text = data.decode("utf-8")
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise _malformed(f"the {what} is not UTF-8") from None
    except ValueError as exc:
        raise _malformed(f"the {what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise _malformed(f"the {what} is JSON nested too deeply to be an envelope") from None


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key!r} appears twice")
        result[key] = value
    return result


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON number")


def _convert(obj: object, kind: type[_T], what: str) -> _T:
    try:
        return msgspec.convert(obj, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise _malformed(f"the {what} is malformed: {exc}") from None


def _b64(text: str, what: str) -> bytes:
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _malformed(f"{what} is not valid base64") from None
    if base64.b64encode(decoded).decode("ascii") != text:
        raise _malformed(f"{what} is not canonical base64")
    return decoded


def _malformed(message: str) -> SignatureError:
    return SignatureError(f"signature: {message}", check="envelope", hint=_HINT)
