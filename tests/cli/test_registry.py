"""``pluginctl registry``: serve, token create/list/revoke, fsck, yank and unyank."""

from __future__ import annotations

import signal
import socket
from typing import TYPE_CHECKING

import httpx
import pytest

from pluginctl.registry.store import REGISTRY_ENV, RegistryStore
from pluginctl.registry.tokens import Tokens
from tests.registry.registry_harness import start_registry
from tests.registry.test_store import library_wheel

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import CliRunner


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RegistryStore:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    registry = RegistryStore(tmp_path / "registry")
    registry.publish(library_wheel(tmp_path, "helper", "1.0"))
    return registry


def test_token_create_prints_the_secret_once_on_stdout(
    cli: CliRunner, store: RegistryStore
) -> None:
    created = cli("registry", "token", "create", "ci", "-p", "Acme_*", "-r", store.root)
    assert created.exit_code == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("pcr_")
    assert "\n" not in secret
    assert "for acme-*" in created.stderr
    assert "not shown again" in created.stderr
    assert Tokens(store.index).check(secret, "acme-x").name == "ci"
    listed = cli("registry", "token", "list", "-r", store.root)
    assert secret not in listed.stdout
    assert "ci" in listed.stdout
    assert "acme-*" in listed.stdout
    assert "active" in listed.stdout


def test_token_list_and_create_as_json(cli: CliRunner, store: RegistryStore) -> None:
    created = cli(
        "registry", "token", "create", "ci", "-p", "a", "-p", "b", "-r", store.root, "--json"
    )
    data = created.json()
    assert isinstance(data, dict)
    assert data["projects"] == ["a", "b"]
    assert str(data["secret"]).startswith("pcr_")
    listed = cli("registry", "token", "list", "-r", store.root, "--json").json()
    assert isinstance(listed, list)
    assert [t["id"] for t in listed] == [data["id"]]
    assert "secret" not in listed[0]
    assert listed[0]["revoked"] is None


def test_token_revoke_and_an_unknown_id(cli: CliRunner, store: RegistryStore) -> None:
    token, _ = Tokens(store.index).create("laptop", projects=["*"])
    revoked = cli("registry", "token", "revoke", token.id, "-r", store.root)
    assert revoked.exit_code == 0
    assert f"revoked token {token.id} (laptop)" in revoked.stdout
    assert "revoked" in cli("registry", "token", "list", "-r", store.root).stdout
    unknown = cli("registry", "token", "revoke", "nope", "-r", store.root)
    assert unknown.exit_code == 1
    assert "error: no token has the id 'nope'" in unknown.stderr
    assert "hint: pluginctl registry token list" in unknown.stderr


def test_a_token_needs_a_project(cli: CliRunner, store: RegistryStore) -> None:
    assert cli("registry", "token", "create", "ci", "-r", store.root).exit_code == 2


def test_fsck_is_clean_then_finds_a_tampered_file(cli: CliRunner, store: RegistryStore) -> None:
    clean = cli("registry", "fsck", "-r", store.root)
    assert clean.exit_code == 0
    assert "checked 1 file(s): clean" in clean.stdout
    path = store.path_of("helper", "helper-1.0-py3-none-any.whl")
    path.chmod(0o644)
    path.write_bytes(b"swapped")
    found = cli("registry", "fsck", "-r", store.root)
    assert found.exit_code == 1
    assert "problem: files/helper/helper-1.0-py3-none-any.whl: its sha256" in found.stderr
    report = cli("registry", "fsck", "-r", store.root, "--json")
    assert report.exit_code == 1
    data = report.json()
    assert isinstance(data, dict)
    assert data["clean"] is False
    assert data["checked"] == 1


def test_fsck_repair_removes_abandoned_uploads(cli: CliRunner, store: RegistryStore) -> None:
    (store.root / "staging" / "abandoned").mkdir()
    repaired = cli("registry", "fsck", "--repair", "-r", store.root)
    assert repaired.exit_code == 0
    assert "removed staging/abandoned" in repaired.stdout


def test_yank_and_unyank(cli: CliRunner, store: RegistryStore) -> None:
    yanked = cli("registry", "yank", "Helper", "1.0", "--reason", "broken", "-r", store.root)
    assert yanked.exit_code == 0
    assert "yanked Helper 1.0 (1 file(s))" in yanked.stdout
    assert store.index.files("helper")[0].yank_reason == "broken"
    assert cli("registry", "unyank", "helper", "1.0", "-r", store.root).exit_code == 0
    assert not store.index.files("helper")[0].yanked
    missing = cli("registry", "yank", "helper", "9.9", "-r", store.root)
    assert missing.exit_code == 1
    assert "error: helper 9.9 is not in this registry" in missing.stderr


def test_the_registry_comes_from_the_environment(
    cli: CliRunner, store: RegistryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(REGISTRY_ENV, str(store.root))
    assert "checked 1 file(s)" in cli("registry", "fsck").stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_serve_prints_its_url_serves_and_stops_cleanly(store: RegistryStore, sig: int) -> None:
    served = start_registry(store.root)
    assert served.url.startswith("http://127.0.0.1:")
    assert httpx.get(served.simple + "helper/").status_code == 200
    code, out, err = served.stop(sig)
    assert code == 0
    assert "stopped" in err
    assert "warning" not in err
    assert f"pip install --index-url {served.url}/simple/" in out, (out, err)


def test_serve_warns_when_it_listens_beyond_loopback(store: RegistryStore) -> None:
    served = start_registry(store.root, "--host", "0.0.0.0")  # noqa: S104  # what the test is about
    code, _, err = served.stop()
    assert code == 0
    assert "warning: the registry listens on 0.0.0.0, beyond this machine" in err


def test_serve_on_a_taken_port_says_so(cli: CliRunner, store: RegistryStore) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("registry", "serve", "-r", store.root, "--port", str(port))
    assert result.exit_code == 1
    assert f"error: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "hint: pick another port" in result.stderr


def test_the_owner_features_a_project_and_stops(cli: CliRunner, tmp_path: Path) -> None:
    from pluginctl.registry.marketplace import featured

    store = RegistryStore(tmp_path / "registry")
    store.publish(library_wheel(tmp_path, "helper", "2.0"))
    missing = cli("registry", "feature", "nothing", "--registry", store.root)
    assert missing.exit_code == 1
    assert "nothing is not in this registry" in missing.stderr
    assert cli("registry", "feature", "helper", "--registry", store.root).exit_code == 0
    assert featured_flag(store) == 1
    assert cli("registry", "feature", "helper", "--off", "--registry", store.root).exit_code == 0
    assert featured_flag(store) == 0
    assert featured(store.index, limit=10) == []


def featured_flag(store: RegistryStore) -> int:
    with store.index.reading() as db:
        return int(db.execute("SELECT featured FROM projects WHERE name = 'helper'").fetchone()[0])
