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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pluginctl.web.admin.auth import TOKEN_ENV
from tests.runtime.host_harness import interrupt
from tests.runtime.host_harness import start_host as start_run

if TYPE_CHECKING:
    import subprocess

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

    def stop(self) -> None:
        """Interrupt it as ctrl+c would (killing it if it will not stop)."""
        interrupt(self.process)


def start_host(root: Path, *plugins: Path) -> RunningHost:
    """``pluginctl run`` with ``plugins`` from source, data in ``root/data``.

    The admin token is read from the line the host prints after ``serving on``.
    """
    env = {name: value for name, value in os.environ.items() if name != TOKEN_ENV}
    sources = [arg for plugin in plugins for arg in ("--plugin", str(plugin))]
    process, url = start_run(root, *sources, env=env)
    assert process.stdout is not None
    printed = process.stdout.readline() + process.stdout.readline()
    found = re.search(r"admin token \(printed this once, kept in .*\): (\S+)", printed)
    if found is None:
        interrupt(process)
        raise AssertionError(f"the host printed no admin token:\n{printed}")
    return RunningHost(process, url, found.group(1))
