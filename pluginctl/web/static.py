"""Serve one plugin's static directory: no path escapes, fixed content types, ETags.

`StaticDirectory` puts a screen in front of Starlette's `StaticFiles`. The screen
refuses, before the file system is touched, any path with an empty, ``.`` or ``..``
segment, a backslash, a control character (NUL included), an encoded slash,
backslash or NUL in the raw request target, or a name too long for a file system.
`StaticFiles` then resolves symlinks (``follow_symlink=False``, its default) and
serves the file only if the resolved path is still inside the directory: a symlink
to a file inside is served, one that leads outside is not. Every refusal, and every
file-system error on the way (permission denied, a symlink loop), is a plain 404.

Responses carry a content type from a fixed table (the host's ``mime.types`` plays
no part; anything unknown is ``application/octet-stream``), an ``ETag`` and a
``Last-Modified`` from `FileResponse`, and ``Cache-Control: public, no-cache``: a
browser may keep a copy but asks again each time, and a matching ``If-None-Match``
or ``If-Modified-Since`` gets a bodiless 304. Plugins are reloaded in place, so a
fixed max-age would serve stale assets after a reload; revalidation is one cheap
round trip on the default 127.0.0.1 bind.

Example:
    >>> safe_relative_path("css/site.css"), safe_relative_path("../etc/passwd")
    ('css/site.css', None)
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response
from starlette.staticfiles import NotModifiedResponse, StaticFiles

from pluginctl.web.responses import SANDBOX_POLICY

if TYPE_CHECKING:
    from starlette.types import Scope

__all__ = ["CACHE_CONTROL", "MEDIA_TYPES", "StaticDirectory", "media_type", "safe_relative_path"]

CACHE_CONTROL = "public, no-cache"
MEDIA_TYPES: dict[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".xml": "application/xml",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/vnd.microsoft.icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".wasm": "application/wasm",
    ".pdf": "application/pdf",
}
_FALLBACK_MEDIA_TYPE = "application/octet-stream"
_MAX_SEGMENT = 255
_MAX_PATH = 1024
_BAD_CHARACTER = re.compile(r"[\x00-\x1f\x7f\\]")
_BAD_ESCAPE = re.compile(rb"%(2f|5c|00)", re.IGNORECASE)


def media_type(path: str) -> str:
    """The ``Content-Type`` for a file name, by its extension (case-insensitive).

    Example:
        >>> media_type("app.JS"), media_type("blob.bin")
        ('text/javascript; charset=utf-8', 'application/octet-stream')
    """
    return MEDIA_TYPES.get(PurePosixPath(path).suffix.lower(), _FALLBACK_MEDIA_TYPE)


def safe_relative_path(path: str, *, raw_path: bytes | None = None) -> str | None:
    r"""``path`` (decoded, relative to the static directory) if it is plainly inside, else None.

    Args:
        path: The decoded path after ``/static/``.
        raw_path: The request target as sent, when the server gives it: an encoded
            ``/``, ``\`` or NUL in it means the client tried to hide one.
    """
    if raw_path is not None and _BAD_ESCAPE.search(raw_path):
        return None
    if not path or len(path) > _MAX_PATH or _BAD_CHARACTER.search(path):
        return None
    segments = path.split("/")
    if any(s in ("", ".", "..") or len(s.encode()) > _MAX_SEGMENT for s in segments):
        return None
    return "/".join(segments)


class _PluginStaticFiles(StaticFiles):
    """`StaticFiles` with file-system errors as 404 and the gateway's headers."""

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        try:
            return super().lookup_path(path)
        except (OSError, ValueError):
            return "", None

    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = FileResponse(
            full_path,
            status_code=status_code,
            stat_result=stat_result,
            media_type=media_type(os.fspath(full_path)),
            headers={"cache-control": CACHE_CONTROL, SANDBOX_POLICY[0]: SANDBOX_POLICY[1]},
        )
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class StaticDirectory:
    """The files of one plugin's static directory, served read-only.

    Args:
        directory: The absolute directory; it need not exist (then every file is 404).
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._files = _PluginStaticFiles(directory=directory, check_dir=False)

    async def response(self, path: str, scope: Scope) -> Response | None:
        """The file at ``path`` for a ``GET`` or ``HEAD`` request, or None when there is none.

        Args:
            path: The decoded path after ``/static/``.
            scope: The request's ASGI scope (method, conditional headers, raw path).
        """
        safe = safe_relative_path(path, raw_path=scope.get("raw_path"))
        if safe is None:
            return None
        try:
            return await self._files.get_response(safe, scope)
        except HTTPException:
            return None
