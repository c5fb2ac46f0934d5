"""The registry issue's done-when, on a fresh venv: a created plugin goes all the way.

``registry serve`` in one process; in another, a plugin made by ``pluginctl create``
is built and signed, published over HTTP with a token, found by ``pluginctl search``,
installed by ``pluginctl install`` (verified) and by plain ``pip install
--index-url``, and served by ``pluginctl run``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.registry.registry_harness import served
from tests.runtime.host_harness import interrupt, start_host
from tests.test_template import find_uv, fresh_venv
from tests.test_template import pluginctl_wheel as pluginctl_wheel  # noqa: PLC0414  # re-export: pytest finds the fixture here

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_create_build_sign_publish_search_install_and_run(
    tmp_path: Path, pluginctl_wheel: Path
) -> None:
    python = fresh_venv(tmp_path / "venv", pluginctl_wheel, "hatchling>=1.25")
    uv = find_uv()
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "PATH": f"{Path(uv).parent}{os.pathsep}{os.environ['PATH']}",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    env.pop("PLUGINCTL_SIGNING_KEY", None)
    env.pop("PLUGINCTL_REGISTRY", None)

    def pluginctl(*args: str | Path, cwd: Path = tmp_path) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(python), "-m", "pluginctl", *map(str, args)],
            capture_output=True,
            text=True,
            env=env,
            cwd=cwd,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    pluginctl("keys", "generate", "--name", "Ada", "--no-passphrase")
    pluginctl("create", "hello-world", "--no-input", "--with", "routes", "-o", tmp_path)
    project = tmp_path / "hello-world"
    pluginctl("build", "--no-isolation", "--sign", cwd=project)
    (wheel,) = (project / "dist").glob("*.whl")

    with served(tmp_path / "registry", env=env) as registry:
        token = registry.token("hello-world")
        pluginctl(
            "publish", "--repository-url", registry.url, "-u", "__token__", "-p", token, cwd=project
        )
        found = json.loads(
            pluginctl("search", "hello", "--index-url", registry.url, "--json").stdout
        )
        assert [hit["project"] for hit in found["hits"]] == ["hello-world"]

        done = pluginctl("install", "hello-world", "--index-url", registry.simple, "--yes")
        assert "hello-world 0.1.0, signed by Ada" in done.stdout
        pluginctl("verify", "--installed", "hello-world")

        target = tmp_path / "plain-pip"
        pip = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--isolated"),
                *("--target", str(target), "--index-url", registry.simple, "hello-world"),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert pip.returncode == 0, pip.stderr
        assert (target / "hello_world" / "plugin.toml").is_file()
        assert (
            registry.store.path_of("hello-world", wheel.name)
        ).read_bytes() == wheel.read_bytes()

    host, url = start_host(tmp_path, python=python, installed=True, env=env)
    try:
        answer = httpx.get(f"{url}/plugins/hello-world/hello/ada", timeout=10)
    finally:
        err = interrupt(host)
    assert answer.status_code == 200, err
    assert "skipped" not in err
