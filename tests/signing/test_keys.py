from __future__ import annotations

import base64
import os
import stat
from typing import TYPE_CHECKING

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pluginctl.errors import SigningKeyError
from pluginctl.signing.keys import (
    KeyRing,
    PublicKey,
    SigningKey,
    key_id_of,
    resolve_signing_key,
    signing_key_from_env,
)

if TYPE_CHECKING:
    from pathlib import Path

SECRET = "correct horse battery staple"  # noqa: S105  # a test passphrase


@pytest.fixture(autouse=True)
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.delenv("PLUGINCTL_SIGNING_KEY", raising=False)
    monkeypatch.delenv("PLUGINCTL_KEY_PASSPHRASE", raising=False)
    return home


@pytest.fixture
def ring(tmp_path: Path) -> KeyRing:
    return KeyRing(tmp_path / "ring")


def _raw_private(private: Ed25519PrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def _pem(private: Ed25519PrivateKey, passphrase: str | None = None) -> str:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


# -- public keys ---------------------------------------------------------------------


def test_the_key_id_is_the_sha256_of_the_raw_public_key() -> None:
    key = SigningKey.generate()
    assert key.key_id == key_id_of(key.public.raw) == key.public.key_id
    assert len(key.key_id) == 64
    assert key.key_id == key.key_id.lower()
    assert key.public.short_id == key.key_id[:16]


def test_a_public_key_reads_back_from_its_text_and_from_pem() -> None:
    private = Ed25519PrivateKey.generate()
    pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    from_pem = PublicKey.from_text(pem)
    assert PublicKey.from_text(from_pem.to_text()) == from_pem
    assert from_pem.to_text().startswith("ed25519:")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello", "not a public key"),
        ("ed25519:AAAA", "the base64 of 32 bytes"),
        ("ed25519:not base64!", "the base64 of 32 bytes"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "damaged"),
    ],
)
def test_a_bad_public_key_text_is_refused_clearly(text: str, message: str) -> None:
    with pytest.raises(SigningKeyError, match=message) as caught:
        PublicKey.from_text(text)
    assert caught.value.hint


def test_a_private_key_is_never_taken_for_a_public_one() -> None:
    pem = _pem(Ed25519PrivateKey.generate())
    with pytest.raises(SigningKeyError, match="this is a private key") as caught:
        PublicKey.from_text(pem)
    assert pem not in str(caught.value)


def test_verify_says_false_for_any_bad_signature() -> None:
    key = SigningKey.generate()
    signature = key.sign(b"wheel")
    assert key.public.verify(signature, b"wheel")
    assert not key.public.verify(signature, b"other wheel")
    assert not key.public.verify(signature[:-1] + bytes([signature[-1] ^ 1]), b"wheel")
    assert not key.public.verify(b"short", b"wheel")
    assert not SigningKey.generate().public.verify(signature, b"wheel")


def test_a_signing_key_shows_no_secret_in_its_repr() -> None:
    private = Ed25519PrivateKey.generate()
    key = SigningKey.from_text(_pem(private), name="demo")
    shown = repr(key)
    assert key.key_id in shown
    assert _raw_private(private).hex() not in shown
    assert "PRIVATE" not in shown


# -- the key ring ------------------------------------------------------------------


def test_a_generated_key_is_encrypted_0600_in_a_0700_directory(ring: KeyRing) -> None:
    key = ring.generate("ada@laptop", passphrase=SECRET)
    (info,) = ring.keys()
    assert (info.key_id, info.name, info.encrypted, info.default) == (
        key.key_id,
        "ada@laptop",
        True,
        True,
    )
    assert stat.S_IMODE(ring.directory.stat().st_mode) == 0o700
    assert stat.S_IMODE(info.path.stat().st_mode) == 0o600
    text = info.path.read_text()
    assert text.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert SECRET not in text
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in ring.directory.iterdir())


def test_an_encrypted_key_unlocks_with_the_prompt_or_the_environment(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = ring.generate("ada", passphrase=SECRET)
    assert ring.load(passphrase=lambda: SECRET).public == key.public
    monkeypatch.setenv("PLUGINCTL_KEY_PASSPHRASE", SECRET)

    def no_prompt() -> str:
        raise AssertionError("the environment's passphrase should be used")

    loaded = ring.load(key.key_id, passphrase=no_prompt)
    assert loaded.public.verify(loaded.sign(b"x"), b"x")


def test_a_wrong_passphrase_names_the_key_and_what_to_do(ring: KeyRing) -> None:
    key = ring.generate("ada", passphrase=SECRET)
    with pytest.raises(SigningKeyError) as caught:
        ring.load(passphrase=lambda: "wrong")
    assert str(caught.value) == f"the passphrase does not unlock key {key.short_id} (ada)"
    assert caught.value.hint is not None
    assert "PLUGINCTL_KEY_PASSPHRASE" in caught.value.hint
    assert "pluginctl keys rotate" in caught.value.hint
    assert "wrong" not in str(caught.value) + caught.value.hint


def test_an_encrypted_key_without_any_passphrase_says_how_to_give_one(ring: KeyRing) -> None:
    ring.generate("ada", passphrase=SECRET)
    with pytest.raises(SigningKeyError, match="is encrypted and no passphrase") as caught:
        ring.load()
    assert caught.value.hint is not None
    assert "PLUGINCTL_KEY_PASSPHRASE" in caught.value.hint


def test_an_unencrypted_key_needs_no_passphrase(ring: KeyRing) -> None:
    key = ring.generate("ci", passphrase=None)
    assert ring.keys()[0].encrypted is False
    assert ring.load().key_id == key.key_id


def test_an_empty_passphrase_is_refused(ring: KeyRing) -> None:
    with pytest.raises(SigningKeyError, match="empty") as caught:
        ring.generate("ada", passphrase="")
    assert caught.value.hint is not None
    assert "--no-passphrase" in caught.value.hint


def test_a_key_file_others_may_read_is_refused_with_the_chmod(ring: KeyRing) -> None:
    ring.generate("ada", passphrase=None)
    path = ring.keys()[0].path
    path.chmod(0o644)
    with pytest.raises(SigningKeyError, match="mode 0644") as caught:
        ring.load()
    assert caught.value.hint == f"chmod 600 {path}"
    path.chmod(0o600)
    assert ring.load().name == "ada"


@pytest.mark.skipif(os.getuid() != 0, reason="only root can give a file to another user")
def test_a_key_file_someone_else_owns_is_refused(ring: KeyRing) -> None:
    ring.generate("ada", passphrase=None)
    path = ring.keys()[0].path
    os.chown(path, 4242, -1)
    with pytest.raises(SigningKeyError, match="owned by uid 4242") as caught:
        ring.load()
    assert caught.value.hint is not None
    assert "chown" in caught.value.hint


def test_a_unique_prefix_names_a_key_and_an_ambiguous_one_lists_the_candidates(
    ring: KeyRing,
) -> None:
    keys = [ring.generate(f"k{i}", passphrase=None) for i in range(17)]  # 17 > 16 hex digits
    by_first: dict[str, list[str]] = {}
    for key in keys:
        by_first.setdefault(key.key_id[0], []).append(key.key_id)
    shared = next(ids for ids in by_first.values() if len(ids) > 1)
    with pytest.raises(SigningKeyError, match=f"'{shared[0][0]}' is the start of") as caught:
        ring.load(shared[0][0])
    assert all(key_id[:16] in str(caught.value) for key_id in shared)
    assert caught.value.hint == "give more characters of the key id"
    assert ring.load(shared[0][:12].upper()).key_id == shared[0]


def test_an_unknown_key_says_where_it_looked(ring: KeyRing) -> None:
    ring.generate("ada", passphrase=None)
    with pytest.raises(SigningKeyError, match="no key 'zz' in the key ring") as caught:
        ring.load("zz")
    assert caught.value.hint is not None
    assert "pluginctl keys list" in caught.value.hint


def test_the_newest_generated_key_is_the_default_until_another_is_chosen(ring: KeyRing) -> None:
    first = ring.generate("first", passphrase=None)
    second = ring.generate("second", passphrase=None)
    assert ring.load().key_id == second.key_id
    ring.set_default(first.key_id[:10])
    assert ring.load().key_id == first.key_id
    listed = ring.keys()
    assert [info.default for info in listed] == [True, False]


def test_an_empty_ring_has_no_default(ring: KeyRing) -> None:
    with pytest.raises(SigningKeyError, match="no default signing key") as caught:
        ring.load()
    assert caught.value.hint == "run: pluginctl keys generate"


def test_a_key_moves_to_another_machine_by_export_and_import(tmp_path: Path, ring: KeyRing) -> None:
    key = ring.generate("ada", passphrase=SECRET)
    exported = ring.export_private()
    assert exported.startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert ring.export_public() == key.public
    other = KeyRing(tmp_path / "other machine")
    new_secret = "a new one"  # noqa: S105  # a test passphrase
    imported = other.import_private(exported, passphrase=new_secret, name="ada", unlock=SECRET)
    assert imported.key_id == key.key_id
    assert other.keys()[0].default
    assert other.load(passphrase=lambda: new_secret).public == key.public
    with pytest.raises(SigningKeyError, match="already in the key ring"):
        other.import_private(exported, passphrase=None, unlock=SECRET)


def test_a_retired_key_stays_but_no_longer_signs(ring: KeyRing) -> None:
    key = ring.generate("old", passphrase=None)
    assert ring.retire(key.key_id).status == "retired"
    assert ring.keys()[0].retired is not None
    assert ring.export_public(key.key_id) == key.public
    with pytest.raises(SigningKeyError, match="is retired") as caught:
        resolve_signing_key(None, ring=ring)
    assert caught.value.hint is not None
    assert "pluginctl keys rotate" in caught.value.hint


def test_a_damaged_index_says_how_to_recover(ring: KeyRing) -> None:
    ring.generate("ada", passphrase=None)
    (ring.directory / "keys.json").write_text("{not json")
    with pytest.raises(SigningKeyError, match="is damaged") as caught:
        ring.keys()
    assert caught.value.hint is not None
    assert "pluginctl keys import" in caught.value.hint


def test_the_default_ring_is_under_xdg_config_home(config_home: Path) -> None:
    assert KeyRing.default().directory == config_home / "pluginctl" / "keys"


# -- keys from the environment (CI) ----------------------------------------------------


def test_the_environment_may_hold_a_raw_key() -> None:
    private = Ed25519PrivateKey.generate()
    text = "ed25519-private:" + base64.b64encode(_raw_private(private)).decode()
    key = signing_key_from_env({"PLUGINCTL_SIGNING_KEY": text})
    assert key is not None
    assert key.public.raw == private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def test_a_public_key_in_the_environment_is_never_taken_for_a_private_one() -> None:
    public = SigningKey.generate("x").public
    with pytest.raises(SigningKeyError) as caught:
        signing_key_from_env({"PLUGINCTL_SIGNING_KEY": public.to_text()})
    assert "is a public key, not a private one" in caught.value.message
    assert public.to_text() not in caught.value.message


def test_the_environment_may_hold_an_encrypted_pem_key_and_its_passphrase() -> None:
    private = Ed25519PrivateKey.generate()
    env = {"PLUGINCTL_SIGNING_KEY": _pem(private, SECRET), "PLUGINCTL_KEY_PASSPHRASE": SECRET}
    key = signing_key_from_env(env)
    assert key is not None
    assert key.public.verify(key.sign(b"data"), b"data")
    unencrypted = signing_key_from_env({"PLUGINCTL_SIGNING_KEY": _pem(private)})
    assert unencrypted is not None
    assert unencrypted.key_id == key.key_id


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PLUGINCTL_SIGNING_KEY": "sekrit-not-a-key"}, "is not a private key"),
        ({"PLUGINCTL_SIGNING_KEY": "ed25519-private:c2Vrcml0"}, "base64 of 32 bytes"),
        ({"PLUGINCTL_SIGNING_KEY": "ENCRYPTED"}, "is not a private key"),
    ],
)
def test_a_bad_environment_key_is_refused_without_quoting_it(
    env: dict[str, str], message: str
) -> None:
    with pytest.raises(SigningKeyError, match=message) as caught:
        signing_key_from_env(env)
    assert env["PLUGINCTL_SIGNING_KEY"] not in str(caught.value)


def test_a_wrong_or_missing_environment_passphrase_is_named() -> None:
    pem = _pem(Ed25519PrivateKey.generate(), SECRET)
    with pytest.raises(SigningKeyError, match="no passphrase was given"):
        signing_key_from_env({"PLUGINCTL_SIGNING_KEY": pem})
    env = {"PLUGINCTL_SIGNING_KEY": pem, "PLUGINCTL_KEY_PASSPHRASE": "nope"}
    with pytest.raises(SigningKeyError) as caught:
        signing_key_from_env(env)
    assert str(caught.value) == "the passphrase does not unlock the key in PLUGINCTL_SIGNING_KEY"
    assert "nope" not in str(caught.value)


def test_resolve_prefers_the_environment_key_unless_a_key_is_named(
    ring: KeyRing, monkeypatch: pytest.MonkeyPatch
) -> None:
    own = ring.generate("own", passphrase=None)
    private = Ed25519PrivateKey.generate()
    monkeypatch.setenv("PLUGINCTL_SIGNING_KEY", _pem(private))
    assert resolve_signing_key(None, ring=ring).name == "PLUGINCTL_SIGNING_KEY"
    assert resolve_signing_key(own.key_id[:8], ring=ring).key_id == own.key_id


def test_resolve_without_any_key_says_to_generate_one(ring: KeyRing) -> None:
    with pytest.raises(SigningKeyError, match="no signing key") as caught:
        resolve_signing_key(None, ring=ring)
    assert caught.value.hint is not None
    assert caught.value.hint.startswith("run: pluginctl keys generate")


def test_resolve_uses_the_default_ring_and_the_prompt(config_home: Path) -> None:
    key = KeyRing.default().generate("ada", passphrase=SECRET)
    assert resolve_signing_key(None, prompt=lambda: SECRET).key_id == key.key_id
    assert (config_home / "pluginctl" / "keys" / f"{key.key_id}.pem").is_file()


def test_every_public_name_of_the_package_resolves() -> None:
    import pluginctl.signing

    assert {"KeyRing", "PublicKey", "SigningKey", "resolve_signing_key"} <= set(
        pluginctl.signing.__all__
    )
    for name in pluginctl.signing.__all__:
        assert getattr(pluginctl.signing, name) is not None
