"""The streaming form reader on its own: limits a real server's upload cap would hide."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pluginctl.registry.upload_form import BadUpload, FormLimits, FormReader
from tests.registry.registry_harness import BOUNDARY, multipart

if TYPE_CHECKING:
    from pathlib import Path


def _read(directory: Path, body: bytes, limits: FormLimits | None = None) -> FormReader:
    reader = FormReader(BOUNDARY.encode(), directory=directory, limits=limits)
    for start in range(0, len(body), 1000):  # as the network delivers it: in pieces
        reader.feed(body[start : start + 1000])
    return reader


def test_fields_and_the_file_are_read_as_they_stream(tmp_path: Path) -> None:
    body = multipart(
        ("name", None, b"demo"),
        ("classifiers", None, b"A"),
        ("classifiers", None, b"B"),
        ("content", "demo-1.0.tar.gz", b"x" * 5000),
    )
    form = _read(tmp_path, body).finish()
    assert form.value("name") == "demo"
    assert form.fields["classifiers"] == ["A", "B"]
    assert form.content is not None
    assert form.content.read_bytes() == b"x" * 5000
    assert form.size == 5000
    assert set(form.digests) == {"sha256", "md5", "blake2_256"}


@pytest.mark.parametrize(
    ("limits", "body", "reason"),
    [
        (
            FormLimits(max_field_bytes=100),
            multipart(("description", None, b"x" * 101)),
            "the form field 'description' is past 100 bytes",
        ),
        (
            FormLimits(max_fields_bytes=150),
            multipart(*[(f"f{i}", None, b"x" * 60) for i in range(3)]),
            "the form's fields are past 150 bytes",
        ),
        (
            FormLimits(max_header_bytes=200),
            multipart(("x" * 300, None, b"")),
            "a part's headers are past 200 bytes",
        ),
        (
            FormLimits(max_signature_bytes=10),
            multipart(("signature", "demo-1.0.tar.gz.sig", b"{" * 11)),
            "the signature is past 10 bytes",
        ),
    ],
    ids=["field", "all-fields", "headers", "signature"],
)
def test_row11_each_limit_is_a_refusal(
    tmp_path: Path, limits: FormLimits, body: bytes, reason: str
) -> None:
    with pytest.raises(BadUpload, match=reason) as refused:
        _read(tmp_path, body, limits)
    assert refused.value.status == 400


def test_a_part_without_a_name_is_refused(tmp_path: Path) -> None:
    body = f"--{BOUNDARY}\r\nContent-Disposition: form-data\r\n\r\nx\r\n--{BOUNDARY}--\r\n"
    with pytest.raises(BadUpload, match="needs Content-Disposition: form-data; name="):
        _read(tmp_path, body.encode())


def test_garbage_is_not_a_form(tmp_path: Path) -> None:
    with pytest.raises(BadUpload, match="not a valid multipart form"):
        _read(tmp_path, b"--" + BOUNDARY.encode() + b"\r\n\x00\x01 no headers here\r\n\r\n")


def test_the_file_name_is_checked_before_a_byte_is_written(tmp_path: Path) -> None:
    seen: list[str] = []

    def refuse(name: str) -> None:
        seen.append(name)
        raise BadUpload("not yours", status=403)

    reader = FormReader(BOUNDARY.encode(), directory=tmp_path, on_filename=refuse)
    with pytest.raises(BadUpload, match="not yours"):
        reader.feed(multipart(("content", "demo-1.0.tar.gz", b"data")))
    assert seen == ["demo-1.0.tar.gz"]
    assert list(tmp_path.iterdir()) == []
