"""`publish_remote` against a real pypiserver: the pre-flight, the upload, the signature."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

import httpx
import pytest
import requests

from pluginctl.errors import PublishError
from pluginctl.registry import SignatureSource, listed_files, publish_remote
from pluginctl.signing.sign import sign_wheel
from tests.registry.distmaker import make_sdist, pkg_info
from tests.registry.pypiserver import PASSWORD, USERNAME
from tests.signing.wheelmaker import make_wheel, rewrite, write_zip

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from pluginctl.registry import Progress, Published
    from pluginctl.signing.keys import SigningKey
    from pluginctl.signing.trust import TrustStore
    from tests.registry.pypiserver import PypiServer


def upload(
    server: PypiServer,
    trust: TrustStore,
    *files: Path,
    signatures: SignatureSource | None = None,
    index_url: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
) -> list[Published]:
    """Publish ``files`` to the test server with its upload credentials."""
    return publish_remote(
        list(files),
        trust=trust,
        repository_url=server.url,
        username=USERNAME,
        password=PASSWORD,
        signatures=signatures,
        index_url=index_url,
        on_progress=on_progress,
    )


def stored(server: PypiServer) -> set[str]:
    return {p.name for p in server.packages.iterdir()}


def signed_wheel(directory: Path, key: SigningKey, name: str, version: str = "1.0") -> Path:
    wheel = make_wheel(directory, name, version)
    sign_wheel(wheel, key)
    return wheel


@pytest.mark.slow
def test_a_signed_wheel_and_its_sdist_go_up_and_pip_downloads_the_same_bytes(
    tmp_path: Path, pypiserver: PypiServer, key: SigningKey, trust: TrustStore
) -> None:
    wheel = signed_wheel(tmp_path, key, "roundtrip")
    sdist = make_sdist(tmp_path, "roundtrip")
    signatures = SignatureSource.directory(tmp_path / "signatures")
    published = upload(pypiserver, trust, wheel, sdist, signatures=signatures)
    assert [p.distribution.filename for p in published] == [wheel.name, sdist.name]
    assert published[0].distribution.signers == ("Ada",)
    assert published[1].signature is None
    assert {wheel.name, sdist.name} <= stored(pypiserver)
    # the signature is in the source, keyed by the sha256 of the bytes the index serves
    sha256 = published[0].distribution.sha256
    assert published[0].signature == str(tmp_path / "signatures" / f"{sha256}.sig")
    assert signatures.get(sha256) == (tmp_path / f"{wheel.name}.sig").read_bytes()
    downloads = tmp_path / "downloads"
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--isolated", "download", "--no-deps", "--no-cache-dir"),
            *("--index-url", pypiserver.simple_url, "--only-binary", ":all:", "roundtrip==1.0"),
            *("--dest", str(downloads)),
        ],
        check=True,
        capture_output=True,
    )
    assert (downloads / wheel.name).read_bytes() == wheel.read_bytes()
    served = httpx.get(f"{pypiserver.url}packages/{sdist.name}")
    assert served.content == sdist.read_bytes()


def test_progress_reaches_the_callback_up_to_the_whole_body(
    tmp_path: Path, pypiserver: PypiServer, key: SigningKey, trust: TrustStore
) -> None:
    wheel = signed_wheel(tmp_path, key, "progress")
    events: list[Progress] = []
    signatures = SignatureSource.directory(tmp_path / "signatures")
    upload(pypiserver, trust, wheel, signatures=signatures, on_progress=events.append)
    assert events
    assert {e.filename for e in events} == {wheel.name}
    sent = [e.sent_bytes for e in events]
    assert sent == sorted(sent)
    assert events[-1].sent_bytes == events[-1].total_bytes > wheel.stat().st_size


def test_the_signature_goes_to_the_users_source_by_default(
    tmp_path: Path, publish_home: Path, pypiserver: PypiServer, key: SigningKey, trust: TrustStore
) -> None:
    wheel = signed_wheel(tmp_path, key, "default-source")
    (published,) = upload(pypiserver, trust, wheel)
    sha256 = published.distribution.sha256
    kept = publish_home / ".local" / "share" / "pluginctl" / "registry" / "signatures"
    assert published.signature == str(kept / f"{sha256}.sig")
    assert SignatureSource.default().get(sha256) == (tmp_path / f"{wheel.name}.sig").read_bytes()


def test_an_unsigned_plugin_wheel_is_refused_and_nothing_is_sent(
    tmp_path: Path, pypiserver: PypiServer, trust: TrustStore
) -> None:
    sdist = make_sdist(tmp_path, "unsigned")
    wheel = make_wheel(tmp_path, "unsigned")
    with pytest.raises(PublishError) as caught:
        upload(pypiserver, trust, sdist, wheel)
    assert caught.value.message.startswith(f"{wheel.name}: a plugin wheel must verify")
    assert "the envelope check failed" in caught.value.message
    assert caught.value.hint == f"sign it: pluginctl sign {wheel}"
    assert sdist.name not in stored(pypiserver)


def test_a_wheel_modified_after_signing_is_refused_naming_the_file(
    tmp_path: Path, pypiserver: PypiServer, key: SigningKey, trust: TrustStore
) -> None:
    wheel = signed_wheel(tmp_path, key, "tampered")
    rewrite(wheel, replace={"tampered/plugin.py": b"import os\n"})  # RECORD untouched
    with pytest.raises(PublishError, match="the files check failed") as caught:
        upload(pypiserver, trust, wheel)
    assert "modified: tampered/plugin.py" in caught.value.message
    assert wheel.name not in stored(pypiserver)


def test_a_key_not_trusted_here_is_refused(
    tmp_path: Path, pypiserver: PypiServer, trust: TrustStore
) -> None:
    from pluginctl.signing.keys import SigningKey

    wheel = make_wheel(tmp_path, "stranger")
    sign_wheel(wheel, SigningKey.generate("Mallory"))
    with pytest.raises(PublishError, match="the signature check failed: signature: no trusted"):
        upload(pypiserver, trust, wheel)


def test_a_version_already_on_the_index_is_refused_before_the_upload(
    tmp_path: Path, pypiserver: PypiServer, key: SigningKey, trust: TrustStore
) -> None:
    wheel = signed_wheel(tmp_path, key, "twice")
    upload(pypiserver, trust, wheel, signatures=SignatureSource.directory(tmp_path / "s"))
    with requests.Session() as session:
        listed = listed_files(session, [pypiserver.simple_url], "twice", timeout_s=10)
    assert listed == {wheel.name}
    newer = make_sdist(tmp_path, "twice", "1.1")
    with pytest.raises(PublishError) as caught:
        upload(pypiserver, trust, newer, wheel)
    assert caught.value.message == (
        f"{wheel.name}: twice 1.0 is already on {pypiserver.simple_url}; a published file is"
        " never replaced"
    )
    assert caught.value.hint is not None
    assert "bump the version" in caught.value.hint
    assert newer.name not in stored(pypiserver)  # refused before anything was sent


def test_the_indexs_own_already_exists_is_the_same_clear_error(
    tmp_path: Path, pypiserver: PypiServer, trust: TrustStore
) -> None:
    sdist = make_sdist(tmp_path, "raced")
    upload(pypiserver, trust, sdist)
    # a simple API that does not know the project: the pre-flight passes, the index refuses
    with pytest.raises(PublishError, match=r"raced 1\.0 is already on http://127\.0\.0\.1"):
        upload(pypiserver, trust, sdist, index_url=f"{pypiserver.url}elsewhere/")


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        (pkg_info("badmeta", "1.0").replace(b"Version: 1.0", b"Version: one"), "invalid metadata"),
        (b"Metadata-Version: 2.1\nVersion: 1.0\n", "invalid metadata"),
        (pkg_info("other", "1.0"), "the file name says badmeta 1.0, its metadata other 1.0"),
        (
            b"Metadata-Version: 2.1\nName: badmeta\nVersion: 1.0\nLicense: \xff\n",
            "invalid metadata",
        ),
    ],
    ids=["bad-version", "no-name", "name-disagrees", "not-utf8"],
)
def test_invalid_metadata_is_refused_with_the_reason(
    tmp_path: Path, pypiserver: PypiServer, trust: TrustStore, metadata: bytes, message: str
) -> None:
    sdist = make_sdist(tmp_path, "badmeta", metadata=metadata)
    with pytest.raises(PublishError, match=message) as caught:
        upload(pypiserver, trust, sdist)
    assert caught.value.message.startswith(sdist.name)
    assert caught.value.hint is not None
    assert sdist.name not in stored(pypiserver)


def test_a_file_that_is_not_a_zip_is_refused(
    tmp_path: Path, pypiserver: PypiServer, trust: TrustStore
) -> None:
    fake = tmp_path / "fake-1.0-py3-none-any.whl"
    fake.write_bytes(b"not a zip at all")
    with pytest.raises(PublishError, match=r"fake-1\.0-py3-none-any\.whl: invalid metadata"):
        upload(pypiserver, trust, fake)


def test_a_library_wheel_needs_no_signature(
    tmp_path: Path, pypiserver: PypiServer, trust: TrustStore
) -> None:
    files = {
        "helper/__init__.py": b"",
        "helper-1.0.dist-info/METADATA": pkg_info("helper", "1.0"),
        "helper-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nTag: py3-none-any\n",
        "helper-1.0.dist-info/RECORD": b"",
    }
    wheel = write_zip(tmp_path / "helper-1.0-py3-none-any.whl", files)
    (published,) = upload(pypiserver, trust, wheel)
    assert published.signature is None
    assert published.distribution.signers == ()
    assert wheel.name in stored(pypiserver)


def test_a_wrong_password_is_a_clear_error(
    tmp_path: Path, pypiserver: PypiServer, trust: TrustStore
) -> None:
    sdist = make_sdist(tmp_path, "wrongpass")
    with pytest.raises(PublishError) as caught:
        publish_remote(
            [sdist],
            trust=trust,
            repository_url=pypiserver.url,
            username=USERNAME,
            password="nope",  # noqa: S106
        )
    assert caught.value.message == (
        f"{sdist.name}: {pypiserver.url} refused the credentials (HTTP 403 Forbidden)"
    )
    assert caught.value.hint is not None
    assert "--username/--password" in caught.value.hint


def test_missing_credentials_say_where_they_can_come_from(
    tmp_path: Path, pypiserver: PypiServer, trust: TrustStore
) -> None:
    sdist = make_sdist(tmp_path, "nocreds")
    with pytest.raises(PublishError, match=r"no credentials for http://127\.0\.0\.1") as caught:
        publish_remote([sdist], trust=trust, repository_url=pypiserver.url)
    assert caught.value.hint is not None
    assert "TWINE_USERNAME" in caught.value.hint


def test_credentials_come_from_the_environment_and_a_prompt(
    tmp_path: Path, pypiserver: PypiServer, trust: TrustStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWINE_USERNAME", USERNAME)
    asked: list[tuple[str, bool]] = []

    def prompt(what: str, secret: bool) -> str:
        asked.append((what, secret))
        return PASSWORD

    sdist = make_sdist(tmp_path, "prompted")
    publish_remote([sdist], trust=trust, repository_url=pypiserver.url, prompt=prompt)
    assert asked == [("password", True)]
    assert sdist.name in stored(pypiserver)


def test_a_repository_named_in_pypirc_with_its_credentials(
    tmp_path: Path, publish_home: Path, pypiserver: PypiServer, trust: TrustStore
) -> None:
    (publish_home / ".pypirc").write_text(
        f"[distutils]\nindex-servers =\n    local\n\n[local]\nrepository = {pypiserver.url}\n"
        f"username = {USERNAME}\npassword = {PASSWORD}\n"
    )
    sdist = make_sdist(tmp_path, "fromrc")
    (published,) = publish_remote([sdist], trust=trust, repository="local")
    assert published.repository_url == pypiserver.url
    assert sdist.name in stored(pypiserver)


def test_an_unknown_repository_name_is_a_clear_error(tmp_path: Path, trust: TrustStore) -> None:
    sdist = make_sdist(tmp_path, "nowhere")
    with pytest.raises(PublishError, match="Missing 'nowhere' section") as caught:
        publish_remote([sdist], trust=trust, repository="nowhere")
    assert caught.value.hint is not None
    assert "--to NAME" in caught.value.hint
