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
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, BinaryIO

from pluginctl.errors import SignatureError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["Archive", "ArchiveLimits", "Member", "name_problem", "read_archive"]

_CHUNK = 1 << 20
_EOCD = struct.Struct("<4s4H2LH")
_EOCD_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_EOCD_SIGNATURE = b"PK\x06\x06"
_LOCAL_HEADER = struct.Struct("<4s5H3L2H")
_LOCAL_SIGNATURE = b"PK\x03\x04"
_DESCRIPTOR_SIGNATURE = b"PK\x07\x08"
_ZIP64_MARK = 0xFFFFFFFF
_ZIP64_EXTRA = 0x0001
_UTF8_FLAG = 0x800
_DESCRIPTOR_FLAG = 0x8
_ENCRYPTED_FLAG = 0x1
_UNIX = 3
_COMPRESSIONS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
#: What zipfile raises for a member it cannot read: a bad CRC or deflate stream, flags
#: it does not implement (patched data, strong encryption), a truncated member.
_READ_ERRORS = (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error, NotImplementedError)
_HINT = "the wheel is damaged or was tampered with: rebuild it with pluginctl build"


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
        central = _end_of_central_directory(path, file, size)
        try:
            archive = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, ValueError, OSError, NotImplementedError) as exc:
            raise _refuse(path, f"not a readable zip archive ({exc})") from None
        with archive:
            infos = archive.infolist()
            _check_entries(path, infos, central, limits)
            _check_layout(path, file, infos, central)
            members, kept = _hash_members(path, archive, infos, limits)
        return Archive(path, _sha256(file), size, tuple(members), kept)


# ---------------------------------------------------------------- structure


@dataclass(frozen=True, slots=True)
class _Central:
    """Where the central directory is, from the end record."""

    entries: int
    offset: int
    size: int


def _file_size(path: Path, file: BinaryIO, limits: ArchiveLimits) -> int:
    size = file.seek(0, 2)
    if size > limits.max_file_bytes:
        raise _refuse(path, f"{size} bytes, past the limit of {limits.max_file_bytes}")
    if size < _EOCD.size:
        raise _refuse(path, f"{size} bytes: too short to be a zip archive")
    return size


def _end_of_central_directory(path: Path, file: BinaryIO, size: int) -> _Central:
    """The end record must be the file's last bytes: nothing may follow it.

    Nor may another end record's signature follow its start (in its comment): zipfile
    reads the last one it finds, so two readers would see two archives.
    """
    tail_size = min(size, _EOCD.size + 0xFFFF)
    file.seek(size - tail_size)
    tail = file.read(tail_size)
    at = tail.rfind(_EOCD_SIGNATURE)
    while at >= 0:
        fields = _EOCD.unpack_from(tail, at) if at + _EOCD.size <= len(tail) else None
        if fields is not None and at + _EOCD.size + fields[7] == len(tail):
            if tail.find(_EOCD_SIGNATURE, at + 1) >= 0:
                raise _refuse(
                    path,
                    "a second zip end record signature in the archive comment"
                    " (zip readers would disagree on where the archive is)",
                )
            return _central_from(path, file, size - tail_size + at, fields)
        at = tail.rfind(_EOCD_SIGNATURE, 0, at)
    raise _refuse(path, "no zip end record at the end of the file (bytes appended, or truncated)")


def _central_from(
    path: Path,
    file: BinaryIO,
    eocd_at: int,
    fields: tuple[bytes, int, int, int, int, int, int, int],
) -> _Central:
    _, disk, cd_disk, disk_entries, entries, cd_size, cd_offset, _ = fields
    if disk or cd_disk or disk_entries != entries:
        raise _refuse(path, "a multi-disk zip archive")
    end = eocd_at
    if eocd_at >= _ZIP64_LOCATOR.size:
        file.seek(eocd_at - _ZIP64_LOCATOR.size)
        locator = _ZIP64_LOCATOR.unpack(file.read(_ZIP64_LOCATOR.size))
        if locator[0] == _ZIP64_LOCATOR_SIGNATURE:
            entries, cd_size, cd_offset = _zip64_end(path, file, locator, eocd_at)
            end = locator[2]
    hidden = end - (cd_offset + cd_size)
    if hidden > 0:
        raise _refuse(path, f"{hidden} unlisted bytes before the members (data prepended?)")
    if hidden < 0:
        raise _refuse(path, "the central directory overlaps the end record")
    return _Central(entries, cd_offset, cd_size)


def _zip64_end(
    path: Path, file: BinaryIO, locator: tuple[bytes, int, int, int], eocd_at: int
) -> tuple[int, int, int]:
    """Entries, size and offset of the central directory from the zip64 end record.

    The record must sit right before its locator, with no extensible data: that is
    where zipfile reads it, whatever the locator says.
    """
    _, disk, record_at, disks = locator
    if disk or disks > 1:
        raise _refuse(path, "a multi-disk zip archive")
    expected = eocd_at - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size
    if record_at != expected:
        raise _refuse(
            path,
            f"the zip64 end record locator points at byte {record_at}, not at the record"
            f" right before it (byte {expected})",
        )
    file.seek(record_at)
    record = _ZIP64_EOCD.unpack(file.read(_ZIP64_EOCD.size))
    signature, record_size, _, _, disk, cd_disk, disk_entries, entries, cd_size, cd_offset = record
    if signature != _ZIP64_EOCD_SIGNATURE or record_size != _ZIP64_EOCD.size - 12:
        raise _refuse(path, "no well-formed zip64 end record before its locator")
    if disk or cd_disk or disk_entries != entries:
        raise _refuse(path, "a multi-disk zip archive")
    return int(entries), int(cd_size), int(cd_offset)


def _check_entries(
    path: Path, infos: list[zipfile.ZipInfo], central: _Central, limits: ArchiveLimits
) -> None:
    if len(infos) != central.entries:
        raise _refuse(
            path, f"the end record says {central.entries} members, the directory has {len(infos)}"
        )
    if len(infos) > limits.max_members:
        raise _refuse(path, f"{len(infos)} members, past the limit of {limits.max_members}")
    total = 0
    seen: dict[str, str] = {}
    for info in infos:
        _check_name(path, info, limits)
        _check_kind(path, info)
        _check_size(path, info, limits)
        _check_collision(path, info.filename, seen)
        total += info.file_size
        if total > limits.max_total_bytes:
            raise _refuse(
                path,
                f"members total more than {limits.max_total_bytes} bytes uncompressed, past"
                f" the limit of {limits.max_total_bytes} (a zip bomb?)",
            )


def _check_name(path: Path, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    name = info.orig_filename  # zipfile cuts filename at a NUL; other tools may not
    if not name.isascii() and not info.flag_bits & _UTF8_FLAG:
        raise _refuse(path, f"member {name!r}: a non-ASCII name not marked as UTF-8")
    problem = name_problem(name)
    if problem is None and len(name.encode()) > limits.max_name_bytes:
        problem = f"a name longer than {limits.max_name_bytes} bytes"
    if problem is not None:
        raise _refuse(path, f"member {name!r}: {problem}")


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
        raise _refuse(path, f"member {name!r} is encrypted")
    if info.compress_type not in _COMPRESSIONS:
        raise _refuse(
            path,
            f"member {name!r}: compression method {info.compress_type};"
            " a wheel may use only stored (0) or deflate (8)",
        )
    mode = info.external_attr >> 16
    if info.create_system == _UNIX and mode:
        kind = stat.S_IFMT(mode)
        if kind == stat.S_IFLNK:
            raise _refuse(path, f"member {name!r} is a symbolic link")
        if kind not in (stat.S_IFREG, stat.S_IFDIR, 0):
            raise _refuse(path, f"member {name!r} is a device, FIFO or socket, not a file")
    if name.endswith("/") and info.file_size:
        raise _refuse(path, f"directory member {name!r} holds {info.file_size} bytes")


def _check_size(path: Path, info: zipfile.ZipInfo, limits: ArchiveLimits) -> None:
    name, size = info.filename, info.file_size
    if size > limits.max_member_bytes:
        raise _refuse(
            path,
            f"member {name!r}: {size} bytes uncompressed, past the limit of"
            f" {limits.max_member_bytes}",
        )
    if size > _CHUNK and size > limits.max_ratio * max(info.compress_size, 1):
        ratio = size // max(info.compress_size, 1)
        raise _refuse(
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
        raise _refuse(path, f"member {name!r} is in the archive {how}")
    seen[key] = name


def _check_layout(
    path: Path, file: BinaryIO, infos: list[zipfile.ZipInfo], central: _Central
) -> None:
    """Members must follow each other from byte 0 to the central directory, no gaps."""
    expected = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset != expected:
            where = (
                "before the first member" if expected == 0 else f"after {_previous(infos, info)!r}"
            )
            raise _refuse(path, f"unlisted bytes or overlapping members {where}")
        expected = _member_end(path, file, info)
    if expected != central.offset:
        raise _refuse(path, "unlisted bytes between the last member and the central directory")


def _previous(infos: list[zipfile.ZipInfo], info: zipfile.ZipInfo) -> str:
    before = [i for i in infos if i.header_offset < info.header_offset]
    return max(before, key=lambda i: i.header_offset).filename if before else ""


def _member_end(path: Path, file: BinaryIO, info: zipfile.ZipInfo) -> int:
    """Where ``info``'s data (and data descriptor) ends; its local header must agree.

    Readers differ in which header they trust: zipfile (and so pip) reads sizes from
    the central directory, a streaming reader from the local header or the data
    descriptor. Both must say the same, or two installers could unpack two wheels.
    """
    file.seek(info.header_offset)
    header = file.read(_LOCAL_HEADER.size)
    if len(header) < _LOCAL_HEADER.size or header[:4] != _LOCAL_SIGNATURE:
        raise _refuse(path, f"member {info.filename!r}: no local header where the directory says")
    fields = _LOCAL_HEADER.unpack(header)
    flags, method = int(fields[2]), int(fields[3])
    crc, compressed, size = int(fields[6]), int(fields[7]), int(fields[8])
    name_length, extra_length = int(fields[9]), int(fields[10])
    if file.read(name_length) != info.orig_filename.encode(
        "utf-8" if info.flag_bits & _UTF8_FLAG else "cp437"
    ):
        raise _refuse(
            path, f"member {info.filename!r}: its local name differs from the directory's"
        )
    extra = file.read(extra_length)
    if flags != info.flag_bits or method != info.compress_type:
        raise _disagree(path, info, "flags or compression method")
    if not flags & _DESCRIPTOR_FLAG and not _same_sizes(info, crc, compressed, size):
        raise _disagree(path, info, "CRC or sizes")
    end: int = (
        info.header_offset + _LOCAL_HEADER.size + name_length + extra_length + info.compress_size
    )
    if flags & _DESCRIPTOR_FLAG:
        end = _descriptor_end(path, file, info, end, zip64=_has_zip64(extra))
    return end


def _same_sizes(info: zipfile.ZipInfo, crc: int, compressed: int, size: int) -> bool:
    if _ZIP64_MARK in (compressed, size):  # the real sizes are in the zip64 extra field
        return crc == info.CRC
    return (crc, compressed, size) == (info.CRC, info.compress_size, info.file_size)


def _descriptor_end(
    path: Path, file: BinaryIO, info: zipfile.ZipInfo, at: int, *, zip64: bool
) -> int:
    """The data descriptor after ``info``'s data must repeat the directory's CRC and sizes."""
    file.seek(at)
    fields = struct.Struct("<L2Q" if zip64 else "<3L")
    head = file.read(4)
    signed = head == _DESCRIPTOR_SIGNATURE
    body = file.read(fields.size - 4) if not signed else file.read(fields.size)
    raw = body if signed else head + body
    if len(raw) != fields.size:
        raise _disagree(path, info, "data descriptor")
    if fields.unpack(raw) != (info.CRC, info.compress_size, info.file_size):
        raise _disagree(path, info, "data descriptor")
    return at + fields.size + (4 if signed else 0)


def _has_zip64(extra: bytes) -> bool:
    at = 0
    while at + 4 <= len(extra):
        kind, length = struct.unpack_from("<2H", extra, at)
        if kind == _ZIP64_EXTRA:
            return True
        at += 4 + length
    return False


def _disagree(path: Path, info: zipfile.ZipInfo, what: str) -> SignatureError:
    return _refuse(
        path,
        f"member {info.filename!r}: its local header and the central directory disagree on"
        f" its {what}",
    )


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
            raise _refuse(
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
        raise _refuse(path, f"member {info.filename!r} cannot be read: {exc}") from None
    if size != info.file_size:
        raise _refuse(
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


def _refuse(path: Path, message: str) -> SignatureError:
    return SignatureError(f"{path.name}: {message}", check="archive", hint=_HINT)
