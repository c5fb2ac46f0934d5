"""Reading a remote index's pages: only the asked project's wheels, from that index alone.

A PEP 691 page is the index's word, not the truth: a hostile or broken index may list
another project's wheel on a project's page, send a ``file://`` URL, or redirect a
name it does not hold to a public index (pypiserver's fallback, REFERENCES.md row 21).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from packaging.requirements import Requirement

from pluginctl.errors import RegistryError
from pluginctl.registry import remote as remote_module
from pluginctl.registry.remote import RemoteIndex
from pluginctl.registry.updates import plan_install
from tests.registry.fixed_pages import serving_many

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.registry.fixed_pages import Answer

JSON = "application/vnd.pypi.simple.v1+json"
SHA = "ab" * 32


def page(name: str, *files: tuple[str, str]) -> tuple[int, dict[str, str], bytes]:
    """A PEP 691 project page listing ``(filename, url)`` wheels."""
    entries = [{"filename": f, "url": u, "hashes": {"sha256": SHA}} for f, u in files]
    body = {"meta": {"api-version": "1.1"}, "name": name, "files": entries}
    return 200, {"Content-Type": JSON}, json.dumps(body).encode()


@pytest.fixture(scope="module")
def index() -> Iterator[str]:
    """Two servers, so one can stand for a public index the other redirects to."""

    def pages(roots: list[str]) -> dict[str, Answer]:
        public = roots[1]
        return {
            "/simple/notes/": page(
                "notes",
                ("notes-1.0-py3-none-any.whl", "../../files/notes-1.0-py3-none-any.whl"),
                ("evil-9.0-py3-none-any.whl", "../../files/evil-9.0-py3-none-any.whl"),
                ("notes-8.0-py3-none-any.whl", "file:///etc/passwd"),
            ),
            "/simple/huge/": page(
                "huge", *[(f"huge-{n}.0-py3-none-any.whl", "x") for n in range(9999)]
            ),
            "/simple/garbage/": (200, {"Content-Type": JSON}, b"<html>not json</html>"),
            "/simple/listy/": (200, {"Content-Type": JSON}, b"[1, 2, 3]"),
            "/simple/private/": (302, {"Location": f"{public}/pypi/private/"}, b""),
            "/pypi/private/": page(
                "private", ("private-6.6-py3-none-any.whl", "/files/private-6.6-py3-none-any.whl")
            ),
        }

    with serving_many(2, pages) as (local, _public):
        yield local


def test_a_page_listing_another_projects_wheel_or_a_file_url_offers_neither(index: str) -> None:
    remote = RemoteIndex(f"{index}/simple/")
    assert [r.filename for r in remote.releases("notes")] == ["notes-1.0-py3-none-any.whl"]
    chosen = plan_install([Requirement("notes")], remote, host_version="0.1.0")
    assert [(r.project, r.version) for r in chosen] == [("notes", "1.0")]


def test_row21_a_redirect_to_another_index_means_the_name_is_not_here(index: str) -> None:
    assert RemoteIndex(f"{index}/simple/").releases("private") == []


def test_a_page_past_the_limit_is_refused_as_it_streams(
    index: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remote_module, "MAX_PAGE_BYTES", 64 * 1024)
    with pytest.raises(RegistryError, match="more than 65536 bytes") as caught:
        RemoteIndex(f"{index}/simple/").releases("huge")
    assert "/simple/huge/" in caught.value.message


@pytest.mark.parametrize("name", ["garbage", "listy"])
def test_a_page_that_is_not_a_pep_691_object_is_refused_naming_it(index: str, name: str) -> None:
    with pytest.raises(RegistryError, match="not a PEP 691 JSON project page") as caught:
        RemoteIndex(f"{index}/simple/").releases(name)
    assert f"/simple/{name}/" in caught.value.message


def test_an_index_that_cannot_be_reached_is_an_error_not_a_crash() -> None:
    with pytest.raises(RegistryError, match="cannot be reached") as caught:
        RemoteIndex("http://127.0.0.1:9/simple/").releases("notes")
    assert caught.value.hint is not None
