"""The releases of a remote index: a pluginctl registry, or any PEP 691 index.

`RemoteIndex` reads a project's page from the simple API as JSON (PEP 691, asking
with ``Accept: application/vnd.pypi.simple.v1+json``), keeps its wheels with the
sha256 the index lists, and their yank state (PEP 592). It keeps only wheels of the
project asked for, at http(s) URLs, as pip does; a redirect to another host means
the index does not hold the name (pypiserver's fallback to PyPI), never a page to
install from. A pluginctl registry also
answers ``/api/projects/<name>`` with each release's ``host`` range and permissions;
other indexes do not, and then the host range is checked once the wheel is fetched.

Pages are read as they stream, up to `MAX_PAGE_BYTES`; an index that cannot be
reached, or answers something that is not a PEP 691 page, is a `RegistryError`.
`fetch` downloads a wheel (size-capped, streamed), refuses it unless its sha256 is
the listed one, and finds its signature beside it (``<url>.sig``) or, for an index
that cannot carry signatures, in a `SignatureSource` keyed by the wheel's sha256.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from packaging.utils import canonicalize_name, parse_wheel_filename

from pluginctl.errors import RegistryError
from pluginctl.registry.releases import Release
from pluginctl.registry.urls import api_url

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import httpx

__all__ = ["MAX_PAGE_BYTES", "MAX_WHEEL_BYTES", "RemoteIndex"]

#: The largest wheel fetched; a larger one is refused as it streams.
MAX_WHEEL_BYTES = 512 * 1024 * 1024
#: The largest project page (or API answer) read; PyPI's biggest are a few MiB.
MAX_PAGE_BYTES = 64 * 1024 * 1024
_JSON = "application/vnd.pypi.simple.v1+json"
_TIMEOUT_S = 30.0
_MAX_REDIRECTS = 10


class RemoteIndex:
    """The plugin releases an index at ``index_url`` (its ``/simple/`` URL) offers.

    Args:
        index_url: The simple API's root, e.g. ``http://127.0.0.1:8700/simple/``.
        signatures: Where to look for a wheel's ``.sig`` by its sha256 when the index
            has none beside the wheel (e.g. ``SignatureSource.default().get``).
    """

    def __init__(
        self, index_url: str, *, signatures: Callable[[str], bytes | None] | None = None
    ) -> None:
        if urlsplit(index_url).scheme not in {"http", "https"}:
            raise RegistryError(
                f"{index_url!r} is not an http(s) URL",
                hint="give the index's simple API, e.g. https://pypi.example.com/simple/",
            )
        self.index_url = index_url.rstrip("/") + "/"
        self._signatures = signatures
        self._urls: dict[str, str] = {}

    def releases(self, name: str) -> list[Release]:
        """Every wheel of project ``name`` on the index, with the host range if it tells."""
        import httpx

        project = canonicalize_name(name)
        try:
            with httpx.Client(timeout=_TIMEOUT_S, trust_env=False) as client:
                page = self._page(client, project)
                facts = self._facts(client, project)
        except httpx.HTTPError as exc:
            raise _unreachable(self.index_url, exc) from None
        return [_release(project, entry, facts.get(_version_of(entry))) for entry in page]

    def installer_args(self) -> list[str]:
        """``--index-url``: dependencies come from this index alone, never mixed with another."""
        return ["--index-url", self.index_url]

    def url_of(self, release: Release) -> str:
        """Where the release's wheel is downloaded from (after `releases` listed it)."""
        url = self._urls.get(release.filename)
        if url is None:
            raise RegistryError(
                f"{release.filename} was not listed by {self.index_url}",
                hint="list the project's releases first",
            )
        return url

    def _page(self, client: httpx.Client, project: str) -> list[dict[str, object]]:
        url = urljoin(self.index_url, f"{project}/")
        answer = self._get_here(client, url)
        if answer is None or answer[0].status_code == 404:
            return []
        response, body = answer
        url = str(response.url)
        kind = response.headers.get("content-type")
        files = _json(body).get("files") if _JSON in (kind or "") else None
        if response.status_code != 200 or not isinstance(files, list):
            raise RegistryError(
                f"{url} answered {response.status_code} ({kind}), not a PEP 691 JSON project page",
                hint="give the index's simple API URL (ending in /simple/)",
            )
        entries = [e for e in files if isinstance(e, dict) and _offered(project, url, e)]
        self._urls |= {str(e.get("filename")): urljoin(url, str(e.get("url"))) for e in entries}
        return entries

    def _get_here(self, client: httpx.Client, url: str) -> tuple[httpx.Response, bytes] | None:
        """``url``'s answer and body, following redirects within this index's host only.

        None when it redirects to another host.
        """
        origin = urlsplit(self.index_url)[:2]
        for _ in range(_MAX_REDIRECTS):
            with client.stream("GET", url, headers={"Accept": _JSON}) as response:
                if not response.is_redirect:
                    return response, _read(response, url, limit=MAX_PAGE_BYTES)
            url = urljoin(url, response.headers.get("location", ""))
            if urlsplit(url)[:2] != origin:
                return None  # e.g. pypiserver sending a name it lacks to PyPI (row 21)
        raise RegistryError(
            f"{self.index_url} redirects in a loop", hint="give the index's simple API URL"
        )

    def _facts(self, client: httpx.Client, project: str) -> dict[str, dict[str, object]]:
        """Host range and permissions per version, from a pluginctl registry's API."""
        import httpx

        url = f"{api_url(self.index_url)}/projects/{project}"
        try:
            with client.stream("GET", url) as response:
                body = _read(response, url, limit=MAX_PAGE_BYTES)
        except (httpx.HTTPError, RegistryError):
            return {}  # not a pluginctl registry: the host range is checked after fetching
        versions = _json(body).get("versions") if response.status_code == 200 else None
        if not isinstance(versions, list):
            return {}
        return {str(v.get("version")): v for v in versions if isinstance(v, dict)}

    def fetch(self, release: Release, directory: Path) -> Path:
        """Download the wheel and its signature into ``directory``; the wheel's path.

        Raises:
            RegistryError: the download's sha256 is not the listed one, it is too big,
                or the index answered an error.
        """
        import httpx

        target = directory / release.filename
        url = self.url_of(release)
        try:
            return self._fetch(release, url, target)
        except httpx.HTTPError as exc:
            target.unlink(missing_ok=True)
            raise _unreachable(url, exc) from None

    def _fetch(self, release: Release, url: str, target: Path) -> Path:
        import httpx

        with httpx.Client(timeout=_TIMEOUT_S, trust_env=False, follow_redirects=True) as client:
            digest = _download(client, url, target)
            if digest != release.sha256:
                target.unlink()
                raise RegistryError(
                    f"{release.filename}: its sha256 is {digest}, the index lists"
                    f" {release.sha256}: the download or the stored file was changed",
                    hint="do not install it; tell the index's owner",
                )
            signature = self._signature(client, url, digest)
        if signature is not None:
            target.with_name(target.name + ".sig").write_bytes(signature)
        return target

    def _signature(self, client: httpx.Client, url: str, sha256: str) -> bytes | None:
        from pluginctl.signing.envelope import MAX_ENVELOPE_BYTES

        sig_url = url.split("#", maxsplit=1)[0] + ".sig"
        with client.stream("GET", sig_url) as response:
            if response.status_code == 200:
                with contextlib.suppress(RegistryError):  # too big: not this wheel's
                    return _read(response, sig_url, limit=MAX_ENVELOPE_BYTES)
        return self._signatures(sha256) if self._signatures is not None else None


def _read(response: httpx.Response, url: str, *, limit: int) -> bytes:
    """The body of ``response``, read as it streams, refused past ``limit`` bytes."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > limit:
            raise RegistryError(
                f"{url}: more than {limit} bytes, past what a page is",
                hint="check the index URL; this index's answers are not to be trusted",
            )
    return bytes(body)


def _json(body: bytes) -> dict[str, object]:
    """``body`` as a JSON object; an empty one when it is anything else."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _unreachable(url: str, exc: Exception) -> RegistryError:
    return RegistryError(
        f"{url} cannot be reached: {str(exc) or type(exc).__name__}",
        hint="check the URL and your network, then try again",
    )


def _download(client: httpx.Client, url: str, target: Path) -> str:
    digest = hashlib.sha256()
    size = 0
    with client.stream("GET", url.split("#", maxsplit=1)[0]) as response, target.open("wb") as file:
        if response.status_code != 200:
            raise RegistryError(f"{url} answered {response.status_code}", hint="try again later")
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > MAX_WHEEL_BYTES:
                raise RegistryError(f"{url}: more than {MAX_WHEEL_BYTES} bytes")
            digest.update(chunk)
            file.write(chunk)
    return digest.hexdigest()


def _offered(project: str, page_url: str, entry: dict[str, object]) -> bool:
    """Whether a page's entry is a wheel of ``project`` at an http(s) URL.

    A page may list anything: a wheel named for another project would install that
    project in place of the one asked for.
    """
    try:
        name = parse_wheel_filename(str(entry.get("filename")))[0]
    except ValueError:
        return False
    scheme = urlsplit(urljoin(page_url, str(entry.get("url")))).scheme
    return name == project and scheme in {"http", "https"}


def _version_of(entry: dict[str, object]) -> str:
    try:
        return str(parse_wheel_filename(str(entry.get("filename")))[1])
    except ValueError:
        return ""


def _release(project: str, entry: dict[str, object], facts: dict[str, object] | None) -> Release:
    hashes = entry.get("hashes")
    sha256 = str(hashes.get("sha256", "")) if isinstance(hashes, dict) else ""
    yanked = entry.get("yanked", False)
    permissions = (facts or {}).get("permissions")
    return Release(
        project=project,
        version=_version_of(entry),
        filename=str(entry.get("filename")),
        sha256=sha256,
        yanked=bool(yanked),
        yank_reason=yanked if isinstance(yanked, str) else "",
        host=str((facts or {}).get("host", "")),
        permissions=tuple(str(p) for p in permissions) if isinstance(permissions, list) else (),
    )
