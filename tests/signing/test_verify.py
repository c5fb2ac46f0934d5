"""Signing and verifying wheels: REFERENCES.md rows 1-3 and 17-19, each failing closed."""

from __future__ import annotations

import base64
import json
import shutil
import zipfile
from datetime import date, timedelta
from typing import TYPE_CHECKING

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pluginctl.errors import SignatureError
from pluginctl.signing.envelope import MAX_ENVELOPE_BYTES, MAX_SIGNATURES
from pluginctl.signing.keys import SigningKey
from pluginctl.signing.sign import sign_wheel, signature_path
from pluginctl.signing.trust import TrustStore
from pluginctl.signing.verify import CHECKS, verify_wheel
from tests.signing.wheelmaker import make_wheel, rewrite

if TYPE_CHECKING:
    from pathlib import Path

    from pluginctl.signing.verify import VerifyReport

TODAY = date.today()


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate("Ada")


@pytest.fixture
def trust(tmp_path: Path, key: SigningKey) -> TrustStore:
    store = TrustStore.load(
        project_file=tmp_path / "pluginctl.trust.toml", user_file=tmp_path / "trust.toml"
    )
    store.trust(key.public, name="Ada", projects=["*"])
    return store


@pytest.fixture
def signed(tmp_path: Path, key: SigningKey) -> Path:
    wheel = make_wheel(tmp_path)
    sign_wheel(wheel, key)
    return wheel


def failed(report: VerifyReport, check: str) -> SignatureError:
    assert report.error is not None, "verification passed"
    assert report.error.check == check, report.error.message
    assert report.exit_code == 10 + CHECKS.index(check)
    assert report.passed == list(CHECKS[: CHECKS.index(check)]) or check in {"files", "record"}
    return report.error


def test_a_signed_wheel_verifies_and_stays_byte_identical(
    tmp_path: Path, key: SigningKey, trust: TrustStore
) -> None:
    wheel = make_wheel(tmp_path)
    before = wheel.read_bytes()
    result = sign_wheel(wheel, key)
    assert wheel.read_bytes() == before
    assert result.signature == signature_path(wheel)
    report = verify_wheel(wheel, trust=trust)
    assert report.ok, report.error
    assert report.passed == list(CHECKS)
    assert report.exit_code == 0
    assert [(s.key_id, s.name, s.trusted) for s in report.signers] == [(key.key_id, "Ada", True)]
    envelope = json.loads(result.signature.read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"][0]["name"] == wheel.name
    files = {f["path"]: f for f in statement["predicate"]["files"]}
    assert files["demo/plugin.toml"]["size"] == len('name = "demo"\nversion = "1.0"\n')
    assert envelope["signatures"][0]["keyid"] == key.key_id


# ---------------------------------------------------------------- rows 1-3: tampering


def test_row1_a_modified_member_with_record_untouched_is_named(
    signed: Path, trust: TrustStore
) -> None:
    rewrite(signed, replace={"demo/plugin.py": b"import os\nos.system('id')\n"})
    error = failed(verify_wheel(signed, trust=trust), "files")
    assert error.files == (("demo/plugin.py", "modified"),)
    assert "changed since it was signed: modified: demo/plugin.py" in error.message


def test_row2_a_modified_member_with_record_regenerated_is_named(
    signed: Path, trust: TrustStore
) -> None:
    rewrite(signed, replace={"demo/plugin.py": b"import os\n"}, regenerate_record=True)
    error = failed(verify_wheel(signed, trust=trust), "files")
    assert error.files == (
        ("demo-1.0.dist-info/RECORD", "modified"),
        ("demo/plugin.py", "modified"),
    )


@pytest.mark.parametrize("extra", ["evil.pth", "sitecustomize.py", "demo-1.0.data/scripts/x"])
@pytest.mark.parametrize("regenerate", [False, True])
def test_row3_an_unsigned_extra_member_is_named_as_added(
    signed: Path, trust: TrustStore, extra: str, regenerate: bool
) -> None:
    rewrite(signed, add={extra: b"import os\n"}, regenerate_record=regenerate)
    error = failed(verify_wheel(signed, trust=trust), "files")
    assert (extra, "added") in error.files


@pytest.mark.parametrize("extra", ["evil.pth", "sitecustomize.py", "demo-1.0.data/scripts/x"])
def test_row3_a_pth_file_is_refused_by_policy_even_when_signed(
    tmp_path: Path, key: SigningKey, extra: str
) -> None:
    wheel = make_wheel(tmp_path, extra={extra: b"import os\n"})
    with pytest.raises(SignatureError) as caught:
        sign_wheel(wheel, key)
    assert caught.value.check == "policy"
    assert not signature_path(wheel).exists()


# ---------------------------------------------------------------- row 17: trust


def test_row17_an_untrusted_key_is_refused_with_the_command_to_trust_it(
    signed: Path, tmp_path: Path
) -> None:
    empty = TrustStore.load(project_file=tmp_path / "none.toml", user_file=tmp_path / "none2.toml")
    error = failed(verify_wheel(signed, trust=empty), "signature")
    assert "no trusted signature: untrusted key" in error.message
    assert "pluginctl keys trust" in str(error.hint)


def test_row17_a_key_out_of_its_scope_is_refused(
    signed: Path, key: SigningKey, trust: TrustStore
) -> None:
    trust.trust(key.public, name="Ada", projects=["acme-*"])
    error = failed(verify_wheel(signed, trust=trust), "signature")
    assert "may sign only acme-*, not 'demo'" in error.message


def test_row17_a_revoked_key_is_refused_even_if_another_store_trusts_it(
    signed: Path, key: SigningKey, trust: TrustStore
) -> None:
    trust.trust(key.public, name="Ada", projects=["*"], project=True)
    trust.revoke(key.key_id, reason="laptop stolen")
    error = failed(verify_wheel(signed, trust=trust), "signature")
    assert "revoked" in error.message
    assert "laptop stolen" in error.message


def test_row17_an_expired_or_not_yet_valid_key_is_refused(
    signed: Path, key: SigningKey, trust: TrustStore
) -> None:
    trust.trust(key.public, name="Ada", projects=["*"], not_after=TODAY - timedelta(days=1))
    assert "expired on" in failed(verify_wheel(signed, trust=trust), "signature").message
    trust.trust(key.public, name="Ada", projects=["*"], not_before=TODAY + timedelta(days=1))
    assert "not valid before" in failed(verify_wheel(signed, trust=trust), "signature").message


def test_a_retired_key_still_verifies_what_it_signed_with_a_note(
    signed: Path, key: SigningKey, trust: TrustStore
) -> None:
    trust.retire(key.key_id)
    report = verify_wheel(signed, trust=trust)
    assert report.ok, report.error
    assert "retired" in report.signers[0].note


def test_several_signatures_one_trusted_is_enough(signed: Path, trust: TrustStore) -> None:
    other = SigningKey.generate("Bob")
    result = sign_wheel(signed, other)
    assert result.signatures == 2
    report = verify_wheel(signed, trust=trust)
    assert report.ok, report.error
    assert [(s.name, s.trusted) for s in report.signers] == [("Ada", True), ("", False)]
    assert "untrusted key" in report.signers[1].reason


def test_signing_again_with_the_same_key_replaces_its_signature(
    signed: Path, key: SigningKey
) -> None:
    assert sign_wheel(signed, key).signatures == 1


def test_a_stale_signature_is_not_extended_unless_replaced(
    signed: Path, key: SigningKey, trust: TrustStore
) -> None:
    rewrite(signed, replace={"demo/plugin.py": b"# rebuilt\n"}, regenerate_record=True)
    with pytest.raises(SignatureError) as caught:
        sign_wheel(signed, key)
    assert "signs another wheel" in caught.value.message
    assert "--replace" in str(caught.value.hint)
    sign_wheel(signed, key, replace=True)
    assert verify_wheel(signed, trust=trust).ok


# ---------------------------------------------------------------- row 18: the envelope


def edit_envelope(wheel: Path, change: dict[str, object]) -> None:
    sig = signature_path(wheel)
    envelope = json.loads(sig.read_text())
    envelope.update(change)
    sig.write_text(json.dumps(envelope))


def test_row18_a_corrupted_signature_is_refused(signed: Path, trust: TrustStore) -> None:
    envelope = json.loads(signature_path(signed).read_text())
    raw = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    raw[0] ^= 1
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    signature_path(signed).write_text(json.dumps(envelope))
    error = failed(verify_wheel(signed, trust=trust), "signature")
    assert "does not match the signed statement" in error.message


def test_row18_an_edited_payload_is_refused(signed: Path, trust: TrustStore) -> None:
    envelope = json.loads(signature_path(signed).read_text())
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["files"][1]["sha256"] = "0" * 64
    payload = base64.b64encode(json.dumps(statement).encode()).decode()
    edit_envelope(signed, {"payload": payload})
    assert "does not match" in failed(verify_wheel(signed, trust=trust), "signature").message


def test_row18_a_swapped_payload_type_is_refused(signed: Path, trust: TrustStore) -> None:
    edit_envelope(signed, {"payloadType": "text/plain"})
    assert "payloadType" in failed(verify_wheel(signed, trust=trust), "envelope").message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"payload": "e30=", "payload": "e30=", "payloadType": "x", "signatures": []}', "twice"),
        (b"\xff\xfe", "not UTF-8"),
        (b"{not json", "not valid JSON"),
        (b'{"payload": "e30=", "payloadType": "x", "signatures": [], "extra": 1}', "malformed"),
        (b'{"payload": "e30=", "payloadType": "x", "signatures": []}', "no signatures"),
        (
            b'{"payload": "e30", "payloadType": "application/vnd.in-toto+json",'
            b' "signatures": [{"keyid": "' + b"a" * 64 + b'", "sig": "QQ=="}]}',
            "base64",
        ),
        (b'{"payload": NaN}', "not a JSON number"),
    ],
)
def test_row18_a_malformed_envelope_is_refused(
    signed: Path, trust: TrustStore, content: bytes, expected: str
) -> None:
    signature_path(signed).write_bytes(content)
    assert expected in failed(verify_wheel(signed, trust=trust), "envelope").message


def test_row18_a_huge_signature_file_is_refused_unread(signed: Path, trust: TrustStore) -> None:
    with signature_path(signed).open("wb") as file:
        file.truncate(MAX_ENVELOPE_BYTES + 10)
    assert "past the limit" in failed(verify_wheel(signed, trust=trust), "envelope").message


def test_row18_a_missing_signature_fails(tmp_path: Path, trust: TrustStore) -> None:
    wheel = make_wheel(tmp_path)
    error = failed(verify_wheel(wheel, trust=trust), "envelope")
    assert "no signature (the wheel is unsigned)" in error.message
    assert f"pluginctl sign {wheel}" in str(error.hint)


# ---------------------------------------------------------------- row 19: binding


def test_row19_a_renamed_wheel_fails_on_its_name(
    signed: Path, trust: TrustStore, tmp_path: Path
) -> None:
    renamed = tmp_path / "demo-1.0-py3-none-manylinux1_x86_64.whl"
    shutil.copy(signed, renamed)
    shutil.copy(signature_path(signed), signature_path(renamed))
    error = failed(verify_wheel(renamed, trust=trust), "subject")
    assert f"the signature is for {signed.name}, not {renamed.name}" in error.message


def test_row19_a_signature_replayed_for_another_version_fails(
    tmp_path: Path, key: SigningKey, trust: TrustStore
) -> None:
    old = make_wheel(tmp_path, version="1.0")
    new = make_wheel(tmp_path, version="1.1")
    sign_wheel(old, key)
    shutil.copy(signature_path(old), signature_path(new))
    error = failed(verify_wheel(new, trust=trust), "subject")
    assert f"the signature is for {old.name}, not {new.name}" in error.message


def test_the_wheel_hash_binds_even_the_archive_layout(signed: Path, trust: TrustStore) -> None:
    """Same members, another archive: the subject's hash fails, no file is blamed."""
    with zipfile.ZipFile(signed, "a") as archive:
        archive.comment = b"repacked"
    error = failed(verify_wheel(signed, trust=trust), "subject")
    assert "though every member is the same" in error.message


def test_input_that_is_not_a_wheel_file_fails_first(tmp_path: Path, trust: TrustStore) -> None:
    assert (
        "cannot be read" in failed(verify_wheel(tmp_path / "x.whl", trust=trust), "input").message
    )
    (tmp_path / "demo-1.0-py3-none-any.whl").mkdir()
    directory = tmp_path / "demo-1.0-py3-none-any.whl"
    assert "not a regular file" in failed(verify_wheel(directory, trust=trust), "input").message
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    assert "not a wheel file name" in failed(verify_wheel(text, trust=trust), "input").message


def test_flipping_one_byte_of_any_member_fails_naming_that_member(
    signed: Path, trust: TrustStore
) -> None:
    """The issue's own check: every member, one byte of its stored data flipped."""
    original = signed.read_bytes()
    with zipfile.ZipFile(signed) as archive:
        infos = [info for info in archive.infolist() if info.compress_size]
    assert len(infos) >= 6
    for info in infos:
        local_name_end = info.header_offset + 30 + len(info.orig_filename.encode())
        extra = int.from_bytes(
            original[info.header_offset + 28 : info.header_offset + 30], "little"
        )
        data_at = local_name_end + extra
        flipped = bytearray(original)
        flipped[data_at + info.compress_size // 2] ^= 0x01
        signed.write_bytes(bytes(flipped))
        report = verify_wheel(signed, trust=trust)
        assert report.error is not None, info.filename
        assert info.filename in report.error.message, report.error.message
        assert report.error.check in {"archive", "files"}
    signed.write_bytes(original)
    assert verify_wheel(signed, trust=trust).ok


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_byte_flipped_anywhere_fails_closed_and_never_crashes(
    signed: Path, trust: TrustStore, data: st.DataObject
) -> None:
    """Headers, directory, data or end record: a changed byte is refused, never a crash."""
    original = signed.read_bytes()
    try:
        at = data.draw(st.integers(0, len(original) - 1), label="offset")
        mask = data.draw(st.integers(1, 255), label="mask")
        flipped = bytearray(original)
        flipped[at] ^= mask
        signed.write_bytes(bytes(flipped))
        report = verify_wheel(signed, trust=trust)  # raises nothing for a bad wheel
        assert report.error is not None
    finally:
        signed.write_bytes(original)


def test_the_report_lists_the_signers_even_when_none_is_trusted(
    signed: Path, key: SigningKey, trust: TrustStore
) -> None:
    trust.revoke(key.key_id, reason="leaked")
    report = verify_wheel(signed, trust=trust)
    assert report.error is not None
    assert [(s.key_id, s.trusted) for s in report.signers] == [(key.key_id, False)]
    assert "revoked" in report.to_dict()["signers"][0]["reason"]  # type: ignore[index]  # plain JSON data


@pytest.mark.parametrize("where", ["file", "payload"])
def test_row18_json_nested_past_the_recursion_limit_is_refused(
    signed: Path, trust: TrustStore, where: str
) -> None:
    if where == "payload":
        edit_envelope(signed, {"payload": base64.b64encode(b'{"a":' * 100_000).decode()})
    else:
        signature_path(signed).write_bytes(b"[" * 100_000)
    assert "nested too deeply" in failed(verify_wheel(signed, trust=trust), "envelope").message


def test_row18_a_key_id_that_is_not_lowercase_hex_is_refused(
    signed: Path, key: SigningKey, trust: TrustStore
) -> None:
    """Case variants of one trusted key id would each cost a full verification."""
    envelope = json.loads(signature_path(signed).read_text())
    (signature,) = envelope["signatures"]
    variants = [key.key_id.upper(), key.key_id.title(), "k" + key.key_id[1:]]
    edit_envelope(signed, {"signatures": [{**signature, "keyid": k} for k in variants]})
    error = failed(verify_wheel(signed, trust=trust), "envelope")
    assert "64 lowercase hex" in error.message


def test_row18_an_envelope_with_too_many_signatures_is_refused(
    signed: Path, trust: TrustStore
) -> None:
    envelope = json.loads(signature_path(signed).read_text())
    (signature,) = envelope["signatures"]
    many = [{"keyid": f"{i:064x}", "sig": signature["sig"]} for i in range(MAX_SIGNATURES + 1)]
    edit_envelope(signed, {"signatures": [signature, *many]})
    error = failed(verify_wheel(signed, trust=trust), "envelope")
    assert f"past the limit of {MAX_SIGNATURES}" in error.message
