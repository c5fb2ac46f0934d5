"""Signed installs in a fresh venv: install verifies, the host re-verifies, tampering is named.

The venv gets pluginctl's own wheel; hello is built, signed and installed with
``pluginctl install``; cache is installed with plain ``uv pip install``, which keeps
no signature. ``pluginctl run`` must serve the first and refuse the second, with the
reason and the command that fixes it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.runtime.host_harness import interrupt, start_host
from tests.test_template import find_uv, fresh_venv
from tests.test_template import pluginctl_wheel as pluginctl_wheel  # noqa: PLC0414  # re-export: pytest finds the fixture here

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("signed-install")]


@dataclass(frozen=True)
class Env:
    root: Path
    python: Path
    env: dict[str, str]
    wheels: Path

    def pluginctl(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.python, "-m", "pluginctl", *map(str, args)],
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.root,
            timeout=120,
            check=False,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def site_packages(self) -> Path:
        done = subprocess.run(
            [self.python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        )
        return Path(done.stdout.strip())


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, pluginctl_wheel: Path) -> Env:
    root = tmp_path_factory.mktemp("signed-install")
    python = fresh_venv(root / "venv", pluginctl_wheel)
    uv = find_uv()
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(root / "config"),
        "PATH": f"{Path(uv).parent}{os.pathsep}{os.environ['PATH']}",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    env.pop("PLUGINCTL_SIGNING_KEY", None)
    wheels = root / "wheels"
    for example in ("hello", "cache"):
        source = root / "src" / example
        shutil.copytree(EXAMPLES / example, source, ignore=shutil.ignore_patterns("__pycache__"))
        subprocess.run([uv, "build", "--wheel", "--quiet", "--out-dir", wheels, source], check=True)
    result = Env(root, python, env, wheels)
    result.pluginctl("keys", "generate", "--name", "Ada", "--no-passphrase")
    (hello,) = wheels.glob("hello-*.whl")
    result.pluginctl("sign", hello)
    result.pluginctl("install", "--yes", hello)
    (cache,) = wheels.glob("cache-*.whl")
    subprocess.run([uv, "pip", "install", "--quiet", "--python", python, cache], check=True)
    return result


def test_install_keeps_the_signature_and_verify_installed_passes(installed: Env) -> None:
    kept = next(installed.site_packages().glob("hello-*.dist-info")) / "pluginctl.sig"
    assert kept.is_file()
    record = (kept.parent / "RECORD").read_text()
    assert f"{kept.parent.name}/pluginctl.sig,sha256=" in record
    done = installed.pluginctl("verify", "--installed", "hello", "--json")
    (report,) = json.loads(done.stdout)
    assert report["ok"] is True
    assert report["signers"][0]["name"] == "Ada"


def test_a_plugin_installed_by_plain_pip_is_refused_with_the_fix(installed: Env) -> None:
    done = installed.pluginctl("verify", "--installed", "cache", check=False)
    assert done.returncode == 12  # the envelope check: there is none
    assert "cache 0.1.0 is not signed: it was installed without its signature" in done.stderr
    listing = installed.pluginctl("list", "--json")
    states = {entry["name"]: entry for entry in json.loads(listing.stdout)}
    assert states["hello"]["state"] == "resolved"
    assert states["cache"]["state"] == "broken"
    assert "is not signed" in states["cache"]["reason"]


def test_run_serves_the_signed_plugin_and_refuses_the_unsigned_one(installed: Env) -> None:
    host, url = start_host(
        installed.root, python=installed.python, installed=True, env=installed.env
    )
    try:
        assert httpx.get(f"{url}/plugins/hello/hello/ada", timeout=10).status_code == 200
    finally:
        err = interrupt(host)
    assert host.returncode == 0, err
    assert "plugin 'cache' is refused: cache 0.1.0 is not signed" in err
    assert "pluginctl install WHEEL" in err


def test_a_tampered_installed_file_is_named_and_the_host_refuses_it(installed: Env) -> None:
    module = installed.site_packages() / "hello" / "plugin.py"
    original = module.read_bytes()
    try:
        module.write_bytes(original + b"\nimport os  # added after install\n")
        done = installed.pluginctl("verify", "--installed", "hello", check=False)
        assert done.returncode == 15
        assert "modified  hello/plugin.py" in done.stderr
        listing = json.loads(installed.pluginctl("list", "--json").stdout)
        hello = next(entry for entry in listing if entry["name"] == "hello")
        assert hello["state"] == "broken"
        assert "modified: hello/plugin.py" in hello["reason"]
        (installed.site_packages() / "hello" / "extra.py").write_text("x = 1\n")
        module.write_bytes(original)
        done = installed.pluginctl("verify", "--installed", "hello", check=False)
        assert done.returncode == 15
        assert "added     hello/extra.py" in done.stderr
    finally:
        module.write_bytes(original)
        (installed.site_packages() / "hello" / "extra.py").unlink(missing_ok=True)
    installed.pluginctl("verify", "--installed", "hello")
