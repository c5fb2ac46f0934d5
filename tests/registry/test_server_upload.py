"""The upload endpoint over real HTTP: what it accepts, and each refusal with its reason.

One ``pluginctl registry serve`` (1 MiB cap, 2 s read timeout) for the module;
malformed requests are written by hand, with httpx or over a raw socket. Every
refusal is checked for its status, its reason in the status line (as twine shows
it), an audit record, nothing recorded and nothing left in staging.

Hostile inputs (REFERENCES.md): 1, 9, 10, 11, 12, 13, 14, 16, 25.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest

from pluginctl.registry.tokens import Tokens
from pluginctl.signing.keys import SigningKey
from pluginctl.signing.sign import sign_wheel
from pluginctl.signing.trust import TrustStore
from tests.registry.registry_harness import (
    BOUNDARY,
    Registry,
    form_parts,
    multipart,
    raw_post,
    start_registry,
    status_line,
    upload,
)
from tests.registry.test_store import library_wheel, sdist
from tests.signing.wheelmaker import make_wheel, rewrite

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

pytestmark = pytest.mark.xdist_group("registry-upload")


@dataclass
class Served:
    registry: Registry
    key: SigningKey
    secret: str
    root: Path
    _count: int = 0

    def dist(self) -> Path:
        self._count += 1
        directory = self.root / "dist" / str(self._count)
        directory.mkdir(parents=True)
        return directory

    def audit(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.registry.audit().splitlines()]

    def staging_is_empty(self) -> bool:
        return not list((self.registry.store.root / "staging").iterdir())


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("upload")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CONFIG_HOME", str(root / "config"))
        key = SigningKey.generate("Ada")
        TrustStore.load(project_file=root / "unused.toml").trust(
            key.public, name="Ada", projects=["*"]
        )
        registry = start_registry(
            root / "registry", "--max-upload-mb", "1", "--read-timeout-s", "2"
        )
        try:
            yield Served(registry, key, registry.token(), root)
        finally:
            registry.stop()


def _refused(served: Served, response: httpx.Response, status: int, reason: str) -> None:
    """The refusal a user sees: status, reason phrase and body; audited; nothing staged."""
    assert response.status_code == status, response.text
    assert reason in response.reason_phrase, response.reason_phrase
    assert reason in response.text
    assert reason in str(served.audit()[-1]["reason"])
    assert served.staging_is_empty()


# ---------------------------------------------------------------- accepted


def test_a_library_wheel_and_an_sdist_are_published(served: Served) -> None:
    directory = served.dist()
    for path in (library_wheel(directory, "libone", "1.0"), sdist(directory, "libone", "1.0")):
        response = upload(served.registry.url, path, served.secret)
        assert response.status_code == 200, response.text
    rows = served.registry.store.index.files("libone")
    assert [row.uploader.split(":")[0] for row in rows] == ["token", "token"]
    assert served.audit()[-1]["event"] == "upload"


def test_a_plugin_wheel_is_published_with_its_signature_part(served: Served) -> None:
    wheel = make_wheel(served.dist(), "sig-part", "1.0")
    signature = sign_wheel(wheel, served.key).signature
    response = upload(served.registry.url, wheel, served.secret, signature=signature)
    assert response.status_code == 200, response.text
    served_sig = httpx.get(f"{served.registry.url}/files/sig-part/{wheel.name}.sig")
    assert served_sig.content == signature.read_bytes()


def test_legacy_is_the_same_endpoint(served: Served) -> None:
    wheel = library_wheel(served.dist(), "vialegacy", "1.0")
    files = {"content": (wheel.name, wheel.read_bytes())}
    from tests.registry.registry_harness import upload_form

    response = httpx.post(
        served.registry.url + "/legacy/",
        data=upload_form(wheel),
        files=files,
        auth=("__token__", served.secret),
    )
    assert response.status_code == 200, response.text


def test_row13_any_spelling_of_a_name_is_one_project(served: Served) -> None:
    token = served.registry.token("foo-bar", name="foo-bar only")
    directory = served.dist()
    for path in (library_wheel(directory, "Foo_Bar", "1.0"), sdist(directory, "foo.bar", "1.1")):
        assert upload(served.registry.url, path, token).status_code == 200
    assert len(served.registry.store.index.files("foo-bar")) == 2


# ---------------------------------------------------------------- tokens (row 25)


def test_row25_missing_wrong_and_revoked_tokens_are_403_and_audited(served: Served) -> None:
    wheel = library_wheel(served.dist(), "guarded", "1.0")
    revoked = served.registry.token(name="leaked")
    tokens = Tokens(served.registry.store.index)
    tokens.revoke(next(t.id for t in tokens.list() if t.name == "leaked"))
    for secret in (None, "pcr_wrong", revoked, ""):
        response = upload(served.registry.url, wheel, secret)
        _refused(served, response, 403, "invalid or revoked token")
        assert served.audit()[-1]["event"] == "upload.denied"
    not_token_user = httpx.post(
        served.registry.url + "/",
        files={"content": (wheel.name, wheel.read_bytes())},
        auth=("ada", served.secret),
    )
    _refused(served, not_token_user, 403, "invalid or revoked token")
    assert served.registry.store.index.files("guarded") == []


def test_row25_a_token_for_another_project_is_403_naming_the_project(served: Served) -> None:
    token = served.registry.token("acme-*", name="acme")
    wheel = library_wheel(served.dist(), "elsewhere", "1.0")
    response = upload(served.registry.url, wheel, token)
    _refused(served, response, 403, "token 'acme' may not upload to elsewhere")
    assert served.audit()[-1]["token"] is not None
    assert served.registry.store.index.files("elsewhere") == []
    allowed = library_wheel(served.dist(), "acme_tools", "1.0")
    assert upload(served.registry.url, allowed, token).status_code == 200


# ---------------------------------------------------------------- the file (rows 1, 9, 12, 14, 16)


def test_row9_a_file_that_is_not_a_zip_is_400(served: Served) -> None:
    fake = served.dist() / "notzip-1.0-py3-none-any.whl"
    fake.write_bytes(b"this is not a zip file at all")
    _refused(served, upload(served.registry.url, fake, served.secret), 400, "notzip-1.0")


def test_row1_a_tampered_plugin_wheel_is_400(served: Served) -> None:
    wheel = make_wheel(served.dist(), "tampered-plugin", "1.0")
    signature = sign_wheel(wheel, served.key).signature
    rewrite(wheel, replace={"tampered_plugin/plugin.py": b"import os\n"})
    response = upload(served.registry.url, wheel, served.secret, signature=signature)
    _refused(served, response, 400, "RECORD disagrees with the archive")


def test_row14_a_second_upload_is_file_already_exists(served: Served) -> None:
    wheel = library_wheel(served.dist(), "once", "1.0")
    assert upload(served.registry.url, wheel, served.secret).status_code == 200
    again = upload(served.registry.url, wheel, served.secret)
    _refused(served, again, 400, "File already exists: once-1.0-py3-none-any.whl")
    assert again.reason_phrase.startswith("File already exists")  # what twine looks for


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"name": "other"}, "the form says 'other' '1.0', the file name formed 1.0"),
        ({"version": "2.0"}, "the form says 'formed' '2.0'"),
        ({"version": "not a version"}, "the form says 'formed' 'not a version'"),
        ({"filetype": "sdist"}, "filetype 'sdist', but the file is a bdist_wheel"),
        ({"sha256_digest": "0" * 64}, "sha256_digest '" + "0" * 64 + "' is not the sha256"),
        ({"md5_digest": "0" * 32}, "md5_digest '" + "0" * 32 + "' is not the md5"),
        ({":action": "submit"}, "unsupported :action 'submit'"),
    ],
    ids=["name", "version", "bad-version", "filetype", "sha256", "md5", "action"],
)
def test_rows12_and_16_fields_that_disagree_with_the_file_are_400(
    served: Served, overrides: dict[str, str], reason: str
) -> None:
    wheel = library_wheel(served.dist(), "formed", "1.0")
    body = multipart(*form_parts(wheel, **overrides))
    response = _post(served, body)
    _refused(served, response, 400, reason)
    assert served.registry.store.index.files("formed") == []


def test_row12_a_file_whose_metadata_disagrees_with_its_name_is_400(served: Served) -> None:
    wheel = library_wheel(served.dist(), "renamed", "1.0")
    renamed = wheel.rename(wheel.with_name("renamed-2.0-py3-none-any.whl"))
    response = upload(served.registry.url, renamed, served.secret)
    _refused(served, response, 400, "does not match the file name")


# ---------------------------------------------------------------- the form (row 11)


def test_row11_two_content_parts_are_400(served: Served) -> None:
    wheel = library_wheel(served.dist(), "twice", "1.0")
    parts = form_parts(wheel)
    body = multipart(*parts, ("content", wheel.name, wheel.read_bytes()))
    _refused(served, _post(served, body), 400, "two file parts")


@pytest.mark.parametrize(
    "filename",
    [
        "../../evil-1.0-py3-none-any.whl",
        "/etc/evil-1.0-py3-none-any.whl",
        "C:\\\\evil-1.0-py3-none-any.whl",
        "evil-1.0-py3-none-any.whl%0d%0aX-Evil: 1",
        "evil-1.0-py3-none-any.whl; name=x",
        "évil-1.0-py3-none-any.whl",
        "evil..whl",
    ],
)
def test_row11_a_file_name_that_is_not_plain_is_400(served: Served, filename: str) -> None:
    wheel = library_wheel(served.dist(), "evil", "1.0")
    parts = [p for p in form_parts(wheel) if p[0] != "content"]
    body = multipart(*parts, ("content", filename, wheel.read_bytes()))
    response = _post(served, body)
    _refused(served, response, 400, "is not a plain distribution file name")
    assert "x-evil" not in response.headers


def test_row11_a_header_break_in_a_file_name_injects_nothing(served: Served) -> None:
    wheel = library_wheel(served.dist(), "inject", "1.0")
    parts = [p for p in form_parts(wheel) if p[0] != "content"]
    body = multipart(*parts, ("content", 'inject-1.0-py3-none-any.whl"\r\nX-Evil: 1\r\nX: "', b"x"))
    response = _post(served, body)
    assert response.status_code == 400
    assert "x-evil" not in response.headers
    assert served.registry.store.index.files("inject") == []
    assert served.staging_is_empty()


@pytest.mark.parametrize(
    ("parts", "reason"),
    [
        ([(f"f{i}", None, b"v") for i in range(600)], "more than 500 form fields"),
        ([("other", "x.whl", b"data")], "unexpected file part 'other'"),
        ([("name", None, b"\xff\xfe")], "the field 'name' is not UTF-8"),
    ],
    ids=["many-fields", "unexpected-file", "not-utf8"],
)
def test_row11_fields_past_the_limits_are_400(
    served: Served, parts: list[tuple[str, str | None, bytes]], reason: str
) -> None:
    _refused(served, _post(served, multipart(*parts)), 400, reason)


def test_a_form_without_content_or_with_a_foreign_signature_is_400(served: Served) -> None:
    wheel = library_wheel(served.dist(), "partial", "1.0")
    fields = [p for p in form_parts(wheel) if p[0] != "content"]
    _refused(served, _post(served, multipart(*fields)), 400, "no 'content' file part")
    body = multipart(*form_parts(wheel), ("signature", "other-1.0-py3-none-any.whl.sig", b"{}"))
    _refused(served, _post(served, body), 400, "is not partial-1.0-py3-none-any.whl's")


def test_a_body_that_is_not_a_multipart_form_is_400(served: Served) -> None:
    response = httpx.post(
        served.registry.url + "/",
        content=b"name=x",
        headers={"content-type": "application/x-www-form-urlencoded"},
        auth=("__token__", served.secret),
    )
    _refused(served, response, 400, "an upload is a multipart/form-data form")


# ---------------------------------------------------------------- the body (rows 9, 10)


def test_row9_a_body_cut_before_its_closing_boundary_is_400(served: Served) -> None:
    wheel = library_wheel(served.dist(), "cut", "1.0")
    body = multipart(*form_parts(wheel))
    cut = body[: body.rindex(f"--{BOUNDARY}--".encode())]
    response = _post(served, cut)
    _refused(served, response, 400, "the upload is truncated")


def test_row9_a_content_length_shorter_than_the_body_is_400(served: Served) -> None:
    wheel = library_wheel(served.dist(), "shorter", "1.0")
    body = multipart(*form_parts(wheel))
    response = raw_post(
        served.registry.url, body, secret=served.secret, content_length=len(body) - 100
    )
    assert status_line(response).startswith("HTTP/1.1 400 the upload is truncated")
    assert served.staging_is_empty()
    assert served.registry.store.index.files("shorter") == []


def test_row9_a_client_that_sends_less_than_its_content_length_leaves_nothing(
    served: Served,
) -> None:
    wheel = library_wheel(served.dist(), "gaveup", "1.0")
    body = multipart(*form_parts(wheel))
    raw_post(served.registry.url, body, secret=served.secret, send=len(body) // 2, shut_write=True)
    _wait_for(lambda: served.audit()[-1]["event"] == "upload.aborted")
    assert served.staging_is_empty()
    assert served.registry.store.index.files("gaveup") == []


def test_row10_a_content_length_past_the_cap_is_413_before_the_body(served: Served) -> None:
    response = raw_post(
        served.registry.url, b"", secret=served.secret, content_length=2 * 1024 * 1024
    )
    assert status_line(response).startswith("HTTP/1.1 413 the upload is past")
    assert served.staging_is_empty()


def test_row10_a_chunked_body_past_the_cap_is_413(served: Served) -> None:
    wheel = library_wheel(served.dist(), "huge", "1.0")
    parts = [p for p in form_parts(wheel) if p[0] != "content"]
    body = multipart(*parts, ("content", wheel.name, b"\0" * (1024 * 1024 + 1)))

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = httpx.post(
        served.registry.url + "/",
        content=chunks(),
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
        auth=("__token__", served.secret),
    )
    _refused(served, response, 413, "the upload is past this registry's limit of 1 MiB")


def test_row10_a_client_that_stops_sending_gets_408(served: Served) -> None:
    wheel = library_wheel(served.dist(), "slow", "1.0")
    body = multipart(*form_parts(wheel))
    response = raw_post(served.registry.url, body, secret=served.secret, send=len(body) // 2)
    assert status_line(response).startswith("HTTP/1.1 408 the upload was too slow")
    assert served.staging_is_empty()
    assert served.registry.store.index.files("slow") == []


def _post(served: Served, body: bytes) -> httpx.Response:
    return httpx.post(
        served.registry.url + "/",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
        auth=("__token__", served.secret),
        timeout=60,
    )


def _wait_for(condition: object, *, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]  # a callable
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_a_token_revoked_while_its_upload_streams_publishes_nothing(tmp_path: Path) -> None:
    """The token is checked again once the body is in, before the file is published."""
    import asyncio
    import hashlib

    from pluginctl.registry.server import registry_app
    from pluginctl.registry.store import RegistryStore

    store = RegistryStore(tmp_path / "registry")
    tokens = Tokens(store.index)
    token, secret = tokens.create("ci", projects=["*"])
    wheel = library_wheel(tmp_path, "slowpoke", "1.0")
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": "slowpoke",
        "version": "1.0",
        "filetype": "bdist_wheel",
        "sha256_digest": hashlib.sha256(wheel.read_bytes()).hexdigest(),
    }
    files = {"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")}
    request = httpx.Request("POST", "http://registry/", data=fields, files=files)
    body = request.read()

    async def revoking_body() -> AsyncIterator[bytes]:
        yield body[: len(body) // 2]
        tokens.revoke(token.id)  # revoked half way through the upload
        yield body[len(body) // 2 :]

    async def upload() -> httpx.Response:
        transport = httpx.ASGITransport(app=registry_app(store))
        async with httpx.AsyncClient(transport=transport, base_url="http://registry") as client:
            return await client.post(
                "/",
                content=revoking_body(),
                headers={
                    "Content-Type": request.headers["Content-Type"],
                    "Content-Length": str(len(body)),
                },
                auth=("__token__", secret),
            )

    answer = asyncio.run(upload())
    assert answer.status_code == 403
    assert store.index.files("slowpoke") == []
    assert '"event": "upload.denied"' in (store.root / "audit.jsonl").read_text()
