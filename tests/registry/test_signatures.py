"""`SignatureSource`: a directory written atomically, or a URL read over real HTTP."""

from __future__ import annotations

import functools
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import SignatureError, UserError
from pluginctl.registry import SignatureSource
from pluginctl.signing.envelope import MAX_ENVELOPE_BYTES

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

DIGEST = "0123456789abcdef" * 4


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Tests read outcomes, not access logs."""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory served over HTTP on loopback, and its URL."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_Quiet, directory=str(root))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_directory_keeps_each_signature_under_its_wheels_sha256(tmp_path: Path) -> None:
    source = SignatureSource.directory(tmp_path / "sigs")
    assert source.get(DIGEST) is None
    path = source.put(DIGEST, b"envelope one")
    assert path == tmp_path / "sigs" / f"{DIGEST}.sig"
    source.put(DIGEST, b"envelope two")
    assert source.get(DIGEST) == b"envelope two"
    assert [p.name for p in (tmp_path / "sigs").iterdir()] == [f"{DIGEST}.sig"]  # no temp left


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        DIGEST.upper(),
        DIGEST[:-1],
        DIGEST + "0",
        f"{DIGEST[:-1]}/",
        "",
        "x" * 64,
    ],
)
def test_a_key_that_is_not_a_sha256_is_refused(tmp_path: Path, key: str) -> None:
    source = SignatureSource.directory(tmp_path / "sigs")
    with pytest.raises(UserError, match="is not a sha256: 64 lowercase hex digits"):
        source.put(key, b"x")
    with pytest.raises(UserError, match="is not a sha256"):
        source.get(key)
    assert not (tmp_path / "sigs").exists()


def test_a_signature_past_the_limit_is_refused(tmp_path: Path) -> None:
    source = SignatureSource.directory(tmp_path)
    with pytest.raises(SignatureError, match="over") as caught:
        source.put(DIGEST, b"x" * (MAX_ENVELOPE_BYTES + 1))
    assert caught.value.check == "envelope"
    (tmp_path / f"{DIGEST}.sig").write_bytes(b"x" * (MAX_ENVELOPE_BYTES + 1))
    with pytest.raises(SignatureError, match="over"):
        source.get(DIGEST)


def test_a_url_template_is_read_over_http_and_is_read_only(served: tuple[Path, str]) -> None:
    root, url = served
    (root / f"{DIGEST}.sig").write_bytes(b"served envelope")
    source = SignatureSource.parse(url + "/{sha256}.sig")
    assert not source.writable
    assert source.location(DIGEST) == f"{url}/{DIGEST}.sig"
    assert source.get(DIGEST) == b"served envelope"
    assert source.get("f" * 64) is None  # 404: this source has none
    with pytest.raises(UserError, match="read-only"):
        source.put(DIGEST, b"x")


def test_a_url_that_cannot_be_reached_is_an_envelope_error() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = SignatureSource.url(f"http://127.0.0.1:{port}/{{sha256}}.sig", timeout_s=5)
    with pytest.raises(SignatureError, match="cannot be read") as caught:
        source.get(DIGEST)
    assert caught.value.check == "envelope"


@pytest.mark.parametrize("spec", ["ftp://x/{sha256}", "https://x/no-placeholder.sig"])
def test_a_url_template_must_be_http_with_the_placeholder(spec: str) -> None:
    with pytest.raises(UserError, match="is not an http"):
        SignatureSource.url(spec)


def test_parse_takes_a_path_for_anything_else(tmp_path: Path) -> None:
    source = SignatureSource.parse(str(tmp_path))
    assert source.writable
    assert source.location(DIGEST) == str(tmp_path / f"{DIGEST}.sig")
