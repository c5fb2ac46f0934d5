"""``pluginctl sign`` and ``pluginctl verify`` as a user types them: real keys, real wheels."""

from __future__ import annotations

import importlib.util
import io
import json
from typing import TYPE_CHECKING

import pytest

from tests.signing.wheelmaker import make_wheel, rewrite

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import CliRunner


@pytest.fixture
def keyed(cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A key ring with one key, trusted for everything, in a temporary config home."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("PLUGINCTL_SIGNING_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    assert cli("keys", "generate", "--name", "Ada", "--no-passphrase").exit_code == 0
    return tmp_path


def test_sign_then_verify_two_wheels(cli: CliRunner, keyed: Path) -> None:
    first, second = make_wheel(keyed, "one"), make_wheel(keyed, "two")
    signed = cli("sign", first, second, "--json")
    assert signed.exit_code == 0, signed.stderr
    results = json.loads(signed.stdout)
    assert [r["signature"] for r in results] == [f"{first}.sig", f"{second}.sig"]
    assert results[0]["signatures"] == 1
    verified = cli("verify", first, second)
    assert verified.exit_code == 0, verified.stderr
    assert verified.stdout.count("verified, signed by Ada") == 2


def test_verify_exits_with_the_first_failed_checks_code(cli: CliRunner, keyed: Path) -> None:
    good, bad = make_wheel(keyed, "good"), make_wheel(keyed, "bad")
    cli("sign", good, bad)
    rewrite(bad, replace={"bad/plugin.py": b"import os\n"})
    result = cli("verify", good, bad)
    assert result.exit_code == 15
    assert "✓" in result.stdout
    assert "the files check failed" in result.stderr
    assert "  modified  bad/plugin.py" in result.stderr
    reports = json.loads(cli("verify", good, bad, "--json").stdout)
    assert [r["ok"] for r in reports] == [True, False]
    assert reports[1]["failed"]["files"] == [{"path": "bad/plugin.py", "change": "modified"}]


def test_verify_an_unsigned_wheel_says_how_to_sign_it(cli: CliRunner, keyed: Path) -> None:
    wheel = make_wheel(keyed)
    result = cli("verify", wheel)
    assert result.exit_code == 12
    assert f"hint: sign it: pluginctl sign {wheel}" in result.stderr


def test_verify_takes_a_signature_elsewhere_and_a_project_trust_file(
    cli: CliRunner, keyed: Path
) -> None:
    wheel = make_wheel(keyed)
    cli("sign", wheel)
    moved = keyed / "elsewhere.sig"
    (keyed / f"{wheel.name}.sig").rename(moved)
    assert cli("verify", wheel, "--signature", moved).exit_code == 0
    listed = cli("keys", "list", "--json").json()
    assert isinstance(listed, dict)
    key_id = listed["keys"][0]["key_id"]
    assert cli("keys", "revoke", key_id[:10], "--project", "--reason", "test").exit_code == 0
    assert (keyed / "pluginctl.trust.toml").is_file()
    result = cli("verify", wheel, "--signature", moved)
    assert result.exit_code == 13
    assert "revoked" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give wheel files, or --installed NAME"),
        (("a.whl", "b.whl", "--signature", "x.sig"), "--signature goes with exactly one wheel"),
    ],
)
def test_verify_usage_mistakes_exit_2(
    cli: CliRunner, keyed: Path, args: tuple[str, ...], message: str
) -> None:
    result = cli("verify", *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_verify_installed_names_what_is_not_installed(cli: CliRunner, keyed: Path) -> None:
    result = cli("verify", "--installed", "surely-not-installed")
    assert result.exit_code == 1
    assert "no plugin or distribution named 'surely-not-installed' is installed" in result.stderr


def test_sign_refuses_a_wheel_with_a_pth_file(cli: CliRunner, keyed: Path) -> None:
    wheel = make_wheel(keyed, extra={"evil.pth": b"import os\n"})
    result = cli("sign", wheel)
    assert result.exit_code == 1
    assert "'evil.pth' is a .pth file" in result.stderr
    assert not (keyed / f"{wheel.name}.sig").exists()


def test_install_shows_the_permissions_and_installs_nothing_without_consent(
    cli: CliRunner, keyed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheel = make_wheel(keyed, "asker")
    cli("sign", wheel)
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    result = cli("install", wheel)
    assert result.exit_code == 1
    assert "asker 1.0, signed by Ada" in result.stdout
    assert "permission  (none)" in result.stdout
    assert "installed" not in result.stdout
    assert importlib.util.find_spec("asker") is None


def test_install_refuses_a_wheel_that_does_not_verify_before_asking(
    cli: CliRunner, keyed: Path
) -> None:
    wheel = make_wheel(keyed, "tampered")
    cli("sign", wheel)
    rewrite(wheel, add={"evil.pth": b"import os\n"}, regenerate_record=True)
    result = cli("install", wheel)
    assert result.exit_code == 1
    assert "added: evil.pth" in result.stderr
    assert "Install, granting" not in result.stdout
