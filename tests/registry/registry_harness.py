"""``pluginctl registry serve`` in a child process, for tests: start it, upload to it, stop it.

The child watches its standard input: when the test process dies, the pipe closes
and the server stops itself with SIGTERM, so no server outlives its test run.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from pluginctl.registry.store import RegistryStore
from pluginctl.registry.tokens import Tokens

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

#: Runs the CLI in the child, and stops it when its stdin (the parent) goes away.
_CHILD = """
import os, signal, sys, threading
def orphaned():
    sys.stdin.buffer.read()
    os.kill(os.getpid(), signal.SIGTERM)
threading.Thread(target=orphaned, daemon=True).start()
from pluginctl.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass
class Registry:
    """A served registry: its store, its URL and the process serving it."""

    store: RegistryStore
    url: str
    process: subprocess.Popen[str]

    @property
    def simple(self) -> str:
        """The simple API's URL, for ``--index-url``."""
        return f"{self.url}/simple/"

    def token(self, *projects: str, name: str = "ci") -> str:
        """A new upload token's secret, for ``projects`` (default: every one)."""
        return Tokens(self.store.index).create(name, projects=list(projects) or ["*"])[1]

    def audit(self) -> str:
        """The registry's audit log so far."""
        path = self.store.root / "audit.jsonl"
        return path.read_text() if path.exists() else ""

    def stop(self, sig: int = signal.SIGINT, *, timeout_s: float = 30) -> tuple[int, str, str]:
        """Stop it as Ctrl-C would (killed if it will not stop): exit code, stdout, stderr."""
        return stop(self.process, sig, timeout_s=timeout_s)


def start_registry(
    root: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    python: Path | str = sys.executable,
) -> Registry:
    """``pluginctl registry serve --registry ROOT --port 0 ARGS...`` in a child process."""
    command = [str(python), "-c", _CHILD, "registry", "serve", "--registry", str(root)]
    process = subprocess.Popen(
        [*command, "--port", "0", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})},
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while line := _readline(process.stdout.fileno()):
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            return Registry(RegistryStore(root), found.group(1), process)
        assert time.monotonic() < deadline
    _, err = process.communicate()
    raise AssertionError(f"the registry did not start: {err}")


def _readline(fd: int) -> str:
    """One line from ``fd``, read byte by byte: nothing more is taken from the pipe, so
    `subprocess.Popen.communicate` later gets all the rest."""
    line = bytearray()
    while not line.endswith(b"\n") and (byte := os.read(fd, 1)):
        line += byte
    return line.decode()


def stop(
    process: subprocess.Popen[str], sig: int = signal.SIGINT, *, timeout_s: float = 30
) -> tuple[int, str, str]:
    """Send ``sig``, wait for the exit (kill past ``timeout_s``): code, stdout, stderr."""
    try:
        if process.poll() is None:
            process.send_signal(sig)
        out, err = process.communicate(timeout=timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode, out, err


@contextlib.contextmanager
def served(root: Path, *args: str, env: Mapping[str, str] | None = None) -> Iterator[Registry]:
    """A registry served for the duration of a ``with`` block."""
    registry = start_registry(root, *args, env=env)
    try:
        yield registry
    finally:
        registry.stop()


def upload_form(path: Path) -> dict[str, str]:
    """The form fields twine sends for ``path`` (name and version from its file name)."""
    import hashlib

    from packaging.utils import parse_sdist_filename, parse_wheel_filename

    if path.name.endswith(".whl"):
        project, parsed, _, _ = parse_wheel_filename(path.name)
        filetype = "bdist_wheel"
    else:
        project, parsed = parse_sdist_filename(path.name)
        filetype = "sdist"
    data = path.read_bytes()
    return {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": str(project),
        "version": str(parsed),
        "filetype": filetype,
        "pyversion": "py3" if filetype == "bdist_wheel" else "source",
        "sha256_digest": hashlib.sha256(data).hexdigest(),
        "md5_digest": hashlib.md5(data, usedforsecurity=False).hexdigest(),
    }


def upload(
    url: str,
    path: Path,
    secret: str | None,
    *,
    signature: Path | None = None,
    **fields: str,
) -> httpx.Response:
    """One upload as twine makes it, with httpx; ``fields`` override the form's."""
    files = {"content": (path.name, path.read_bytes(), "application/octet-stream")}
    if signature is not None:
        files["signature"] = (signature.name, signature.read_bytes(), "application/octet-stream")
    auth = None if secret is None else ("__token__", secret)
    return httpx.post(
        url + "/", data=upload_form(path) | fields, files=files, auth=auth, timeout=60
    )


class AppClient:
    """A synchronous HTTP client on an ASGI app, in this process (httpx's ASGI transport)."""

    def __init__(self, app: object) -> None:
        self.app = app

    def get(self, path: str, **options: object) -> httpx.Response:
        return self.request("GET", path, **options)

    def head(self, path: str, **options: object) -> httpx.Response:
        return self.request("HEAD", path, **options)

    def request(self, method: str, path: str, **options: object) -> httpx.Response:
        import asyncio

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)  # type: ignore[arg-type]  # an ASGI app
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
                response = await c.request(method, path, **options)  # type: ignore[arg-type]  # httpx's own options
                await response.aread()
                return response

        return asyncio.run(send())


BOUNDARY = "pluginctl-test-boundary"


def multipart(*parts: tuple[str, str | None, bytes], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body of ``(name, filename or None, data)`` parts, as written."""
    chunks = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        chunks.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode())
        chunks.append(data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks)


def form_parts(path: Path, **overrides: str) -> list[tuple[str, str | None, bytes]]:
    """The parts twine sends for ``path``: its fields (``overrides`` win), then ``content``."""
    fields = upload_form(path) | overrides
    parts: list[tuple[str, str | None, bytes]] = [(k, None, v.encode()) for k, v in fields.items()]
    parts.append(("content", path.name, path.read_bytes()))
    return parts


def raw_post(
    url: str,
    body: bytes,
    *,
    secret: str | None,
    content_length: int | None = None,
    send: int | None = None,
    shut_write: bool = False,
    timeout_s: float = 60,
) -> bytes:
    """POST ``body`` over a plain socket, with any Content-Length; the raw response.

    ``send`` bytes of the body are sent (all by default); ``shut_write`` then closes
    the sending side, as a client that gives up does.
    """
    import base64
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    auth = base64.b64encode(f"__token__:{secret}".encode()).decode() if secret else None
    head = [
        "POST / HTTP/1.1",
        f"Host: {parts.hostname}:{parts.port}",
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}",
        f"Content-Length: {len(body) if content_length is None else content_length}",
        "Connection: close",
    ]
    if auth:
        head.append(f"Authorization: Basic {auth}")
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout_s) as sock:
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        sock.sendall(body[:send])
        if shut_write:
            sock.shutdown(socket.SHUT_WR)
        return _read_all(sock)


def _read_all(sock: object) -> bytes:
    import socket

    assert isinstance(sock, socket.socket)
    received = bytearray()
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return bytes(received)


def status_line(response: bytes) -> str:
    """``HTTP/1.1 400 reason`` of a raw response."""
    return response.split(b"\r\n", 1)[0].decode("latin-1")
