"""``pluginctl doctor``: the sandbox layers this machine has, and what each plugin gets."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from pluginctl.runtime import sandbox
from pluginctl.runtime.sandbox import SandboxReport
from tests.runtime.host_harness import EXAMPLES, FIXTURES

if TYPE_CHECKING:
    import pytest

    from tests.conftest import CliRunner


def test_every_layer_and_what_each_plugin_gets(cli: CliRunner) -> None:
    result = cli(
        "doctor", "--no-installed", "--json", "--plugin", EXAMPLES / "hello",
        "--plugin", FIXTURES / "greedy",
    )  # fmt: skip
    report = json.loads(result.stdout)
    support = sandbox.probe()
    assert set(report["sandbox"]["layers"]) == set(support.layers)
    assert result.exit_code == (1 if support.missing else 0)
    greedy, hello = sorted(report["plugins"], key=lambda p: p["name"])
    assert hello["name"] == "hello"
    assert hello["limits"]["memory_mb"] == 512
    assert greedy["limits"]["cpu_seconds"] == 1
    if "landlock" in support.layers:
        assert "plugins/greedy read-write" in greedy["files"]
    if "seccomp" in support.layers:
        assert greedy["programs"].startswith("none: no processes")
        assert "fork and exec refused; threads work" in greedy["programs"]


def test_a_missing_layer_is_an_error_with_its_fix(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = SandboxReport(
        {"no_new_privs": "available"},
        {"landlock": "this kernel has no Landlock", "seccomp": "libseccomp cannot be loaded"},
    )
    monkeypatch.setattr(sandbox, "probe", lambda: missing)
    result = cli("doctor", "--no-installed", "--plugin", EXAMPLES / "hello")
    assert result.exit_code == 1
    assert "✗ landlock: this kernel has no Landlock" in result.stdout
    assert "hint: install the system's libseccomp" in result.stdout
    assert "files: not confined: Landlock is missing" in result.stdout
