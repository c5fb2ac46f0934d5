from __future__ import annotations

import email.utils
import errno
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from starlette.staticfiles import StaticFiles

from pluginctl.web import build_app
from pluginctl.web.static import safe_relative_path
from tests.web import FakeHost, FakePlugin, send

if TYPE_CHECKING:
    import httpx
    from starlette.applications import Starlette

STATIC_FIXTURES = Path(__file__).parents[1] / "fixtures" / "static"
OUTSIDE_TEXT = "top secret outside the plugin"


@pytest.fixture
def static_dir(tmp_path: Path) -> Path:
    """A copy of the fixture files plus symlinks in and out of the directory."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(OUTSIDE_TEXT)
    directory = tmp_path / "plugin" / "static"
    shutil.copytree(STATIC_FIXTURES, directory)
    (directory / "passwd").symlink_to("/etc/passwd")
    (directory / "secret.txt").symlink_to(outside / "secret.txt")
    (directory / "relative-secret.txt").symlink_to("../../outside/secret.txt")
    (directory / "outside-dir").symlink_to(outside, target_is_directory=True)
    (directory / "alias.css").symlink_to("style.css")
    (directory / "sub" / "up.css").symlink_to("../style.css")
    (directory / "loop").symlink_to("loop")
    (directory / "dangling").symlink_to("nowhere")
    return directory


@pytest.fixture
def app(static_dir: Path) -> Starlette:
    return build_app(FakeHost(FakePlugin("site", static_dir=static_dir)))


def get(app: Starlette, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return send(app, "GET", f"/plugins/site/static/{path}", headers=headers)


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "no such file"
    assert OUTSIDE_TEXT not in response.text
    assert "root:" not in response.text


# ---------------------------------------------------------------- serving files


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("index.html", "text/html; charset=utf-8"),
        ("style.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("logo.svg", "image/svg+xml"),
        ("data.json", "application/json"),
        ("sub/page.txt", "text/plain; charset=utf-8"),
        ("blob.bin", "application/octet-stream"),
        ("README", "application/octet-stream"),
    ],
)
def test_files_are_served_with_their_content_type(
    app: Starlette, static_dir: Path, name: str, content_type: str
) -> None:
    response = get(app, name)

    assert response.status_code == 200
    assert response.content == (static_dir / name).read_bytes()
    assert response.headers["content-type"] == content_type
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "public, no-cache"
    assert response.headers["content-security-policy"].startswith("sandbox ")
    assert len(response.headers["x-request-id"]) == 32


def test_etag_and_last_modified_are_sent(app: Starlette, static_dir: Path) -> None:
    response = get(app, "style.css")

    etag = response.headers["etag"]
    assert etag.startswith('"')
    assert etag.endswith('"')
    modified = email.utils.parsedate_to_datetime(response.headers["last-modified"])
    assert int(modified.timestamp()) == int((static_dir / "style.css").stat().st_mtime)


@pytest.mark.parametrize("if_none_match", ["{etag}", "W/{etag}", '"other", {etag}', "*"], ids=str)
def test_a_matching_if_none_match_is_304_without_a_body(app: Starlette, if_none_match: str) -> None:
    etag = get(app, "style.css").headers["etag"]

    response = get(app, "style.css", headers={"if-none-match": if_none_match.format(etag=etag)})

    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "public, no-cache"


def test_a_stale_etag_gets_the_file(app: Starlette) -> None:
    response = get(app, "style.css", headers={"if-none-match": '"stale"'})

    assert response.status_code == 200
    assert response.content


def test_if_modified_since_is_304_when_the_file_is_older(app: Starlette) -> None:
    last_modified = get(app, "style.css").headers["last-modified"]

    response = get(app, "style.css", headers={"if-modified-since": last_modified})

    assert response.status_code == 304


def test_a_changed_file_gets_a_new_etag(app: Starlette, static_dir: Path) -> None:
    before = get(app, "style.css").headers["etag"]
    (static_dir / "style.css").write_text("body { color: red; }\n")
    os.utime(static_dir / "style.css", (1_000_000_000, 1_000_000_000))

    after = get(app, "style.css", headers={"if-none-match": before})

    assert after.status_code == 200
    assert after.text == "body { color: red; }\n"
    assert after.headers["etag"] != before


def test_head_sends_the_headers_without_the_body(app: Starlette, static_dir: Path) -> None:
    response = send(app, "HEAD", "/plugins/site/static/index.html")

    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str((static_dir / "index.html").stat().st_size)
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["etag"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_are_405(app: Starlette, method: str) -> None:
    response = send(app, method, "/plugins/site/static/style.css")

    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_a_symlink_that_stays_inside_is_served(app: Starlette, static_dir: Path) -> None:
    style = (static_dir / "style.css").read_bytes()

    assert get(app, "alias.css").content == style
    assert get(app, "sub/up.css").content == style


# ---------------------------------------------------------------- what is never served (row 31)


@pytest.mark.parametrize(
    "path",
    [
        "%2e%2e/%2e%2e/outside/secret.txt",
        "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "sub/%2e%2e/%2e%2e/%2e%2e/outside/secret.txt",
        "sub/%2e%2e/style.css",
        "%2e/style.css",
        "..%2f..%2foutside%2fsecret.txt",
        "sub%2fpage.txt",
        "sub%2Fpage.txt",
        "%252e%252e/%252e%252e/outside/secret.txt",
        "%252e%252e%252f%252e%252e%252foutside%252fsecret.txt",
        "sub%5cpage.txt",
        "sub\\page.txt",
        "..\\..\\outside\\secret.txt",
        "style.css%00.png",
        "style.css%00",
        "%00",
        "/etc/passwd",
        "//etc/passwd",
        "sub//page.txt",
        "sub/page.txt/",
        "C:\\Windows\\win.ini",
        "style.css%0a",
        "a" * 300,
        "/".join(["abc"] * 400),
        "passwd",
        "secret.txt",
        "relative-secret.txt",
        "outside-dir/secret.txt",
        "loop",
        "dangling",
        "sub",
        "sub/",
        "",
        "missing.css",
    ],
)
def test_paths_outside_or_odd_are_404(app: Starlette, path: str) -> None:
    assert_not_found(get(app, path))


def test_the_bare_static_mount_is_404(app: Starlette) -> None:
    assert_not_found(send(app, "GET", "/plugins/site/static"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_is_404_not_401(app: Starlette, static_dir: Path) -> None:
    (static_dir / "sub").chmod(0)
    try:
        assert_not_found(get(app, "sub/page.txt"))
    finally:
        (static_dir / "sub").chmod(0o755)


@pytest.mark.parametrize(
    "error",
    [
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.ELOOP, "Too many levels of symbolic links"),
        OSError(errno.EIO, "Input/output error"),
        ValueError("embedded null byte"),
    ],
    ids=repr,
)
def test_file_system_errors_are_404_never_401_or_500(
    app: Starlette, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def fail(self: StaticFiles, path: str) -> tuple[str, os.stat_result | None]:
        raise error

    monkeypatch.setattr(StaticFiles, "lookup_path", fail)

    assert_not_found(get(app, "style.css"))


def test_a_plugin_without_a_static_dir_is_404() -> None:
    app = build_app(FakeHost(FakePlugin("bare")))

    response = send(app, "GET", "/plugins/bare/static/style.css")

    assert response.status_code == 404
    assert response.json()["error"] == "no such file"


def test_a_static_dir_that_does_not_exist_is_404(tmp_path: Path) -> None:
    app = build_app(FakeHost(FakePlugin("gone", static_dir=tmp_path / "missing")))

    assert send(app, "GET", "/plugins/gone/static/style.css").status_code == 404


def test_a_plugin_that_is_not_active_serves_no_files(static_dir: Path) -> None:
    app = build_app(FakeHost(FakePlugin("site", static_dir=static_dir, state="stopped")))

    response = send(app, "GET", "/plugins/site/static/style.css")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"


def test_a_new_static_dir_is_picked_up_on_reload(static_dir: Path, tmp_path: Path) -> None:
    plugin = FakePlugin("site", static_dir=static_dir)
    app = build_app(FakeHost(plugin))
    assert get(app, "style.css").status_code == 200

    other = tmp_path / "v2"
    other.mkdir()
    (other / "new.css").write_text("p {}\n")
    plugin.static_dir = other
    plugin.generation += 1

    assert get(app, "new.css").text == "p {}\n"
    assert get(app, "style.css").status_code == 404


# ---------------------------------------------------------------- the screen on its own


@pytest.mark.parametrize(
    ("path", "raw", "expected"),
    [
        ("css/site.css", None, "css/site.css"),
        ("a b.css", b"/plugins/p/static/a%20b.css", "a b.css"),
        ("%2e%2e/x", b"/plugins/p/static/%252e%252e/x", "%2e%2e/x"),
        ("a/b", b"/plugins/p/static/a%2Fb", None),
        ("a\\b", b"/plugins/p/static/a%5Cb", None),
        ("a\x00b", b"/plugins/p/static/a%00b", None),
        ("../x", None, None),
        ("./x", None, None),
        ("x/..", None, None),
        ("", None, None),
    ],
)
def test_safe_relative_path(path: str, raw: bytes | None, expected: str | None) -> None:
    assert safe_relative_path(path, raw_path=raw) == expected
