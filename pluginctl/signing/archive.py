r"""Reading a wheel's zip archive without trusting it.

`read_archive` checks the archive's structure before it reads a single member, then
streams every member once, hashing it. It refuses, naming the member and the rule:

- bytes before the first member or after the end record, gaps or overlaps between
  members (hidden data, overlapping-entry zip bombs);
- names that could escape the install directory: absolute (``/x``, ``C:\\x``),
  ``..`` or ``.`` segments, backslashes, NUL or control characters, undeclared
  non-UTF-8 names;
- two members whose names are equal, or equal after case folding or Unicode
  normalisation (they would overwrite each other on some file systems);
- symbolic links, devices, FIFOs and sockets; encrypted members; compression other
  than stored or deflate; a bad CRC;
- more members, bytes, or a higher compression ratio than `ArchiveLimits` allows.
  Sizes are checked from the central directory first, and decompression never
  yields more than the declared size, so a zip bomb is never inflated.

Example:
    >>> import tempfile, zipfile
    >>> from pathlib import Path
    >>> path = Path(tempfile.mkdtemp()) / "demo-1.0-py3-none-any.whl"
    >>> with zipfile.ZipFile(path, "w") as zf:
    ...     zf.writestr("demo/__init__.py", "")
    ...     zf.writestr("../evil.py", "")
    >>> read_archive(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
      ...
    pluginctl.errors.SignatureError: demo-1.0-py3-none-any.whl: member '../evil.py': a '..' ...
"""

from __future__ import annotations

import hashlib
import stat
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, BinaryIO

from pluginctl.signing._zip_framing import (
    EOCD_SIZE,
    Central,
    check_layout,
    end_of_central_directory,
    refuse,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["Archive", "ArchiveLimits", "Member", "name_problem", "read_archive"]

_CHUNK = 1 << 20
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_UNIX = 3
_COMPRESSIONS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
#: What zipfile raises for a member it cannot read: a bad CRC or deflate stream, flags
#: it does not implement (patched data, strong encryption), a truncated member.
_READ_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, NotImplementedError)


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """How big a wheel may be; past any limit it is refused before it is inflated.

    Attributes:
        max_file_bytes: The wheel file itself.
        max_members: Entries in the archive, directories included.
        max_total_bytes: All members' uncompressed sizes together.
        max_member_bytes: One member's uncompressed size.
        max_ratio: Uncompressed over compressed size, for members past 1 MiB.
        max_name_bytes: One member's name, encoded.
        max_kept_bytes: The members kept in memory for later checks (metadata,
            RECORD, plugin.toml), all together.
    """

    max_file_bytes: int = 512 * 1024 * 1024
    max_members: int = 20_000
    max_total_bytes: int = 1024 * 1024 * 1024
    max_member_bytes: int = 512 * 1024 * 1024
    max_ratio: int = 200
    max_name_bytes: int = 1024
    max_kept_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Member:
    """One file in the archive: its name, its content's sha256 (hex) and its size."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Archive:
    """A wheel whose structure passed every check, with each file hashed.

    Attributes:
        path: The wheel file.
        sha256: The whole file's sha256, hex.
        size: The whole file's size in bytes.
        members: Every file member (directories left out), in archive order.
        kept: The contents of the members later checks read: everything in the
            top-level ``.dist-info`` directory and every ``plugin.toml``.
    """

    path: Path
    sha256: str
    size: int
    members: tuple[Member, ...]
    kept: dict[str, bytes]

    def member(self, path: str) -> Member | None:
        """The member called ``path``, or None."""
        return next((m for m in self.members if m.path == path), None)


def read_archive(path: Path, *, limits: ArchiveLimits | None = None) -> Archive:
    """Check ``path``'s zip structure, then hash every member as it streams.

    Raises:
        SignatureError: with ``check="archive"``, naming the member and the rule.
    """
    limits = limits or ArchiveLimits()
    with path.open("rb") as file:
        size = _file_size(path, file, limits)
        central = end_of_central_directory(path, file, size)
        try:
            archive = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError) as exc:
            raise refuse(path, f"not a readable zip archive ({exc})") from None
        with archive:
            infos = archive.infolist()
            _check_entries(path, infos, central, limits)
            check_layout(path, file, infos, central)
            members, kept = _hash_members(path, archive, infos, limits)
        return Archive(path, _sha256(file), size, tuple(members), kept)


# ---------------------------------------------------------------- entries


def _file_size(path: Path, file: BinaryIO, limits: ArchiveLimits) -> int:
    size = file.seek(0, 2)
    if size > limits.max_file_bytes:
        raise refuse(path, f"{size} bytes, past the limit of {limits.max_file_bytes}")
    if size < EOCD_SIZE:
        raise refuse(path, f"{size} bytes: too short to be a zip archive")
    return size


def _check_entries(
    path: Path, infos: list[zipfile.ZipInfo], central: Central, limits: ArchiveLimits
) -> None:
    if len(infos) != central.entries:
        raise refuse(
            path, f"the end record says {central.entries} members, the directory has {len(infos)}"
        )
    if len(infos) > limits.max_members:
        raise refuse(path, f"{len(infos)} members, past the limit of {limits.max_members}")
    total = 0
    seen: dict[str, str] = {}
    for info in infos:
        _check_name(path, info, limits)
        _check_kind(path, info)
        _check_size(path, info, limits)
        _check_collision(path, info.filename, seen)
        total += info.file_size
        if total > limits.max_total_bytes:
            raise refuse(
                path,
                f"members total more than {limits.max_total_bytes} bytes uncompressed, past"
                f" the limit of {limits.max_total_bytes} (a zip bomb?)",
            )


def _check_name(path: Path, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    name = info.orig_filename  # zipfile cuts filename at a NUL; other tools may not
    if not name.isascii() and not info.flag_bits & _UTF8_FLAG:
        raise refuse(path, f"member {name!r}: a non-ASCII name not marked as UTF-8")
    problem = name_problem(name)
    if problem is None and len(name.encode()) > limits.max_name_bytes:
        problem = f"a name longer than {limits.max_name_bytes} bytes"
    if problem is not None:
        raise refuse(path, f"member {name!r}: {problem}")


def name_problem(name: str) -> str | None:
    r"""Why ``name`` is not a safe relative path inside an archive, or None.

    Example:
        >>> name_problem("pkg/mod.py") is None
        True
        >>> name_problem("C:\\evil.py")
        'a backslash is not a path separator in a wheel'
    """
    parts = name.removesuffix("/").split("/")
    rules = (
        (not name, "an empty name"),
        (any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name), "a NUL or control character"),
        ("\\" in name, "a backslash is not a path separator in a wheel"),
        (
            name.startswith("/") or name[1:2] == ":",
            "an absolute path would write outside the install directory",
        ),
        (".." in parts, "a '..' segment would write outside the install directory"),
        ("." in parts or "" in parts, "an empty or '.' segment in the name"),
    )
    return next((message for broken, message in rules if broken), None)


def _check_kind(path: Path, info: zipfile.ZipInfo) -> None:
    name = info.filename
    if info.flag_bits & _ENCRYPTED_FLAG:
        raise refuse(path, f"member {name!r} is encrypted")
    if info.compress_type not in _COMPRESSIONS:
        raise refuse(
            path,
            f"member {name!r}: compression method {info.compress_type};"
            " a wheel may use only stored (0) or deflate (8)",
        )
    mode = info.external_attr >> 16
    if info.create_system == _UNIX and mode:
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise refuse(path, f"member {name!r} is a symbolic link")
        if kind not in (stat.S_IFREG, stat.S_IFDIR, 0):
            raise refuse(path, f"member {name!r} is a device, FIFO or socket, not a file")
    if name.endswith("/") and info.file_size:
        raise refuse(path, f"directory member {name!r} holds {info.file_size} bytes")


def _check_size(path: Path, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    name, size = info.filename, info.file_size
    if size > limits.max_member_bytes:
        raise refuse(
            path,
            f"member {name!r}: {size} bytes uncompressed, past the limit of"
            f" {limits.max_member_bytes}",
        )
    if size > _CHUNK and size > limits.max_ratio * max(info.compress_size, 1):
        ratio = size // max(info.compress_size, 1)
        raise refuse(
            path,
            f"member {name!r} inflates {ratio}:1, past the limit of"
            f" {limits.max_ratio}:1 (a zip bomb?)",
        )


def _check_collision(path: Path, name: str, seen: dict[str, str]) -> None:
    key = unicodedata.normalize("NFC", name).casefold()
    other = seen.get(key)
    if other is not None:
        how = (
            "twice"
            if other == name
            else f"as {other!r} and {name!r}, equal after case folding or Unicode normalisation"
        )
        raise refuse(path, f"member {name!r} is in the archive {how}")
    seen[key] = name


# ---------------------------------------------------------------- contents


def _hash_members(
    path: Path, archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], limits: ArchiveLimits
) -> tuple[list[Member], dict[str, bytes]]:
    members: list[Member] = []
    kept: dict[str, bytes] = {}
    kept_bytes = 0
    for info in infos:
        if info.is_dir():
            continue
        keep = _kept(info.filename) and info.file_size <= limits.max_kept_bytes
        if keep and kept_bytes + info.file_size > limits.max_kept_bytes:
            raise refuse(
                path,
                f"its metadata files total more than {limits.max_kept_bytes} bytes, past the limit",
            )
        digest, size, content = _hash_member(path, archive, info, keep=keep)
        members.append(Member(info.filename, digest, size))
        if content is not None:
            kept[info.filename] = content
            kept_bytes += size
    return members, kept


def _kept(name: str) -> bool:
    """A member later checks read: the ``.dist-info`` files and a package's ``plugin.toml``."""
    parts = name.split("/")
    if len(parts) == 2 and parts[0].endswith(".dist-info"):
        return True
    if parts[0].endswith(".data") and len(parts) == 4 and parts[1] in {"purelib", "platlib"}:
        parts = parts[2:]
    return len(parts) == 2 and parts[1] == "plugin.toml"


def _hash_member(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, keep: bool
) -> tuple[str, int, bytes | None]:
    digest = hashlib.sha256()
    size = 0
    chunks: list[bytes] = []
    try:
        with archive.open(info) as stream:
            for chunk in _chunks(stream):
                digest.update(chunk)
                size += len(chunk)
                if keep:
                    chunks.append(chunk)
    except _READ_ERRORS as exc:
        raise refuse(path, f"member {info.filename!r} cannot be read: {exc}") from None
    if size != info.file_size:
        raise refuse(
            path, f"member {info.filename!r}: {size} bytes, the directory says {info.file_size}"
        )
    return digest.hexdigest(), size, b"".join(chunks) if keep else None


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def _sha256(file: BinaryIO) -> str:
    file.seek(0)
    digest = hashlib.sha256()
    for chunk in _chunks(file):
        digest.update(chunk)
    return digest.hexdigest()
