"""``pluginctl build``: what a person and a machine see, and the exit codes."""

from __future__ import annotations

import hashlib
import importlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.conftest import CliRunner

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "plugins"


def _signing_available() -> bool:
    try:
        return callable(getattr(importlib.import_module("pluginctl.signing"), "sign_wheel", None))
    except ImportError:
        return False


NEEDS_SIGNING = pytest.mark.skipif(
    not _signing_available(), reason="pluginctl.signing.sign_wheel is not there yet"
)


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


@dataclass(frozen=True)
class FakeSignResult:
    signature: Path


class FakeSigning:
    """Stands in for pluginctl.signing: records what the command asked for."""

    def __init__(self) -> None:
        self.keys: list[str | None] = []
        self.signed: list[Path] = []

    def resolve_signing_key(
        self, key: str | None, *, prompt: Callable[[], str] | None = None
    ) -> str:
        assert prompt is not None  # a locked key can ask for its passphrase
        self.keys.append(key)
        return f"key:{key}"

    def sign_wheel(self, wheel: Path, key: object) -> FakeSignResult:
        assert key == f"key:{self.keys[-1]}"
        self.signed.append(wheel)
        signature = wheel.with_name(wheel.name + ".sig")
        signature.write_text("{}")
        return FakeSignResult(signature)


@pytest.fixture
def signing(monkeypatch: pytest.MonkeyPatch) -> FakeSigning:
    fake = FakeSigning()
    monkeypatch.setattr("pluginctl.signing.sign_wheel", fake.sign_wheel)
    monkeypatch.setattr("pluginctl.signing.keys.resolve_signing_key", fake.resolve_signing_key)
    return fake


@NEEDS_SIGNING
def test_sign_signs_the_checked_wheel_with_the_key_given(
    cli: CliRunner, hello: Path, signing: FakeSigning
) -> None:
    result = cli("build", hello, "--no-isolation", "--sign", "--key", "release", "--json")
    assert result.exit_code == 0, result.stderr
    wheel = hello / "dist" / "hello-0.1.0-py3-none-any.whl"
    assert signing.signed == [wheel]
    assert signing.keys == ["release"]
    data = result.json()
    assert isinstance(data, dict)
    assert data["signature"] == str(wheel) + ".sig"


@NEEDS_SIGNING
def test_sign_without_key_uses_the_default_and_lists_the_signature(
    cli: CliRunner, hello: Path, signing: FakeSigning, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(hello)
    result = cli("build", "--no-isolation", "--sign")
    assert result.exit_code == 0, result.stderr
    assert signing.keys == [None]
    assert "  dist/hello-0.1.0-py3-none-any.whl.sig  (signature)" in result.stdout


@NEEDS_SIGNING
def test_a_failed_build_signs_nothing(cli: CliRunner, tmp_path: Path, signing: FakeSigning) -> None:
    result = cli("build", FIXTURES / "static-left-out", "--no-isolation", "--sign", "-o", tmp_path)
    assert result.exit_code == 1
    assert signing.signed == []
