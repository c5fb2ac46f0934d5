"""``pluginctl search``: a local registry searched in process, or a running one over HTTP.

Hostile inputs (REFERENCES.md): 24 (HTML/JS and rich markup in summaries and
descriptions are printed as text, never interpreted).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

import pytest
import uvicorn
from starlette.applications import Starlette

from pluginctl.registry.api import marketplace_routes
from pluginctl.registry.store import REGISTRY_ENV, RegistryStore
from tests.registry.publishing import Publisher, trusted_key

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from tests.conftest import CliRunner

MARKUP = "[red]boom[/red] [/] [link=http://evil]x[/link]"


@pytest.fixture
def shelf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RegistryStore:
    """A registry named by $PLUGINCTL_REGISTRY with three plugins, one for 0.1 only."""
    store = RegistryStore(tmp_path / "registry")
    monkeypatch.setenv(REGISTRY_ENV, str(store.root))
    publisher = Publisher(store, trusted_key(tmp_path, monkeypatch), tmp_path / "scratch")
    publisher.publish(
        "oauth-login", summary="Log in with OAuth", category="auth", tags=("oauth", "login")
    )
    publisher.publish(
        "marked",
        summary=MARKUP,
        category="ui",
        description="<script>alert(1)</script> [bold]not bold[/bold]",
        permissions=("kv",),
    )
    publisher.publish("old-clock", host="==0.1.*", summary="Tells time", category="utilities")
    publisher.publish("old-clock", "2.0", host="==0.1.*", summary="Tells time better")
    store.yank("old-clock", "2.0", reason="[red]wrong[/red] zone")
    return store


def test_search_lists_matching_plugins_in_a_table(cli: CliRunner, shelf: RegistryStore) -> None:
    result = cli("search", "oauth")
    assert result.exit_code == 0, result.stderr
    assert "oauth-login" in result.stdout
    assert "Log in with OAuth" in result.stdout
    assert "marked" not in result.stdout


def test_filters_and_sorting(cli: CliRunner, shelf: RegistryStore) -> None:
    assert "oauth-login" in cli("search", "--category", "auth").stdout
    assert "oauth-login" not in cli("search", "--category", "ui").stdout
    assert "oauth-login" in cli("search", "--tag", "login").stdout
    shelf.index.count_download("marked-1.0-py3-none-any.whl")
    by_downloads = cli("search", "--sort", "downloads", "--json").json()
    assert isinstance(by_downloads, dict)
    assert by_downloads["hits"][0]["project"] == "marked"


def test_rich_markup_in_a_summary_is_printed_as_text(cli: CliRunner, shelf: RegistryStore) -> None:
    result = cli("search", "marked")
    assert result.exit_code == 0, result.stderr
    assert "[red]boom[/red] [/] [link=http://evil]x[/link]" in result.stdout


def test_the_running_pluginctl_version_filters_unless_all_hosts(
    cli: CliRunner, shelf: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "old-clock" in cli("search", "clock").stdout  # this is pluginctl 0.1.x
    monkeypatch.setattr("pluginctl._version.__version__", "0.2.0")
    hidden = cli("search", "clock")
    assert "old-clock" not in hidden.stdout
    assert "--all-hosts" in hidden.stdout
    assert "old-clock" in cli("search", "clock", "--all-hosts").stdout


def test_json_output_is_the_search_page(cli: CliRunner, shelf: RegistryStore) -> None:
    data = cli("search", "--json").json()
    assert isinstance(data, dict)
    assert data["total"] == 3
    hits = {hit["project"]: hit for hit in data["hits"]}
    assert hits["marked"]["summary"] == MARKUP
    assert hits["old-clock"]["version"] == "1.0"  # 2.0 is yanked


def test_show_prints_a_project_page_with_markup_escaped(
    cli: CliRunner, shelf: RegistryStore
) -> None:
    result = cli("search", "--show", "old-clock")
    assert result.exit_code == 0, result.stderr
    assert "old-clock 1.0" in result.stdout
    assert "yanked: [red]wrong[/red] zone" in result.stdout
    marked = cli("search", "--show", "Marked")
    assert "<script>alert(1)</script> [bold]not bold[/bold]" in marked.stdout
    assert "kv" in marked.stdout
    data = cli("search", "--show", "old-clock", "--json").json()
    assert isinstance(data, dict)
    assert [release["version"] for release in data["versions"]] == ["2.0", "1.0"]


def test_show_an_unknown_project_is_an_error_with_a_hint(
    cli: CliRunner, shelf: RegistryStore
) -> None:
    result = cli("search", "--show", "nobody")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: nobody is not in the registry at ")
    assert "hint: pluginctl search nobody" in result.stderr


def test_no_registry_there_is_an_error_and_nothing_is_created(
    cli: CliRunner, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere"
    result = cli("search", "x", "--registry", missing)
    assert result.exit_code == 1
    assert f"error: no registry at {missing}" in result.stderr
    assert not missing.exists()


def test_bad_options_are_refused(cli: CliRunner, shelf: RegistryStore) -> None:
    sort = cli("search", "--sort", "stars")
    assert sort.exit_code == 1
    assert "sort: 'stars' is not one of relevance, downloads, recent" in sort.stderr
    both = cli("search", "--registry", shelf.root, "--index-url", "http://127.0.0.1:1/")
    assert both.exit_code == 2


# ---------------------------------------------------------------- a running registry


@pytest.fixture
def served(shelf: RegistryStore) -> Iterator[str]:
    """The shelf's API served by uvicorn on a free port of 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = Starlette(routes=marketplace_routes(shelf))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}/simple/"
    server.should_exit = True
    thread.join(timeout=10)


def test_index_url_searches_a_running_registry(cli: CliRunner, served: str) -> None:
    result = cli("search", "oauth", "--index-url", served)
    assert result.exit_code == 0, result.stderr
    assert "oauth-login" in result.stdout
    data = cli("search", "--registry-url", served, "--json", "--tag", "login").json()
    assert isinstance(data, dict)
    assert [hit["project"] for hit in data["hits"]] == ["oauth-login"]
    page = cli("search", "--show", "marked", "--index-url", served)
    assert "[red]boom[/red]" in page.stdout
    missing = cli("search", "--show", "nobody", "--index-url", served)
    assert missing.exit_code == 1


def test_a_registry_that_is_not_there_is_an_error(cli: CliRunner) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = cli("search", "x", "--index-url", f"http://127.0.0.1:{port}/")
    assert result.exit_code == 1
    assert "error: cannot reach the registry at" in result.stderr
