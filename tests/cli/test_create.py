"""``pluginctl create``: the command line over pluginctl.scaffold."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pluginctl.manifest import Manifest

if TYPE_CHECKING:
    from tests.conftest import CliRunner


def feed_stdin(monkeypatch: pytest.MonkeyPatch, *answers: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("".join(f"{a}\n" for a in answers)))


def test_no_input_creates_the_project_and_shows_next_steps(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("create", "demo", "-o", tmp_path, "--no-input", "--with", "routes,db")
    assert result.exit_code == 0, result.stderr
    assert "Created plugin demo with routes, db in" in result.stdout
    for step in ("cd ", "pip install -e '.[test]'", "pluginctl validate"):
        assert step in result.stdout
    manifest = Manifest.from_path(tmp_path / "demo" / "demo")
    assert manifest.routes is not None
    assert manifest.migrations == "migrations"


def test_json_output(cli: CliRunner, tmp_path: Path) -> None:
    result = cli(
        "create",
        "json-demo",
        "--output-dir",
        tmp_path,
        "--no-input",
        "--json",
        "--with",
        "static",
        "--with",
        "admin",
        "--author",
        "Ada",
        "--description",
        "Shows JSON",
    )
    assert result.exit_code == 0, result.stderr
    assert result.json() == {
        "path": str(tmp_path.absolute() / "json-demo"),
        "name": "json-demo",
        "package": "json_demo",
        "features": ["admin", "static"],
    }
    assert Manifest.from_path(tmp_path / "json-demo" / "json_demo").description == "Shows JSON"


@pytest.mark.parametrize("name", ["My Plugin!", "class", "1plugin", ""])
def test_a_bad_name_is_an_error_and_creates_nothing(
    cli: CliRunner, tmp_path: Path, name: str
) -> None:
    result = cli("create", name, "-o", tmp_path, "--no-input")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "hint: " in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_feature_names_the_valid_ones(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("create", "demo", "-o", tmp_path, "--no-input", "--with", "routes,graphql")
    assert result.exit_code == 1
    assert "unknown feature 'graphql'; valid features: routes, db, admin, static" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_existing_directory_needs_force(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "mine.txt").write_text("precious")
    refused = cli("create", "demo", "-o", tmp_path, "--no-input")
    assert refused.exit_code == 1
    assert "already exists" in refused.stderr
    assert "--force" in refused.stderr
    assert (tmp_path / "demo" / "mine.txt").read_text() == "precious"

    forced = cli("create", "demo", "-o", tmp_path, "--no-input", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert not (tmp_path / "demo" / "mine.txt").exists()
    assert (tmp_path / "demo" / "pyproject.toml").is_file()


def test_no_input_without_a_name_is_an_error(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("create", "-o", tmp_path, "--no-input")
    assert result.exit_code == 1
    assert "a plugin name is required with --no-input" in result.stderr


def test_interactive_mode_reads_answers_from_stdin(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_stdin(monkeypatch, "asked", "An asked plugin", "Bea", "n", "y", "", "")
    result = cli("create", "-o", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert "Plugin name" in result.stdout
    assert "Use a database, with migrations?" in result.stdout
    assert "Created plugin asked with db in" in result.stdout
    manifest = Manifest.from_path(tmp_path / "asked" / "asked")
    assert manifest.description == "An asked plugin"
    assert manifest.permissions == ["db:read", "db:write"]


def test_interactive_json_keeps_prompts_off_stdout(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_stdin(monkeypatch, "", "")
    result = cli("create", "quiet", "-o", tmp_path, "--json", "--with", "routes", "--author", "A")
    assert result.exit_code == 0, result.stderr
    assert result.json() == {
        "path": str(tmp_path.absolute() / "quiet"),
        "name": "quiet",
        "package": "quiet",
        "features": ["routes"],
    }
    assert "One-line description" in result.stderr


def test_input_ending_early_is_an_error_not_a_traceback(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_stdin(monkeypatch, "half-done")
    result = cli("create", "-o", tmp_path)
    assert result.exit_code == 1
    assert "error: input ended before 'description' was answered" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def _press_ctrl_c(*args: object) -> str:
    raise KeyboardInterrupt


def test_ctrl_c_at_a_prompt_aborts_cleanly(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("builtins.input", _press_ctrl_c)
    result = cli("create", "-o", tmp_path)
    assert result.exit_code == 130
    assert "aborted; nothing was created" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_console_script_prompts_on_a_pipe(tmp_path: Path) -> None:
    script = Path(sysconfig.get_path("scripts")) / "pluginctl"
    answers = "piped\nFrom a pipe\n\ny\n\n\n\n"
    done = subprocess.run(
        [script, "create", "-o", tmp_path],
        input=answers,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Created plugin piped with routes" in done.stdout
    assert Manifest.from_path(tmp_path / "piped" / "piped").description == "From a pipe"


def test_help_lists_the_options(cli: CliRunner) -> None:
    result = cli("create", "--help")
    assert result.exit_code == 0
    for option in ("--output-dir", "--author", "--description", "--with", "--no-input"):
        assert option in result.stdout
    assert "--force" in result.stdout
    assert "--json" in result.stdout


def test_help_does_not_import_cookiecutter() -> None:
    code = (
        "import sys\n"
        "from pluginctl.cli import main\n"
        "assert main(['--help']) == 0\n"
        "assert main(['create', '--help']) == 0\n"
        "heavy = ('cookiecutter', 'jinja2', 'pluginctl.scaffold')\n"
        "loaded = [name for name in heavy if name in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr


def test_json_output_is_valid_json_for_tools(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("create", "tool", "-o", tmp_path, "--no-input", "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["features"] == []
    assert Path(data["path"]).is_dir()
