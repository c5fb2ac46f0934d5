"""What an index already lists for a project, read from its simple repository API.

`simple_urls` derives where the simple API is from an upload URL, by the conventions
of PyPI, pypiserver, devpi and Artifactory; `listed_files` reads a project's page as
PEP 691 JSON when the index offers it, else as PEP 503 HTML, and returns the file
names on it. A redirect to another host (pypiserver's fallback to PyPI for a name it
does not have) is not followed: what another index lists says nothing about this one.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import TYPE_CHECKING
from urllib.parse import unquote, urljoin, urlsplit

from packaging.utils import canonicalize_name

from pluginctl.errors import PublishError

if TYPE_CHECKING:
    import requests

__all__ = ["ACCEPT", "listed_files", "simple_urls"]

#: PEP 691 JSON first, PEP 503 HTML as the fallback.
ACCEPT = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2,"
    " text/html;q=0.01"
)
_JSON = "application/vnd.pypi.simple.v1+json"
_PYPI = {
    "upload.pypi.org": "https://pypi.org/simple/",
    "test.pypi.org": "https://test.pypi.org/simple/",
}
_MAX_REDIRECTS = 3
_MAX_PAGE_BYTES = 32 * 1024 * 1024


def simple_urls(upload_url: str, *, index_url: str | None = None) -> list[str]:
    """The simple API roots to ask, in order, for the index that ``upload_url`` uploads to.

    Example:
        >>> simple_urls("https://upload.pypi.org/legacy/")
        ['https://pypi.org/simple/']
        >>> simple_urls("http://127.0.0.1:8080")  # pypiserver; devpi's +simple/ second
        ['http://127.0.0.1:8080/simple/', 'http://127.0.0.1:8080/+simple/']
        >>> simple_urls("http://127.0.0.1:8080/legacy/")
        ['http://127.0.0.1:8080/simple/']
        >>> simple_urls("http://h/u", index_url="http://h/simple")
        ['http://h/simple/']
    """
    if index_url is not None:
        return [_slash(index_url)]
    parts = urlsplit(upload_url)
    if parts.hostname in _PYPI:
        return [_PYPI[parts.hostname]]
    base = _slash(upload_url.split("?", 1)[0].split("#", 1)[0])
    if base.endswith("/legacy/"):
        return [base.removesuffix("legacy/") + "simple/"]
    return [base + "simple/", base + "+simple/"]


def listed_files(
    session: requests.Session, roots: list[str], project: str, *, timeout_s: float
) -> set[str]:
    """The file names the first root that knows ``project`` lists for it (empty: none does).

    Raises:
        PublishError: the index refused to show the page (401, 403), failed, or
            could not be reached.
    """
    name = canonicalize_name(project)
    for root in roots:
        page = _fetch(session, f"{root}{name}/", timeout_s=timeout_s)
        if page is not None:
            return _filenames(*page)
    return set()


def _fetch(session: requests.Session, url: str, *, timeout_s: float) -> tuple[str, bytes] | None:
    import requests

    origin = urlsplit(url)[:2]
    for _ in range(_MAX_REDIRECTS + 1):
        try:
            response = session.get(
                url,
                headers={"Accept": ACCEPT},
                allow_redirects=False,
                timeout=timeout_s,
                stream=True,
            )
        except requests.RequestException as exc:
            raise _unreachable(url, exc) from None
        with response:
            if response.is_redirect:
                url = urljoin(url, response.headers.get("location", ""))
                if urlsplit(url)[:2] != origin:
                    return None  # a fallback to another index: this one has no such project
                continue
            if response.status_code == 404:
                return None
            _check(response, url)
            return response.headers.get("content-type", ""), _body(response, url)
    raise PublishError(
        f"{_shown(url)} redirects in a loop", hint="give the simple API's URL: --index-url"
    )


def _body(response: requests.Response, url: str) -> bytes:
    import requests

    body = bytearray()
    try:
        for chunk in response.iter_content(64 * 1024):
            body += chunk
            if len(body) > _MAX_PAGE_BYTES:
                raise PublishError(
                    f"{_shown(url)} is over {_MAX_PAGE_BYTES} bytes: not a project page",
                    hint="give the simple API's URL: --index-url",
                )
    except requests.RequestException as exc:
        raise _unreachable(url, exc) from None
    return bytes(body)


def _check(response: requests.Response, url: str) -> None:
    if response.status_code in (401, 403):
        raise PublishError(
            f"{_shown(url)} would not show what it lists (HTTP {response.status_code}): the"
            " pre-flight cannot check the version is new",
            hint="give credentials that may read the index, or its simple API: --index-url",
        )
    if response.status_code != 200:
        raise PublishError(
            f"{_shown(url)} answered HTTP {response.status_code} {response.reason}",
            hint="check the index's URL, or give its simple API: --index-url",
        )


def _unreachable(url: str, exc: Exception) -> PublishError:
    return PublishError(
        f"cannot reach {_shown(url)}: {type(exc).__name__}",
        hint="check the URL and that the index is up, then retry",
    )


def _shown(url: str) -> str:
    from twine.utils import sanitize_url

    return sanitize_url(url)


def _filenames(content_type: str, body: bytes) -> set[str]:
    """The file names on a project page, JSON (PEP 691) or HTML (PEP 503).

    Example:
        >>> sorted(
        ...     _filenames(
        ...         "text/html", b'<a href="../../packages/a-1.0.tar.gz#sha256=ab">a-1.0.tar.gz</a>'
        ...     )
        ... )
        ['a-1.0.tar.gz']
        >>> _filenames(_JSON, b'{"meta": {}, "name": "a", "files": [{"filename": "a-1.whl"}]}')
        {'a-1.whl'}
    """
    if content_type.split(";", maxsplit=1)[0].strip() == _JSON:
        try:
            files = json.loads(body)["files"]
            return {str(f["filename"]) for f in files}
        except (ValueError, KeyError, TypeError):
            raise PublishError(
                "the index's project page is not PEP 691 JSON",
                hint="give the simple API's URL: --index-url",
            ) from None
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    return parser.names


class _Anchors(HTMLParser):
    """Every ``<a>``'s file name: its text, and the last segment of its ``href``."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self._in_anchor = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        self._in_anchor = True
        href = dict(attrs).get("href") or ""
        segment = unquote(urlsplit(href).path.rsplit("/", 1)[-1])
        if segment:
            self.names.add(segment)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_anchor = False

    def handle_data(self, data: str) -> None:
        if self._in_anchor and data.strip():
            self.names.add(data.strip())


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"
