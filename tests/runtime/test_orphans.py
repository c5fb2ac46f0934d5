"""Workers die with the host, even when the host is killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import psutil
import pytest

from tests.runtime.host_harness import EXAMPLES

if TYPE_CHECKING:
    from pathlib import Path


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_until(predicate: object, *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("start_method", ["fork", "spawn"])
def test_sigkill_of_the_host_leaves_no_worker_behind(tmp_path: Path, start_method: str) -> None:
    config = tmp_path / "pluginctl.toml"
    config.write_text(
        f'data_dir = "data"\ninstalled = false\n[defaults]\nstart_method = "{start_method}"\n'
    )
    stderr = (tmp_path / "stderr.txt").open("w")
    host = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "pluginctl",
            "run",
            "--config",
            str(config),
            "--port",
            "0",
            "--plugin",
            str(EXAMPLES / "hello"),
            "--plugin",
            str(EXAMPLES / "cache"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    try:
        audit = tmp_path / "data" / "audit.jsonl"

        def both_active() -> bool:
            if not audit.exists():
                return False
            lines = [json.loads(line) for line in audit.read_text().splitlines() if line]
            return sum(1 for r in lines if r["event"] == "plugin.active") == 2

        assert wait_until(both_active, timeout_s=30), (tmp_path / "stderr.txt").read_text()
        family = [p.pid for p in psutil.Process(host.pid).children(recursive=True)]
        assert len(family) >= 2
        os.kill(host.pid, signal.SIGKILL)
        host.wait(timeout=10)
        assert wait_until(lambda: all(gone(pid) for pid in family), timeout_s=10), [
            pid for pid in family if not gone(pid)
        ]
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
        stderr.close()
