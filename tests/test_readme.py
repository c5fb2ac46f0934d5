"""The README's Quickstart is what newcomers type: keep it to two true commands."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def block(marker: str) -> str:
    match = re.search(rf"<!-- {marker} -->\n```sh\n(.*?)\n```\n<!-- /{marker} -->", README, re.S)
    assert match, f"README.md has no {marker} block"
    return match.group(1)


def test_quickstart_holds_exactly_two_commands() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert quickstart.count("```sh") == 2
    for marker in ("main-command", "test-command"):
        assert "\n" not in block(marker)


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    assert "<!-- test-command -->" in ci
    assert "pytest" in block("test-command")


def test_the_main_command_creates_a_plugin_with_every_feature_and_runs_it_in_dev() -> None:
    command = block("main-command")
    assert "pluginctl create demo --no-input --with routes,db,admin,static" in command
    assert command.endswith("pluginctl dev build/quickstart/demo")
    quickstart = README.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert "build/quickstart/demo/demo/plugin.py" in quickstart  # what to edit
