"""The test pypiserver itself: on loopback only, no fallback to PyPI, gone with its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

if TYPE_CHECKING:
    from tests.registry.pypiserver import PypiServer

ROOT = Path(__file__).parent.parent.parent

_HOLD = """
import sys, time
from pathlib import Path
from tests.registry.pypiserver import running_pypiserver
with running_pypiserver(Path(sys.argv[1])) as server:
    print(server.pid, flush=True)
    time.sleep(600)
"""


def test_unknown_names_are_not_redirected_to_pypi(pypiserver: PypiServer) -> None:
    response = httpx.get(f"{pypiserver.simple_url}surely-not-published/")
    assert response.status_code == 404
    assert pypiserver.url.startswith("http://127.0.0.1:")


def test_the_server_dies_with_the_test_process_even_killed(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(tmp_path / "server")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        server_pid = int(holder.stdout.readline())
        os.kill(holder.pid, signal.SIGKILL)  # no teardown runs: only the kernel can stop it
        holder.wait()
        assert _gone(server_pid)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def _gone(pid: int) -> bool:
    """Whether ``pid`` ends (or is a zombie awaiting its reaper) within the test's timeout."""
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
