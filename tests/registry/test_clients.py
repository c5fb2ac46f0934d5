"""Real clients against ``pluginctl registry serve`` on loopback: twine uploads, pip and uv install.

Hostile inputs (REFERENCES.md): 14 (a second upload is "File already exists", as
twine recognises it), 20 (a yanked version is skipped unless pinned), 21 (an
unknown name fails, never found elsewhere), 22 (a file tampered at rest fails the
clients' hash check against the hash recorded at publish time).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest

from pluginctl.signing.keys import SigningKey
from pluginctl.signing.sign import sign_wheel
from pluginctl.signing.trust import TrustStore
from tests.registry.registry_harness import Registry, start_registry
from tests.registry.test_store import library_wheel, sdist
from tests.signing.wheelmaker import make_wheel, rewrite
from tests.test_template import find_uv

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("registry-clients")]


@dataclass
class World:
    """One served registry, a trusted key, a venv with pip and one without, shared by the module."""

    root: Path
    registry: Registry
    key: SigningKey
    secret: str
    env: dict[str, str]

    def dist(self, name: str) -> Path:
        directory = self.root / "dist" / name
        directory.mkdir(parents=True)
        return directory

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(arg) for arg in args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.root,
            timeout=300,
            check=False,
        )

    def twine(
        self, *args: str | Path, secret: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            sys.executable,
            "-m",
            "twine",
            "upload",
            "--non-interactive",
            "--disable-progress-bar",
            "--repository-url",
            self.registry.url + "/",
            "-u",
            "__token__",
            "-p",
            secret or self.secret,
            *args,
        )

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        python = self.root / "pip-venv" / "bin" / "python"
        return self.run(
            python, "-m", "pip", *args, "--no-cache-dir", "--index-url", self.registry.simple
        )

    def uv(self, *args: str) -> subprocess.CompletedProcess[str]:
        python = self.root / "uv-venv" / "bin" / "python"
        return self.run(
            find_uv(), "pip", *args, "--python", python, "--index-url", self.registry.simple
        )


def _client_env(root: Path) -> dict[str, str]:
    """This environment without the machine's pip and uv settings: only our index counts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return env | {
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "UV_NO_CONFIG": "1",
        "UV_CACHE_DIR": str(root / "uv-cache"),
        "NO_COLOR": "1",
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("clients")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(root / "config"))
        key = SigningKey.generate("Ada")
        TrustStore.load(project_file=root / "unused.toml").trust(
            key.public, name="Ada", projects=["*"]
        )
        env = _client_env(root)
        subprocess.run([sys.executable, "-m", "venv", root / "pip-venv"], check=True, env=env)
        subprocess.run([find_uv(), "venv", "-q", root / "uv-venv"], check=True, env=env)
        registry = start_registry(root / "registry")
        try:
            yield World(root, registry, key, registry.token(), env)
        finally:
            registry.stop()


def _said(done: subprocess.CompletedProcess[str]) -> str:
    """What a command printed, on one line (twine wraps its messages)."""
    return " ".join((done.stdout + done.stderr).split())


def _two_versions(world: World, name: str) -> None:
    directory = world.dist(name)
    for version in ("1.0", "1.1"):
        world.registry.store.publish(library_wheel(directory, name, version))


def test_twine_uploads_and_pip_and_uv_install(world: World) -> None:
    dist = world.dist("helper")
    wheel = library_wheel(dist, "helper", "2.0")
    tarball = sdist(dist, "helper", "2.0", README=b"hi")
    uploaded = world.twine(wheel, tarball)
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    assert [row.filename for row in world.registry.store.index.files("helper")] == [
        wheel.name,
        tarball.name,
    ]
    installed = world.pip("install", "--no-deps", "helper")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "Successfully installed helper-2.0" in installed.stdout
    by_uv = world.uv("install", "helper")
    assert by_uv.returncode == 0, by_uv.stderr
    assert "+ helper==2.0" in by_uv.stderr


def test_row14_twine_shows_file_already_exists_and_recognises_it(world: World) -> None:
    from twine.commands.upload import skip_upload
    from twine.package import PackageFile

    wheel = library_wheel(world.dist("again"), "again", "1.0")
    assert world.twine(wheel).returncode == 0
    second = world.twine(wheel)
    assert second.returncode == 1
    assert "400 Bad Request" in _said(second)
    assert "File already exists: again-1.0-py3-none-any.whl" in _said(second)
    import requests

    with wheel.open("rb") as content:
        response = requests.post(
            world.registry.url + "/",
            data={":action": "file_upload", "name": "again", "version": "1.0"},
            files={"content": (wheel.name, content)},
            auth=("__token__", world.secret),
            timeout=60,
        )
    assert response.status_code == 400
    assert response.reason.startswith("File already exists")
    assert skip_upload(response, True, PackageFile.from_filename(str(wheel), None))


def test_a_plugin_wheel_goes_up_with_its_signature_as_a_pre_signed_file(world: World) -> None:
    wheel = make_wheel(world.dist("signed"), "signed-plugin", "1.0")
    signature = sign_wheel(wheel, world.key).signature
    presigned = shutil.copy(signature, wheel.with_name(wheel.name + ".asc"))
    uploaded = world.twine(wheel, presigned)
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr
    served = httpx.get(f"{world.registry.url}/files/signed-plugin/{wheel.name}.sig")
    assert served.content == signature.read_bytes()
    installed = world.pip("install", "--no-deps", "signed-plugin")
    assert installed.returncode == 0, installed.stdout + installed.stderr


def test_a_plugin_wheel_without_its_signature_is_refused_with_the_reason(world: World) -> None:
    wheel = make_wheel(world.dist("unsigned"), "unsigned-plugin", "1.0")
    refused = world.twine(wheel)
    assert refused.returncode == 1
    assert "a plugin wheel must verify to be published" in _said(refused)
    assert world.registry.store.index.files("unsigned-plugin") == []


def test_row20_a_yanked_version_is_skipped_unless_pinned(world: World) -> None:
    _two_versions(world, "yanky")
    world.registry.store.yank("yanky", "1.1", reason="broken")
    downloads = world.root / "downloads"
    latest = world.pip("download", "--no-deps", "-d", str(downloads), "yanky")
    assert latest.returncode == 0, latest.stderr
    assert (downloads / "yanky-1.0-py3-none-any.whl").is_file()
    assert not (downloads / "yanky-1.1-py3-none-any.whl").exists()
    pinned = world.pip("download", "--no-deps", "-d", str(downloads), "yanky==1.1")
    assert pinned.returncode == 0, pinned.stderr
    assert (downloads / "yanky-1.1-py3-none-any.whl").is_file()
    assert "broken" in pinned.stderr  # pip warns with the reason
    by_uv = world.uv("install", "yanky")
    assert "+ yanky==1.0" in by_uv.stderr, by_uv.stderr


def test_row22_a_file_tampered_at_rest_fails_pips_and_uvs_hash_check(world: World) -> None:
    world.registry.store.publish(library_wheel(world.dist("tampered"), "tampered", "1.0"))
    path = world.registry.store.path_of("tampered", "tampered-1.0-py3-none-any.whl")
    swapped = library_wheel(world.dist("swapped"), "tampered", "1.0")
    rewrite(swapped, replace={"tampered/__init__.py": b"import os\n"}, regenerate_record=True)
    path.chmod(0o644)
    path.write_bytes(swapped.read_bytes())  # a valid wheel, not the one published
    by_pip = world.pip("install", "--no-deps", "tampered")
    assert by_pip.returncode != 0
    assert "THESE PACKAGES DO NOT MATCH THE HASHES" in by_pip.stderr
    by_uv = world.uv("install", "tampered")
    assert by_uv.returncode != 0
    assert "hash mismatch" in by_uv.stderr.lower()
    assert any("tampered-1.0" in p for p in world.registry.store.fsck().problems)


def test_row21_an_unknown_name_is_not_found_anywhere_else(world: World) -> None:
    by_pip = world.pip("install", "--no-deps", "requests")
    assert by_pip.returncode != 0
    assert "No matching distribution found for requests" in by_pip.stderr
    by_uv = world.uv("install", "requests")
    assert by_uv.returncode != 0
    assert httpx.get(world.registry.simple + "requests/").status_code == 404
