"""Verifying a signed wheel: every check in order, failing closed at the first that fails.

The checks, each with its own exit code for ``pluginctl verify``:

============  ====  ==============================================================
check         code  passes when
============  ====  ==============================================================
input         10    the file exists, is a regular file, and is named as a wheel
archive       11    the zip is sound (`pluginctl.signing.archive`)
envelope      12    ``<wheel>.sig`` exists and is a well-formed DSSE envelope
signature     13    every signature by a known key is valid, and at least one is by
                    a key trusted for this project: in scope, in date, not revoked
subject       14    the statement names this file and its sha256
files         15    the signed file list equals the archive, file by file
record        16    RECORD lists every member with its right hash and size
policy        17    nothing installs outside site-packages or runs at start-up
metadata      18    METADATA, WHEEL and ``.dist-info`` agree with the file name
plugin        19    one plugin entry point, its module and a valid ``plugin.toml``
host          20    the plugin's ``host`` range admits this pluginctl
============  ====  ==============================================================

When the wheel's hash differs from the signed one, the signed file list is compared
with the archive to say which files were modified, added or removed.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pluginctl._version import __version__
from pluginctl.errors import SignatureError
from pluginctl.signing.archive import read_archive
from pluginctl.signing.envelope import signature_bytes
from pluginctl.signing.sign import read_signature, signature_path
from pluginctl.signing.wheel import (
    check_host,
    check_metadata,
    check_policy,
    check_record,
    parse_name,
    read_plugin,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import date
    from pathlib import Path

    from pluginctl.signing.archive import Archive, ArchiveLimits
    from pluginctl.signing.envelope import Envelope, SignedFile, Statement, Subject
    from pluginctl.signing.trust import TrustDecision, TrustStore
    from pluginctl.signing.wheel import WheelName

__all__ = [
    "CHECKS",
    "SignerReport",
    "VerifyReport",
    "check_signatures",
    "exit_code",
    "file_changes",
    "verify_wheel",
]

#: Every check, in the order it runs.
CHECKS: tuple[str, ...] = (
    "input",
    "archive",
    "envelope",
    "signature",
    "subject",
    "files",
    "record",
    "policy",
    "metadata",
    "plugin",
    "host",
)
_FIRST_CODE = 10


def exit_code(check: str) -> int:
    """The exit code ``pluginctl verify`` uses when ``check`` fails.

    Example:
        >>> exit_code("input"), exit_code("signature"), exit_code("host")
        (10, 13, 20)
    """
    return _FIRST_CODE + CHECKS.index(check) if check in CHECKS else 1


@dataclass(frozen=True, slots=True)
class SignerReport:
    """One signature in the envelope and what the trust store says of its key.

    Attributes:
        key_id: The key's id (sha256 of the raw public key, hex).
        name: The key's name in the trust store, or "" for an unknown key.
        trusted: Whether the key may sign this project today.
        reason: Why it is not trusted ("" when it is).
        note: Something worth knowing about a trusted key (e.g. it is retired).
    """

    key_id: str
    name: str
    trusted: bool
    reason: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        return {
            "key_id": self.key_id,
            "name": self.name,
            "trusted": self.trusted,
            "reason": self.reason,
            "note": self.note,
        }


@dataclass(slots=True)
class VerifyReport:
    """The outcome of verifying one wheel or one installed plugin.

    Attributes:
        subject: What was verified: the wheel's path, or ``installed NAME``.
        passed: The checks that passed, in order.
        error: The first check that failed, or None when all passed.
        signers: Every signature in the envelope, once it was read.
        project: The project name, once known.
        version: The version, once known.
    """

    subject: str
    passed: list[str] = field(default_factory=list)
    error: SignatureError | None = None
    signers: list[SignerReport] = field(default_factory=list)
    project: str | None = None
    version: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return self.error is None

    @property
    def exit_code(self) -> int:
        """0 when verified, else the failed check's code (see `exit_code`)."""
        return 0 if self.error is None else exit_code(self.error.check)

    def to_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        error = self.error
        return {
            "subject": self.subject,
            "ok": self.ok,
            "exit_code": self.exit_code,
            "project": self.project,
            "version": self.version,
            "passed": list(self.passed),
            "failed": None
            if error is None
            else {
                "check": error.check,
                "message": error.message,
                "hint": error.hint,
                "files": [{"path": p, "change": c} for p, c in error.files],
            },
            "signers": [s.to_dict() for s in self.signers],
        }


def verify_wheel(
    wheel: Path,
    *,
    trust: TrustStore,
    signature: Path | None = None,
    host_version: str | None = __version__,
    limits: ArchiveLimits | None = None,
    today: date | None = None,
) -> VerifyReport:
    """Run every check on ``wheel`` and its signature (``<wheel>.sig`` unless given).

    ``host_version`` None skips the host check: a registry keeps plugins for every
    pluginctl, and the host check belongs to the one that installs.

    Never raises for a bad wheel: the report's ``error`` says which check failed.
    """
    report = VerifyReport(str(wheel))
    try:
        _verify(
            wheel,
            report,
            trust=trust,
            signature=signature,
            host_version=host_version,
            limits=limits,
            today=today,
        )
    except SignatureError as exc:
        report.error = exc
    return report


def _verify(
    wheel: Path,
    report: VerifyReport,
    *,
    trust: TrustStore,
    signature: Path | None,
    host_version: str | None,
    limits: ArchiveLimits | None,
    today: date | None,
) -> None:
    name = _check_input(wheel)
    report.project, report.version = name.project, str(name.version)
    report.passed.append("input")
    archive = read_archive(wheel, limits=limits)
    report.passed.append("archive")
    envelope = read_signature(signature or signature_path(wheel))
    statement = envelope.statement()
    report.passed.append("envelope")
    check_signatures(envelope, name.project, trust=trust, today=today, signers=report.signers)
    report.passed.append("signature")
    _check_subject(archive, name, statement)
    report.passed += ["subject", "files"]
    check_record(archive, name)
    report.passed.append("record")
    check_policy((m.path for m in archive.members), subject=wheel.name)
    report.passed.append("policy")
    check_metadata(archive, name)
    report.passed.append("metadata")
    plugin = read_plugin(archive, name)
    report.passed.append("plugin")
    if host_version is not None:  # a registry stores plugins for every host
        check_host(plugin.manifest, host_version, subject=wheel.name)
    report.passed.append("host")


def _check_input(wheel: Path) -> WheelName:
    try:
        mode = wheel.stat().st_mode
    except OSError as exc:
        raise SignatureError(
            f"{wheel}: cannot be read: {exc.strerror or exc}",
            check="input",
            hint="pass the path of a wheel file, e.g. dist/NAME-VERSION-py3-none-any.whl",
        ) from None
    if not stat.S_ISREG(mode):
        raise SignatureError(f"{wheel}: not a regular file", check="input", hint="pass a .whl file")
    return parse_name(wheel.name)


# ---------------------------------------------------------------- signatures


def check_signatures(
    envelope: Envelope,
    project: str,
    *,
    trust: TrustStore,
    today: date | None = None,
    signers: list[SignerReport] | None = None,
) -> list[SignerReport]:
    """Every signature by a known key must be valid; one must be by a key trusted here.

    Each signature's report is appended to ``signers`` (if given) as it is checked,
    so a caller has them even when the check fails.

    Raises:
        SignatureError: ``check="signature"``, with the most specific reason.
    """
    signed = envelope.signed_bytes()
    reports: list[SignerReport] = signers if signers is not None else []
    refusals: list[TrustDecision] = []
    seen: set[str] = set()
    for signature in envelope.signatures:
        if signature.keyid in seen:
            raise _signature_error(f"key {signature.keyid[:16]} signed twice in one envelope")
        seen.add(signature.keyid)
        decision = trust.decide(signature.keyid, project, today=today)
        key = decision.public_key
        name = decision.entry.name if decision.entry is not None else ""
        if key is not None and not key.verify(signature_bytes(signature), signed):
            raise _signature_error(
                f"the signature by key {signature.keyid[:16]} ({name or 'unnamed'}) does not"
                " match the signed statement: the signature or the statement was edited",
                hint="get the wheel and its .sig again from where they were published",
            )
        if not decision.trusted:
            refusals.append(decision)
        reports.append(
            SignerReport(signature.keyid, name, decision.trusted, decision.reason, decision.note)
        )
    if not any(r.trusted for r in reports):
        worst = min(refusals, key=lambda d: d.entry is None)  # a known key's refusal says more
        raise _signature_error(f"no trusted signature: {worst.reason}", hint=worst.hint)
    return reports


def _signature_error(message: str, *, hint: str | None = None) -> SignatureError:
    return SignatureError(f"signature: {message}", check="signature", hint=hint)


# ---------------------------------------------------------------- subject and files


def _check_subject(archive: Archive, name: WheelName, statement: Statement) -> None:
    subject = _one_subject(statement)
    predicate = statement.predicate
    filename = archive.path.name
    if subject.name != filename:
        raise SignatureError(
            f"the signature is for {subject.name}, not {filename}",
            check="subject",
            hint="a signature binds the wheel's file name: use the wheel it was made for",
        )
    if canonicalize_name(predicate.project) != name.project or not _same_version(
        predicate.version, name.version
    ):
        raise SignatureError(
            f"the signature is for {predicate.project} {predicate.version}, not"
            f" {name.project} {name.version}",
            check="subject",
            hint="use the signature made for this release",
        )
    changes = file_changes(predicate.files, ((m.path, m.sha256, m.size) for m in archive.members))
    if subject.digest.get("sha256") != archive.sha256:
        _raise_changed(filename, changes)
    if changes:
        raise _files_error(filename, changes, "the signed file list disagrees with the archive")


def _one_subject(statement: Statement) -> Subject:
    if len(statement.subject) != 1:
        raise SignatureError(
            f"the statement has {len(statement.subject)} subjects; a wheel's has one",
            check="subject",
            hint="sign the wheel with pluginctl sign",
        )
    return statement.subject[0]


def _raise_changed(filename: str, changes: list[tuple[str, str]]) -> None:
    if changes:
        raise _files_error(filename, changes, "changed since it was signed")
    raise SignatureError(
        f"{filename}: its sha256 differs from the signed one, though every member is the"
        " same: the archive's structure was changed",
        check="subject",
        hint="get the wheel again from where it was published",
    )


def _files_error(filename: str, changes: list[tuple[str, str]], what: str) -> SignatureError:
    listed = "; ".join(f"{change}: {path}" for path, change in changes[:10])
    more = f"; and {len(changes) - 10} more" if len(changes) > 10 else ""
    return SignatureError(
        f"{filename}: {what}: {listed}{more}",
        check="files",
        hint="do not install it; get the wheel again from where it was published",
        files=changes,
    )


def file_changes(
    signed: Sequence[SignedFile], actual: Iterable[tuple[str, str, int]]
) -> list[tuple[str, str]]:
    """How ``actual`` files (path, sha256, size) differ from the signed list, by path.

    Example:
        >>> from pluginctl.signing.envelope import SignedFile
        >>> signed = [SignedFile("a.py", "1" * 64, 1), SignedFile("b.py", "2" * 64, 1)]
        >>> file_changes(signed, [("a.py", "f" * 64, 1), ("evil.pth", "3" * 64, 9)])
        [('a.py', 'modified'), ('b.py', 'removed'), ('evil.pth', 'added')]
    """
    expected = {f.path: (f.sha256, f.size) for f in signed}
    found = {path: (digest, size) for path, digest, size in actual}
    changes = [(p, "removed") for p in expected if p not in found]
    changes += [(p, "added") for p in found if p not in expected]
    changes += [(p, "modified") for p, v in found.items() if p in expected and expected[p] != v]
    return sorted(changes)


def _same_version(text: str, version: Version) -> bool:
    try:
        return Version(text) == version
    except InvalidVersion:
        return False
