"""The pytest plugin: a plugin's own tests run it in a real host, as an author writes them.

Each test writes a test file into a copy of an example plugin and runs pytest on it
in a subprocess, so the fixtures load through the ``pytest11`` entry point exactly as
in a plugin project.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.runtime.host_harness import EXAMPLES

if TYPE_CHECKING:
    from pathlib import Path


def copy_example(tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def pytest_in(project: Path, test_code: str, *args: str) -> subprocess.CompletedProcess[str]:
    (project / "tests" / "test_written.py").write_text(test_code)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-n0",
            "-q",
            "tests/test_written.py",
            *args,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def passed(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


LIVE = """
import pytest


def test_the_route_over_real_http(client, plugin):
    assert plugin.state == "active"
    assert plugin.pid is not None
    assert client.get("/hello/ada").json()["visits"] == 1
    assert client.get("hello/ada").json()["visits"] == 2
    assert plugin.url.endswith("/plugins/hello")


def test_every_test_starts_with_empty_data(client):
    assert client.get("/hello/ada").json()["visits"] == 1


@pytest.mark.pluginctl(revoke=["kv"])
def test_a_revoked_permission_is_denied_inside_the_plugin(client, host, plugin):
    assert "kv" not in plugin.permissions
    response = client.get("/hello/ada")
    assert response.status_code == 500
    denied = [r for r in host.audit() if r["event"] == "permission.denied"]
    assert denied[-1]["plugin"] == "hello"
    assert denied[-1]["permission"] == "kv"


@pytest.mark.pluginctl(grant=["events:publish:hello.*"])
def test_a_granted_permission_is_held(plugin):
    assert "events:publish:hello.*" in plugin.permissions


def test_published_events_are_recorded(host, events):
    assert host.publish("hello.ping", {"n": 1}) == 0
    assert events.wait_for("hello.*").payload == {"n": 1}
    assert [topic for topic in events.topics() if not topic.startswith("host.")] == ["hello.ping"]
    assert "host.plugin.active" in events.topics()  # its activation, as the host announced it
"""


def test_the_fixtures_run_the_plugin_in_a_real_host(tmp_path: Path) -> None:
    project = copy_example(tmp_path, "hello")
    out = passed(pytest_in(project, LIVE))
    assert "5 passed" in out


GREETER = """
import pytest


@pytest.mark.pluginctl(plugins=["../cache"], config={"greeting": "Howdy"})
def test_with_its_dependency_running(client, plugin):
    first = client.get("/hello/ada").json()
    assert first["greeting"].startswith("Howdy, ada")
    assert client.get("/hello/ada").json()["cached"] is True
"""


def test_other_plugins_run_alongside_and_settings_apply(tmp_path: Path) -> None:
    copy_example(tmp_path, "cache")
    greeter = copy_example(tmp_path, "greeter")
    out = passed(pytest_in(greeter, GREETER))
    assert "1 passed" in out


def test_a_plugin_that_cannot_start_fails_its_tests_with_the_traceback(tmp_path: Path) -> None:
    project = copy_example(tmp_path, "hello")
    module = project / "hello" / "plugin.py"
    module.write_text(module.read_text() + "\nraise RuntimeError('broken at import')\n")
    done = pytest_in(project, "def test_it(plugin):\n    pass\n")
    assert done.returncode == 1
    assert "did not start under the test host" in done.stdout
    assert "RuntimeError: broken at import" in done.stdout


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "@pytest.mark.pluginctl(revoke=['db:write'])",
            "names permissions 'hello' does not declare",
        ),
        ("@pytest.mark.pluginctl(grant=['teleport'])", "grant=['teleport']"),
        ("@pytest.mark.pluginctl(plugin=['x'])", "takes only the keywords"),
        ("@pytest.mark.pluginctl(grant='kv')", "takes a list of strings"),
    ],
)
def test_a_wrong_marker_says_what_is_wrong(tmp_path: Path, marker: str, message: str) -> None:
    project = copy_example(tmp_path, "hello")
    done = pytest_in(project, f"import pytest\n\n{marker}\ndef test_it(plugin):\n    pass\n")
    assert done.returncode != 0
    assert message in done.stdout + done.stderr


def test_pluginctl_test_prints_a_json_summary(tmp_path: Path) -> None:
    project = copy_example(tmp_path, "hello")
    (project / "tests" / "test_written.py").write_text(
        "def test_good(plugin):\n    assert plugin.state == 'active'\n\n"
        "def test_bad(client):\n    assert client.get('/hello/x').status_code == 404\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pluginctl",
            "test",
            str(project),
            "--json",
            "--",
            "-p",
            "no:cacheprovider",
            "-n0",
            "tests/test_written.py",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)
    assert summary["exit_code"] == 1
    assert (summary["tests"], summary["passed"], summary["failed"]) == (2, 1, 1)
    (failure,) = summary["failures"]
    assert failure["test"] == "tests/test_written.py::test_bad"
    assert "assert 200 == 404" in failure["message"]
    assert "test_written.py" in done.stderr  # pytest's own report, kept off stdout
