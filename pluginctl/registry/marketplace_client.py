"""A remote registry's marketplace, read through its JSON API with httpx.

The URL given may be the registry's root, its ``/simple/`` index (what pip is
given) or its ``/api``: `api_url` finds the API from any of them.

Example:
    >>> api_url("http://127.0.0.1:8000/simple/")
    'http://127.0.0.1:8000/api'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pluginctl.errors import RegistryError
from pluginctl.registry.marketplace import SearchPage
from pluginctl.registry.project_page import ProjectPage
from pluginctl.registry.urls import api_url

if TYPE_CHECKING:
    import httpx

__all__ = ["api_url", "remote_project", "remote_search"]


def remote_search(
    url: str,
    query: str = "",
    *,
    category: str | None = None,
    tag: str | None = None,
    host_version: str | None = None,
    sort: str = "relevance",
    limit: int = 20,
    offset: int = 0,
    timeout_s: float = 10.0,
) -> SearchPage:
    """`pluginctl.registry.marketplace.search`, asked of the registry at ``url``.

    Raises:
        RegistryError: the registry cannot be reached, refuses the search (naming
            the parameter), or does not answer as a pluginctl registry.
    """
    params = {"q": query, "sort": sort, "limit": str(limit), "offset": str(offset)}
    optional = {"category": category, "tag": tag, "host": host_version}
    params |= {key: value for key, value in optional.items() if value}
    answer = _get(f"{api_url(url)}/search", params, timeout_s=timeout_s)
    if answer.status_code == 404:
        raise RegistryError(
            f"{url} has no marketplace API (no {api_url(url)}/search)",
            hint="give the URL of a pluginctl registry (pluginctl registry serve)",
        )
    return SearchPage.from_dict(_json(answer, url))


def remote_project(url: str, name: str, *, timeout_s: float = 10.0) -> ProjectPage | None:
    """The page of project ``name`` at the registry ``url``, or None if it has none.

    Raises:
        RegistryError: as `remote_search`.
    """
    from urllib.parse import quote

    answer = _get(f"{api_url(url)}/projects/{quote(name, safe='')}", {}, timeout_s=timeout_s)
    if answer.status_code == 404:
        return None
    return ProjectPage.from_dict(_json(answer, url))


def _get(url: str, params: dict[str, str], *, timeout_s: float) -> httpx.Response:
    import httpx

    try:
        return httpx.get(url, params=params, timeout=timeout_s, follow_redirects=True)
    except httpx.HTTPError as exc:
        raise RegistryError(
            f"cannot reach the registry at {url}: {exc}",
            hint="check the URL, and that the registry is running",
        ) from None


def _json(answer: httpx.Response, url: str) -> object:
    try:
        data: object = answer.json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if answer.status_code != 200:
        said = f": {error}" if isinstance(error, str) else ""
        raise RegistryError(f"the registry at {url} answered {answer.status_code}{said}")
    if data is None:
        raise RegistryError(
            f"the registry at {url} did not answer JSON",
            hint="give the URL of a pluginctl registry",
        )
    return data
