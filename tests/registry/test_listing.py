"""Reading what an index lists: JSON or HTML, redirects within it followed, elsewhere not."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import requests

from pluginctl.errors import PublishError
from pluginctl.registry import listed_files
from tests.registry.fixed_pages import serving

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.registry.fixed_pages import Answer

JSON = "application/vnd.pypi.simple.v1+json"


PAGES: dict[str, Answer] = {
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


@pytest.fixture(scope="module")
def index() -> Iterator[str]:
    with serving(PAGES) as root:
        yield root


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
