"""The index servers the registry benchmarks compare: ``registry serve`` and pypiserver.

Both run as child processes on a free loopback port, die with the benchmark (the
kernel's parent-death signal), and are stopped by PID. pypiserver runs as its docs
suggest for a quick start (``pypi-server run``, its default server), with uploads
behind an htpasswd file, and no fallback to PyPI, like the registry.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from bench._errors import BenchError
from pluginctl.runtime.prctl import die_with_parent_preexec

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = [
    "PYPISERVER_PASSWORD",
    "PYPISERVER_USER",
    "Server",
    "free_port",
    "pypiserver",
    "registry_serve",
    "stop_process",
]

PYPISERVER_USER = "bench"
PYPISERVER_PASSWORD = "bench-password"  # a throwaway server's, on loopback
_HTPASSWD = (
    "import sys; from passlib.apache import HtpasswdFile\n"
    "f = HtpasswdFile(sys.argv[1], new=True); f.set_password(sys.argv[2], sys.argv[3]); f.save()"
)
_START_S = 30.0


@dataclass(frozen=True, slots=True)
class Server:
    """A running index: its root URL (uploads go there) and its simple API."""

    url: str
    pid: int

    @property
    def simple(self) -> str:
        """The simple API's root."""
        return f"{self.url}simple/"


@contextlib.contextmanager
def registry_serve(registry: Path, *, env: dict[str, str] | None = None) -> Iterator[Server]:
    """``pluginctl registry serve`` of ``registry`` on a free port, in ``env``."""
    command = [sys.executable, "-m", "pluginctl", "registry", "serve", "--registry", str(registry)]
    process = _start([*command, "--port", "0"], stdout=subprocess.PIPE, env=env)
    try:
        yield Server(_announced(process), process.pid)
    finally:
        stop_process(process)


@contextlib.contextmanager
def pypiserver(packages: Path, htpasswd: Path) -> Iterator[Server]:
    """Pypiserver serving ``packages`` on a free port, uploads allowed with the bench login."""
    subprocess.run(
        [sys.executable, "-c", _HTPASSWD, str(htpasswd), PYPISERVER_USER, PYPISERVER_PASSWORD],
        check=True,
    )
    port = free_port()
    command = [sys.executable, "-m", "pypiserver", "run", "--interface", "127.0.0.1"]
    command += ["--port", str(port), "--passwords", str(htpasswd), "--disable-fallback"]
    command += ["--authenticate", "update", "--health-endpoint", "/health", str(packages)]
    process = _start(command, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_healthy(process, f"{url}health")
        yield Server(url, process.pid)
    finally:
        stop_process(process)


def _start(
    command: list[str], *, stdout: int, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.DEVNULL,
        text=True,
        process_group=0,
        preexec_fn=die_with_parent_preexec(sig=signal.SIGKILL),  # noqa: PLW1509  # it only calls prctl
    )


def _announced(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    deadline = time.monotonic() + _START_S
    for line in process.stdout:
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            return found.group(1).rstrip("/") + "/"
        if time.monotonic() > deadline:
            break
    raise BenchError("pluginctl registry serve did not say where it serves")


def _wait_healthy(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + _START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"pypiserver exited with {process.returncode} at start")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2.0).status_code == 200:
                return
        time.sleep(0.05)
    raise BenchError("pypiserver did not answer its health check")


def stop_process(process: subprocess.Popen[str] | subprocess.Popen[bytes]) -> None:
    """End a server this process started: SIGTERM, then SIGKILL after 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (for a server that cannot take port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
