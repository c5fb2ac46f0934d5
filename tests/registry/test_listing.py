"""Reading what an index lists: JSON or HTML, redirects within it followed, elsewhere not."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, ClassVar

import pytest
import requests

from pluginctl.errors import PublishError
from pluginctl.registry import listed_files

if TYPE_CHECKING:
    from collections.abc import Iterator

JSON = "application/vnd.pypi.simple.v1+json"


class _Index(BaseHTTPRequestHandler):
    """A small simple API: each path answers with a fixed (status, headers, body)."""

    pages: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {
        "/json/demo/": (
            200,
            {"Content-Type": JSON},
            json.dumps(
                {
                    "meta": {"api-version": "1.0"},
                    "name": "demo",
                    "files": [{"filename": "demo-1.0.tar.gz", "url": "x", "hashes": {}}],
                }
            ).encode(),
        ),
        "/html/demo/": (
            200,
            {"Content-Type": "text/html"},
            b'<a href="/files/demo-1.0-py3-none-any.whl#sha256=00">demo-1.0-py3-none-any.whl</a>',
        ),
        "/moved/demo/": (301, {"Location": "/html/demo/"}, b""),
        "/fallback/demo/": (302, {"Location": "https://pypi.org/simple/demo/"}, b""),
        "/private/demo/": (403, {}, b"no"),
    }

    def do_GET(self) -> None:
        status, headers, body = self.pages.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Tests read outcomes, not access logs."""


@pytest.fixture(scope="module")
def index() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Index)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.mark.parametrize(
    ("root", "expected"),
    [
        ("json", {"demo-1.0.tar.gz"}),
        ("html", {"demo-1.0-py3-none-any.whl"}),
        ("moved", {"demo-1.0-py3-none-any.whl"}),  # a redirect within the index is followed
        ("fallback", set()),  # a redirect to another index means: not here
        ("missing", set()),
    ],
)
def test_what_the_index_lists(index: str, root: str, expected: set[str]) -> None:
    with requests.Session() as session:
        assert listed_files(session, [f"{index}/{root}/"], "Demo", timeout_s=10) == expected


def test_the_first_root_that_knows_the_project_answers(index: str) -> None:
    with requests.Session() as session:
        roots = [f"{index}/missing/", f"{index}/json/"]
        assert listed_files(session, roots, "demo", timeout_s=10) == {"demo-1.0.tar.gz"}


def test_an_index_that_hides_its_listing_stops_the_preflight(index: str) -> None:
    with requests.Session() as session, pytest.raises(PublishError, match="HTTP 403") as caught:
        listed_files(session, [f"{index}/private/"], "demo", timeout_s=10)
    assert caught.value.hint is not None
    assert "--index-url" in caught.value.hint
