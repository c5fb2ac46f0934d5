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
    for line in process.stdout:
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            return Registry(RegistryStore(root), found.group(1), process)
        assert time.monotonic() < deadline
    _, err = process.communicate()
    raise AssertionError(f"the registry did not start: {err}")


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
