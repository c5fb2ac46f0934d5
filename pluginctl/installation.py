"""Installing signed plugin wheels: verify first, then install, then keep the signature.

`install_wheels` refuses to install anything until every wheel verifies (signature,
trust, hashes, RECORD, policy, plugin). It installs with uv when it is on PATH, else
with this interpreter's pip, into the running environment, then keeps each wheel's
envelope in its ``.dist-info`` (`pluginctl.signing.installed.attach_signature`) and
re-verifies the installed files, so the host can check them at every start.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib.metadata import distribution
from pathlib import Path
from typing import TYPE_CHECKING

from pluginctl.errors import SignatureError, UserError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pluginctl.manifest import Manifest
    from pluginctl.signing.trust import TrustStore
    from pluginctl.signing.verify import VerifyReport

__all__ = ["Candidate", "InstallResult", "install_wheels", "uninstall", "verify_candidates"]


@dataclass(frozen=True, slots=True)
class Candidate:
    """A wheel that verified, with what it asks for: its manifest (permissions)."""

    wheel: Path
    report: VerifyReport
    manifest: Manifest


@dataclass(frozen=True, slots=True)
class InstallResult:
    """One installed plugin: its project, version and where its signature is kept."""

    project: str
    version: str
    signature: Path


def verify_candidates(wheels: Sequence[Path], *, trust: TrustStore) -> list[Candidate]:
    """Verify every wheel, failing on the first that does not verify.

    Raises:
        SignatureError: the first wheel's failed check, naming the wheel.
    """
    from pluginctl.signing.archive import read_archive
    from pluginctl.signing.verify import verify_wheel
    from pluginctl.signing.wheel import parse_name, read_plugin

    candidates = []
    for wheel in wheels:
        report = verify_wheel(wheel, trust=trust)
        if report.error is not None:
            raise report.error
        manifest = read_plugin(read_archive(wheel), parse_name(wheel.name)).manifest
        candidates.append(Candidate(wheel, report, manifest))
    return candidates


def install_wheels(
    candidates: Sequence[Candidate],
    *,
    trust: TrustStore,
    reinstall: bool = False,
    source_args: Sequence[str] = (),
) -> list[InstallResult]:
    """Install verified ``candidates`` into this environment and keep their signatures.

    ``source_args`` tell the installer where the plugins' dependencies come from
    (``--find-links DIR`` for a local registry, ``--index-url URL`` for a remote one).

    Raises:
        UserError: the installer failed (its output is in the message).
        SignatureError: an installed plugin does not match its signed wheel.
    """
    from pluginctl.signing.installed import attach_signature, verify_installed
    from pluginctl.signing.sign import signature_path

    _run([*_installer(reinstall=reinstall), *source_args, *(str(c.wheel) for c in candidates)])
    results = []
    for candidate in candidates:
        project, version = candidate.report.project or "", candidate.report.version or ""
        dist = distribution(project)
        kept = attach_signature(dist, signature_path(candidate.wheel).read_bytes())
        check = verify_installed(dist, trust=trust)
        if check.error is not None:
            raise SignatureError(
                f"{project} {version} was installed but does not match its signed wheel:"
                f" {check.error.message}",
                check=check.error.check,
                hint="another installer may have changed it meanwhile; run pluginctl install"
                " --reinstall",
                files=check.error.files,
            )
        results.append(InstallResult(project, version, kept))
    return results


def uninstall(names: Sequence[str]) -> None:
    """Uninstall the distributions ``names`` from this environment.

    Raises:
        UserError: the installer failed (its output is in the message).
    """
    uv = shutil.which("uv")
    if uv is not None:
        _run([uv, "pip", "uninstall", "--quiet", "--python", sys.executable, *names])
    else:
        _run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", *names])


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise UserError(
            f"the installer failed ({Path(command[0]).name} {' '.join(command[1:3])}):\n{tail}",
            hint="fix what it reports (often a dependency it cannot find), then run again",
        )


def _installer(*, reinstall: bool) -> list[str]:
    """Uv when it is on PATH (fast), else this interpreter's pip."""
    uv = shutil.which("uv")
    if uv is not None:
        again = ["--reinstall"] if reinstall else []
        return [uv, "pip", "install", "--quiet", *again, "--python", sys.executable]
    again = ["--force-reinstall"] if reinstall else []
    return [sys.executable, "-m", "pip", "install", "--quiet", "--no-input", *again]
