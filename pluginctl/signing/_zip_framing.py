"""Where every byte of a zip archive belongs: the end record, members, their headers.

`end_of_central_directory` finds the central directory from the end record, which
must be the file's last bytes (a zip64 one right before its locator, where zipfile
reads it). `check_layout` walks the members from byte 0 to the central directory:
no bytes before, between or after them, and each member's local header and data
descriptor agree with the directory, so every zip reader unpacks the same bytes.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from pluginctl.errors import SignatureError

if TYPE_CHECKING:
    import zipfile
    from pathlib import Path

__all__ = ["EOCD_SIZE", "Central", "check_layout", "end_of_central_directory", "refuse"]

_EOCD = struct.Struct("<4s4H2LH")
EOCD_SIZE = _EOCD.size
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
_HINT = "the wheel is damaged or was tampered with: rebuild it with pluginctl build"


def refuse(path: Path, message: str) -> SignatureError:
    """The archive check's failure for the wheel at ``path``."""
    return SignatureError(f"{path.name}: {message}", check="archive", hint=_HINT)


@dataclass(frozen=True, slots=True)
class Central:
    """Where the central directory is, from the end record."""

    entries: int
    offset: int
    size: int


def end_of_central_directory(path: Path, file: BinaryIO, size: int) -> Central:
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
                raise refuse(
                    path,
                    "a second zip end record signature in the archive comment"
                    " (zip readers would disagree on where the archive is)",
                )
            return _central_from(path, file, size - tail_size + at, fields)
        at = tail.rfind(_EOCD_SIGNATURE, 0, at)
    raise refuse(path, "no zip end record at the end of the file (bytes appended, or truncated)")


def _central_from(
    path: Path,
    file: BinaryIO,
    eocd_at: int,
    fields: tuple[bytes, int, int, int, int, int, int, int],
) -> Central:
    _, disk, cd_disk, disk_entries, entries, cd_size, cd_offset, _ = fields
    if disk or cd_disk or disk_entries != entries:
        raise refuse(path, "a multi-disk zip archive")
    end = eocd_at
    if eocd_at >= _ZIP64_LOCATOR.size:
        file.seek(eocd_at - _ZIP64_LOCATOR.size)
        locator = _ZIP64_LOCATOR.unpack(file.read(_ZIP64_LOCATOR.size))
        if locator[0] == _ZIP64_LOCATOR_SIGNATURE:
            entries, cd_size, cd_offset = _zip64_end(path, file, locator, eocd_at)
            end = locator[2]
    hidden = end - (cd_offset + cd_size)
    if hidden > 0:
        raise refuse(path, f"{hidden} unlisted bytes before the members (data prepended?)")
    if hidden < 0:
        raise refuse(path, "the central directory overlaps the end record")
    return Central(entries, cd_offset, cd_size)


def _zip64_end(
    path: Path, file: BinaryIO, locator: tuple[bytes, int, int, int], eocd_at: int
) -> tuple[int, int, int]:
    """Entries, size and offset of the central directory from the zip64 end record.

    The record must sit right before its locator, with no extensible data: that is
    where zipfile reads it, whatever the locator says.
    """
    _, disk, record_at, disks = locator
    if disk or disks > 1:
        raise refuse(path, "a multi-disk zip archive")
    expected = eocd_at - _ZIP64_LOCATOR.size - _ZIP64_EOCD.size
    if record_at != expected:
        raise refuse(
            path,
            f"the zip64 end record locator points at byte {record_at}, not at the record"
            f" right before it (byte {expected})",
        )
    file.seek(record_at)
    record = _ZIP64_EOCD.unpack(file.read(_ZIP64_EOCD.size))
    signature, record_size, _, _, disk, cd_disk, disk_entries, entries, cd_size, cd_offset = record
    if signature != _ZIP64_EOCD_SIGNATURE or record_size != _ZIP64_EOCD.size - 12:
        raise refuse(path, "no well-formed zip64 end record before its locator")
    if disk or cd_disk or disk_entries != entries:
        raise refuse(path, "a multi-disk zip archive")
    return int(entries), int(cd_size), int(cd_offset)


def check_layout(
    path: Path, file: BinaryIO, infos: list[zipfile.ZipInfo], central: Central
) -> None:
    """Members must follow each other from byte 0 to the central directory, no gaps."""
    expected = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        if info.header_offset != expected:
            where = (
                "before the first member" if expected == 0 else f"after {_previous(infos, info)!r}"
            )
            raise refuse(path, f"unlisted bytes or overlapping members {where}")
        expected = _member_end(path, file, info)
    if expected != central.offset:
        raise refuse(path, "unlisted bytes between the last member and the central directory")


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
        raise refuse(path, f"member {info.filename!r}: no local header where the directory says")
    fields = _LOCAL_HEADER.unpack(header)
    flags, method = int(fields[2]), int(fields[3])
    crc, compressed, size = int(fields[6]), int(fields[7]), int(fields[8])
    name_length, extra_length = int(fields[9]), int(fields[10])
    if file.read(name_length) != info.orig_filename.encode(
        "utf-8" if info.flag_bits & _UTF8_FLAG else "cp437"
    ):
        raise refuse(path, f"member {info.filename!r}: its local name differs from the directory's")
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
    return refuse(
        path,
        f"member {info.filename!r}: its local header and the central directory disagree on"
        f" its {what}",
    )
