"""Make the screenshots of the README and the docs from a real host and a real browser.

``python docs/assets/screenshots.py`` (from the repository root, with the ``dev``
extras and Debian's chromium installed) runs ``pluginctl run`` with every example
plugin, sends it traffic for a while, and saves, next to this file:

- ``admin-dashboard.png``, ``admin-plugin.png`` and ``admin-panel.png``: the admin
  UI in chromium, driven by Playwright;
- ``pluginctl-dev.svg``: a terminal running ``pluginctl dev`` on a new plugin
  through a good save, a broken save and its fix, drawn by rich.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLES = ["cache", "greeter", "hello", "notes", "audit-log", "analytics", "export"]
PANEL = ("analytics", "main")  # the plugin and the panel id shown in admin-panel.png


def main() -> None:
    sys.path.insert(0, str(ROOT))  # the browser tests' helpers
    with tempfile.TemporaryDirectory() as scratch:
        admin_screenshots(Path(scratch))
        dev_screenshot(Path(scratch))


def admin_screenshots(scratch: Path) -> None:
    from tests.web.admin.browser import start_host  # the browser tests' own host

    plugins = [ROOT / "examples" / name for name in EXAMPLES]
    host = start_host(scratch, *[plugin for plugin in plugins if plugin.is_dir()])
    stop = threading.Event()
    traffic = threading.Thread(target=send_traffic, args=(host.url, stop), daemon=True)
    traffic.start()
    try:
        browse(host.url, host.token)
    finally:
        stop.set()
        traffic.join()
        host.stop()


def send_traffic(url: str, stop: threading.Event) -> None:
    """A steady trickle of requests, rising and falling, with some failures."""
    with httpx.Client(base_url=url, timeout=5) as client:
        for index in range(3):
            client.post("/plugins/notes/notes", json={"title": f"Note {index}", "body": "hello"})
        started = time.monotonic()
        while not stop.is_set():
            phase = (time.monotonic() - started) % 20
            for path in ("/plugins/hello/hello/ada", "/plugins/greeter/hello/grace"):
                client.get(path)
            if phase > 10:
                client.get("/plugins/notes/notes")
                client.get("/plugins/notes/notes/999")  # a 404
            time.sleep(0.05 if phase < 15 else 0.02)


def browse(url: str, token: str) -> None:
    from playwright.sync_api import sync_playwright

    from tests.web.admin.browser import CHROMIUM, CHROMIUM_ARGS  # the browser tests' own

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 760}, device_scale_factor=1)
        page.goto(f"{url}/admin/")
        page.fill("input[name=token]", token)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(r"/admin/$"))
        time.sleep(40)  # twenty samples for the charts
        page.reload()
        page.screenshot(path=str(HERE / "admin-dashboard.png"))
        page.goto(f"{url}/admin/plugins/hello")
        page.screenshot(path=str(HERE / "admin-plugin.png"), full_page=True)
        plugin, panel = PANEL
        page.goto(f"{url}/admin/plugins/{plugin}/panels/{panel}")
        page.wait_for_timeout(500)
        page.screenshot(path=str(HERE / "admin-panel.png"))
        browser.close()


def dev_screenshot(scratch: Path) -> None:
    """``pluginctl dev`` on a new plugin: a save, a broken save, the fix."""
    from rich.console import Console
    from rich.text import Text

    pluginctl = [sys.executable, "-m", "pluginctl"]
    create = [*pluginctl, "create", "demo", "--no-input", "--with", "routes"]
    subprocess.run([*create, "--output-dir", str(scratch)], check=True, capture_output=True)
    project = scratch / "demo"
    source = project / "demo" / "plugin.py"
    env = {**os.environ, "FORCE_COLOR": "1", "COLUMNS": "100", "TERM": "xterm-256color"}
    dev = subprocess.Popen(
        [*pluginctl, "dev", "--no-status", "--port", "0", "--data-dir", str(scratch / "dev-data")],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    assert dev.stdout is not None
    lines: list[str] = []

    def read_until(pattern: str) -> None:
        for line in dev.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if re.search(pattern, re.sub(r"\x1b\[[0-9;]*m", "", line)):
                return

    read_until(r"admin token")
    time.sleep(2)  # the watcher starts after the host says it is ready
    good = source.read_text()
    source.write_text(good.replace('f"{salutation}, {name}!"', 'f"{salutation}, dear {name}!"'))
    read_until(r"reloaded demo")
    time.sleep(1)
    source.write_text(good.replace('f"{salutation}, {name}!"', 'f"{salutation}, {name}!"('))
    read_until(r"does not compile")
    read_until(r"never closed")
    time.sleep(1)
    source.write_text(good)
    read_until(r"reloaded demo")
    dev.terminate()
    dev.communicate(timeout=30)
    text = "".join(lines)
    text = re.sub(r"admin token \(printed this once, kept in [^)]*\): \S+", "admin token: …", text)
    text = text.replace(str(scratch), "~")
    console = Console(record=True, width=100, file=open(os.devnull, "w"))  # noqa: SIM115, PTH123
    console.print("$ pluginctl create demo --with routes && cd demo && pluginctl dev")
    console.print(Text.from_ansi(text))
    console.save_svg(str(HERE / "pluginctl-dev.svg"), title="pluginctl dev")


if __name__ == "__main__":
    main()
