"""``pluginctl publish`` as a user types it: real keys, a real pypiserver, real pip."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.registry.distmaker import make_sdist
from tests.registry.pypiserver import PASSWORD, USERNAME
from tests.registry.pypiserver import (
    publish_home as publish_home,  # noqa: PLC0414  # re-export: pytest finds the fixture here
)
from tests.registry.pypiserver import (
    pypiserver as pypiserver,  # noqa: PLC0414  # re-export: pytest finds the fixture here
)
from tests.signing.wheelmaker import make_wheel, rewrite

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import CliRunner
    from tests.registry.pypiserver import PypiServer

LOGIN = ("-u", USERNAME, "-p", PASSWORD)


@pytest.fixture
def keyed(cli: CliRunner, publish_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with dist/, and a key ring whose one key is trusted for all."""
    project = publish_home / "project"
    (project / "dist").mkdir(parents=True)
    monkeypatch.chdir(project)
    assert cli("keys", "generate", "--name", "Ada", "--no-passphrase").exit_code == 0
    return project


def built(cli: CliRunner, project: Path, name: str) -> tuple[Path, Path]:
    """A signed plugin wheel and its sdist in ``project/dist``, as build and sign leave them."""
    wheel = make_wheel(project / "dist", name)
    assert cli("sign", wheel).exit_code == 0
    return wheel, make_sdist(project / "dist", name)


def kept_signature(home: Path, sha256: str) -> Path:
    return home / ".local" / "share" / "pluginctl" / "registry" / "signatures" / f"{sha256}.sig"


@pytest.mark.slow
def test_publish_dist_to_pypiserver_then_pip_installs_it_from_there(
    cli: CliRunner,
    keyed: Path,
    publish_home: Path,
    pypiserver: PypiServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wheel, sdist = built(cli, keyed, "shipped")
    monkeypatch.setenv("FORCE_COLOR", "1")  # a terminal, as far as rich can tell: bars
    monkeypatch.setattr("pluginctl.cli._output._consoles", {})
    result = cli("publish", "--repository-url", pypiserver.url, *LOGIN)
    assert result.exit_code == 0, result.stderr
    assert f"published {wheel.name} to {pypiserver.url}, signed by Ada" in result.stdout
    assert f"published {sdist.name} to {pypiserver.url}" in result.stdout
    assert (pypiserver.packages / wheel.name).read_bytes() == wheel.read_bytes()
    assert (pypiserver.packages / sdist.name).read_bytes() == sdist.read_bytes()
    assert wheel.name in result.stderr  # the progress bar, on stderr
    target = keyed / "installed"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--isolated", "install", "--no-deps", "--no-cache-dir"),
            *("--index-url", pypiserver.simple_url, "--only-binary", ":all:", "shipped==1.0"),
            *("--target", str(target)),
        ],
        check=True,
        capture_output=True,
    )
    assert (target / "shipped" / "plugin.toml").read_bytes() == (
        b'name = "shipped"\nversion = "1.0"\n'
    )
    signature = (wheel.parent / f"{wheel.name}.sig").read_bytes()
    assert kept_signature(publish_home, _sha256(wheel)).read_bytes() == signature


def test_publish_json_names_each_file_its_hash_and_its_kept_signature(
    cli: CliRunner, keyed: Path, publish_home: Path, pypiserver: PypiServer
) -> None:
    wheel, _ = built(cli, keyed, "jsoned")
    result = cli("publish", wheel, "--repository-url", pypiserver.url, *LOGIN, "--json")
    assert result.exit_code == 0, result.stderr
    (item,) = json.loads(result.stdout)
    assert item["filename"] == wheel.name
    assert item["sha256"] == _sha256(wheel)
    assert item["signed_by"] == ["Ada"]
    assert item["signature"] == str(kept_signature(publish_home, item["sha256"]))
    assert item["repository"] == pypiserver.url


def test_publish_to_a_repository_named_in_pypirc(
    cli: CliRunner, keyed: Path, publish_home: Path, pypiserver: PypiServer
) -> None:
    pypirc = f"[distutils]\nindex-servers = team\n\n[team]\nrepository = {pypiserver.url}\n"
    (publish_home / ".pypirc").write_text(
        pypirc + f"username = {USERNAME}\npassword = {PASSWORD}\n"
    )
    _, sdist = built(cli, keyed, "fromrc")
    result = cli("publish", sdist, "--to", "team")
    assert result.exit_code == 0, result.stderr
    assert (pypiserver.packages / sdist.name).is_file()
    elsewhere = keyed / "other.pypirc"
    elsewhere.write_text(pypirc.replace("team", "other") + f"username = {USERNAME}\npassword = x\n")
    refused = cli(
        "publish", make_sdist(keyed, "fromrc", "2.0"), "-r", "other", "--config-file", elsewhere
    )
    assert refused.exit_code == 1
    assert "refused the credentials (HTTP 403 Forbidden)" in refused.stderr


def test_publish_refuses_an_unsigned_plugin_wheel_and_sends_nothing(
    cli: CliRunner, keyed: Path, pypiserver: PypiServer
) -> None:
    sdist = make_sdist(keyed / "dist", "unsignedcli")
    wheel = make_wheel(keyed / "dist", "unsignedcli")
    result = cli("publish", "--repository-url", pypiserver.url, *LOGIN)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {wheel.name}: a plugin wheel must verify")
    assert f"hint: sign it: pluginctl sign dist/{wheel.name}\n" in result.stderr
    assert not (pypiserver.packages / sdist.name).exists()


def test_publish_refuses_a_tampered_wheel(
    cli: CliRunner, keyed: Path, pypiserver: PypiServer
) -> None:
    wheel, _ = built(cli, keyed, "tamperedcli")
    rewrite(wheel, replace={"tamperedcli/plugin.py": b"import os\n"})
    result = cli("publish", wheel, "--repository-url", pypiserver.url, *LOGIN)
    assert result.exit_code == 1
    assert "the files check failed" in result.stderr
    assert "modified: tamperedcli/plugin.py" in result.stderr


def test_publish_refuses_a_version_already_there(
    cli: CliRunner, keyed: Path, pypiserver: PypiServer
) -> None:
    _, sdist = built(cli, keyed, "again")
    assert cli("publish", sdist, "--repository-url", pypiserver.url, *LOGIN).exit_code == 0
    result = cli("publish", sdist, "--repository-url", pypiserver.url, *LOGIN)
    assert result.exit_code == 1
    assert f"error: {sdist.name}: again 1.0 is already on {pypiserver.simple_url}" in result.stderr
    assert "hint: bump the version" in result.stderr


def test_publish_refuses_invalid_metadata(
    cli: CliRunner, keyed: Path, pypiserver: PypiServer
) -> None:
    sdist = make_sdist(
        keyed, "broken", metadata=b"Metadata-Version: 2.1\nName: broken\nVersion: x\n"
    )
    result = cli("publish", sdist, "--repository-url", pypiserver.url, *LOGIN)
    assert result.exit_code == 1
    assert f"error: {sdist.name}: invalid metadata" in result.stderr
    assert "hint: fix the project's metadata" in result.stderr


def test_publish_with_a_wrong_password(cli: CliRunner, keyed: Path, pypiserver: PypiServer) -> None:
    sdist = make_sdist(keyed, "wrongcli")
    result = cli("publish", sdist, "--repository-url", pypiserver.url, "-u", USERNAME, "-p", "no")
    assert result.exit_code == 1
    assert (
        f"error: {sdist.name}: {pypiserver.url} refused the credentials (HTTP 403" in result.stderr
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--to", "a", "--repository-url", "http://x/"), "give --to or --repository-url, not both"),
    ],
)
def test_publish_usage_mistakes_exit_2(
    cli: CliRunner, keyed: Path, args: tuple[str, ...], message: str
) -> None:
    result = cli("publish", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_publish_with_nothing_built_says_how_to_build(cli: CliRunner, keyed: Path) -> None:
    result = cli("publish", "--repository-url", "http://127.0.0.1:9/")
    assert result.exit_code == 1
    assert "error: no wheel or sdist to publish in dist" in result.stderr
    assert "hint: build the plugin first: pluginctl build" in result.stderr


def test_publish_locally_checks_before_the_store(cli: CliRunner, keyed: Path) -> None:
    wheel = make_wheel(keyed / "dist", "localunsigned")
    result = cli("publish")
    assert result.exit_code == 1
    assert f"error: {wheel.name}: a plugin wheel must verify" in result.stderr


def test_publish_without_a_repository_goes_into_the_local_registry(
    cli: CliRunner, keyed: Path
) -> None:
    wheel, sdist = built(cli, keyed, "local")
    result = cli("publish")
    assert result.exit_code == 0, result.stderr
    assert f"published {wheel.name} into the local registry, signed by Ada" in result.stdout
    assert f"published {sdist.name} into the local registry" in result.stdout
    again = cli("publish", wheel)
    assert again.exit_code == 1


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()
