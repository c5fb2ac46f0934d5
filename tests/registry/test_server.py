"""The registry's read side over HTTP: simple pages (PEP 503/691/700/592/658/714) and files.

The app is the real one, on a real registry directory, through Starlette's test
client. Hostile inputs (REFERENCES.md): 13 (one canonical project), 21 (unknown
names are 404, never a fallback), 22 (hashes come from the index: a file tampered
at rest keeps its recorded hash on every page), 23 (``..%2f`` and odd characters
are 404: files resolve through the index only), 24 (descriptions and yank reasons
are escaped).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from starlette.applications import Starlette

from pluginctl.registry.server import registry_app
from pluginctl.registry.simple_pages import JSON, negotiate
from pluginctl.registry.store import RegistryStore
from pluginctl.signing.sign import sign_wheel
from tests.registry.conftest import trusted_by_user
from tests.registry.registry_harness import AppClient
from tests.registry.test_store import library_wheel, sdist
from tests.signing.wheelmaker import make_wheel, members, record_for, write_zip

if TYPE_CHECKING:
    from pathlib import Path

    from pluginctl.signing.keys import SigningKey

PIP_ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1,"
    " text/html; q=0.01"
)


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    """A key the user's trust store (in a temporary config home) trusts for everything."""
    return trusted_by_user(tmp_path, monkeypatch)


@pytest.fixture
def store(tmp_path: Path, key: SigningKey) -> RegistryStore:
    dist = tmp_path / "dist"
    dist.mkdir()
    registry = RegistryStore(tmp_path / "registry")
    wheel = make_wheel(dist, "demo", "1.0")
    sign_wheel(wheel, key)
    registry.publish(wheel)
    registry.publish(library_wheel(dist, "Foo_Bar", "1.0"))
    registry.publish(sdist(dist, "foo.bar", "1.1", README=b"hi"))
    return registry


@pytest.fixture
def client(store: RegistryStore) -> AppClient:
    return AppClient(registry_app(store))


def test_the_root_page_lists_every_project_as_html_and_json(client: AppClient) -> None:
    page = client.get("/simple/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert '<a href="demo/">demo</a>' in page.text
    assert '<a href="foo-bar/">foo.bar</a>' in page.text
    listing = client.get("/simple/", headers={"Accept": JSON}).json()
    assert listing["meta"] == {"api-version": "1.1"}
    assert listing["projects"] == [{"name": "demo"}, {"name": "foo.bar"}]


def test_a_project_page_in_json_has_what_pep_691_700_and_714_ask(
    client: AppClient, store: RegistryStore
) -> None:
    reply = client.get("/simple/foo-bar/", headers={"Accept": PIP_ACCEPT})
    assert reply.headers["content-type"] == JSON
    assert reply.headers["vary"] == "Accept"
    page = reply.json()
    assert (page["name"], page["versions"]) == ("foo-bar", ["1.0", "1.1"])
    wheel, tarball = page["files"]
    (row, _) = store.index.files("foo-bar")
    assert wheel == {
        "filename": "Foo_Bar-1.0-py3-none-any.whl",
        "url": "../../files/foo-bar/Foo_Bar-1.0-py3-none-any.whl",
        "hashes": {"sha256": row.sha256},
        "core-metadata": {"sha256": row.metadata_sha256},
        "dist-info-metadata": {"sha256": row.metadata_sha256},
        "yanked": False,
        "size": row.size,
        "upload-time": wheel["upload-time"],
    }
    assert wheel["upload-time"].endswith("Z")
    assert tarball["core-metadata"] is False  # an sdist has no PEP 658 file here


def test_a_project_page_in_html_has_hashes_metadata_and_requires_python(
    store: RegistryStore, tmp_path: Path
) -> None:
    wheel = library_wheel(tmp_path, "modern", "1.0")
    files = members(wheel)
    files["modern-1.0.dist-info/METADATA"] = (
        b"Metadata-Version: 2.1\nName: modern\nVersion: 1.0\nRequires-Python: >=3.11\n"
    )
    del files["modern-1.0.dist-info/RECORD"]
    files["modern-1.0.dist-info/RECORD"] = record_for(files, "modern-1.0.dist-info")
    wheel.unlink()
    store.publish(write_zip(wheel, files))
    (row,) = store.index.files("modern")
    page = AppClient(registry_app(store)).get("/simple/modern/").text
    assert (
        f'<a href="../../files/modern/modern-1.0-py3-none-any.whl#sha256={row.sha256}"'
        f' data-requires-python="&gt;=3.11"'
        f' data-dist-info-metadata="sha256={row.metadata_sha256}"'
        f' data-core-metadata="sha256={row.metadata_sha256}">'
    ) in page
    assert '<meta name="pypi:repository-version" content="1.1">' in page


@pytest.mark.parametrize(
    ("accept", "query", "expected"),
    [
        (None, "", "text/html; charset=utf-8"),
        ("*/*", "", "text/html; charset=utf-8"),
        ("application/vnd.pypi.simple.latest+json", "", JSON),
        ("text/html;q=0.5, application/vnd.pypi.simple.v1+json;q=0.9", "", JSON),
        ("application/vnd.pypi.simple.v1+html", "", "application/vnd.pypi.simple.v1+html"),
        ("text/html", "?format=" + JSON.replace("+", "%2B"), JSON),
    ],
)
def test_the_format_follows_accept_q_values_and_the_format_parameter(
    client: AppClient, accept: str | None, query: str, expected: str
) -> None:
    headers = {} if accept is None else {"Accept": accept}
    reply = client.get("/simple/demo/" + query, headers=headers)
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith(expected)


def test_a_format_no_one_serves_is_406(client: AppClient) -> None:
    reply = client.get("/simple/demo/", headers={"Accept": "image/png, text/html;q=0"})
    assert reply.status_code == 406
    assert JSON in reply.text


def test_negotiate_prefers_the_clients_order_on_equal_q() -> None:
    assert negotiate(f"{JSON}, text/html") == JSON
    assert negotiate(f"text/html, {JSON}") == "text/html"


def test_row13_a_project_spelled_otherwise_redirects_to_its_normalised_page(
    client: AppClient,
) -> None:
    for spelling in ("Foo_Bar", "foo.bar", "FOO--bar"):
        reply = client.get(f"/simple/{spelling}/", follow_redirects=False)
        assert reply.status_code == 301
        assert reply.headers["location"] == "http://testserver/simple/foo-bar/"


def test_row21_an_unknown_project_is_404_never_a_fallback(client: AppClient) -> None:
    for path in ("/simple/requests/", "/simple/not-here/", "/files/requests/requests-2.0.tar.gz"):
        reply = client.get(path, follow_redirects=False)
        assert reply.status_code == 404, path
        assert "location" not in reply.headers


def test_files_metadata_and_signatures_are_served_with_their_types(
    client: AppClient, store: RegistryStore
) -> None:
    (row,) = store.index.files("demo")
    path = store.path_of("demo", row.filename)
    wheel = client.get(f"/files/demo/{row.filename}")
    assert wheel.content == path.read_bytes()
    assert wheel.headers["content-type"] == "application/zip"
    assert wheel.headers["etag"] == f'"{row.sha256}"'
    assert "immutable" in wheel.headers["cache-control"]
    metadata = client.get(f"/files/demo/{row.filename}.metadata")
    assert metadata.content == path.with_name(path.name + ".metadata").read_bytes()
    assert metadata.headers["content-type"] == "text/plain; charset=utf-8"
    signature = client.get(f"/files/demo/{row.filename}.sig")
    assert signature.headers["content-type"] == "application/json"
    assert json.loads(signature.content)["payloadType"]
    tarball = client.get("/files/foo-bar/foo.bar-1.1.tar.gz")
    assert tarball.headers["content-type"] == "application/gzip"
    assert "content-encoding" not in tarball.headers


def test_downloads_are_counted_but_not_metadata_or_signatures(
    client: AppClient, store: RegistryStore
) -> None:
    (row,) = store.index.files("demo")
    for suffix in ("", "", ".metadata", ".sig"):
        assert client.get(f"/files/demo/{row.filename}{suffix}").status_code == 200
    assert client.head(f"/files/demo/{row.filename}").status_code == 200
    app = client.app
    assert isinstance(app, Starlette)
    app.state.flush_downloads()  # counts are written together, and at shutdown
    assert store.index.files("demo")[0].downloads == 2


@pytest.mark.parametrize(
    "path",
    [
        "/files/..%2f..%2findex.sqlite3",
        "/files/demo/..%2f..%2findex.sqlite3",
        "/files/demo/%2e%2e",
        "/files/demo/demo-1.0-py3-none-any.whl%00",
        "/files/demo/demo-1.0-py3-none-any.whl%0d%0aX-Injected: 1",
        "/files/foo-bar/demo-1.0-py3-none-any.whl",  # a real file, under another project
        "/files/Demo/demo-1.0-py3-none-any.whl",
        "/files/foo-bar/foo.bar-1.1.tar.gz.metadata",  # an sdist has none
        "/files/foo-bar/Foo_Bar-1.0-py3-none-any.whl.sig",  # a library wheel is unsigned
        "/files/demo/demo-1.0-py3-none-any.whl.sig.sig",
        "/files/demo/index.sqlite3",
    ],
)
def test_row23_paths_resolve_through_the_index_only(client: AppClient, path: str) -> None:
    reply = client.get(path)
    assert reply.status_code == 404, reply.text
    assert "x-injected" not in reply.headers


def test_row22_pages_show_the_hash_recorded_at_publish_time_not_the_files(
    client: AppClient, store: RegistryStore
) -> None:
    (row,) = store.index.files("demo")
    path = store.path_of("demo", row.filename)
    path.chmod(0o644)
    path.write_bytes(b"swapped on disk")
    page = client.get("/simple/demo/", headers={"Accept": JSON}).json()
    assert page["files"][0]["hashes"] == {"sha256": row.sha256}
    assert f"#sha256={row.sha256}" in client.get("/simple/demo/").text


def test_row24_summaries_and_yank_reasons_are_escaped(store: RegistryStore, tmp_path: Path) -> None:
    wheel = library_wheel(tmp_path, "shady", "1.0")
    files = members(wheel)
    files["shady-1.0.dist-info/METADATA"] = (
        b"Metadata-Version: 2.1\nName: shady\nVersion: 1.0\nSummary: <script>alert(1)</script>\n"
    )
    del files["shady-1.0.dist-info/RECORD"]
    files["shady-1.0.dist-info/RECORD"] = record_for(files, "shady-1.0.dist-info")
    wheel.unlink()
    store.publish(write_zip(wheel, files))
    store.yank("shady", "1.0", reason='"><img src=x onerror=alert(2)>')
    client = AppClient(registry_app(store))
    page = client.get("/simple/shady/").text
    assert "<script>" not in page
    assert "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'data-yanked="&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"' in page
    (entry,) = client.get("/simple/shady/", headers={"Accept": JSON}).json()["files"]
    assert entry["yanked"] == '"><img src=x onerror=alert(2)>'  # JSON: data, not markup


def test_a_yank_without_a_reason_is_still_a_yank(client: AppClient, store: RegistryStore) -> None:
    store.yank("demo", "1.0")
    assert 'data-yanked=""' in client.get("/simple/demo/").text
    (entry,) = client.get("/simple/demo/", headers={"Accept": JSON}).json()["files"]
    assert entry["yanked"] is True


def test_the_marketplace_api_is_served_at_api(store: RegistryStore) -> None:
    answer = AppClient(registry_app(store)).get("/api/keys")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")


def test_without_the_marketplace_the_api_is_not_served(store: RegistryStore) -> None:
    assert AppClient(registry_app(store, api=False)).get("/api/").status_code == 404
