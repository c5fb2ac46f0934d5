from __future__ import annotations

import stat
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pluginctl.signing.keys import KeyRing, resolve_signing_key
from pluginctl.signing.trust import TRUST_FILENAME, TrustStore

if TYPE_CHECKING:
    from tests.conftest import CliRunner

SECRET = "a passphrase typed once"  # noqa: S105  # a test passphrase


@pytest.fixture(autouse=True)
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh machine: its own config directory, in a project with a .git root."""
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    monkeypatch.chdir(project)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("PLUGINCTL_SIGNING_KEY", raising=False)
    monkeypatch.delenv("PLUGINCTL_KEY_PASSPHRASE", raising=False)
    return tmp_path


def _listing(cli: CliRunner) -> dict[str, list[dict[str, object]]]:
    result = cli("keys", "list", "--json")
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert isinstance(data, dict)
    return data


def _generate(cli: CliRunner, *args: str) -> str:
    result = cli("keys", "generate", "--no-passphrase", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout.split()[2]


def test_a_fresh_machine_generates_a_default_key_it_trusts_everywhere(
    cli: CliRunner, machine: Path
) -> None:
    result = cli("keys", "generate", "--no-passphrase", "--name", "ada@laptop")
    assert result.exit_code == 0, result.stderr
    key_id = result.stdout.split()[2]
    assert len(key_id) == 64
    assert f"{key_id}.pem (NOT encrypted)" in result.stdout
    assert "trusted for  * in " in result.stdout
    data = _listing(cli)
    (own,) = data["keys"]
    assert (own["key_id"], own["name"], own["default"], own["encrypted"]) == (
        key_id,
        "ada@laptop",
        True,
        False,
    )
    (trusted,) = data["trusted"]
    assert (trusted["key_id"], trusted["projects"], trusted["store"]) == (key_id, ["*"], "user")
    assert TrustStore.load().decide(key_id, "any-plugin").trusted
    assert resolve_signing_key(None).key_id == key_id
    assert stat.S_IMODE(Path(str(own["path"])).stat().st_mode) == 0o600


def test_generate_takes_the_passphrase_from_the_environment_and_never_prints_it(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGINCTL_KEY_PASSPHRASE", SECRET)
    result = cli("keys", "generate", "--scope", "acme-*", "--no-trust")
    assert result.exit_code == 0, result.stderr
    assert "(encrypted)" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    data = _listing(cli)
    assert data["keys"][0]["encrypted"] is True
    assert data["trusted"] == []
    assert SECRET not in str(data)


def test_generate_without_a_terminal_or_a_passphrase_says_what_to_set(cli: CliRunner) -> None:
    result = cli("keys", "generate")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: a passphrase is needed")
    assert "hint: set PLUGINCTL_KEY_PASSPHRASE, or pass --no-passphrase" in result.stderr
    assert "Traceback" not in result.stderr


def test_export_prints_the_public_key_and_warns_for_the_private_one(
    cli: CliRunner, machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGINCTL_KEY_PASSPHRASE", SECRET)
    key_id = cli("keys", "generate").stdout.split()[2]
    public = cli("keys", "export")
    assert public.exit_code == 0
    assert public.stdout.startswith("ed25519:")
    assert public.stderr == ""
    secret_file = machine / "ci-key.pem"
    private = cli("keys", "export", key_id[:8], "--private", "-o", secret_file)
    assert private.exit_code == 0, private.stderr
    assert "warning: this is a private key" in private.stderr
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert secret_file.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert "PRIVATE KEY" not in private.stdout


def test_a_key_exported_on_one_machine_imports_on_another(
    cli: CliRunner, machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGINCTL_KEY_PASSPHRASE", SECRET)
    key_id = cli("keys", "generate", "--name", "ada").stdout.split()[2]
    exported = machine / "ada.pem"
    assert cli("keys", "export", "--private", "-o", exported).exit_code == 0
    monkeypatch.setenv("XDG_CONFIG_HOME", str(machine / "new-machine"))
    result = cli("keys", "import", exported, "--name", "ada")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"imported key {key_id} (ada), encrypted")
    assert KeyRing.default().load().key_id == key_id
    again = cli("keys", "import", exported)
    assert again.exit_code == 1
    assert "is already in the key ring" in again.stderr


def test_import_refuses_a_file_that_is_not_a_key(cli: CliRunner, machine: Path) -> None:
    junk = machine / "junk.txt"
    junk.write_text("not a key at all")
    result = cli("keys", "import", junk, "--no-passphrase")
    assert result.exit_code == 1
    assert "is not a private key" in result.stderr
    assert "not a key at all" not in result.stderr
    missing = cli("keys", "import", machine / "nope.pem")
    assert missing.exit_code == 1
    assert "cannot read the key file" in missing.stderr


def test_trusting_a_colleagues_key_for_the_project_writes_pluginctl_trust_toml(
    cli: CliRunner, machine: Path
) -> None:
    colleague = KeyRing(machine / "colleague").generate("bob", passphrase=None).public
    result = cli(
        "keys",
        "trust",
        colleague.to_text(),
        "--scope",
        "acme-*",
        "--name",
        "bob",
        "--not-after",
        "2999-12-31",
        "--project",
    )
    assert result.exit_code == 0, result.stderr
    path = machine / "project" / TRUST_FILENAME
    assert result.stdout.startswith(f"trusted key {colleague.short_id} (bob) for acme-*")
    assert "not_after = 2999-12-31" in path.read_text()
    store = TrustStore.load()
    assert store.decide(colleague.key_id, "acme-tools").trusted
    assert store.decide(colleague.key_id, "other").reason.endswith("not 'other'")
    wider = cli(
        "keys", "trust", colleague.short_id, "--scope", "acme-*", "--scope", "other", "--project"
    )
    assert wider.exit_code == 0, wider.stderr
    assert TrustStore.load().decide(colleague.key_id, "other").trusted


def test_trust_reads_a_public_key_file(cli: CliRunner, machine: Path) -> None:
    colleague = KeyRing(machine / "colleague").generate("bob", passphrase=None).public
    key_file = machine / "bob.pub"
    key_file.write_text(colleague.to_text() + "\n")
    result = cli("keys", "trust", key_file, "--scope", "*")
    assert result.exit_code == 0, result.stderr
    assert "(key " in result.stdout  # no name given and none known
    assert TrustStore.load().decide(colleague.key_id, "x").trusted
    bad = cli("keys", "trust", "bob.pub.missing", "--scope", "*")
    assert bad.exit_code == 1
    assert "is neither a file, a public key nor a key id" in bad.stderr


def test_trust_needs_a_scope(cli: CliRunner) -> None:
    result = cli("keys", "trust", "ed25519:AAAA")
    assert result.exit_code == 2
    assert "--scope" in result.stderr


def test_a_revoked_key_stays_revoked_until_forced(cli: CliRunner, machine: Path) -> None:
    key_id = _generate(cli)
    revoked = cli("keys", "revoke", key_id[:10], "--reason", "laptop stolen", "--project")
    assert revoked.exit_code == 0, revoked.stderr
    assert "it was one of your keys: it is retired" in revoked.stdout
    decision = TrustStore.load().decide(key_id, "acme")
    assert not decision.trusted
    assert decision.reason == f"key {key_id[:16]} was revoked on {_today()} (laptop stolen)"
    again = cli("keys", "trust", key_id[:10], "--scope", "*", "--project")
    assert again.exit_code == 1
    assert "a revocation in either store wins" in again.stderr
    assert "hint: if the revocation was a mistake, add --force" in again.stderr
    kept = cli("keys", "untrust", key_id[:10], "--project")
    assert kept.exit_code == 1
    assert "would forget the revocation" in kept.stderr
    gone = cli("keys", "untrust", key_id[:10], "--project", "--force")
    assert gone.exit_code == 0, gone.stderr
    assert TrustStore.load().decide(key_id, "acme").trusted  # the user store still trusts it


def test_rotate_makes_a_new_default_and_retires_the_old_key(cli: CliRunner) -> None:
    old = _generate(cli, "--scope", "acme-*", "--name", "ada")
    result = cli("keys", "rotate", "--no-passphrase")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"retired key {old} (ada)")
    (new_line,) = [line for line in result.stdout.splitlines() if line.startswith("new key")]
    new = new_line.split()[2].rstrip(",")
    assert "pluginctl keys export -o new-key.pub" in result.stdout
    assert "--scope 'acme-*' --project" in result.stdout
    data = _listing(cli)
    assert [(k["key_id"], k["status"], k["default"]) for k in data["keys"]] == [
        (old, "retired", False),
        (new, "active", True),
    ]
    store = TrustStore.load()
    assert store.decide(new, "acme-x").trusted
    assert store.decide(old, "acme-x").note.startswith(f"key {old[:16]} was retired")


def test_an_ambiguous_or_unknown_key_prefix_is_a_clear_error(cli: CliRunner) -> None:
    ids = [_generate(cli, "--no-trust") for _ in range(17)]
    first = next(c for c in "0123456789abcdef" if sum(i.startswith(c) for i in ids) > 1)
    result = cli("keys", "export", first)
    assert result.exit_code == 1
    assert f"error: '{first}' is the start of" in result.stderr
    assert "hint: give more characters of the key id" in result.stderr
    unknown = cli("keys", "untrust", "ffffffffffffffffff")
    assert unknown.exit_code == 1
    assert "no key 'ffffffffffffffffff' in the trust stores" in unknown.stderr


def test_a_broken_trust_file_is_reported_with_its_location(cli: CliRunner, machine: Path) -> None:
    (machine / "project" / TRUST_FILENAME).write_text('[[key]]\nid = "x"\nnmae = "typo"\n')
    result = cli("keys", "list")
    assert result.exit_code == 1
    assert f"{TRUST_FILENAME}: key[0].nmae: unknown key" in result.stderr
    assert "hint: did you mean 'name'?" in result.stderr


def test_list_shows_own_and_trusted_keys(cli: CliRunner) -> None:
    empty = cli("keys", "list")
    assert empty.exit_code == 0
    assert "pluginctl keys generate" in empty.stdout
    key_id = _generate(cli, "--name", "ada", "--scope", "acme-*")
    shown = cli("keys", "list").stdout
    assert f"*  {key_id[:16]}  ada" in shown
    assert "acme-*" in shown
    assert "trusted keys (user: " in shown


def _today() -> str:
    from datetime import date

    return date.today().isoformat()


def test_at_a_terminal_the_passphrase_is_asked_twice_and_hidden(
    cli: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[dict[str, object]] = []

    def prompt(text: str, **options: object) -> str:
        asked.append({"text": text, **options})
        return SECRET

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("typer.prompt", prompt)
    result = cli("keys", "generate", "--no-trust")
    assert result.exit_code == 0, result.stderr
    assert asked == [
        {"text": "Passphrase for the new key", "hide_input": True, "confirmation_prompt": True}
    ]
    assert KeyRing.default().load(passphrase=lambda: SECRET).key_id in result.stdout
