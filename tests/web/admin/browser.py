"""A real chromium (Debian's package) driven by Playwright, and a real ``pluginctl run``.

Playwright's own browser download cannot work on these machines, so the browser is
the system's: ``PLUGINCTL_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on the
PATH. Without one the browser tests skip, except in CI (``CI=true``), where
``.ci/run`` installs it and a missing browser fails them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
#: Where the screenshots go (kept by CI as artifacts).
ARTIFACTS = Path(os.environ.get("PLUGINCTL_TEST_ARTIFACTS", ROOT / "build" / "test-artifacts"))
CHROMIUM = os.environ.get("PLUGINCTL_CHROMIUM") or next(
    (found for name in ("chromium", "chromium-browser") if (found := shutil.which(name))), None
)
#: The flags a headless chromium needs here: root (no sandbox of its own), no GPU,
#: and none of the background connections a closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]

needs_chromium = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true",
    reason="no chromium here: apt-get install chromium (or set PLUGINCTL_CHROMIUM)",
)


@dataclass
class RunningHost:
    """A ``pluginctl run`` in a child process, its URL and its admin token."""

    process: subprocess.Popen[str]
    url: str
    token: str
    output: list[str]

    def stop(self) -> None:
        """Interrupt it (kill it if it will not stop) and wait for it."""
        import signal

        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            rest, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            rest, _ = self.process.communicate()
        self.output.append(rest or "")


def start_host(data_dir: Path, *plugins: Path) -> RunningHost:
    """``pluginctl run`` with ``plugins`` from source, reading its admin token as printed."""
    command = [sys.executable, "-m", "pluginctl", "run", "--no-installed", "--port", "0"]
    command += ["--data-dir", str(data_dir)]
    for plugin in plugins:
        command += ["--plugin", str(plugin)]
    env = {**os.environ, "COLUMNS": "400"}
    env.pop("PLUGINCTL_ADMIN_TOKEN", None)
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=data_dir.parent,
    )
    assert process.stdout is not None
    output: list[str] = []
    url = token = None
    deadline = time.monotonic() + 60
    for line in process.stdout:
        output.append(line)
        found = re.search(r"serving on (http://\S+)", line)
        url = found.group(1) if found else url
        printed = re.search(r"admin token \(printed this once, kept in .*\): (\S+)", line)
        if printed:
            token = printed.group(1)
            break
        assert time.monotonic() < deadline, "".join(output)
    if url is None or token is None:
        process.kill()
        process.wait()
        raise AssertionError("the host did not start:\n" + "".join(output))
    return RunningHost(process, url, token, output)
