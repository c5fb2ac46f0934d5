"""The registry server under concurrency, over real HTTP: racing uploads, reads during
uploads, the bound on uploads at once, and a server killed in the middle of one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.registry.conftest import trusted_by_user
from tests.registry.registry_harness import (
    BOUNDARY,
    Registry,
    form_parts,
    multipart,
    start_registry,
    upload,
    upload_form,
)
from tests.registry.test_store import library_wheel

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pluginctl.signing.keys import SigningKey

pytestmark = pytest.mark.xdist_group("registry-concurrency")


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    """A key the user's trust store (in a temporary config home) trusts for everything."""
    return trusted_by_user(tmp_path, monkeypatch)


@pytest.fixture
def registry(tmp_path: Path, key: SigningKey) -> Iterator[Registry]:
    served = start_registry(tmp_path / "registry", "--max-concurrent-uploads", "64")
    try:
        yield served
    finally:
        served.stop()


def test_twenty_concurrent_uploads_of_one_file_publish_it_once(
    registry: Registry, tmp_path: Path
) -> None:
    wheel = library_wheel(tmp_path, "raced", "1.0")
    secret = registry.token()
    start = threading.Barrier(20)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def race() -> None:
        start.wait()
        response = upload(registry.url, wheel, secret)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=race) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * 19
    refused = [r for r in responses if r.status_code == 400]
    assert all(r.reason_phrase.startswith("File already exists") for r in refused)
    assert len(registry.store.index.files("raced")) == 1
    assert registry.store.fsck().clean
    assert not list((registry.store.root / "staging").iterdir())


def test_two_hundred_concurrent_reads_during_uploads_all_succeed(
    registry: Registry, tmp_path: Path
) -> None:
    registry.store.publish(library_wheel(tmp_path, "steady", "1.0"))
    secret = registry.token()
    wheels = [library_wheel(tmp_path, f"busy{i}", "1.0") for i in range(10)]

    async def read(client: httpx.AsyncClient, i: int) -> int:
        accept = "application/vnd.pypi.simple.v1+json" if i % 2 else "text/html"
        path = "/simple/steady/" if i % 3 else "/simple/"
        response = await client.get(path, headers={"Accept": accept})
        return response.status_code

    async def write(client: httpx.AsyncClient, wheel: Path) -> int:
        files = {"content": (wheel.name, wheel.read_bytes())}
        response = await client.post(
            "/", data=upload_form(wheel), files=files, auth=("__token__", secret)
        )
        return response.status_code

    async def main() -> tuple[list[int], list[int]]:
        limits = httpx.Limits(max_connections=300)
        async with httpx.AsyncClient(base_url=registry.url, limits=limits, timeout=120) as client:
            writes = [asyncio.ensure_future(write(client, wheel)) for wheel in wheels]
            reads = await asyncio.gather(*(read(client, i) for i in range(200)))
            return list(reads), list(await asyncio.gather(*writes))

    reads, writes = asyncio.run(main())
    assert reads == [200] * 200
    assert writes == [200] * 10
    assert {name for name, _ in registry.store.index.projects()} >= {f"busy{i}" for i in range(10)}


def test_uploads_past_the_bound_get_503_with_retry_after(key: SigningKey, tmp_path: Path) -> None:
    served = start_registry(tmp_path / "registry", "--max-concurrent-uploads", "1")
    try:
        secret = served.token()
        first = library_wheel(tmp_path, "first", "1.0")
        with _half_sent_upload(served, first, secret):
            second = upload(served.url, library_wheel(tmp_path, "second", "1.0"), secret)
        assert second.status_code == 503
        assert second.headers["retry-after"] == "5"
        assert "uploads are in progress" in second.reason_phrase
    finally:
        served.stop()


def test_a_server_killed_mid_upload_leaves_the_store_consistent(
    key: SigningKey, tmp_path: Path
) -> None:
    root = tmp_path / "registry"
    served = start_registry(root)
    secret = served.token()
    served.store.publish(library_wheel(tmp_path, "kept", "1.0"))
    wheel = library_wheel(tmp_path, "interrupted", "1.0")
    with _half_sent_upload(served, wheel, secret):
        os.kill(served.process.pid, signal.SIGKILL)
        served.stop()  # reaps it and closes its pipes
    report = served.store.fsck()
    assert report.clean, report.problems
    assert served.store.index.files("interrupted") == []
    repaired = served.store.fsck(repair=True)
    assert any(path.startswith("staging/") for path in repaired.repaired)
    again = start_registry(root)
    try:
        assert upload(again.url, wheel, secret).status_code == 200
        assert again.store.fsck().clean
    finally:
        again.stop()


class _half_sent_upload:  # noqa: N801  # used as a context manager, read as a phrase
    """An upload whose body is half sent and then held open, until the ``with`` ends."""

    def __init__(self, served: Registry, wheel: Path, secret: str) -> None:
        import base64
        from urllib.parse import urlsplit

        parts = urlsplit(served.url)
        assert parts.hostname is not None
        assert parts.port is not None
        self.address = (parts.hostname, parts.port)
        self.body = multipart(*form_parts(wheel))
        auth = base64.b64encode(f"__token__:{secret}".encode()).decode()
        self.head = (
            f"POST / HTTP/1.1\r\nHost: {parts.hostname}\r\nAuthorization: Basic {auth}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {len(self.body)}\r\n\r\n"
        ).encode()
        self.staging = served.store.root / "staging"
        self.sock: socket.socket | None = None

    def __enter__(self) -> None:
        self.sock = socket.create_connection(self.address, timeout=60)
        self.sock.sendall(self.head + self.body[: len(self.body) // 2])
        deadline = time.monotonic() + 30
        while not any(self.staging.iterdir()):  # the server is receiving it
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.01)

    def __exit__(self, *exc: object) -> None:
        assert self.sock is not None
        self.sock.close()
