"""The checks every file passes before ``pluginctl publish`` sends anything anywhere.

`check_distribution` reads one wheel or sdist and fails closed, naming the file, the
rule and the fix:

- its metadata is valid (twine's reading, which validates with `packaging.metadata`),
  and names the project and version its file name does;
- a plugin wheel (one with a ``pluginctl.plugins`` entry point) verifies with
  `pluginctl.signing.verify_wheel` against the user's trust store: signed by a key
  trusted for the project, and unchanged since.

Whether the index already has the file is checked by the uploader, which knows the
index (`pluginctl.registry.upload`).
"""

from __future__ import annotations

import configparser
import hashlib
import tarfile
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from pluginctl.errors import PublishError
from pluginctl.project import ENTRY_POINT_GROUP

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from pluginctl.signing.trust import TrustStore

__all__ = ["Distribution", "check_distribution", "find_distributions"]

_WHEEL = ".whl"
_SDISTS = (".tar.gz", ".zip")
_SIDECARS = (".sig", ".asc")


@dataclass(frozen=True, slots=True)
class Distribution:
    """A wheel or sdist that passed the pre-flight, ready to be published.

    Attributes:
        path: The file.
        kind: ``"wheel"`` or ``"sdist"``.
        project: The project name, normalised (PEP 503).
        version: The version, normalised.
        sha256: The file's sha256 (hex).
        signature: The ``.sig`` envelope of a plugin wheel that verified; None for
            anything that is not a plugin wheel.
        signers: The names (or short key ids) of the trusted keys that signed it.
    """

    path: Path
    kind: str
    project: str
    version: str
    sha256: str
    signature: bytes | None = None
    signers: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        """The file's name, as the index lists it."""
        return self.path.name


def find_distributions(paths: Iterable[Path]) -> list[Path]:
    """The wheels and sdists to publish: the files given, and those in directories given.

    ``.sig`` and ``.asc`` files are skipped: signatures travel with their wheel.

    Raises:
        PublishError: a path is missing or not a distribution, or none was found.

    Example:
        >>> import tempfile
        >>> from pathlib import Path
        >>> dist = Path(tempfile.mkdtemp())
        >>> for name in ("a-1.0.tar.gz", "a-1.0-py3-none-any.whl", "a-1.0-py3-none-any.whl.sig"):
        ...     _ = (dist / name).write_bytes(b"")
        >>> [p.name for p in find_distributions([dist])]
        ['a-1.0-py3-none-any.whl', 'a-1.0.tar.gz']
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.is_file() and _kind(p.name))
        elif not path.exists():
            raise PublishError(
                f"{path}: no such file or directory",
                hint="build the plugin first: pluginctl build (it writes dist/)",
            )
        elif not path.name.endswith(_SIDECARS):
            _kind_or_fail(path)
            found.append(path)
    unique = list(dict.fromkeys(found))
    if not unique:
        shown = ", ".join(str(p) for p in paths) or "nothing"
        raise PublishError(
            f"no wheel or sdist to publish in {shown}",
            hint="build the plugin first: pluginctl build (it writes dist/)",
        )
    return unique


def check_distribution(path: Path, *, trust: TrustStore) -> Distribution:
    """Read ``path`` and check it may be published; see the module docstring.

    Raises:
        PublishError: the first rule it breaks, naming the file and the fix.
    """
    kind = _kind_or_fail(path)
    project, version, sha256 = _metadata(path)
    _check_name(path, kind, project, version)
    if kind == "wheel" and _is_plugin(path):
        signature, signers = _verified(path, trust)
        return Distribution(path, kind, project, version, sha256, signature, signers)
    return Distribution(path, kind, project, version, sha256)


def _kind(filename: str) -> str | None:
    if filename.endswith(_WHEEL):
        return "wheel"
    return "sdist" if filename.endswith(_SDISTS) else None


def _kind_or_fail(path: Path) -> str:
    kind = _kind(path.name)
    if kind is None:
        raise PublishError(
            f"{path}: not a wheel (.whl) or an sdist (.tar.gz, .zip)",
            hint="publish the files pluginctl build writes into dist/",
        )
    return kind


def _metadata(path: Path) -> tuple[str, str, str]:
    """Name, version and sha256, the metadata validated (packaging, or twine for a .zip sdist).

    Wheels and ``.tar.gz`` sdists are read without twine, which takes longer to import
    than the rest of a publish to a registry on this network.
    """
    if not path.name.endswith(".zip"):
        return _own_metadata(path)
    from twine.exceptions import TwineException
    from twine.package import PackageFile

    try:
        package = PackageFile.from_filename(str(path), None)
    except (TwineException, zipfile.BadZipFile, tarfile.TarError, OSError, EOFError) as exc:
        raise PublishError(
            f"{path.name}: invalid metadata: {exc}",
            hint="fix the project's metadata (pyproject.toml) and rebuild: pluginctl build",
        ) from None
    name, version = str(package.metadata["name"]), str(package.metadata["version"])
    assert package.sha2_digest is not None  # sha256 is never disabled, unlike blake2 in FIPS
    return canonicalize_name(name), str(Version(version)), package.sha2_digest


def _own_metadata(path: Path) -> tuple[str, str, str]:
    from pluginctl.errors import RegistryError
    from pluginctl.registry.distfile import core_metadata, parse_metadata

    try:
        parsed = parse_metadata(core_metadata(path), path.name)
    except RegistryError as exc:
        raise PublishError(
            exc.message.replace(f"{path.name}: ", f"{path.name}: invalid metadata: ", 1)
            if "invalid metadata" not in exc.message
            else exc.message,
            hint="fix the project's metadata (pyproject.toml) and rebuild: pluginctl build",
        ) from None
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return canonicalize_name(parsed.name), str(parsed.version), digest.hexdigest()


def _check_name(path: Path, kind: str, project: str, version: str) -> None:
    try:
        if kind == "wheel":
            named, named_version, _, _ = parse_wheel_filename(path.name)
        else:
            named, named_version = parse_sdist_filename(path.name)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion) as exc:
        raise PublishError(
            f"{path.name}: not a distribution file name ({exc})",
            hint="publish the files pluginctl build writes, under the names it gives them",
        ) from None
    if named != project or str(named_version) != version:
        raise PublishError(
            f"{path.name}: the file name says {named} {named_version}, its metadata"
            f" {project} {version}",
            hint="a renamed file is refused: rebuild it with pluginctl build",
        )


def _is_plugin(path: Path) -> bool:
    """Whether the wheel declares a ``pluginctl.plugins`` entry point."""
    with zipfile.ZipFile(path) as archive:
        names = [
            n
            for n in archive.namelist()
            if n.count("/") == 1 and n.endswith(".dist-info/entry_points.txt")
        ]
        texts = [archive.read(n).decode("utf-8", "replace") for n in names]
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, strict=False)
    for text in texts:
        try:
            parser.read_string(text)
        except configparser.Error:
            return True  # unreadable entry points: let verification name what is wrong
    return parser.has_section(ENTRY_POINT_GROUP)


def _verified(path: Path, trust: TrustStore) -> tuple[bytes, tuple[str, ...]]:
    from pluginctl.signing.sign import signature_path
    from pluginctl.signing.verify import verify_wheel

    report = verify_wheel(path, trust=trust)
    error = report.error
    if error is not None:
        raise PublishError(
            f"{path.name}: a plugin wheel must verify before it is published; the"
            f" {error.check} check failed: {error.message}",
            hint=error.hint or f"see: pluginctl verify {path}",
        )
    signers = tuple(s.name or s.key_id[:16] for s in report.signers if s.trusted)
    return signature_path(path).read_bytes(), signers
