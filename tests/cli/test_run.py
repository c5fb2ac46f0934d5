"""``pluginctl run``, ``list`` and ``info`` as a user types them."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

import httpx
import psutil

from tests.runtime.host_harness import EXAMPLES, FIXTURES, interrupt, start_host

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import CliRunner

EXAMPLE_ARGS = [
    "--plugin",
    str(EXAMPLES / "hello"),
    "--plugin",
    str(EXAMPLES / "cache"),
    "--plugin",
    str(EXAMPLES / "greeter"),
]


def test_run_serves_the_examples_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    host, url = start_host(tmp_path, *EXAMPLE_ARGS)
    try:
        workers = psutil.Process(host.pid).children(recursive=True)
        greeting = httpx.get(f"{url}/plugins/greeter/hello/ada", timeout=10).json()
        assert greeting["greeting"] == "Hello, ada!"
        assert httpx.get(f"{url}/healthz", timeout=10).json()["status"] == "ok"
    finally:
        err = interrupt(host)
    assert host.returncode == 0
    assert "stopped" in err
    assert "Traceback" not in err
    psutil.wait_procs(workers, timeout=5)
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)


def test_run_refuses_a_missing_dependency_before_starting_anything(
    cli: CliRunner, tmp_path: Path
) -> None:
    result = cli("run", "--no-installed", "--data-dir", tmp_path, "--plugin", EXAMPLES / "greeter")
    assert result.exit_code == 1
    assert "error: plugin 'greeter' depends on 'cache' (>=0.1,<1), which is not installed" in (
        result.stderr
    )
    assert "hint:" in result.stderr


def test_run_says_when_the_port_is_taken(cli: CliRunner, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli(
            "run",
            "--no-installed",
            "--data-dir",
            tmp_path,
            "--port",
            str(port),
            "--plugin",
            EXAMPLES / "hello",
        )
    assert result.exit_code == 1
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr


def test_list_shows_states_and_permissions(cli: CliRunner) -> None:
    result = cli(
        "list",
        "--no-installed",
        "--json",
        "--plugin",
        EXAMPLES / "greeter",
        "--plugin",
        EXAMPLES / "hello",
    )
    assert result.exit_code == 0
    listed = result.json()
    assert isinstance(listed, list)
    entries = {entry["name"]: entry for entry in listed}
    assert entries["hello"]["state"] == "resolved"
    assert entries["hello"]["permissions"] == ["routes", "static", "kv"]
    assert entries["greeter"]["state"] == "unresolved"
    assert "cache" in entries["greeter"]["reason"]
    text = cli("list", "--no-installed", "--plugin", EXAMPLES / "hello")
    assert "hello" in text.stdout
    assert "resolved" in text.stdout


def test_info_shows_one_plugin(cli: CliRunner) -> None:
    result = cli("info", "cache", "--no-installed", "--json", "--plugin", EXAMPLES / "cache")
    assert result.exit_code == 0
    data = result.json()
    assert isinstance(data, dict)
    assert data["manifest"]["exports"] == ["get", "set"]
    missing = cli("info", "nope", "--no-installed", "--plugin", EXAMPLES / "cache")
    assert missing.exit_code == 1
    assert "no plugin named 'nope'" in missing.stderr
    assert "(found: cache)" in missing.stderr


def test_two_sources_with_one_name_are_refused(cli: CliRunner) -> None:
    result = cli(
        "list", "--no-installed", "--plugin", FIXTURES / "twin-a", "--plugin", FIXTURES / "twin-b"
    )
    assert result.exit_code == 1
    assert "error:" in result.stderr
    assert "twin-a" in result.stderr
    assert "twin-b" in result.stderr


def test_run_starts_what_it_can_and_says_why_not_for_the_rest(tmp_path: Path) -> None:
    host, url = start_host(
        tmp_path, "--plugin", str(EXAMPLES / "hello"), "--plugin", str(EXAMPLES / "greeter")
    )
    try:
        assert httpx.get(f"{url}/plugins/hello/hello/x", timeout=10).status_code == 200
        assert httpx.get(f"{url}/plugins/greeter/hello/x", timeout=10).status_code == 404
    finally:
        err = interrupt(host)
    assert "error: plugin 'greeter' depends on 'cache'" in err
    assert "hint:" in err


def test_run_warns_when_listening_beyond_this_machine(cli: CliRunner, tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface here, so binding fails after the warning
    result = cli(
        "run",
        "--no-installed",
        "--data-dir",
        tmp_path,
        "--host",
        "192.0.2.1",
        "--port",
        "0",
        "--plugin",
        EXAMPLES / "hello",
    )
    assert result.exit_code == 1
    assert "warning: the gateway listens on 192.0.2.1, beyond this machine" in result.stderr
    assert "error: cannot listen on 192.0.2.1:0" in result.stderr
