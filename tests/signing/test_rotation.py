from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import SigningKeyError
from pluginctl.signing.keys import KeyRing, resolve_signing_key
from pluginctl.signing.rotation import rotate_key
from pluginctl.signing.trust import TrustStore

if TYPE_CHECKING:
    from pathlib import Path

TODAY = date(2025, 6, 1)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("PLUGINCTL_SIGNING_KEY", raising=False)
    monkeypatch.delenv("PLUGINCTL_KEY_PASSPHRASE", raising=False)
    return tmp_path


def test_rotation_hands_the_scopes_to_a_new_default_key_and_retires_the_old() -> None:
    ring, store = KeyRing.default(), TrustStore.load()
    old = ring.generate("ada", passphrase="old secret")  # noqa: S106  # a test passphrase
    store.trust(old.public, name="ada", projects=["acme-*"])
    store.trust(old.public, name="ada", projects=["tools"], project=True)

    done = rotate_key(ring, store, passphrase=None, today=TODAY)

    assert done.old.key_id == old.key_id
    assert done.old.status == "retired"
    assert sorted(done.projects) == ["acme-*", "tools"]
    assert sorted(stored.store for stored in done.retired_in) == ["project", "user"]
    assert resolve_signing_key(None).key_id == done.new.key_id
    assert store.decide(done.new.key_id, "tools").trusted
    assert store.decide(old.key_id, "acme-x").note.startswith(f"key {old.short_id} was retired")
    with pytest.raises(SigningKeyError, match="is retired"):
        resolve_signing_key(old.key_id[:8])


def test_a_key_no_store_lists_rotates_to_a_key_trusted_for_everything() -> None:
    ring, store = KeyRing.default(), TrustStore.load()
    old = ring.generate("ci", passphrase=None)
    done = rotate_key(ring, store, old.key_id[:6], passphrase=None)
    assert done.projects == ["*"]
    assert done.retired_in == []
    assert store.decide(done.new.key_id, "anything").trusted
