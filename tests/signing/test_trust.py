from __future__ import annotations

import stat
from datetime import date
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import SigningKeyError, TrustStoreError
from pluginctl.signing.keys import SigningKey
from pluginctl.signing.trust import (
    TRUST_FILENAME,
    TrustStore,
    find_project_trust_file,
    parse_trust_text,
)

if TYPE_CHECKING:
    from pathlib import Path

    from pluginctl.signing.public import PublicKey

TODAY = date(2025, 6, 1)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    monkeypatch.chdir(root)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return root


@pytest.fixture
def store(project: Path) -> TrustStore:
    return TrustStore.load()


def _key() -> PublicKey:
    return SigningKey.generate().public


def _entry_text(public: PublicKey, **fields: str) -> str:
    lines = [
        "[[key]]",
        f'id = "{public.key_id}"',
        'name = "acme"',
        f'public_key = "{public.to_text()}"',
        'projects = ["acme-*"]',
        *(f"{name} = {value}" for name, value in fields.items()),
    ]
    return "\n".join(lines) + "\n"


# -- decisions ---------------------------------------------------------------------


def test_a_key_trusted_for_a_pattern_may_sign_matching_projects(store: TrustStore) -> None:
    key = _key()
    store.trust(key, name="acme", projects=["acme-*"], today=TODAY)
    decision = store.decide(key.key_id, "Acme_Tools", today=TODAY)
    assert decision.trusted
    assert (decision.reason, decision.hint, decision.note) == ("", None, "")
    assert decision.public_key == key
    assert decision.entry is not None
    assert decision.entry.added == TODAY
    assert store.public_key(key.key_id) == key


def test_an_unknown_key_is_untrusted_with_the_trust_command(store: TrustStore) -> None:
    key = _key()
    decision = store.decide(key.key_id, "acme-tools")
    assert not decision.trusted
    assert decision.reason == f"untrusted key {key.short_id}"
    assert decision.hint is not None
    assert "pluginctl keys trust KEYFILE --scope acme-tools" in decision.hint
    offered = store.decide(key.key_id, "acme-tools", offered=key)
    assert offered.hint is not None
    assert f"pluginctl keys trust {key.to_text()} --scope acme-tools" in offered.hint


def test_a_project_outside_the_patterns_is_refused_with_the_widening_command(
    store: TrustStore,
) -> None:
    key = _key()
    store.trust(key, name="acme", projects=["acme-*"])
    decision = store.decide(key.key_id, "foo")
    assert not decision.trusted
    assert decision.reason == f"key {key.short_id} may sign only acme-*, not 'foo'"
    assert decision.hint == (
        f"if it may sign it too: pluginctl keys trust {key.short_id} --scope 'acme-*' --scope foo"
    )


def test_a_revocation_in_either_store_wins(store: TrustStore) -> None:
    key = _key()
    store.trust(key, name="acme", projects=["*"])
    store.trust(key, name="acme", projects=["*"], project=True)
    store.revoke(key.key_id, reason="leaked", project=True, today=TODAY)
    decision = store.decide(key.key_id, "acme-tools")
    assert not decision.trusted
    assert decision.reason == f"key {key.short_id} was revoked on 2025-06-01 (leaked)"
    assert decision.hint is not None
    other = _key()
    store.trust(other, name="other", projects=["*"], project=True)
    store.revoke(other.key_id)
    assert store.decide(other.key_id, "x").reason.startswith(f"key {other.short_id} was revoked")


def test_an_expired_key_and_a_key_not_yet_valid_are_refused(store: TrustStore) -> None:
    key = _key()
    store.trust(
        key,
        name="acme",
        projects=["*"],
        not_before=date(2025, 1, 1),
        not_after=date(2025, 12, 31),
    )
    assert store.decide(key.key_id, "x", today=date(2025, 12, 31)).trusted
    expired = store.decide(key.key_id, "x", today=date(2026, 1, 1))
    assert expired.reason == f"key {key.short_id} expired on 2025-12-31"
    assert expired.hint is not None
    assert "--not-after YYYY-MM-DD" in expired.hint
    early = store.decide(key.key_id, "x", today=date(2024, 12, 31))
    assert early.reason == f"key {key.short_id} is not valid before 2025-01-01"
    assert early.hint is not None
    assert "clock" in early.hint


def test_a_retired_key_still_verifies_with_a_note(store: TrustStore) -> None:
    key = _key()
    store.trust(key, name="acme", projects=["*"])
    store.trust(key, name="acme", projects=["acme-*"], project=True)
    changed = store.retire(key.key_id, today=TODAY)
    assert sorted(stored.store for stored in changed) == ["project", "user"]
    decision = store.decide(key.key_id, "acme-tools")
    assert decision.trusted
    assert decision.note.startswith(f"key {key.short_id} was retired on 2025-06-01")
    assert "pluginctl keys rotate" in decision.note


def test_the_two_stores_combine_their_scopes(store: TrustStore) -> None:
    key = _key()
    store.trust(key, name="acme", projects=["acme-*"])
    store.trust(key, name="acme", projects=["tools"], project=True, not_after=date(2000, 1, 1))
    assert store.decide(key.key_id, "acme-x").trusted
    refused = store.decide(key.key_id, "tools")
    assert refused.reason == f"key {key.short_id} expired on 2000-01-01"
    reread = TrustStore.load()
    assert [stored.store for stored in reread.entries()] == ["project", "user"]
    assert reread.decide(key.key_id, "acme-x").trusted


# -- editing -----------------------------------------------------------------------


def test_a_revoked_key_is_not_trusted_again_without_force(store: TrustStore) -> None:
    key = _key()
    store.trust(key, name="acme", projects=["*"], project=True)
    store.revoke(key.key_id, reason="lost laptop", project=True)
    with pytest.raises(TrustStoreError, match="a revocation in either store wins") as caught:
        store.trust(key, name="acme", projects=["*"], project=True)
    assert caught.value.hint == "if the revocation was a mistake, add --force"
    with pytest.raises(TrustStoreError) as elsewhere:
        store.trust(key, name="acme", projects=["*"], force=True)
    assert elsewhere.value.hint is not None
    assert f"pluginctl keys untrust {key.short_id} --project --force" in elsewhere.value.hint
    entry = store.trust(key, name="acme", projects=["*"], project=True, force=True)
    assert (entry.status, entry.reason, entry.revoked_on) == ("active", "", None)


def test_untrusting_keeps_a_revocation_unless_forced(store: TrustStore) -> None:
    key = _key()
    store.trust(key, name="acme", projects=["*"])
    store.revoke(key.key_id)
    with pytest.raises(TrustStoreError, match="would forget the revocation"):
        store.untrust(key.key_id)
    store.untrust(key.key_id, force=True)
    assert store.entries() == []
    with pytest.raises(TrustStoreError, match="is not listed here") as caught:
        store.untrust(key.key_id)
    assert caught.value.hint is not None
    assert "--project" in caught.value.hint


def test_revoking_an_unknown_key_needs_its_public_key(store: TrustStore) -> None:
    key = _key()
    with pytest.raises(SigningKeyError, match="in neither trust store"):
        store.revoke(key.key_id)
    entry = store.revoke(key.key_id, public=key, reason="leaked", project=True)
    assert (entry.status, entry.projects, entry.reason) == ("revoked", ["*"], "leaked")
    assert not store.decide(key.key_id, "anything").trusted


def test_editing_a_project_file_keeps_its_comments_and_order(
    project: Path, store: TrustStore
) -> None:
    first, second = _key(), _key()
    text = (
        "# Acme's release keys: ask #security before adding one.\n\n"
        + _entry_text(first).replace('name = "acme"', 'name = "acme"  # the release key')
        + "\n# the old build machine\n"
        + _entry_text(second)
    )
    path = project / TRUST_FILENAME
    path.write_text(text)
    path.chmod(0o664)
    store = TrustStore.load()
    store.revoke(first.key_id, reason="leaked", project=True, today=TODAY)
    newcomer = _key()
    store.trust(newcomer, name="new", projects=["acme-*"], project=True, today=TODAY)
    written = path.read_text()
    assert written.startswith("# Acme's release keys: ask #security before adding one.\n")
    assert 'name = "acme"  # the release key' in written
    assert "\n# the old build machine\n[[key]]" in written
    assert written.index(first.key_id) < written.index(second.key_id)
    assert written.index(second.key_id) < written.index(newcomer.key_id)
    assert 'status = "revoked"\nreason = "leaked"\nrevoked_on = 2025-06-01\n' in written
    assert stat.S_IMODE(path.stat().st_mode) == 0o664
    assert sorted(p.name for p in project.iterdir()) == [".git", TRUST_FILENAME]


def test_a_new_project_file_is_made_in_the_current_directory(
    project: Path, store: TrustStore
) -> None:
    store.trust(_key(), name="acme", projects=["Acme_*"], project=True)
    path = project / TRUST_FILENAME
    assert store.project_file == path
    text = path.read_text()
    assert text.startswith("# This project's trust store: commit it")
    assert 'projects = ["acme-*"]' in text
    assert len(parse_trust_text(text, source="x")) == 1


def test_the_project_file_is_found_in_a_parent_up_to_the_repository(project: Path) -> None:
    (project / TRUST_FILENAME).write_text("")
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    assert find_project_trust_file(deep) == project / TRUST_FILENAME
    (project.parent / "other" / ".git").mkdir(parents=True)
    (project.parent / TRUST_FILENAME).write_text("")
    assert find_project_trust_file(project.parent / "other") is None
    assert TrustStore.load(start=deep).project_file == project / TRUST_FILENAME


# -- bad files ---------------------------------------------------------------------


def _problems(text: str) -> list[tuple[str, str | None]]:
    with pytest.raises(TrustStoreError) as caught:
        parse_trust_text(text, source="pluginctl.trust.toml")
    return [(str(problem), problem.hint) for problem in caught.value.problems]


def test_bad_toml_is_located() -> None:
    ((message, hint),) = _problems("[[key]\n")
    assert message.startswith("pluginctl.trust.toml: not valid TOML: ")
    assert hint == "fix the TOML syntax at the line and column shown"


def test_an_unknown_key_is_named_with_the_nearest_valid_one() -> None:
    text = _entry_text(_key(), not_afer="2026-01-01")
    assert _problems(text) == [
        ("pluginctl.trust.toml: key[0].not_afer: unknown key", "did you mean 'not_after'?")
    ]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"status": '"paused"'}, "key[0].status: 'paused' is not allowed"),
        ({"not_after": "5"}, "key[0].not_after: expected date, got int"),
        ({"reason": "[1]"}, "key[0].reason: expected str, got list"),
    ],
)
def test_a_wrong_type_is_located_with_a_fix(fields: dict[str, str], expected: str) -> None:
    ((message, hint),) = _problems(_entry_text(_key(), **fields))
    assert message == f"pluginctl.trust.toml: {expected}"
    assert hint


def test_an_id_that_is_not_the_public_keys_hash_is_refused() -> None:
    key, other = _key(), _key()
    text = _entry_text(key).replace(key.key_id, other.key_id)
    ((message, hint),) = _problems(text)
    assert (
        message
        == f"pluginctl.trust.toml: key[0].id: does not match public_key, whose id is {key.key_id}"
    )
    assert hint is not None
    assert f'set id = "{key.key_id}"' in hint


def test_each_rule_is_reported_with_its_key_path() -> None:
    key = _key()
    text = (
        _entry_text(key, not_before="2026-01-01", not_after="2025-01-01").replace(
            '["acme-*"]', '["Acme_*", "bad name"]'
        )
        + _entry_text(key)
        + '[[key]]\nid = "XYZ"\nname = "x"\npublic_key = "ed25519:AAAA"\nprojects = []\n'
    )
    locations = [message.split(": ")[1] for message, _ in _problems(text)]
    assert locations == [
        "key[0].projects[0]",
        "key[0].projects[1]",
        "key[0].not_after",
        "key[1].id",
        "key[2].id",
        "key[2].public_key",
        "key[2].projects",
    ]


def test_key_must_be_an_array_of_tables() -> None:
    assert _problems('key = "x"\n') == [
        ("pluginctl.trust.toml: key: must be an array of tables", "write each key as [[key]]")
    ]


def test_a_bad_file_on_disk_is_named_by_its_path(project: Path) -> None:
    (project / TRUST_FILENAME).write_text("[[key]]\nid = 1\n")
    with pytest.raises(TrustStoreError) as caught:
        TrustStore.load()
    assert str(caught.value).startswith(f"{project / TRUST_FILENAME}: key[0].")
