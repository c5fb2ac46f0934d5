"""The simple repository API's pages: HTML (PEP 503) or JSON (PEP 691), as the client asks.

Every fact on a page comes from the index as it was recorded at publish time: the
sha256 of each file and of its core metadata (PEP 658/714), its size and upload
time (PEP 700), its ``Requires-Python`` and yank state (PEP 592). Nothing is
re-hashed to serve a page. Every string is HTML-escaped: a summary or a yank
reason is the uploader's text, not markup.

`negotiate` picks the format from ``?format=`` or the ``Accept`` header with its
q-values, as PyPI does; links are relative, so the pages work behind any prefix.

Example:
    >>> negotiate("application/vnd.pypi.simple.v1+json, text/html;q=0.01")
    'application/vnd.pypi.simple.v1+json'
    >>> negotiate(None), negotiate("image/png")
    ('text/html', None)
"""

from __future__ import annotations

import html
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pluginctl.registry.index import FileRow

__all__ = [
    "API_VERSION",
    "HTML",
    "JSON",
    "negotiate",
    "project_html",
    "project_json",
    "root_html",
    "root_json",
]

#: The simple API version served: 1.1 adds PEP 700's versions, size and upload-time.
API_VERSION = "1.1"
JSON = "application/vnd.pypi.simple.v1+json"
HTML = "text/html"
_OFFERED = {
    JSON: JSON,
    "application/vnd.pypi.simple.latest+json": JSON,
    "application/vnd.pypi.simple.v1+html": "application/vnd.pypi.simple.v1+html",
    "application/vnd.pypi.simple.latest+html": "application/vnd.pypi.simple.v1+html",
    HTML: HTML,
}
#: What ``*/*`` (or no Accept header) gets, and ``?format=`` may name: the most compatible first.
_PREFERENCE = (HTML, "application/vnd.pypi.simple.v1+html", JSON)


def negotiate(accept: str | None, *, format_param: str | None = None) -> str | None:
    """The content type to answer with, or None when the client accepts none we offer."""
    if format_param:
        return _OFFERED.get(format_param)
    if not accept or not accept.strip():
        return HTML
    best: tuple[tuple[float, int, int], str] | None = None
    for position, (media, quality) in enumerate(_parse_accept(accept)):
        for offered in _matches(media) if quality > 0 else ():
            # the highest q wins; then the client's order; then ours, the most compatible
            rank = (quality, -position, -_PREFERENCE.index(offered))
            if best is None or rank > best[0]:
                best = (rank, offered)
    return None if best is None else best[1]


def _parse_accept(accept: str) -> list[tuple[str, float]]:
    ranges = []
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 0.0
        ranges.append((media.lower(), quality))
    return ranges


def _matches(media: str) -> tuple[str, ...]:
    if media.endswith("/*"):
        kind = media[:-1] if media != "*/*" else ""
        return tuple(offered for offered in _PREFERENCE if offered.startswith(kind))
    found = _OFFERED.get(media)
    return () if found is None else (found,)


# ---------------------------------------------------------------- the root page


def root_html(projects: Sequence[tuple[str, str]]) -> str:
    """The list of every project (normalised name, name as published), PEP 503."""
    links = "\n".join(
        f'    <a href="{_e(name)}/">{_e(display)}</a><br/>' for name, display in projects
    )
    return _page("Simple index", links)


def root_json(projects: Sequence[tuple[str, str]]) -> str:
    """The list of every project, PEP 691."""
    return json.dumps(
        {"meta": {"api-version": API_VERSION}, "projects": [{"name": d} for _, d in projects]}
    )


# ---------------------------------------------------------------- a project's page


def project_html(name: str, display: str, files: Sequence[FileRow]) -> str:
    """A project's files as anchors with every attribute pip and uv read, PEP 503/592/658/714."""
    summary = next((f.summary for f in reversed(files) if f.summary), "")
    body = [f"    <h1>Links for {_e(display)}</h1>"]
    if summary:
        body.append(f'    <p class="summary">{_e(summary)}</p>')
    body.extend(f"    {_anchor(name, row)}<br/>" for row in files)
    return _page(f"Links for {display}", "\n".join(body))


def _anchor(project: str, row: FileRow) -> str:
    attributes = [f'href="{_e(_url(project, row))}#sha256={row.sha256}"']
    if row.requires_python:
        attributes.append(f'data-requires-python="{_e(row.requires_python)}"')
    if row.kind == "wheel":
        attributes.append(f'data-dist-info-metadata="sha256={row.metadata_sha256}"')
        attributes.append(f'data-core-metadata="sha256={row.metadata_sha256}"')
    if row.yanked:
        attributes.append(f'data-yanked="{_e(row.yank_reason)}"')
    return f"<a {' '.join(attributes)}>{_e(row.filename)}</a>"


def project_json(name: str, files: Sequence[FileRow]) -> str:
    """A project's files, PEP 691 with PEP 700's versions, sizes and upload times."""
    from packaging.version import Version

    versions = sorted({row.version for row in files}, key=Version)
    return json.dumps(
        {
            "meta": {"api-version": API_VERSION},
            "name": name,
            "versions": versions,
            "files": [_file_json(name, row) for row in files],
        }
    )


def _file_json(project: str, row: FileRow) -> dict[str, object]:
    metadata: dict[str, str] | bool = (
        {"sha256": row.metadata_sha256} if row.kind == "wheel" else False
    )
    entry: dict[str, object] = {
        "filename": row.filename,
        "url": _url(project, row),
        "hashes": {"sha256": row.sha256},
        "core-metadata": metadata,
        "dist-info-metadata": metadata,
        "yanked": (row.yank_reason or True) if row.yanked else False,
        "size": row.size,
        "upload-time": _iso(row.uploaded),
    }
    if row.requires_python:
        entry["requires-python"] = row.requires_python
    return entry


def _url(project: str, row: FileRow) -> str:
    """Relative to ``/simple/<project>/``: ``../../files/<project>/<file>``."""
    from urllib.parse import quote

    return f"../../files/{quote(project)}/{quote(row.filename)}"


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        f'    <meta name="pypi:repository-version" content="{API_VERSION}">\n'
        f"    <title>{_e(title)}</title>\n  </head>\n  <body>\n{body}\n  </body>\n</html>\n"
    )


def _e(text: str) -> str:
    return html.escape(text, quote=True)
