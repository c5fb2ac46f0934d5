"""What a registry accepts: a wheel or an sdist, checked before it is stored.

`inspect_dist` reads a file already on disk (the upload's staging copy) and returns
what the index records about it, or raises `pluginctl.errors.RegistryError` naming
the file, the rule and the fix:

- the file name is a wheel's (PEP 427) or an sdist's (``NAME-VERSION.tar.gz``, PEP 625);
- a wheel passes the archive checks of `pluginctl.signing.archive` (zip-slip names,
  links, bombs, hidden bytes...), RECORD is complete and right, and METADATA agrees
  with the file name;
- a *plugin* wheel (one with a ``pluginctl.plugins`` entry point) also passes the
  wheel policy and carries a signature that `pluginctl.signing.verify_wheel`
  accepts with the registry's trust store: the registry never serves an unsigned
  or tampered plugin;
- an sdist is a gzip'd tar whose members are plain files and directories with safe
  names, within size limits, with a PKG-INFO that agrees with the file name;
- the core metadata is valid (`packaging.metadata`), UTF-8, and at most
  ``MAX_METADATA_BYTES``.
"""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from packaging.metadata import ExceptionGroup, InvalidMetadata, Metadata
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion

from pluginctl.errors import RegistryError, SignatureError
from pluginctl.project import ENTRY_POINT_GROUP
from pluginctl.signing.archive import name_problem

if TYPE_CHECKING:
    from pathlib import Path

    from pluginctl.manifest import Manifest
    from pluginctl.signing.trust import TrustStore

__all__ = [
    "MAX_METADATA_BYTES",
    "DistFile",
    "PluginFacts",
    "core_metadata",
    "file_identity",
    "inspect_dist",
    "parse_metadata",
]

#: Core metadata past this size is refused: a description that big breaks pages.
MAX_METADATA_BYTES = 1024 * 1024
_MAX_SDIST_MEMBERS = 20_000
_MAX_SDIST_BYTES = 512 * 1024 * 1024
Kind = Literal["wheel", "sdist"]


@dataclass(frozen=True, slots=True)
class PluginFacts:
    """What the marketplace shows of a plugin: from its signed manifest."""

    category: str
    tags: tuple[str, ...]
    host: str
    permissions: tuple[str, ...]
    description: str
    signers: tuple[str, ...]

    @classmethod
    def of(cls, manifest: Manifest, signers: tuple[str, ...]) -> PluginFacts:
        """The facts in ``manifest``, signed by the key ids ``signers``."""
        return cls(
            category=manifest.category,
            tags=tuple(manifest.tags),
            host=manifest.host,
            permissions=tuple(manifest.permissions),
            description=manifest.description,
            signers=signers,
        )


@dataclass(frozen=True, slots=True)
class DistFile:
    """A checked distribution file, as the index records it.

    Attributes:
        filename: The file's name, as uploaded.
        project: The PEP 503 normalised project name.
        name: The project name as its metadata spells it.
        version: The version, normalised.
        kind: ``wheel`` or ``sdist``.
        sha256: The file's sha256, hex: recorded once, never recomputed to serve.
        size: The file's size in bytes.
        metadata: The core metadata (served as the PEP 658 ``.metadata`` file).
        summary: The one-line summary.
        requires_python: ``Requires-Python``, or "".
        plugin: For a plugin wheel, its manifest's facts; else None.
    """

    filename: str
    project: str
    name: str
    version: str
    kind: Kind
    sha256: str
    size: int
    metadata: bytes = field(repr=False)
    summary: str = ""
    requires_python: str = ""
    plugin: PluginFacts | None = None


def inspect_dist(path: Path, *, trust: TrustStore) -> DistFile:
    """Check the distribution at ``path``, whose name is the one it is published under.

    A plugin wheel's signature is ``<path>.sig``, beside it.

    Raises:
        RegistryError: naming what is wrong with the file.
    """
    filename = path.name
    kind, project, version = _parse_filename(filename)
    digest, size = _hash(path)
    if kind == "wheel":
        metadata, plugin = _inspect_wheel(path, trust)
    else:
        metadata, plugin = _inspect_sdist(path), None
    parsed = _metadata(metadata, filename)
    if canonicalize_name(parsed.name) != project or str(parsed.version) != version:
        raise RegistryError(
            f"{filename}: its metadata says {parsed.name} {parsed.version}, its file name"
            f" {project} {version}",
            hint="rebuild it: pluginctl build writes consistent names",
        )
    return DistFile(
        filename=filename,
        project=project,
        name=parsed.name,
        version=version,
        kind=kind,
        sha256=digest,
        size=size,
        metadata=metadata,
        summary=(parsed.summary or "")[:512],
        requires_python=str(parsed.requires_python or ""),
        plugin=plugin,
    )


def file_identity(filename: str) -> str:
    """What a distribution file *is*, whatever the spelling of its name.

    Installers read ``Foo_Bar-1.0.0-py3-none-any.whl`` and ``foo.bar-1-py3-none-any.whl``
    as one file: the same project (PEP 503), version (PEP 440), build tag and tags.
    A registry that told them apart would let a second, different file stand for a
    published one.

    Example:
        >>> file_identity("Foo_Bar-1.0.0-py3-none-any.whl")
        'foo-bar-1--py3-none-any.whl'
        >>> file_identity("FOO_BAR-01.0-py3-none-any.whl")
        'foo-bar-1--py3-none-any.whl'

    Raises:
        RegistryError: not a wheel's or an sdist's name.
    """
    kind, project, version = _parse_filename(filename)
    if kind == "sdist":
        return f"{project}-{canonicalize_version(version)}.tar.gz"
    _, _, build, tags = parse_wheel_filename(filename)
    platforms = ".".join(sorted(str(tag) for tag in tags))
    number = "".join(str(part) for part in build)
    return f"{project}-{canonicalize_version(version)}-{number}-{platforms}.whl"


def _parse_filename(filename: str) -> tuple[Kind, str, str]:
    problem = name_problem(filename)
    if problem is not None or "/" in filename:
        raise RegistryError(
            f"{filename!r} is not a file name: {problem or 'it holds a slash'}",
            hint="upload the file under its own name, e.g. NAME-VERSION-py3-none-any.whl",
        )
    try:
        if filename.endswith(".whl"):
            project, version, _, _ = parse_wheel_filename(filename)
            return "wheel", str(project), str(version)
        if filename.endswith(".tar.gz"):
            project, version = parse_sdist_filename(filename)
            return "sdist", str(project), str(version)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise RegistryError(
            f"{filename}: not a valid distribution file name ({exc})",
            hint="build it with pluginctl build, which names files as PEP 427 and 625 say",
        ) from None
    raise RegistryError(
        f"{filename}: a registry takes wheels (.whl) and sdists (.tar.gz) only",
        hint="build them with pluginctl build",
    )


def _hash(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


# ---------------------------------------------------------------- wheels


def _inspect_wheel(path: Path, trust: TrustStore) -> tuple[bytes, PluginFacts | None]:
    """Archive, RECORD and metadata for every wheel; the whole verification for a plugin's."""
    from pluginctl.signing.archive import read_archive
    from pluginctl.signing.wheel import check_metadata, check_record, dist_info_dir, parse_name

    try:
        name = parse_name(path.name)
        archive = read_archive(path)
        check_record(archive, name)
        check_metadata(archive, name)
        dist_info = dist_info_dir(archive, name)
    except SignatureError as exc:
        raise RegistryError(exc.message, hint=exc.hint) from None
    metadata = archive.kept.get(f"{dist_info}/METADATA", b"")
    entry_points = archive.kept.get(f"{dist_info}/entry_points.txt", b"")
    if b"[" + ENTRY_POINT_GROUP.encode() + b"]" not in entry_points:
        return metadata, None
    return metadata, _verified_plugin(path, trust)


def _verified_plugin(path: Path, trust: TrustStore) -> PluginFacts:
    from pluginctl.signing.archive import read_archive
    from pluginctl.signing.verify import verify_wheel
    from pluginctl.signing.wheel import parse_name, read_plugin

    report = verify_wheel(path, trust=trust, host_version=None)  # any host's plugins
    if report.error is not None:
        error = report.error
        unsigned = error.check == "envelope" and "unsigned" in error.message
        raise RegistryError(
            f"{path.name}: a plugin wheel must verify to be published: {error.message}",
            hint="sign it first: pluginctl sign " + path.name if unsigned else error.hint,
        )
    manifest = read_plugin(read_archive(path), parse_name(path.name)).manifest
    signers = tuple(s.key_id for s in report.signers if s.trusted)
    return PluginFacts.of(manifest, signers)


# ---------------------------------------------------------------- sdists


def _inspect_sdist(path: Path) -> bytes:
    """A gzip'd tar of plain files and directories with safe names; its PKG-INFO."""
    top = path.name.removesuffix(".tar.gz")
    try:
        with tarfile.open(path, "r:gz") as archive:
            return _sdist_pkg_info(archive, path.name, top)
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise RegistryError(
            f"{path.name}: not a readable .tar.gz ({exc})",
            hint="build it with pluginctl build",
        ) from None


def _sdist_pkg_info(archive: tarfile.TarFile, filename: str, top: str) -> bytes:
    pkg_info: bytes | None = None
    total = 0
    for count, member in enumerate(archive, start=1):
        _check_sdist_member(member, filename, count)
        total += member.size
        if total > _MAX_SDIST_BYTES:
            raise RegistryError(f"{filename}: more than {_MAX_SDIST_BYTES} bytes unpacked")
        if member.name == f"{top}/PKG-INFO" and member.size <= MAX_METADATA_BYTES:
            extracted = archive.extractfile(member)
            pkg_info = extracted.read() if extracted is not None else None
    if pkg_info is None:
        raise RegistryError(
            f"{filename}: no {top}/PKG-INFO (an sdist's metadata)",
            hint="build it with pluginctl build",
        )
    return pkg_info


def _check_sdist_member(member: tarfile.TarInfo, filename: str, count: int) -> None:
    if count > _MAX_SDIST_MEMBERS:
        raise RegistryError(f"{filename}: more than {_MAX_SDIST_MEMBERS} members")
    problem = name_problem(member.name + ("/" if member.isdir() else ""))
    if problem is None and not (member.isfile() or member.isdir()):
        problem = "not a plain file or directory (a link or a device)"
    if problem is not None:
        raise RegistryError(
            f"{filename}: member {member.name!r}: {problem}",
            hint="the sdist is damaged or was tampered with: rebuild it with pluginctl build",
        )


# ---------------------------------------------------------------- metadata


def core_metadata(path: Path) -> bytes:
    """A wheel's METADATA or an sdist's PKG-INFO, read without unpacking anything else.

    Raises:
        RegistryError: the file is not a readable wheel or sdist, or has no metadata.
    """
    if path.name.endswith(".tar.gz"):
        return _inspect_sdist(path)
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            names = [
                n
                for n in archive.namelist()
                if n.count("/") == 1 and n.endswith(".dist-info/METADATA")
            ]
            if len(names) != 1:
                raise RegistryError(f"{path.name}: {len(names)} .dist-info/METADATA files, not 1")
            info = archive.getinfo(names[0])
            if info.file_size > MAX_METADATA_BYTES:
                raise RegistryError(f"{path.name}: its metadata is past {MAX_METADATA_BYTES} bytes")
            return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise RegistryError(
            f"{path.name}: not a readable wheel ({exc})", hint="rebuild it with pluginctl build"
        ) from None


def parse_metadata(content: bytes, filename: str) -> Metadata:
    """Core metadata, validated (`packaging.metadata`); errors name ``filename``."""
    return _metadata(content, filename)


def _metadata(content: bytes, filename: str) -> Metadata:
    hint = "fix the project's metadata in pyproject.toml and rebuild"
    if len(content) > MAX_METADATA_BYTES:
        raise RegistryError(
            f"{filename}: its metadata is {len(content)} bytes, past the limit of"
            f" {MAX_METADATA_BYTES}",
            hint="shorten the description (readme) and rebuild",
        )
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        raise RegistryError(f"{filename}: its metadata is not UTF-8", hint=hint) from None
    try:
        return Metadata.from_email(text, validate=True)
    except ExceptionGroup as group:
        reasons = "; ".join(str(exc) for exc in group.exceptions)
        raise RegistryError(f"{filename}: invalid metadata: {reasons}", hint=hint) from None
    except (InvalidMetadata, ValueError) as exc:
        raise RegistryError(f"{filename}: invalid metadata: {exc}", hint=hint) from None
