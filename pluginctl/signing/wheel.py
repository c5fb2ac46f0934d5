"""What a plugin wheel must hold, beyond a sound archive: RECORD, metadata, policy, plugin.

Each check reads an `Archive` (already hashed, so nothing is inflated twice) and
raises `SignatureError` with its own ``check`` name:

- ``record``: RECORD lists every member exactly once, each with the sha256 and size
  it has, and nothing else. pip and uv skip this.
- ``policy``: the wheel installs only into site-packages (no ``.data/scripts``,
  ``.data/data`` or ``.data/headers``) and installs no ``.pth`` file and no
  ``sitecustomize`` or ``usercustomize``, each of which runs code in every Python
  process of the environment.
- ``metadata``: one ``.dist-info`` directory, named for the wheel; METADATA's Name
  and Version equal the file name's; WHEEL is version 1.
- ``plugin``: one ``pluginctl.plugins`` entry point, whose module is in the wheel,
  and a valid ``plugin.toml`` beside it naming the same plugin at the same version.
- ``host``: the manifest's ``host`` range admits this pluginctl.
"""

from __future__ import annotations

import base64
import binascii
import configparser
import csv
import hashlib
from dataclasses import dataclass
from email.parser import BytesHeaderParser
from typing import TYPE_CHECKING

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from pluginctl.errors import ManifestError, SignatureError
from pluginctl.manifest import MANIFEST_FILENAME, Manifest
from pluginctl.project import ENTRY_POINT_GROUP

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from pluginctl.signing.archive import Archive, Member

__all__ = [
    "PluginEntry",
    "WheelName",
    "check_host",
    "check_metadata",
    "check_policy",
    "check_record",
    "dist_info_dir",
    "file_sha256",
    "install_path",
    "parse_name",
    "read_plugin",
]

#: Files in a RECORD's directory that RECORD does not hash (it cannot hash itself).
_UNHASHED = frozenset({"RECORD", "RECORD.jws", "RECORD.p7s"})
_SITE_SCHEMES = frozenset({"purelib", "platlib"})
_STARTUP_MODULES = frozenset({"sitecustomize", "usercustomize"})


@dataclass(frozen=True, slots=True)
class WheelName:
    """The parts of a wheel's file name that bind it: project and version."""

    filename: str
    project: str
    version: Version

    @property
    def dist_info(self) -> str:
        """The ``.dist-info`` directory name this wheel must use, normalised."""
        return f"{self.project.replace('-', '_')}-{self.version}.dist-info"


def parse_name(filename: str) -> WheelName:
    """The project and version in a wheel file name (PEP 427).

    Raises:
        SignatureError: ``check="input"`` when the name is not a wheel's.

    Example:
        >>> parse_name("Hello_World-1.0-py3-none-any.whl").project
        'hello-world'
    """
    try:
        project, version, _, _ = parse_wheel_filename(filename)
    except (InvalidWheelFilename, InvalidVersion) as exc:
        raise SignatureError(
            f"{filename}: not a wheel file name ({exc})",
            check="input",
            hint="a wheel is named NAME-VERSION(-BUILD)?-PYTHON-ABI-PLATFORM.whl;"
            " build one with pluginctl build",
        ) from None
    return WheelName(filename, str(project), version)


def install_path(member: str) -> str | None:
    """Where ``member`` lands relative to site-packages, or None if it lands elsewhere.

    Example:
        >>> install_path("x-1.0.data/purelib/x/mod.py"), install_path("x-1.0.data/scripts/x")
        ('x/mod.py', None)
    """
    top, _, rest = member.partition("/")
    if not top.endswith(".data"):
        return member
    scheme, _, inner = rest.partition("/")
    return inner if scheme in _SITE_SCHEMES and inner else None


# ---------------------------------------------------------------- RECORD


def check_record(archive: Archive, name: WheelName) -> None:
    """RECORD lists exactly the archive's files, each hashed (sha256+) and sized right."""
    dist_info = dist_info_dir(archive, name)
    record_path = f"{dist_info}/RECORD"
    rows = _record_rows(archive, record_path)
    members = {m.path: m for m in archive.members}
    unhashed = {f"{dist_info}/{file}" for file in _UNHASHED}
    changes: list[tuple[str, str]] = []
    for path, (hash_field, size_field) in rows.items():
        member = members.get(path)
        if member is None:
            changes.append((path, "removed"))
        elif path not in unhashed and not _record_matches(
            archive, path, hash_field, size_field, member
        ):
            changes.append((path, "modified"))
    changes += [(path, "added") for path in members if path not in rows]
    if changes:
        raise SignatureError(
            f"{archive.path.name}: RECORD disagrees with the archive in {len(changes)} file(s):"
            f" {_list(changes)}",
            check="record",
            hint="the wheel was changed after it was built: rebuild it with pluginctl build",
            files=changes,
        )


def _record_rows(archive: Archive, record_path: str) -> dict[str, tuple[str, str]]:
    content = archive.kept.get(record_path)
    if content is None:
        raise _record_error(archive, f"no {record_path}")
    try:
        parsed = list(csv.reader(content.decode("utf-8").splitlines()))
    except UnicodeDecodeError:
        raise _record_error(archive, f"{record_path} is not UTF-8") from None
    except csv.Error as exc:
        raise _record_error(archive, f"{record_path} cannot be read as CSV: {exc}") from None
    rows: dict[str, tuple[str, str]] = {}
    for number, row in enumerate(parsed, start=1):
        if not row:
            continue
        if len(row) != 3:
            raise _record_error(archive, f"{record_path} line {number}: {len(row)} fields, not 3")
        path, hash_field, size_field = row
        if path in rows:
            raise _record_error(archive, f"{record_path} lists {path!r} twice")
        rows[path] = (hash_field, size_field)
    return rows


def _record_matches(
    archive: Archive, path: str, hash_field: str, size_field: str, member: Member
) -> bool:
    algorithm, _, encoded = hash_field.partition("=")
    if algorithm != "sha256":
        raise _record_error(
            archive,
            f"RECORD hashes {path!r} with {algorithm or 'nothing'!r}; a plugin wheel's RECORD"
            " uses sha256",
        )
    if not size_field.isdigit() or int(size_field) != member.size:
        return False
    try:
        listed = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    except (binascii.Error, ValueError):
        return False
    return listed == bytes.fromhex(member.sha256)


def _record_error(archive: Archive, message: str) -> SignatureError:
    return SignatureError(
        f"{archive.path.name}: {message}",
        check="record",
        hint="the wheel's RECORD is damaged: rebuild it with pluginctl build",
    )


# ---------------------------------------------------------------- policy


def check_policy(paths: Iterable[str], *, subject: str) -> None:
    """Refuse files that would install outside site-packages or run at interpreter start.

    ``paths`` are archive member names; ``subject`` names the wheel in messages.

    Example:
        >>> check_policy(["x/__init__.py", "evil.pth"], subject="x-1.0-py3-none-any.whl")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
          ...
        pluginctl.errors.SignatureError: x-1.0-py3-none-any.whl: 'evil.pth' is a .pth file, ...
    """
    for path in paths:
        problem = _policy_problem(path)
        if problem is not None:
            raise SignatureError(
                f"{subject}: {path!r} {problem}",
                check="policy",
                hint="a plugin wheel installs only its packages into site-packages: remove"
                " the file from the build and rebuild",
                files=[(path, "refused")],
            )


def _policy_problem(path: str) -> str | None:
    target = install_path(path)
    if target is None:
        return "installs outside site-packages (only .data/purelib and .data/platlib may)"
    top = target.split("/")[0]
    if "/" not in target and target.endswith(".pth"):
        return "is a .pth file, which runs code in every Python process of the environment"
    if top.removesuffix(".py") in _STARTUP_MODULES or top.split(".")[0] in _STARTUP_MODULES:
        return f"is {top.split('.')[0]}, which Python imports at every start"
    return None


# ---------------------------------------------------------------- metadata


def check_metadata(archive: Archive, name: WheelName) -> None:
    """One ``.dist-info``, named for the wheel; METADATA and WHEEL agree with the name."""
    dist_info = dist_info_dir(archive, name)
    headers = _headers(archive, f"{dist_info}/METADATA")
    meta_name, meta_version = headers.get("Name", ""), headers.get("Version", "")
    if canonicalize_name(meta_name) != name.project:
        raise _metadata_error(
            archive, f"METADATA names {meta_name!r}, the file name {name.project!r}"
        )
    if _version(meta_version) != name.version:
        raise _metadata_error(
            archive, f"METADATA says version {meta_version!r}, the file name {name.version}"
        )
    wheel_version = _headers(archive, f"{dist_info}/WHEEL").get("Wheel-Version", "")
    if wheel_version.split(".")[0] != "1":
        raise _metadata_error(
            archive, f"WHEEL says Wheel-Version {wheel_version!r}; only 1.x is read"
        )


def dist_info_dir(archive: Archive, name: WheelName) -> str:
    """The one `.dist-info` directory of the wheel, which must be named for it."""
    found = sorted({m.path.split("/")[0] for m in archive.members if ".dist-info/" in m.path})
    if len(found) != 1:
        listed = ", ".join(found) or "none"
        raise _metadata_error(archive, f"one .dist-info directory needed, found {listed}")
    directory = found[0]
    stem = directory.removesuffix(".dist-info")
    project, _, version = stem.rpartition("-")
    if canonicalize_name(project) != name.project or _version(version) != name.version:
        raise _metadata_error(
            archive, f"{directory} does not match the file name's {name.dist_info}"
        )
    return directory


def _headers(archive: Archive, path: str) -> dict[str, str]:
    content = archive.kept.get(path)
    if content is None:
        raise _metadata_error(archive, f"no {path}")
    try:
        content.decode("utf-8")
    except UnicodeDecodeError:
        raise _metadata_error(archive, f"{path} is not UTF-8") from None
    message = BytesHeaderParser().parsebytes(content)
    return {key: str(value) for key, value in message.items()}


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _metadata_error(archive: Archive, message: str) -> SignatureError:
    return SignatureError(
        f"{archive.path.name}: {message}",
        check="metadata",
        hint="rebuild the wheel with pluginctl build, which writes consistent metadata",
    )


# ---------------------------------------------------------------- plugin


@dataclass(frozen=True, slots=True)
class PluginEntry:
    """The plugin a wheel holds: its entry point and its manifest."""

    name: str
    entry_point: str
    manifest: Manifest


def read_plugin(archive: Archive, name: WheelName) -> PluginEntry:
    """The wheel's one ``pluginctl.plugins`` entry point and the ``plugin.toml`` beside it."""
    dist_info = dist_info_dir(archive, name)
    plugin_name, value = _entry_point(archive, f"{dist_info}/entry_points.txt")
    module = value.partition(":")[0].strip()
    installed = {install_path(m.path): m.path for m in archive.members}
    base = module.replace(".", "/")
    if f"{base}.py" not in installed and f"{base}/__init__.py" not in installed:
        raise _plugin_error(
            archive,
            f"the entry point {plugin_name} = {value!r} names module"
            f" {module!r}, which is not in the wheel",
        )
    manifest_path = installed.get(f"{module.split('.')[0]}/{MANIFEST_FILENAME}")
    content = archive.kept.get(manifest_path or "")
    if manifest_path is None or content is None:
        raise _plugin_error(archive, f"no {module.split('.')[0]}/{MANIFEST_FILENAME} in the wheel")
    manifest = _manifest(archive, manifest_path, content)
    if manifest.name != plugin_name:
        raise _plugin_error(
            archive, f"{manifest_path} names {manifest.name!r}, the entry point {plugin_name!r}"
        )
    if _version(manifest.version) != name.version:
        raise _plugin_error(
            archive, f"{manifest_path} says version {manifest.version!r}, the wheel {name.version}"
        )
    return PluginEntry(plugin_name, value.strip(), manifest)


def _entry_point(archive: Archive, path: str) -> tuple[str, str]:
    content = archive.kept.get(path)
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # entry point names keep their case
    try:
        parser.read_string(content.decode("utf-8") if content else "")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise _plugin_error(archive, f"{path} cannot be read: {exc}") from None
    if not parser.has_section(ENTRY_POINT_GROUP) or len(parser[ENTRY_POINT_GROUP]) != 1:
        count = len(parser[ENTRY_POINT_GROUP]) if parser.has_section(ENTRY_POINT_GROUP) else 0
        raise _plugin_error(
            archive,
            f"{count} entry points in the group {ENTRY_POINT_GROUP!r};"
            " a plugin wheel has exactly one",
        )
    ((plugin_name, value),) = parser[ENTRY_POINT_GROUP].items()
    if value.count(":") != 1:
        raise _plugin_error(
            archive, f"the entry point {plugin_name} = {value!r} is not 'module:attribute'"
        )
    return plugin_name, value


def _manifest(archive: Archive, path: str, content: bytes) -> Manifest:
    try:
        return Manifest.from_text(content.decode("utf-8"), source=f"{archive.path.name}!{path}")
    except UnicodeDecodeError:
        raise _plugin_error(archive, f"{path} is not UTF-8") from None
    except ManifestError as exc:
        raise SignatureError(str(exc), check="plugin", hint=exc.hint) from None


def _plugin_error(archive: Archive, message: str) -> SignatureError:
    return SignatureError(
        f"{archive.path.name}: {message}",
        check="plugin",
        hint="fix the project (pluginctl validate says how) and rebuild it with pluginctl build",
    )


# ---------------------------------------------------------------- host


def check_host(manifest: Manifest, host_version: str, *, subject: str) -> None:
    """The manifest's ``host`` range must admit ``host_version``."""
    if not manifest.host:
        return
    try:
        admits = SpecifierSet(manifest.host, prereleases=True).contains(host_version)
    except InvalidSpecifier:
        admits = False
    if not admits:
        raise SignatureError(
            f"{subject}: plugin {manifest.name!r} supports pluginctl {manifest.host}, this is"
            f" pluginctl {host_version}",
            check="host",
            hint=f"use a release of {manifest.name!r} that supports pluginctl {host_version}",
        )


def _list(changes: list[tuple[str, str]], *, most: int = 5) -> str:
    shown = ", ".join(f"{path} ({change})" for path, change in changes[:most])
    return shown + (f" and {len(changes) - most} more" if len(changes) > most else "")


def file_sha256(path: Path) -> str:
    """The sha256 (hex) of a file on disk, streamed."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()
