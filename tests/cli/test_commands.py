"""The table of commands against the commands it stands for, and the lazy root against an eager one.

``pluginctl --help`` and shell completion read only the table in
`pluginctl.cli._commands`; these tests fail when the table drifts from the
commands' own names and docstrings, misses a command, or lists them otherwise
than typer would with every command built.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import json
import pkgutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import typer
from typer._click.exceptions import UsageError
from typer.core import TyperGroup
from typer.models import ParameterInfo

import pluginctl.cli
from pluginctl.cli._app import app
from pluginctl.cli._commands import COMMANDS, Entry

if TYPE_CHECKING:
    from typer._click import Command

    from tests.conftest import CliRunner

WIDTHS = [40, 60, 80, 100, 200]


def _eager_root() -> Command:
    """The root as typer builds it with every command registered up front."""
    eager = copy.copy(app)
    eager.info = copy.copy(app.info)
    eager.info.cls = TyperGroup
    eager.registered_commands = []
    eager.registered_groups = []
    for entry in COMMANDS:
        entry.register(eager)
    return typer.main.get_command(eager)


def _lazy_root() -> Command:
    return typer.main.get_command(app)


def _help(root: Command, width: int) -> str:
    with root.make_context("pluginctl", [], resilient_parsing=True, terminal_width=width) as ctx:
        return root.get_help(ctx)


def _completions(root: Command, incomplete: str) -> list[tuple[str, str | None]]:
    with root.make_context("pluginctl", [], resilient_parsing=True) as ctx:
        return [(item.value, item.help) for item in root.shell_complete(ctx, incomplete)]


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").split("\n\n")[0].split())


@pytest.mark.parametrize("entry", COMMANDS, ids=[entry.name for entry in COMMANDS])
def test_each_entry_says_what_its_command_says(entry: Entry) -> None:
    command = _eager_root().commands[entry.name]  # type: ignore[attr-defined]  # a group
    assert command.name == entry.name
    assert entry.summary == _first_paragraph(command.help)
    assert command.short_help is None  # the table has no place for one
    assert not command.hidden
    assert not command.deprecated


def test_every_command_module_and_command_function_has_an_entry() -> None:
    targets = {entry.target for entry in COMMANDS}
    assert len(targets) == len(COMMANDS) == len({entry.name for entry in COMMANDS})
    found = set()
    for module_info in pkgutil.iter_modules(pluginctl.cli.__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"pluginctl.cli.{module_info.name}")
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, typer.Typer) or _takes_options(value):
                found.add(f"{module_info.name}:{name}")
    assert found == targets


def _takes_options(value: object) -> bool:
    """Whether ``value`` is a function with a typer option or argument: a command."""
    if not inspect.isfunction(value):
        return False
    for parameter in inspect.signature(value).parameters.values():
        try:  # typer evaluates a command's annotations: they resolve at run time
            hint = eval(parameter.annotation, value.__globals__)  # noqa: S307  # our own source
        except NameError:  # a name imported for type checking only: not a command's
            continue
        if any(isinstance(meta, ParameterInfo) for meta in getattr(hint, "__metadata__", ())):
            return True
    return False


@pytest.mark.parametrize("width", WIDTHS)
def test_the_help_lists_the_commands_as_an_eager_root_would(width: int) -> None:
    lazy = _help(_lazy_root(), width)
    assert lazy == _help(_eager_root(), width)
    listed = [
        line.split()[0] for line in lazy.split("Commands:\n")[1].splitlines() if line[2:3] != " "
    ]
    assert listed == [entry.name for entry in COMMANDS]


@pytest.mark.parametrize("incomplete", ["", "s", "re", "k", "-", "--", "nothing"])
def test_completion_offers_what_an_eager_root_would(incomplete: str) -> None:
    assert _completions(_lazy_root(), incomplete) == _completions(_eager_root(), incomplete)


@pytest.mark.parametrize("typo", ["stauts", "key", "registy", "bogus", "--bogus"])
def test_an_unknown_command_fails_as_with_an_eager_root(typo: str) -> None:
    messages = []
    for root in (_lazy_root(), _eager_root()):
        with pytest.raises(UsageError) as raised:
            root.main([typo], prog_name="pluginctl", standalone_mode=False)
        messages.append(raised.value.format_message())
    assert messages[0] == messages[1]


def test_a_typo_gets_a_suggestion(cli: CliRunner) -> None:
    result = cli("stauts")
    assert result.exit_code == 2
    assert "Error: No such command 'stauts'. Did you mean 'status'?" in result.stderr


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("pluginctl ", [entry.name for entry in COMMANDS]),
        ("pluginctl s", ["status", "sign", "search"]),
        ("pluginctl keys t", ["trust"]),
        ("pluginctl registry token ", ["create", "list", "revoke"]),
        ("pluginctl status --", ["--config", "--data-dir", "--url", "--token", "--json", "--help"]),
    ],
)
def test_bash_completion(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch, words: str, expected: list[str]
) -> None:
    monkeypatch.setenv("_PLUGINCTL_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", words)
    monkeypatch.setenv("COMP_CWORD", str(len(words.split(" ")) - 1))
    result = cli()
    assert result.exit_code == 0
    assert result.stdout.splitlines() == expected


def test_zsh_completion_shows_each_commands_help_line(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_PLUGINCTL_COMPLETE", "complete_zsh")
    monkeypatch.setenv("_TYPER_COMPLETE_ARGS", "pluginctl si")
    result = cli()
    assert result.exit_code == 0
    assert '"sign":"Sign wheels; the wheels stay byte-identical."' in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["-v", "--help"],
        ["bogus"],
        [],
    ],
)
def test_listing_the_commands_imports_none_of_them(args: list[str]) -> None:
    _assert_no_command_module_imported(args, {})


@pytest.mark.parametrize("words", ["pluginctl ", "pluginctl s", "pluginctl -"])
def test_completing_a_command_name_imports_no_command(words: str) -> None:
    env = {"_PLUGINCTL_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "1"}
    _assert_no_command_module_imported([], env)


def test_running_a_command_builds_that_command_only() -> None:
    loaded = _command_modules_after(["status", "--help"], {})
    assert "pluginctl.cli.status" in loaded
    others = {
        f"pluginctl.cli.{name}" for name in ("keys", "migrate", "publish", "registry", "search")
    }
    assert others.isdisjoint(loaded)


def _assert_no_command_module_imported(args: list[str], env: dict[str, str]) -> None:
    assert _command_modules_after(args, env) == []


def _command_modules_after(args: list[str], env: dict[str, str]) -> list[str]:
    """The ``pluginctl.cli`` modules beyond the root's that ``pluginctl ARGS`` imports."""
    code = (
        "import json, os, sys\n"
        f"os.environ.update({env!r})\n"
        "from pluginctl.cli import main\n"
        f"code = main({args!r})\n"
        "print('\\n' + json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = json.loads(done.stdout.splitlines()[-1])
    root = {"pluginctl.cli", "pluginctl.cli._app", "pluginctl.cli._commands", "pluginctl.cli._lazy"}
    return [m for m in modules if m.startswith("pluginctl.cli.") and m not in root]
