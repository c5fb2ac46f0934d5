"""The generated page of every command and option covers the whole command line."""

from __future__ import annotations

import doctest
import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import typer

from pluginctl.cli._app import app

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
HOOK = ROOT / "docs" / "_hooks" / "cli_reference.py"
PAGE = ROOT / "docs" / "reference" / "cli" / "all-options.md"


@pytest.fixture(scope="module")
def hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pluginctl_docs_cli_reference", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _commands(group: Any, prefix: str) -> list[str]:
    """``pluginctl NAME`` for every command under ``group`` (typer's own click)."""
    context = typer.Context(group)
    names = []
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None
        names.append(f"{prefix} {name}")
        if hasattr(command, "list_commands"):  # a group
            names += _commands(command, f"{prefix} {name}")
    return names


def test_every_command_and_sub_command_has_a_section(hook: ModuleType) -> None:
    text = hook.reference()
    commands = _commands(typer.main.get_command(app), "pluginctl")
    assert len(commands) > 40
    missing = [name for name in commands if f"`{name}`\n" not in text]
    assert missing == []


def test_the_page_holds_the_marker_the_hook_replaces(hook: ModuleType) -> None:
    page = PAGE.read_text(encoding="utf-8")
    assert "<!-- cli-reference -->" in page
    assert "<!-- cli-reference -->" not in hook.on_page_markdown(page)
    assert hook.on_page_markdown("no marker") == "no marker"


def test_the_hooks_examples_run(hook: ModuleType) -> None:
    assert doctest.testmod(hook).failed == 0
