"""A real pypiserver on loopback, standing in for an existing index the tests publish to.

Uploads need a username and password (an htpasswd file made with passlib); listing
and downloads are open. Unknown names are not redirected to PyPI
(``--disable-fallback``). The server gets SIGKILL when the test process ends, even
killed (the kernel's parent-death signal), and is stopped by PID at teardown.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest

from bench._indexes import free_port, stop_process
from pluginctl.runtime.prctl import die_with_parent_preexec

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

USERNAME = "ada"
PASSWORD = "correct-horse"  # noqa: S105  # the test server's upload password
_START_TIMEOUT_S = 30.0
_ATTEMPTS = 5

_HTPASSWD = """
import sys, warnings
warnings.simplefilter("ignore")  # passlib warns about the crypt module on 3.11+
from passlib.apache import HtpasswdFile
file = HtpasswdFile(sys.argv[1], new=True)
file.set_password(sys.argv[2], sys.argv[3])
file.save()
"""


@dataclass(frozen=True)
class PypiServer:
    """A running pypiserver: where to upload, where its simple API and files are."""

    url: str
    packages: Path
    log: Path
    pid: int

    @property
    def simple_url(self) -> str:
        return f"{self.url}simple/"


def _htpasswd(path: Path) -> Path:
    subprocess.run([sys.executable, "-c", _HTPASSWD, str(path), USERNAME, PASSWORD], check=True)
    return path


def _launch(root: Path, port: int) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "pypiserver", "run", "--interface", "127.0.0.1"]
    command += ["--port", str(port), "--authenticate", "update"]
    command += ["--passwords", str(root / "htpasswd"), "--disable-fallback"]
    command += ["--server", "wsgiref", "--health-endpoint", "/health", str(root / "packages")]
    with (root / "server.log").open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            process_group=0,  # a Ctrl-C at the terminal is for pytest
            preexec_fn=die_with_parent_preexec(sig=signal.SIGKILL),  # noqa: PLW1509  # it only calls prctl
        )


def _ready(process: subprocess.Popen[bytes], url: str) -> bool:
    """Whether the server answers its health check: False once it has exited."""
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}health", timeout=2.0).status_code == 200:
                return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def running_pypiserver(root: Path) -> Iterator[PypiServer]:
    """Start pypiserver on a free loopback port with its packages under ``root``."""
    (root / "packages").mkdir(parents=True)
    _htpasswd(root / "htpasswd")
    for _ in range(_ATTEMPTS):
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        process = _launch(root, port)
        try:
            if _ready(process, url):
                yield PypiServer(url, root / "packages", root / "server.log", process.pid)
                return
        finally:
            stop_process(process)
    log = (root / "server.log").read_text(errors="replace")
    raise RuntimeError(f"pypiserver did not start in {_ATTEMPTS} attempts:\n{log[-3000:]}")


@pytest.fixture(scope="session")
def pypiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PypiServer]:
    """One real pypiserver per test process; tests publish distinct project names to it."""
    with running_pypiserver(tmp_path_factory.mktemp("pypiserver")) as server:
        yield server


@pytest.fixture
def publish_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of one's own: no user's .pypirc, keyring, keys, signatures or credentials."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    for name in (
        "TWINE_USERNAME",
        "TWINE_PASSWORD",
        "TWINE_REPOSITORY_URL",
        "PLUGINCTL_SIGNING_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    return home
