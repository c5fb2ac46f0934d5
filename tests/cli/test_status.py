"""``pluginctl status`` against a real ``pluginctl run``."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from typing import TYPE_CHECKING

import httpx

from tests.cli.test_run import EXAMPLE_ARGS
from tests.runtime.host_harness import EXAMPLES, FIXTURES, start_host

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import pytest

    from tests.conftest import CliRunner


@contextlib.contextmanager
def serving(tmp_path: Path, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``pluginctl run`` in a child process, stopped with Ctrl-C (SIGINT) afterwards."""
    host, url = start_host(tmp_path, *args)
    try:
        yield host, url
    finally:
        host.send_signal(signal.SIGINT)
        try:
            host.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            host.kill()
            host.communicate()


def test_status_reports_the_running_hosts_plugins(cli: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(tmp_path, *EXAMPLE_ARGS) as (host, url):
        assert httpx.get(f"{url}/plugins/greeter/hello/ada").status_code == 200
        result = cli("status", "--data-dir", data, "--json")
        assert result.exit_code == 0, result.stderr
        answers = result.json()
        assert isinstance(answers, list)
        (answer,) = answers
        assert answer["url"] == url
        assert answer["report"]["host"]["pid"] == host.pid
        plugins = {p["name"]: p for p in answer["report"]["plugins"]}
        assert {name: p["state"] for name, p in plugins.items()} == {
            "cache": "active",
            "greeter": "active",
            "hello": "active",
        }
        assert plugins["greeter"]["calls"] == 1
        assert plugins["cache"]["calls"] >= 1  # greeter asked cache
        table = cli("status", "--data-dir", data)
        assert table.exit_code == 0
        assert f"host {url}: pid {host.pid}" in table.stdout
        assert "greeter  active" in table.stdout
    assert not list((data / "hosts").iterdir())  # the record went with the host
    gone = cli("status", "--data-dir", data)
    assert gone.exit_code == 1
    assert f"no pluginctl host is running with the data directory {data}" in gone.stderr


def test_a_failed_plugin_makes_status_exit_3_with_the_reason(
    cli: CliRunner, tmp_path: Path
) -> None:
    with serving(
        tmp_path, "--plugin", str(EXAMPLES / "hello"), "--plugin", str(FIXTURES / "import-error")
    ):
        result = cli("status", "--data-dir", tmp_path / "data")
        assert result.exit_code == 3
        assert "import-error  failed" in result.stdout
        assert "import-error: " in result.stdout
        assert "KeyError: 'timeout'" in result.stdout


def test_asking_a_host_by_url(cli: CliRunner, tmp_path: Path) -> None:
    with serving(tmp_path, "--plugin", str(EXAMPLES / "hello")) as (_, url):
        no_token = cli("status", "--url", url)
        assert no_token.exit_code == 1
        assert f"talking to the host at {url} needs its token" in no_token.stderr
        wrong = cli("status", "--url", url, "--token", "nope")
        assert wrong.exit_code == 1
        assert f"the host at {url} refused the token (401)" in wrong.stderr
        (record,) = (tmp_path / "data" / "hosts").iterdir()
        assert record.stat().st_mode & 0o777 == 0o600
        token = httpx.Response(200, content=record.read_bytes()).json()["token"]
        right = cli("status", "--url", url, "--token", token, "--json")
        assert right.exit_code == 0
        assert right.json()[0]["report"]["plugins"][0]["name"] == "hello"  # type: ignore[index]


def test_disable_and_enable_a_plugin_of_the_running_host(cli: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with serving(tmp_path, "--plugin", str(EXAMPLES / "hello")) as (_, url):
        route = f"{url}/plugins/hello/hello/ada"
        off = cli("disable", "hello", "--data-dir", data)
        assert off.exit_code == 0, off.stderr
        assert f"hello is disabled in the host at {url}: disabled by the operator" in off.stdout
        assert httpx.get(route).status_code == 503
        assert cli("status", "--data-dir", data).exit_code == 0  # off by the operator's choice
        on = cli("enable", "hello", "--data-dir", data)
        assert on.exit_code == 0, on.stderr
        assert f"hello is active in the host at {url}" in on.stdout
        assert httpx.get(route).status_code == 200
        ghost = cli("enable", "ghost", "--data-dir", data)
        assert ghost.exit_code == 1
        assert f"the host at {url} answered 404: no such plugin" in ghost.stderr


def test_the_host_client_never_sends_its_token_through_a_proxy(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving(tmp_path, "--plugin", str(EXAMPLES / "hello")):
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens: would fail
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        result = cli("status", "--data-dir", tmp_path / "data")
        assert result.exit_code == 0, result.stderr


def test_a_url_that_is_not_one_is_a_user_error(cli: CliRunner) -> None:
    result = cli("status", "--url", "http://[::1", "--token", "t")
    assert result.exit_code == 1
    assert "is not a URL httpx can use" in result.stderr
    assert "hint: give the host's address as http://HOST:PORT" in result.stderr
