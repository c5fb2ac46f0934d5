"""The multipart form of an upload, parsed as it streams: the file goes straight to disk.

twine (and PyPI's legacy upload API) send one ``multipart/form-data`` body: the
metadata as plain fields (``name``, ``version``, ``sha256_digest``...), then the
distribution as the file part ``content``. A plugin wheel's signature travels as
one more file part: ``signature`` (named ``<file>.sig``, as ``pluginctl publish``
sends it) or ``gpg_signature`` (named ``<file>.asc``, as twine sends a pre-signed
file: ``twine upload dist/x.whl dist/x.whl.asc`` with ``x.whl.asc`` a copy of
``x.whl.sig``).

`FormReader` is fed the body chunk by chunk (python-multipart's streaming parser)
and writes both file parts into a staging directory while hashing the content;
nothing is held in memory beyond one field. It refuses, with `BadUpload`, what no
client sends: a second ``content`` part, a file name that is not a plain
distribution name (a path, quotes, CR/LF, anything past ASCII), more or larger
fields than `FormLimits` allows, a part without a name, or a body that ends
before its closing boundary.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Protocol

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from pluginctl.errors import RegistryError
from pluginctl.registry.distfile import MAX_METADATA_BYTES

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["BadUpload", "FormLimits", "FormReader", "UploadForm"]

#: A distribution's file name: what a wheel (PEP 427) or an sdist (PEP 625) may be called.
_FILENAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+!-]{0,254}")
_SIGNATURE_PARTS = {"signature": ".sig", "gpg_signature": ".asc"}


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


class BadUpload(RegistryError):
    """An upload the server refuses before (or instead of) the store: with its HTTP status."""

    def __init__(self, message: str, *, status: int = 400, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


@dataclass(frozen=True, slots=True)
class FormLimits:
    """How much of a form the server reads.

    Attributes:
        max_fields: Plain fields in one form (twine sends about 30, classifiers each one).
        max_field_bytes: One field; the description (readme) is the largest.
        max_fields_bytes: All plain fields together.
        max_header_bytes: One part's headers.
        max_signature_bytes: The signature part.
    """

    max_fields: int = 500
    max_field_bytes: int = MAX_METADATA_BYTES + 64 * 1024
    max_fields_bytes: int = 4 * MAX_METADATA_BYTES
    max_header_bytes: int = 8 * 1024
    max_signature_bytes: int = 16 * 1024 * 1024


@dataclass(slots=True)
class UploadForm:
    """What a finished form held: fields, and the file it staged with its digests."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    filename: str | None = None
    content: Path | None = None
    signature: Path | None = None
    signature_name: str | None = None
    size: int = 0
    digests: dict[str, str] = field(default_factory=dict)

    def value(self, name: str) -> str | None:
        """The last value of the field ``name``, stripped, or None."""
        values = self.fields.get(name)
        return values[-1].strip() if values else None


@dataclass(slots=True)
class _Part:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    name: str = ""
    kind: str = "field"  # field, content or signature
    data: bytearray = field(default_factory=bytearray)
    file: BinaryIO | None = None
    size: int = 0


class FormReader:
    """Parses one upload's multipart body as it arrives.

    Args:
        boundary: The boundary from the request's ``Content-Type``.
        directory: Where the file parts are written (a fresh staging directory).
        on_filename: Called with the content's file name before a byte of it is
            written; it may refuse the upload (a token for another project).
        limits: The form's limits.
    """

    def __init__(
        self,
        boundary: bytes,
        *,
        directory: Path,
        on_filename: Callable[[str], None] = lambda _: None,
        limits: FormLimits | None = None,
    ) -> None:
        self.form = UploadForm()
        self._directory = directory
        self._on_filename = on_filename
        self._limits = limits or FormLimits()
        self._part = _Part()
        self._header = [bytearray(), bytearray()]
        self._fields_bytes = 0
        self._hashes: dict[str, _Hasher] = {
            "sha256": hashlib.sha256(),
            "md5": hashlib.md5(usedforsecurity=False),
            "blake2_256": hashlib.blake2b(digest_size=32),
        }
        self._complete = False
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._begin,
                "on_header_field": lambda d, s, e: self._header_bytes(0, d[s:e]),
                "on_header_value": lambda d, s, e: self._header_bytes(1, d[s:e]),
                "on_header_end": self._header_end,
                "on_headers_finished": self._headers_finished,
                "on_part_data": lambda d, s, e: self._data(d[s:e]),
                "on_part_end": self._end,
                "on_end": self._finished,
            },
        )

    def feed(self, chunk: bytes) -> None:
        """Parse the next ``chunk`` of the body.

        Raises:
            BadUpload: the body breaks the form's rules or the multipart syntax.
        """
        try:
            self._parser.write(chunk)
        except MultipartParseError as exc:
            self._close_file()
            raise BadUpload(f"the upload is not a valid multipart form: {exc}") from None
        except BaseException:
            self._close_file()  # a refusal from a callback: the file is not written on
            raise

    def finish(self) -> UploadForm:
        """The form, once the whole body was fed.

        Raises:
            BadUpload: the body ended before its closing boundary (a truncated upload).
        """
        self._close_file()
        if not self._complete:
            raise BadUpload(
                "the upload is truncated: the form ended before its closing boundary",
                hint="upload it again",
            )
        self.form.digests = {name: digest.hexdigest() for name, digest in self._hashes.items()}
        return self.form

    def close(self) -> None:
        """Close the file being written, if any (after an error)."""
        self._close_file()

    # ---------------------------------------------------------------- callbacks

    def _begin(self) -> None:
        self._part = _Part()

    def _header_bytes(self, which: int, data: bytes) -> None:
        self._header[which] += data
        if sum(map(len, self._header)) + sum(len(n) + len(v) for n, v in self._part.headers) > (
            self._limits.max_header_bytes
        ):
            raise BadUpload(f"a part's headers are past {self._limits.max_header_bytes} bytes")

    def _header_end(self) -> None:
        name, value = (bytes(part) for part in self._header)
        self._part.headers.append((name.lower(), value))
        self._header = [bytearray(), bytearray()]

    def _headers_finished(self) -> None:
        disposition = b"".join(v for n, v in self._part.headers if n == b"content-disposition")
        kind, options = parse_options_header(disposition)
        name = _decode(options.get(b"name", b""), "a part's name")
        if kind != b"form-data" or not name:
            raise BadUpload("every part of the form needs Content-Disposition: form-data; name=")
        self._part.name = name
        if b"filename" not in options:
            self._count_field()
            return
        if b"\\" in disposition:  # python-multipart would keep what follows a Windows path
            raise BadUpload(
                "the file part's name is not a plain distribution file name: it holds a backslash"
            )
        filename = _plain_filename(options[b"filename"])
        if name == "content":
            self._open_content(filename)
        elif name in _SIGNATURE_PARTS:
            self._open_signature(name, filename)
        else:
            raise BadUpload(f"unexpected file part {name!r}: send the file as 'content'")

    def _count_field(self) -> None:
        count = sum(map(len, self.form.fields.values())) + 1
        if count > self._limits.max_fields:
            raise BadUpload(f"more than {self._limits.max_fields} form fields")

    def _open_content(self, filename: str) -> None:
        if self.form.filename is not None:
            raise BadUpload("the form has two file parts named 'content': upload one file")
        self._on_filename(filename)
        self.form.filename = filename
        self.form.content = self._directory / filename
        self._part.kind = "content"
        self._part.file = self.form.content.open("xb")

    def _open_signature(self, name: str, filename: str) -> None:
        if self.form.signature is not None:
            raise BadUpload("the form has two signatures: send one .sig")
        self.form.signature = self._directory / "signature.part"
        self.form.signature_name = filename
        self._part.kind = "signature"
        self._part.file = self.form.signature.open("xb")

    def _data(self, data: bytes) -> None:
        part = self._part
        part.size += len(data)
        if part.kind == "field":
            self._field_data(data)
            return
        if part.kind == "signature" and part.size > self._limits.max_signature_bytes:
            raise BadUpload(f"the signature is past {self._limits.max_signature_bytes} bytes")
        assert part.file is not None
        part.file.write(data)
        if part.kind == "content":
            for digest in self._hashes.values():
                digest.update(data)
            self.form.size += len(data)

    def _field_data(self, data: bytes) -> None:
        self._fields_bytes += len(data)
        if self._part.size > self._limits.max_field_bytes:
            raise BadUpload(
                f"the form field {self._part.name!r} is past {self._limits.max_field_bytes} bytes"
            )
        if self._fields_bytes > self._limits.max_fields_bytes:
            raise BadUpload(f"the form's fields are past {self._limits.max_fields_bytes} bytes")
        self._part.data += data

    def _end(self) -> None:
        if self._part.kind == "field":
            value = _decode(bytes(self._part.data), f"the field {self._part.name!r}")
            self.form.fields.setdefault(self._part.name, []).append(value)
        self._close_file()

    def _finished(self) -> None:
        self._complete = True

    def _close_file(self) -> None:
        if self._part.file is not None:
            self._part.file.close()
            self._part.file = None


def _decode(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadUpload(f"{what} is not UTF-8") from None


def _plain_filename(raw: bytes) -> str:
    """A file part's name: a plain distribution file name, or a refusal."""
    name = raw.decode("latin-1")
    if not _FILENAME.fullmatch(name) or ".." in name:
        raise BadUpload(
            f"{name!r} is not a plain distribution file name",
            hint="upload the file under its own name, e.g. NAME-VERSION-py3-none-any.whl",
        )
    return name
