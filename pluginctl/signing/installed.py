"""Verifying an installed plugin against the signature of the wheel it came from.

``pluginctl install`` keeps the wheel's envelope in the distribution's
``.dist-info`` directory as ``pluginctl.sig`` (listed in RECORD, like the
``INSTALLER`` file pip writes, so uninstalling removes it). `verify_installed`
then checks, with the same trust rules as for a wheel:

- the signature is trusted for the distribution, and names its name and version;
- every signed file is installed with the signed sha256 and size (RECORD is left
  out: installers rewrite it);
- no file was added: none in RECORD beyond what installers write (``INSTALLER``,
  ``REQUESTED``, ``direct_url.json``, uv's ``uv_cache.json``, bytecode, console
  scripts), and none on disk
  in the plugin's package directories beyond bytecode caches, and each cache this
  interpreter would load holds its signed source's code (`pluginctl.signing._bytecode`);
- the signed files pass the wheel policy (no ``.pth``, nothing outside site-packages).

An editable install, or one made by plain pip without the signature, is refused:
an editable install is a source tree, which only dev mode runs unsigned.
"""

from __future__ import annotations

import base64
import configparser
import csv
import hashlib
import io
import json
import os
from importlib.metadata import (
    Distribution,
    PackageNotFoundError,
    PackagePath,
    PathDistribution,
    distribution,
    entry_points,
)
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name

from pluginctl.atomic_file import write_atomically
from pluginctl.errors import SignatureError, UserError
from pluginctl.project import ENTRY_POINT_GROUP
from pluginctl.signing._bytecode import forged_caches
from pluginctl.signing.envelope import MAX_ENVELOPE_BYTES, decode_envelope
from pluginctl.signing.verify import VerifyReport, check_signatures, file_changes
from pluginctl.signing.wheel import check_policy, install_path

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import date

    from pluginctl.signing.envelope import Envelope, Statement
    from pluginctl.signing.trust import TrustStore

__all__ = ["SIGNATURE_FILE", "attach_signature", "find_distribution", "verify_installed"]

#: The envelope's name inside an installed plugin's ``.dist-info`` directory.
SIGNATURE_FILE = "pluginctl.sig"
#: What installers add to ``.dist-info``: pip's and uv's own files, PEP 610's and ours.
_INSTALLER_FILES = frozenset(
    {"INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json", "RECORD", SIGNATURE_FILE}
)


def find_distribution(name: str) -> Distribution:
    """The installed distribution of the plugin ``name`` (or the distribution ``name``).

    Raises:
        UserError: when nothing by that name is installed here.
    """
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name == name and entry_point.dist is not None:
            return entry_point.dist
    try:
        return distribution(name)
    except PackageNotFoundError:
        raise UserError(
            f"no plugin or distribution named {name!r} is installed in this environment",
            hint="pluginctl list shows the installed plugins",
        ) from None


def verify_installed(
    name: str | Distribution, *, trust: TrustStore, today: date | None = None
) -> VerifyReport:
    """Re-hash the installed plugin ``name``'s files against its signed file list.

    Never raises for a bad installation: the report's ``error`` says which check failed.

    Raises:
        UserError: nothing called ``name`` is installed.
    """
    dist = find_distribution(name) if isinstance(name, str) else name
    try:
        project, version = dist.name, dist.version
    except (UnicodeDecodeError, OSError):
        where = name if isinstance(name, str) else "a distribution"
        report = VerifyReport(f"installed {where}")
        report.error = SignatureError(
            f"{where}: its METADATA cannot be read as UTF-8 text",
            check="input",
            hint="reinstall it from its signed wheel: pluginctl install WHEEL",
        )
        return report
    report = VerifyReport(f"installed {project} {version}")
    report.project, report.version = canonicalize_name(project), version
    try:
        _verify(dist, report, trust=trust, today=today)
    except SignatureError as exc:
        report.error = exc
    return report


def attach_signature(dist: Distribution, envelope: bytes) -> Path:
    """Keep ``envelope`` as the installed ``dist``'s signature, listed in its RECORD.

    Returns:
        The file written, ``<name>-<version>.dist-info/pluginctl.sig``.
    """
    dist_info = _dist_info(dist)
    directory = Path(str(dist.locate_file(dist_info)))
    target = directory / SIGNATURE_FILE
    write_atomically(target, envelope)
    record = directory / "RECORD"
    rows = [r for r in csv.reader(record.read_text("utf-8").splitlines()) if r]
    listed = f"{dist_info}/{SIGNATURE_FILE}"
    rows = [r for r in rows if r[0] != listed]
    rows.append([listed, f"sha256={_record_hash(envelope)}", str(len(envelope))])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    write_atomically(record, buffer.getvalue().encode("utf-8"))
    return target


# ---------------------------------------------------------------- the checks


def _verify(
    dist: Distribution, report: VerifyReport, *, trust: TrustStore, today: date | None
) -> None:
    dist_info = _dist_info(dist)
    _refuse_editable(dist, dist_info)
    report.passed += ["input", "archive"]
    envelope = _read_envelope(dist, dist_info)
    statement = envelope.statement()
    report.passed.append("envelope")
    project = canonicalize_name(dist.name)
    check_signatures(envelope, project, trust=trust, today=today, signers=report.signers)
    report.passed.append("signature")
    _check_subject(dist, dist_info, statement)
    report.passed.append("subject")
    changes = _changes(dist, dist_info, statement)
    if changes:
        listed = "; ".join(f"{change}: {path}" for path, change in changes[:10])
        raise SignatureError(
            f"{report.subject}: changed since it was installed: {listed}",
            check="files",
            hint=f"reinstall it from its signed wheel: pluginctl install --force {dist.name}",
            files=changes,
        )
    report.passed += ["files", "record"]
    check_policy((f.path for f in statement.predicate.files), subject=report.subject)
    report.passed.append("policy")


def _dist_info(dist: Distribution) -> str:
    """The ``.dist-info`` directory ``dist`` is read from (its metadata, its entry points).

    Never a directory named in RECORD: whoever can write a look-alike distribution's
    RECORD could point it at the signed distribution's directory and signature.
    """
    # importlib.metadata has no public name for the directory a distribution is read from
    directory = Path(str(dist._path)) if isinstance(dist, PathDistribution) else None
    if directory is None or not directory.name.endswith(".dist-info"):
        raise SignatureError(
            f"distribution {dist.name} {dist.version} is not installed as a .dist-info"
            " directory, so it cannot carry a signature",
            check="input",
            hint=f"reinstall it from its signed wheel: pluginctl install {dist.name}",
        )
    if not _record_files(dist):
        raise SignatureError(
            f"distribution {dist.name} {dist.version} has no RECORD listing its files",
            check="input",
            hint=f"reinstall it from its signed wheel: pluginctl install {dist.name}",
        )
    return directory.name


def _record_files(dist: Distribution) -> list[PackagePath]:
    """The files ``dist``'s RECORD lists; a RECORD csv cannot read is refused, not a crash."""
    try:
        return dist.files or []
    except csv.Error as exc:
        raise SignatureError(
            f"distribution {dist.name} {dist.version}: its RECORD cannot be read: {exc}",
            check="input",
            hint=f"reinstall it from its signed wheel: pluginctl install --force {dist.name}",
        ) from None


def _refuse_editable(dist: Distribution, dist_info: str) -> None:
    try:
        text = dist.read_text("direct_url.json")
        direct = json.loads(text) if text else {}
    except ValueError:  # not UTF-8, or not JSON: not an editable install's
        direct = {}
    dir_info = direct.get("dir_info") if isinstance(direct, dict) else None
    if isinstance(dir_info, dict) and dir_info.get("editable"):
        source = str(direct.get("url", "")).removeprefix("file://")
        raise SignatureError(
            f"{dist.name} {dist.version} is installed in editable mode from {source}: an"
            " editable install is a source tree, not a signed release",
            check="input",
            hint=f"run the source tree in dev mode (pluginctl dev {source}), or install its"
            " signed wheel: pluginctl install WHEEL",
        )


def _read_envelope(dist: Distribution, dist_info: str) -> Envelope:
    path = Path(str(dist.locate_file(f"{dist_info}/{SIGNATURE_FILE}")))
    try:
        with path.open("rb") as file:
            data = file.read(MAX_ENVELOPE_BYTES + 1)
    except FileNotFoundError:
        raise SignatureError(
            f"{dist.name} {dist.version} is not signed: it was installed without its"
            " signature (plain pip keeps no .sig)",
            check="envelope",
            hint="install the signed wheel with pluginctl install WHEEL, which verifies it"
            " and keeps its .sig",
        ) from None
    return decode_envelope(data)


def _check_subject(dist: Distribution, dist_info: str, statement: Statement) -> None:
    predicate = statement.predicate
    hint = f"reinstall it from its signed wheel: pluginctl install --force {dist.name}"
    same_name = canonicalize_name(predicate.project) == canonicalize_name(dist.name)
    if not same_name or predicate.version != dist.version:
        raise SignatureError(
            f"the kept signature is for {predicate.project} {predicate.version}, but"
            f" {dist.name} {dist.version} is installed",
            check="subject",
            hint=hint,
        )
    signed = sorted({f.path.split("/")[0] for f in predicate.files if ".dist-info/" in f.path})
    if signed != [dist_info]:
        raise SignatureError(
            f"the kept signature is for {', '.join(signed) or 'no .dist-info'}, but"
            f" {dist.name} {dist.version} is read from {dist_info}: another distribution"
            " by that name may have been added beside the signed one",
            check="subject",
            hint=hint,
        )


def _changes(dist: Distribution, dist_info: str, statement: Statement) -> list[tuple[str, str]]:
    signed = [
        f.__class__(target, f.sha256, f.size)
        for f in statement.predicate.files
        if (target := install_path(f.path)) is not None and f.path != f"{dist_info}/RECORD"
    ]
    paths = {f.path for f in signed}
    actual = [_installed(dist, f.path) for f in signed]
    found = [item for item in actual if item is not None]
    extras = sorted(set(_unexpected(dist, dist_info, statement, paths)))
    return file_changes(signed, [*found, *((p, "", -1) for p in extras)])


def _installed(dist: Distribution, path: str) -> tuple[str, str, int] | None:
    file = Path(str(dist.locate_file(path)))
    try:
        if file.is_symlink():
            return path, "symlink", -1
        with file.open("rb") as stream:
            digest = hashlib.file_digest(stream, "sha256").hexdigest()
        return path, digest, file.stat().st_size
    except OSError:
        return None


def _unexpected(
    dist: Distribution, dist_info: str, statement: Statement, signed: set[str]
) -> Iterator[str]:
    """Files in RECORD or in the plugin's package directories that were never signed.

    Bytecode caches count as signed when they hold their signed source's code.
    """
    scripts = _script_names(dist)
    for file in _record_files(dist):
        path = file.as_posix()
        if path in signed or _installer_owned(path, dist_info, scripts):
            continue
        yield path
    tops = {p.split("/")[0] for p in signed if "/" in p and not p.startswith(dist_info)}
    for top in sorted(tops):
        yield from (p for p in _walk(dist, top) if p not in signed)
    site = Path(str(dist.locate_file("")))
    sources = (site / p for p in sorted(signed) if p.endswith(".py"))
    yield from (_relative(cache, site) for cache in forged_caches(sources))


def _installer_owned(path: str, dist_info: str, scripts: set[str]) -> bool:
    if path.startswith(f"{dist_info}/") and path.rpartition("/")[2] in _INSTALLER_FILES:
        return True
    if "/__pycache__/" in f"/{path}" and path.endswith(".pyc"):
        return True
    return path.startswith("../") and path.rpartition("/")[2] in scripts


def _script_names(dist: Distribution) -> set[str]:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    try:
        parser.read_string(dist.read_text("entry_points.txt") or "")
    except (configparser.Error, UnicodeDecodeError):
        return set()
    names: set[str] = set()
    for group in ("console_scripts", "gui_scripts"):
        if parser.has_section(group):
            names |= {n for option in parser[group] for n in (option, f"{option}.exe")}
    return names


def _walk(dist: Distribution, top: str) -> Iterator[str]:
    root = Path(str(dist.locate_file(top)))
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory)
        linked = [d for d in subdirectories if (here / d).is_symlink()]
        subdirectories[:] = [d for d in subdirectories if d != "__pycache__" and d not in linked]
        for name in [*files, *linked]:
            yield (here / name).relative_to(root.parent).as_posix()


def _relative(path: Path, site: Path) -> str:
    return path.relative_to(site).as_posix() if path.is_relative_to(site) else path.as_posix()


def _record_hash(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
