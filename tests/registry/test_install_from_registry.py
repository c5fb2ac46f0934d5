"""install, update, outdated and uninstall against a local registry, in a fresh venv.

The registry holds demo 1.0, 1.1 (asks one more permission), 2.0 (yanked) and 3.0
(for a newer pluginctl only). REFERENCES.md row 20: an update never downgrades
unless asked, and a yanked release installs only when pinned.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.signing.wheelmaker import make_wheel
from tests.test_template import find_uv, fresh_venv
from tests.test_template import pluginctl_wheel as pluginctl_wheel  # noqa: PLC0414  # re-export: pytest finds the fixture here

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("registry-install")]

PUBLISH = """
import sys
from pathlib import Path
from pluginctl.registry.store import RegistryStore
store = RegistryStore.default()
for wheel in sys.argv[1:]:
    store.publish(Path(wheel))
store.yank("demo", "2.0", reason="corrupts notes")
"""


@dataclass(frozen=True)
class Env:
    root: Path
    python: Path
    env: dict[str, str]

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(self.python), "-m", "pluginctl", *args],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.root,
            timeout=180,
            check=False,
        )
        if check:
            assert done.returncode == 0, done.stdout + done.stderr
        return done

    def installed_version(self) -> str | None:
        done = subprocess.run(
            [str(self.python), "-c", "import importlib.metadata as m; print(m.version('demo'))"],
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip() if done.returncode == 0 else None


def manifest(version: str, permissions: str, host: str = "") -> bytes:
    text = f'name = "demo"\nversion = "{version}"\npermissions = [{permissions}]\n'
    return (text + (f'host = "{host}"\n' if host else "")).encode()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, pluginctl_wheel: Path) -> Env:
    root = tmp_path_factory.mktemp("registry-install")
    python = fresh_venv(root / "venv", pluginctl_wheel)
    uv = find_uv()
    environ = {
        **os.environ,
        "XDG_CONFIG_HOME": str(root / "config"),
        "PLUGINCTL_REGISTRY": str(root / "registry"),
        "PATH": f"{Path(uv).parent}{os.pathsep}{os.environ['PATH']}",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    environ.pop("PLUGINCTL_SIGNING_KEY", None)
    result = Env(root, python, environ)
    result.run("keys", "generate", "--name", "Ada", "--no-passphrase")
    dist = root / "dist"
    dist.mkdir()
    releases = {
        "1.0": manifest("1.0", '"kv"'),
        "1.1": manifest("1.1", '"kv", "db:read"'),
        "2.0": manifest("2.0", '"kv"'),
        "3.0": manifest("3.0", '"kv"', host=">=9"),
    }
    wheels = [
        make_wheel(dist, "demo", version, extra={"demo/plugin.toml": text})
        for version, text in releases.items()
    ]
    for wheel in wheels:
        result.run("sign", str(wheel))
    done = subprocess.run(
        [str(python), "-c", PUBLISH, *map(str, wheels)],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return result


def test_install_picks_the_newest_release_this_host_runs_and_skips_the_yanked(env: Env) -> None:
    done = env.run("install", "demo", "--yes")
    assert "demo 1.1, signed by Ada" in done.stdout
    assert "permission  db:read" in done.stdout
    assert env.installed_version() == "1.1"
    env.run("verify", "--installed", "demo")


def test_a_yanked_release_installs_when_pinned_and_update_will_not_downgrade(env: Env) -> None:
    env.run("install", "demo==2.0", "--yes")
    assert env.installed_version() == "2.0"
    refused = env.run("update", "demo", "--yes", check=False)
    assert refused.returncode == 1
    assert "older than the installed 2.0: refusing to downgrade" in refused.stderr
    assert "--allow-downgrade" in refused.stderr
    env.run("update", "demo", "--yes", "--allow-downgrade")
    assert env.installed_version() == "1.1"


def test_outdated_and_update_show_the_new_permissions(env: Env) -> None:
    env.run("install", "demo==1.0", "--yes")
    listed = json.loads(env.run("outdated", "--json").stdout)
    assert listed == [
        {
            "name": "demo",
            "installed": "1.0",
            "latest": "1.1",
            "added_permissions": ["db:read"],
            "removed_permissions": [],
        }
    ]
    done = env.run("update", "--yes")
    assert "demo 1.0 -> 1.1 (upgrade)" in done.stdout
    assert "+ permission  db:read" in done.stdout
    assert env.installed_version() == "1.1"
    assert "every installed plugin is up to date" in env.run("outdated").stdout


def test_nothing_matching_says_why_and_uninstall_removes(env: Env) -> None:
    missing = env.run("install", "nothing-here", "--yes", check=False)
    assert missing.returncode == 1
    assert "no plugin named 'nothing-here' is in the registry" in missing.stderr
    future = env.run("install", "demo>=3", "--yes", check=False)
    assert "3.0 supports pluginctl >=9" in future.stderr
    env.run("uninstall", "demo", "--yes")
    assert env.installed_version() is None
