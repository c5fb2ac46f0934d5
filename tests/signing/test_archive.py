"""The archive checks: REFERENCES.md rows 4-8, each refused before anything is extracted."""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import SignatureError
from pluginctl.signing.archive import ArchiveLimits, read_archive
from tests.signing.wheelmaker import DATE, make_wheel, members, write_zip

if TYPE_CHECKING:
    from pathlib import Path


def refusal(path: Path, limits: ArchiveLimits | None = None) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        read_archive(path, limits=limits)
    error = caught.value
    assert error.check == "archive"
    assert error.hint
    return error


def with_member(tmp_path: Path, name: str, data: bytes = b"x", **info: object) -> Path:
    wheel = make_wheel(tmp_path)
    files = members(wheel)
    zinfo = zipfile.ZipInfo(name, DATE)
    for key, value in info.items():
        setattr(zinfo, key, value)
    files[name] = data
    wheel.unlink()
    return write_zip(wheel, files, infos={name: zinfo})


def test_a_sound_wheel_is_hashed_member_by_member(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    archive = read_archive(wheel)
    assert [m.path for m in archive.members][:3] == [
        "demo/__init__.py",
        "demo/plugin.py",
        "demo/plugin.toml",
    ]
    assert archive.member("demo/__init__.py") is not None
    assert archive.member("demo/__init__.py").sha256 == (  # type: ignore[union-attr]  # just checked
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert archive.size == wheel.stat().st_size
    assert "demo-1.0.dist-info/RECORD" in archive.kept
    assert "demo/plugin.toml" in archive.kept
    assert "demo/plugin.py" not in archive.kept


# ---------------------------------------------------------------- row 4: zip-slip names


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("../x.py", "'..' segment"),
        ("demo/../../x.py", "'..' segment"),
        ("/etc/x", "absolute path"),
        ("C:\\x.py", "backslash"),
        ("C:/x.py", "absolute path"),
        ("demo\\..\\x.py", "backslash"),
        ("demo/x\x00.py", "NUL or control character"),
        ("demo//x.py", "empty or '.' segment"),
        ("./demo/x.py", "empty or '.' segment"),
    ],
)
def test_names_that_escape_the_install_directory_are_refused(
    tmp_path: Path, name: str, rule: str
) -> None:
    placeholder = name.replace("\x00", "@")
    wheel = with_member(tmp_path, placeholder)
    wheel.write_bytes(wheel.read_bytes().replace(placeholder.encode(), name.encode()))
    error = refusal(wheel)
    assert f"member {name!r}" in error.message
    assert rule in error.message


def test_a_non_ascii_name_must_be_declared_utf8(tmp_path: Path) -> None:
    wheel = with_member(tmp_path, "demo/caf\u00e9.py", flag_bits=0)
    raw = wheel.read_bytes()
    # zipfile sets the UTF-8 flag for non-ASCII names; clear it in both headers
    patched = raw.replace(b"PK\x03\x04\x14\x00\x00\x08", b"PK\x03\x04\x14\x00\x00\x00")
    patched = patched.replace(
        b"PK\x01\x02\x14\x03\x14\x00\x00\x08", b"PK\x01\x02\x14\x03\x14\x00\x00\x00"
    )
    wheel.write_bytes(patched)
    assert "not marked as UTF-8" in refusal(wheel).message


# ---------------------------------------------------------------- row 5: links and devices


@pytest.mark.parametrize(
    ("mode", "what"),
    [(0o120777, "symbolic link"), (0o020644, "device"), (0o060644, "device"), (0o010644, "FIFO")],
)
def test_links_and_devices_are_refused(tmp_path: Path, mode: int, what: str) -> None:
    wheel = with_member(
        tmp_path, "demo/link", b"/etc/passwd", external_attr=mode << 16, create_system=3
    )
    assert what in refusal(wheel).message


# ---------------------------------------------------------------- row 6: collisions


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("demo/mod.py", "demo/mod.py"),
        ("demo/mod.py", "demo/MOD.py"),
        ("demo/caf\u00e9.py", "demo/cafe\u0301.py"),  # NFC and NFD spellings of one name
    ],
)
def test_duplicate_and_colliding_names_are_refused(tmp_path: Path, first: str, second: str) -> None:
    wheel = make_wheel(tmp_path)
    with zipfile.ZipFile(wheel, "a") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns of the duplicate this test wants
        archive.writestr(zipfile.ZipInfo(first, DATE), b"one")
        archive.writestr(zipfile.ZipInfo(second, DATE), b"two")
    error = refusal(wheel)
    assert f"member {second!r} is in the archive" in error.message


# ---------------------------------------------------------------- row 7: zip bombs


def test_a_member_inflating_past_the_ratio_is_refused_unread(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, extra={"demo/bomb.bin": b"\0" * (20 * 1024 * 1024)})
    error = refusal(wheel)
    assert "member 'demo/bomb.bin' inflates" in error.message
    assert "zip bomb" in error.message


def test_total_size_member_count_and_member_size_have_limits(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, extra={f"demo/m{i}.py": b"pass\n" * 200 for i in range(30)})
    assert "members, past the limit of 20" in refusal(wheel, ArchiveLimits(max_members=20)).message
    assert "past the limit of 4000" in refusal(wheel, ArchiveLimits(max_total_bytes=4000)).message
    assert "past the limit of 500" in refusal(wheel, ArchiveLimits(max_member_bytes=500)).message
    assert "past the limit of 100" in refusal(wheel, ArchiveLimits(max_file_bytes=100)).message


def test_a_member_whose_directory_entry_understates_its_size_is_refused(tmp_path: Path) -> None:
    """The declared size bounds decompression: a lie there stops at the declared size."""
    wheel = make_wheel(tmp_path, extra={"demo/data.bin": b"a" * 5000})
    raw = bytearray(wheel.read_bytes())
    central = raw.rfind(b"PK\x01\x02", 0, raw.rfind(b"demo/data.bin") + 1)
    # patch the uncompressed size (offset 24) in the central directory entry
    struct.pack_into("<L", raw, central + 24, 100)
    wheel.write_bytes(bytes(raw))
    error = refusal(wheel)
    assert "demo/data.bin" in error.message


# ---------------------------------------------------------------- row 8: framing, CRC, encryption


def test_prepended_bytes_are_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    wheel.write_bytes(b"#!/bin/sh\necho hidden\n" + wheel.read_bytes())
    assert "22 unlisted bytes before the members" in refusal(wheel).message


def test_appended_bytes_are_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    wheel.write_bytes(wheel.read_bytes() + b"trailing payload")
    assert "no zip end record at the end" in refusal(wheel).message


def test_a_bad_crc_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, extra={"demo/data.txt": b"hello world" * 10})
    raw = bytearray(wheel.read_bytes())
    header = raw.find(b"PK\x03\x04", raw.find(b"demo/data.txt") - 40)
    struct.pack_into("<L", raw, header + 14, 0xDEADBEEF)
    central = raw.rfind(b"PK\x01\x02", 0, raw.rfind(b"demo/data.txt"))
    struct.pack_into("<L", raw, central + 16, 0xDEADBEEF)
    wheel.write_bytes(bytes(raw))
    error = refusal(wheel)
    assert "member 'demo/data.txt' cannot be read" in error.message
    assert "CRC" in error.message


def test_an_encrypted_member_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, extra={"demo/secret.py": b"x = 1"})
    raw = bytearray(wheel.read_bytes())
    name = raw.find(b"demo/secret.py")
    local = raw.rfind(b"PK\x03\x04", 0, name)
    central = raw.rfind(b"PK\x01\x02", 0, raw.rfind(b"demo/secret.py"))
    raw[local + 6] |= 0x1  # general purpose flags: bit 0, encrypted
    raw[central + 8] |= 0x1
    wheel.write_bytes(bytes(raw))
    assert "member 'demo/secret.py' is encrypted" in refusal(wheel).message


def test_other_compression_methods_are_refused(tmp_path: Path) -> None:
    wheel = with_member(tmp_path, "demo/data.txt", b"x" * 100, compress_type=zipfile.ZIP_BZIP2)
    assert "compression method 12" in refusal(wheel).message


def test_not_a_zip_and_truncated_files_are_refused(tmp_path: Path) -> None:
    text = tmp_path / "demo-1.0-py3-none-any.whl"
    text.write_text("not a zip archive at all, just some text that is long enough")
    assert "no zip end record" in refusal(text).message
    wheel = make_wheel(tmp_path / "..", "other")
    wheel.write_bytes(wheel.read_bytes()[: wheel.stat().st_size // 2])
    assert "no zip end record" in refusal(wheel).message


def test_overlapping_members_are_refused(tmp_path: Path) -> None:
    """Two directory entries pointing at one local header: the overlapping-entry bomb."""
    wheel = make_wheel(tmp_path)
    raw = bytearray(wheel.read_bytes())
    first_central = raw.find(b"PK\x01\x02")
    second_central = raw.find(b"PK\x01\x02", first_central + 4)
    struct.pack_into("<L", raw, second_central + 42, 0)  # point it at the first member
    wheel.write_bytes(bytes(raw))
    assert "overlapping members" in refusal(wheel).message


# ---------------------------------------------------------------- end records


def zip64_end(
    raw: bytes, *, record_at: int | None = None, signature: bytes = b"PK\x06\x06"
) -> bytes:
    """``raw`` with a zip64 end record and locator before its end record, as zipfile writes."""
    eocd = raw.rfind(b"PK\x05\x06")
    entries, cd_size, cd_offset = struct.unpack_from("<HLL", raw, eocd + 10)
    record = struct.pack(
        "<4sQ2H2L4Q", signature, 44, 45, 45, 0, 0, entries, entries, cd_size, cd_offset
    )
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, eocd if record_at is None else record_at, 1)
    return raw[:eocd] + record + locator + raw[eocd:]


def test_a_zip64_end_record_right_before_its_locator_is_read(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    wheel.write_bytes(zip64_end(wheel.read_bytes()))
    assert read_archive(wheel).member("demo/plugin.py") is not None


@pytest.mark.parametrize(
    ("record_at", "signature"),
    [(10**9, b"PK\x06\x06"), (0, b"PK\x06\x06"), (None, b"XXXX")],
    ids=["past-the-end", "elsewhere", "no-signature"],
)
def test_a_bogus_zip64_locator_is_refused(
    tmp_path: Path, record_at: int | None, signature: bytes
) -> None:
    wheel = make_wheel(tmp_path)
    wheel.write_bytes(zip64_end(wheel.read_bytes(), record_at=record_at, signature=signature))
    assert "zip64 end record" in refusal(wheel).message


def test_an_end_record_signature_in_the_comment_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    raw = wheel.read_bytes()
    for comment in (b"xxPK\x05\x06", b"PK\x05\x06" + bytes(18) + b"tail"):
        wheel.write_bytes(raw[:-2] + struct.pack("<H", len(comment)) + comment)
        assert "end record signature in the archive comment" in refusal(wheel).message


# ---------------------------------------------------------------- member streams


def test_a_damaged_deflate_stream_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    raw = bytearray(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo("demo/plugin.py")
    start = info.header_offset + 30 + len(info.orig_filename) + len(info.extra)
    raw[start : start + info.compress_size] = b"\xff" * info.compress_size
    wheel.write_bytes(bytes(raw))
    assert "member 'demo/plugin.py' cannot be read" in refusal(wheel).message


@pytest.mark.parametrize("flag", [0x20, 0x40], ids=["patched-data", "strong-encryption"])
def test_flags_zipfile_cannot_read_are_refused(tmp_path: Path, flag: int) -> None:
    wheel = make_wheel(tmp_path)
    raw = bytearray(wheel.read_bytes())
    raw[raw.find(b"PK\x03\x04") + 6] |= flag  # the local header...
    raw[raw.find(b"PK\x01\x02") + 8] |= flag  # ...and the directory agree, on a flag zipfile lacks
    wheel.write_bytes(bytes(raw))
    assert "member 'demo/__init__.py' cannot be read" in refusal(wheel).message


@pytest.mark.parametrize(
    ("offset", "what"),
    [
        (6, "flags or compression method"),
        (8, "flags or compression method"),
        (14, "CRC or sizes"),
        (18, "CRC or sizes"),
        (22, "CRC or sizes"),
    ],
    ids=["flags", "method", "crc", "compressed-size", "size"],
)
def test_a_local_header_that_disagrees_with_the_directory_is_refused(
    tmp_path: Path, offset: int, what: str
) -> None:
    """zipfile trusts the directory, a streaming reader the local header: they must agree."""
    wheel = make_wheel(tmp_path)
    raw = bytearray(wheel.read_bytes())
    raw[raw.find(b"PK\x03\x04") + offset] ^= 0x04
    wheel.write_bytes(bytes(raw))
    message = refusal(wheel).message
    assert "member 'demo/__init__.py': its local header and the central directory" in message
    assert f"disagree on its {what}" in message


def test_a_data_descriptor_must_repeat_the_directory(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(_Unseekable(wheel.open("wb")), "w") as archive:  # descriptors
        archive.writestr("demo/__init__.py", b"x = 1\n")
    raw = bytearray(wheel.read_bytes())
    descriptor = raw.find(b"PK\x07\x08")
    assert descriptor > 0
    assert read_archive(wheel).members[0].size == 6
    raw[descriptor + 8] ^= 0x01  # its compressed size
    wheel.write_bytes(bytes(raw))
    assert "disagree on its data descriptor" in refusal(wheel).message


class _Unseekable(io.RawIOBase):
    """A file zipfile cannot seek back in, so it writes data descriptors."""

    def __init__(self, file: io.BufferedWriter) -> None:
        self._file = file

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        return self._file.write(data)  # type: ignore[arg-type]  # zipfile writes bytes

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
        super().close()


def test_a_zip_version_zipfile_cannot_read_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    raw = bytearray(wheel.read_bytes())
    raw[raw.find(b"PK\x01\x02") + 6] = 0xFF  # version needed to extract: 25.5
    wheel.write_bytes(bytes(raw))
    assert "not a readable zip archive" in refusal(wheel).message


def test_the_metadata_kept_in_memory_has_a_total_limit(tmp_path: Path) -> None:
    """Many small plugin.toml files that inflate well cannot fill the memory."""
    extra = {f"pkg{i}/plugin.toml": b"#" * 400 for i in range(10)}
    wheel = make_wheel(tmp_path, extra=extra)
    error = refusal(wheel, ArchiveLimits(max_kept_bytes=2000))
    assert "its metadata files total more than 2000 bytes" in error.message
    kept = read_archive(wheel).kept
    assert "pkg3/plugin.toml" in kept
    assert "demo/plugin.py" not in kept
