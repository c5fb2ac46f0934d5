"""``pluginctl build``: what a person and a machine see, and the exit codes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.conftest import CliRunner

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "plugins"


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    return shutil.copytree(
        REPO / "examples" / "hello", tmp_path / "hello", ignore=shutil.ignore_patterns("dist")
    )


def test_build_prints_each_step_and_the_files_with_size_and_sha256(
    cli: CliRunner, hello: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(hello)
    result = cli("build", "--no-isolation")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines() == [
        "✓ validated hello 0.1.0",
        "✓ built hello-0.1.0.tar.gz",
        "✓ built hello-0.1.0-py3-none-any.whl",
        "✓ registrations match plugin.toml",
        "✓ hello-0.1.0-py3-none-any.whl holds every plugin file",
    ]
    first, *files = result.stdout.splitlines()
    assert first == "✓ built hello 0.1.0"
    names = ("hello-0.1.0.tar.gz", "hello-0.1.0-py3-none-any.whl")
    for line, name in zip(files, names, strict=True):
        path, size, unit, digest = line.split()
        assert path == f"dist/{name}"
        assert (float(size) > 0, unit) == (True, "kB")
        assert digest == "sha256:" + hashlib.sha256((hello / path).read_bytes()).hexdigest()


def test_build_json_is_one_document_describing_the_files(
    cli: CliRunner, hello: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = cli("build", hello, "--no-isolation", "--out-dir", out, "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert isinstance(data, dict)
    assert (data["name"], data["version"], data["signature"]) == ("hello", "0.1.0", None)
    wheel = data["wheel"]
    assert isinstance(wheel, dict)
    path = Path(str(wheel["path"]))
    assert path == out / "hello-0.1.0-py3-none-any.whl"
    assert wheel["size"] == path.stat().st_size
    assert wheel["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "hello/static/style.css" in data["checked"]
    assert data["warnings"] == []


def test_a_plugin_toml_error_exits_1_with_the_problem_and_its_hint(
    cli: CliRunner, hello: Path
) -> None:
    manifest = hello / "hello" / "plugin.toml"
    manifest.write_text(manifest.read_text().replace("static =", "statc ="))
    result = cli("build", hello, "--no-isolation")
    assert result.exit_code == 1
    assert f"error: {manifest}: statc: unknown key" in result.stderr
    assert "hint: " in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert not (hello / "dist").exists()


def test_a_wheel_missing_static_files_exits_1_naming_them(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("build", FIXTURES / "static-left-out", "--no-isolation", "-o", tmp_path / "d")
    assert result.exit_code == 1
    assert "error: static_left_out-1.0.0-py2.py3-none-any.whl lacks 2 file(s)" in result.stderr
    assert "  - static_left_out/static/index.html" in result.stderr
    assert "hint: hatchling leaves out" in result.stderr
    assert not (tmp_path / "d").exists()


def test_a_warning_is_shown_and_the_build_still_succeeds(cli: CliRunner, hello: Path) -> None:
    plugin = hello / "hello" / "plugin.py"
    plugin.write_text(plugin.read_text() + "\nimport not_installed_here_at_all\n")
    result = cli("build", hello, "--no-isolation")
    assert result.exit_code == 0, result.stderr
    assert "✓ registrations: 1 warning(s)\n" in result.stderr
    assert "warning: " in result.stderr
    assert "'not_installed_here_at_all', which is not installed here" in result.stderr


@pytest.mark.parametrize(
    "args", [["--key", "mine"], ["--no-such-option"], ["--out-dir"]], ids=["key", "option", "dir"]
)
def test_usage_mistakes_exit_2(cli: CliRunner, hello: Path, args: list[str]) -> None:
    result = cli("build", hello, *args)
    assert result.exit_code == 2
    assert not (hello / "dist").exists()


def test_key_without_sign_says_to_add_sign(cli: CliRunner, hello: Path) -> None:
    result = cli("build", hello, "--key", "mine")
    assert "add --sign" in result.stdout + result.stderr


def test_not_a_project_exits_1(cli: CliRunner, tmp_path: Path) -> None:
    result = cli("build", tmp_path)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no pyproject.toml in ")


# -- --sign: the signing library is written beside this command --------------------------


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("PLUGINCTL_SIGNING_KEY", raising=False)
    return home


def test_keys_generate_then_build_sign_then_verify_succeeds(
    cli: CliRunner, hello: Path, config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's fresh-machine path, every part real: key ring, build, signature, verify."""
    monkeypatch.chdir(hello)
    generated = cli("keys", "generate", "--name", "Ada", "--no-passphrase")
    assert generated.exit_code == 0, generated.stderr
    result = cli("build", "--no-isolation", "--sign")
    assert result.exit_code == 0, result.stderr
    assert "  dist/hello-0.1.0-py3-none-any.whl.sig  (signature)" in result.stdout
    verified = cli("verify", "dist/hello-0.1.0-py3-none-any.whl")
    assert verified.exit_code == 0, verified.stderr
    assert "dist/hello-0.1.0-py3-none-any.whl: verified, signed by Ada" in verified.stdout


def test_build_sign_json_names_the_signature_made_with_the_key_given(
    cli: CliRunner, hello: Path, config_home: Path
) -> None:
    cli("keys", "generate", "--name", "old", "--no-passphrase")
    listed = cli("keys", "list", "--json").json()
    assert isinstance(listed, dict)
    old_id = listed["keys"][0]["key_id"]
    cli("keys", "generate", "--name", "new", "--no-passphrase")  # the new default
    result = cli("build", hello, "--no-isolation", "--sign", "--key", old_id[:12], "--json")
    assert result.exit_code == 0, result.stderr
    wheel = hello / "dist" / "hello-0.1.0-py3-none-any.whl"
    data = result.json()
    assert isinstance(data, dict)
    assert data["signature"] == str(wheel) + ".sig"
    verified = cli("verify", wheel, "--json").json()
    assert isinstance(verified, list)
    assert [s["name"] for s in verified[0]["signers"]] == ["old"]


def test_a_failed_build_signs_nothing(cli: CliRunner, tmp_path: Path, config_home: Path) -> None:
    cli("keys", "generate", "--name", "Ada", "--no-passphrase")
    result = cli("build", FIXTURES / "static-left-out", "--no-isolation", "--sign", "-o", tmp_path)
    assert result.exit_code == 1
    assert not list(tmp_path.glob("*.sig"))
