"""``pluginctl dev`` as an author uses it: save, see the new behaviour, break it, fix it.

Each test runs the real command in a subprocess on a copy of examples/hello and reads
its ``--events jsonl`` stream, the way an editor integration would.
"""

from __future__ import annotations

import json
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from typing import TYPE_CHECKING

import httpx
import psutil
import pytest

from tests.runtime.host_harness import EXAMPLES

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

GREETING = 'return f"Hello, {name}! You have been greeted {times}."'


class Dev:
    """A running ``pluginctl dev`` and its event stream."""

    def __init__(self, project: Path, data_dir: Path, *extra: str) -> None:
        command = [
            sys.executable,
            "-m",
            "pluginctl",
            "dev",
            str(project),
            "--port",
            "0",
            "--events",
            "jsonl",
            "--no-status",
            "--data-dir",
            str(data_dir),
            *extra,
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.events: queue.Queue[dict[str, object]] = queue.Queue()
        self.seen: list[dict[str, object]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        ready = self.wait("ready")
        self.url = str(ready["url"])
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))

    def wait(
        self, event: str, check: Callable[[dict[str, object]], bool] = lambda _: True
    ) -> dict[str, object]:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                found = self.events.get(timeout=deadline - time.monotonic())
            except queue.Empty:
                break
            self.seen.append(found)
            if found["event"] == event and check(found):
                return found
        raise AssertionError(f"no {event} event; saw {self.seen}; stderr: {self.stderr()}")

    def drain(self) -> list[dict[str, object]]:
        """Every event so far, including those no `wait` asked for."""
        while True:
            try:
                self.seen.append(self.events.get_nowait())
            except queue.Empty:
                return self.seen

    def stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return "(still running)"
        if not self.process.stderr.closed:
            self._stderr = self.process.stderr.read()
            self.process.stderr.close()
        return self._stderr

    _stderr = ""

    def message(self, name: str = "ada") -> str:
        response = self.client.get(f"/plugins/hello/hello/{name}")
        assert response.status_code == 200, response.text
        return str(response.json()["message"])

    def stop(self) -> None:
        workers = [child.pid for child in psutil.Process(self.process.pid).children(recursive=True)]
        self.process.send_signal(signal.SIGINT)
        try:
            assert self.process.wait(timeout=20) == 0, self.stderr()
            self.wait("stopped")
        finally:
            self.client.close()
            self._reader.join(timeout=5)
            self.stderr()
            assert self.process.stdout is not None
            self.process.stdout.close()
        assert not [pid for pid in workers if psutil.pid_exists(pid) and _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def project(tmp_path: Path) -> Path:
    copy = tmp_path / "hello"
    shutil.copytree(EXAMPLES / "hello", copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.fixture
def dev(project: Path, tmp_path: Path) -> Iterator[Dev]:
    running = Dev(project, tmp_path / "data", "--start-timeout", "2")
    try:
        yield running
    finally:
        if running.process.poll() is None:
            running.stop()
        else:  # it ended on its own: a failure the test reports; close its pipes
            running.client.close()
            running.stderr()


def edit(project: Path, old: str, new: str, module: str = "plugin.py") -> None:
    path = project / "hello" / module
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def test_a_save_is_served_and_a_touch_is_not_a_reload(dev: Dev, project: Path) -> None:
    assert dev.message().startswith("Hello, ada!")
    edit(project, GREETING, GREETING.replace("Hello", "Howdy"))
    finished = dev.wait("reload.finished")
    assert isinstance(finished["latency_ms"], float)
    assert dev.message().startswith("Howdy, ada!")
    (project / "hello" / "plugin.py").touch()
    (project / "hello" / "plugin.py").write_bytes((project / "hello" / "plugin.py").read_bytes())
    (project / "hello" / ".plugin.py.swp").write_text("editor junk")
    (project / "hello" / "notes.txt~").write_text("editor junk")
    edit(project, "Howdy", "Hi")  # the only real change from here on
    second = dev.wait("reload.finished")
    assert second["generation"] == finished["generation"] + 1  # type: ignore[operator]
    assert [e["event"] for e in dev.seen].count("reload.started") == 2
    assert dev.message().startswith("Hi, ada!")
    assert not list(project.rglob("__pycache__"))


def test_a_syntax_error_keeps_the_last_good_version_until_the_fix(dev: Dev, project: Path) -> None:
    edit(project, GREETING, GREETING[:-2])  # mid-edit: the closing quote and paren gone
    failed = dev.wait("reload.failed")
    assert failed["stage"] == "compile"
    assert "plugin.py:15: unterminated string literal" in str(failed["error"])
    assert dev.message().startswith("Hello, ada!")
    edit(project, GREETING[:-2], GREETING.replace("Hello", "Fixed"))
    dev.wait("reload.finished")
    assert dev.message().startswith("Fixed, ada!")


def test_a_deleted_module_fails_the_reload_and_the_old_version_serves(
    dev: Dev, project: Path
) -> None:
    (project / "hello" / "words.py").write_text('SALUTATION = "Hey"\n')
    edit(
        project,
        "from pluginctl import Plugin",
        "from pluginctl import Plugin\n\nfrom hello.words import SALUTATION",
    )
    edit(project, GREETING, GREETING.replace("Hello", "{SALUTATION}"))
    dev.wait("reload.finished", lambda e: e["generation"] == 3 or True)
    deadline = time.monotonic() + 10
    while not dev.message().startswith("Hey") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert dev.message().startswith("Hey, ada!")
    (project / "hello" / "words.py").unlink()
    failed = dev.wait("reload.failed")
    assert failed["stage"] == "start"
    assert "No module named 'hello.words'" in str(failed["error"])
    assert dev.message().startswith("Hey, ada!")


def test_an_invalid_manifest_is_refused_with_the_key_and_a_permission_change_is_shown(
    dev: Dev, project: Path
) -> None:
    manifest = project / "hello" / "plugin.toml"
    original = manifest.read_text()
    manifest.write_text(
        original.replace(
            'permissions = ["routes", "static", "kv"]',
            'permissions = ["routes", "static", "kv", "telepathy"]',
        )
    )
    failed = dev.wait("reload.failed")
    assert failed["stage"] == "manifest"
    assert "permissions" in str(failed["error"])
    assert "telepathy" in str(failed["error"])
    assert dev.message().startswith("Hello, ada!")
    manifest.write_text(original.replace('"kv"]', '"kv", "events:publish:hello.*"]'))
    changed = dev.wait("manifest.changed")
    assert changed["permissions_added"] == ["events:publish:hello.*"]
    assert changed["permissions_removed"] == []
    dev.wait("reload.finished")
    assert dev.message().startswith("Hello, ada!")


def test_fifty_saves_in_a_second_coalesce_and_no_request_fails(dev: Dev, project: Path) -> None:
    failures: list[str] = []
    stop = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=dev.url, timeout=10) as client:
            while not stop.is_set():
                response = client.get("/plugins/hello/hello/probe")
                if response.status_code != 200:
                    failures.append(response.text)

    prober = threading.Thread(target=probe)
    prober.start()
    module = project / "hello" / "plugin.py"
    text = module.read_text()

    def save_all(word: str, pause_s: float) -> None:
        for index in range(50):
            module.write_text(text.replace("Hello", f"{word}{index:02d}"))
            time.sleep(pause_s)
        deadline = time.monotonic() + 10
        while not dev.message().startswith(f"{word}49") and time.monotonic() < deadline:
            time.sleep(0.02)
        assert dev.message().startswith(f"{word}49, ada!")
        time.sleep(0.2)  # the last events are on their way

    def reloads() -> list[dict[str, object]]:
        return [e for e in dev.drain() if str(e["event"]).startswith("reload.")]

    save_all("Paced", 0.02)  # 50 saves in one second: each may get its own reload
    paced = reloads()
    save_all("Burst", 0)  # 50 saves at once: one reload in flight, one pending
    burst = reloads()[len(paced) :]
    stop.set()
    prober.join()
    assert failures == []
    assert not [(e["stage"], e["error"]) for e in paced if e["event"] == "reload.failed"]
    assert [e for e in paced if e["event"] == "reload.finished"]
    # a save caught half-written may fail its reload; the one after it wins
    assert 1 <= len([e for e in burst if e["event"] == "reload.started"]) <= 10
    assert burst[-1]["event"] == "reload.finished"


def test_the_project_renamed_away_keeps_the_last_good_version(
    dev: Dev, project: Path, tmp_path: Path
) -> None:
    project.rename(tmp_path / "elsewhere")
    failed = dev.wait("reload.failed")
    assert failed["stage"] == "manifest"
    assert dev.message().startswith("Hello, ada!")


def test_an_endless_loop_at_import_is_cut_off_and_the_old_version_serves(
    dev: Dev, project: Path
) -> None:
    edit(project, "plugin = Plugin()", "plugin = Plugin()\nwhile True:\n    pass")
    failed = dev.wait("reload.failed")
    assert failed["stage"] == "start"
    assert "did not answer start within 2 s" in str(failed["error"])
    assert dev.message().startswith("Hello, ada!")
    edit(project, "plugin = Plugin()\nwhile True:\n    pass", "plugin = Plugin()")
    dev.wait("reload.finished")
    assert dev.message().startswith("Hello, ada!")


def test_polling_finds_changes_without_file_events(project: Path, tmp_path: Path) -> None:
    polling = Dev(project, tmp_path / "data", "--poll")
    try:
        edit(project, GREETING, GREETING.replace("Hello", "Polled"))
        polling.wait("reload.finished")
        assert polling.message().startswith("Polled, ada!")
    finally:
        polling.stop()


def test_new_python_dependencies_say_what_to_reinstall(dev: Dev, project: Path) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    old = 'dependencies = ["pluginctl>=0.1,<0.2"]'
    assert old in text
    pyproject.write_text(text.replace(old, 'dependencies = ["pluginctl>=0.1,<0.2", "attrs"]'))
    changed = dev.wait("dependencies.changed")
    assert f"pip install -e {project}" in str(changed["hint"])
    dev.wait("reload.finished")
