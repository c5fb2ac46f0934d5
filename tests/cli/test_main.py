from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pluginctl import __version__

if TYPE_CHECKING:
    from tests.conftest import CliRunner

FIXTURES = Path(__file__).parent.parent / "fixtures" / "plugins"

#: Modules `pluginctl --help` must not import: they belong inside command bodies.
HEAVY = (
    "pluginctl.runtime",
    "pluginctl.services",
    "pluginctl.web",
    "pluginctl.data",
    "pluginctl.registry",
    "twine",
    "pluginctl.bundle",
    "pluginctl.signing",
    "pluginctl.dev",
    "pluginctl.scan",
    "pluginctl.validation",
    "pluginctl.builder",
    "pluginctl.pep517",
    "pluginctl.wheel_contents",
    "build",
    "pyproject_hooks",
    "pluginctl.scaffold",
    "pluginctl.installation",
    "cryptography",
    "tomlkit",
    "httpx",
    "starlette",
    "uvicorn",
    "h11",
    "python_multipart",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "cookiecutter",
    "bandit",
    "jinja2",
    "msgspec",
    "rich.markdown",
    "pydantic",
)


@pytest.mark.parametrize("args", [["--version"], ["-v", "--version"]])
def test_version(cli: CliRunner, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 0
    assert result.stdout == f"pluginctl {__version__}\n"


def test_help_lists_the_commands(cli: CliRunner) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("create", "validate", "build"):
        assert command in result.stdout
    assert "--install-completion" in result.stdout


def test_no_arguments_shows_help_as_a_usage_error(cli: CliRunner) -> None:
    result = cli()
    assert result.exit_code == 2
    assert "Usage: pluginctl" in result.stdout + result.stderr


@pytest.mark.parametrize("args", [["bogus"], ["validate", "--bogus"], ["create", "--with"]])
def test_usage_errors_exit_2(cli: CliRunner, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr


def test_user_errors_print_error_and_hint_without_traceback(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("validate", tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no pyproject.toml in ")
    assert "\nhint: run this inside a plugin project" in result.stderr
    assert "Traceback" not in result.stderr


def test_several_problems_are_each_printed_with_their_hint(cli: CliRunner) -> None:
    result = cli("validate", FIXTURES / "mismatch", "--no-scan")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    hints = [line for line in result.stderr.splitlines() if line.startswith("  hint: ")]
    assert len(errors) >= 6  # version, static dir, route, event, exports, panels
    assert len(hints) == len(errors)
    assert '  hint: add "' in result.stderr
    assert "✗ mismatch" in result.stdout


def test_bugs_show_a_short_traceback_and_ask_for_verbose(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "key-material-do-not-print"  # noqa: S105  # a canary, not a credential

    def broken(path: Path, **options: object) -> None:
        local_secret = secret  # a local that must never be shown
        raise RuntimeError("boom " + str(len(local_secret)))

    monkeypatch.setattr("pluginctl.validation.validate_project", broken)
    quiet = cli("validate", FIXTURES / "good")
    assert quiet.exit_code == 1
    assert "internal error" in quiet.stderr
    assert "RuntimeError: boom 25" in quiet.stderr
    assert "rerun with -v" in quiet.stderr
    assert secret not in quiet.stderr
    loud = cli("-v", "validate", FIXTURES / "good")
    assert loud.exit_code == 1
    assert "rerun with -v" not in loud.stderr
    assert len(loud.stderr.splitlines()) > len(quiet.stderr.splitlines())
    assert secret not in loud.stderr


def test_validate_json_output_is_one_document(cli: CliRunner) -> None:
    result = cli("validate", FIXTURES / "good", "--json", "--no-scan")
    assert result.exit_code == 0
    data = result.json()
    assert isinstance(data, dict)
    assert data["ok"] is True
    assert data["registrations"]["exports"] == ["lookup", "count"]


def test_show_completion_prints_a_script(cli: CliRunner) -> None:
    result = cli("--show-completion", "bash")
    assert result.exit_code == 0
    assert "_PLUGINCTL_COMPLETE" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["create", "--help"],
        ["validate", "--help"],
        ["build", "--help"],
        ["test", "--help"],
        ["run", "--help"],
        ["list", "--help"],
        ["info", "--help"],
        ["keys", "--help"],
        ["keys", "generate", "--help"],
        ["keys", "trust", "--help"],
        ["sign", "--help"],
        ["verify", "--help"],
        ["install", "--help"],
        ["update", "--help"],
        ["outdated", "--help"],
        ["uninstall", "--help"],
        ["publish", "--help"],
        ["search", "--help"],
        ["registry", "--help"],
        ["registry", "serve", "--help"],
        ["registry", "token", "create", "--help"],
    ],
)
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    code = (
        "import sys, json\n"
        "from pluginctl.cli import main\n"
        f"code = main({args!r})\n"
        "print('\\n' + json.dumps([code, sorted(sys.modules)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    exit_code, modules = json.loads(done.stdout.splitlines()[-1])
    assert exit_code == 0
    loaded = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert loaded == []


def test_console_script_runs() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pluginctl", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0
    assert done.stdout.strip() == f"pluginctl {__version__}"
