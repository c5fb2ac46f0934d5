"""``pluginctl registry serve``: a registry directory over HTTP, for pip, uv and twine.

`registry_app` serves a `RegistryStore`:

- ``GET /simple/`` and ``GET /simple/<project>/``: the simple repository API as
  HTML or JSON (`pluginctl.registry.simple_pages`), chosen by ``Accept`` or
  ``?format=``; a project spelled otherwise than normalised redirects to its
  normalised URL (301); an unknown project is 404, never a fallback elsewhere.
- ``GET /files/<project>/<file>`` (and ``<file>.metadata``, ``<file>.sig``): a
  published file, found through the index only, never by joining the URL to a
  path: a name the index does not hold, under the project it records, is 404
  (``..%2f``, odd characters). Each download of a distribution is counted.
- ``POST /`` and ``POST /legacy/``: uploads (`pluginctl.registry.legacy_upload`).
- ``/api/...``: the marketplace JSON API, when ``pluginctl.registry.api`` is installed.

`serve` runs the app with uvicorn on one socket until SIGINT or SIGTERM.

Example:
    >>> import asyncio, httpx, tempfile
    >>> from pathlib import Path
    >>> from pluginctl.registry.store import RegistryStore
    >>> store = RegistryStore(Path(tempfile.mkdtemp()) / "registry")
    >>> async def get(path):
    ...     transport = httpx.ASGITransport(registry_app(store))
    ...     async with httpx.AsyncClient(transport=transport, base_url="http://r") as client:
    ...         return await client.get(path, headers={"Accept": JSON})
    >>> asyncio.run(get("/simple/")).json()
    {'meta': {'api-version': '1.1'}, 'projects': []}
    >>> asyncio.run(get("/simple/nothing-here/")).status_code
    404
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import time
from typing import TYPE_CHECKING

import uvicorn
from packaging.utils import canonicalize_name
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from pluginctl.listening import listen
from pluginctl.registry import simple_pages
from pluginctl.registry.legacy_upload import UploadEndpoint, UploadLimits
from pluginctl.registry.reason_phrase import ReasonPhraseProtocol
from pluginctl.registry.simple_pages import JSON

if TYPE_CHECKING:
    import socket
    from collections.abc import AsyncIterator, Callable, Iterator
    from pathlib import Path

    from starlette.requests import Request

    from pluginctl.registry.store import RegistryStore

__all__ = ["DEFAULT_PORT", "exposed", "registry_app", "serve"]

log = logging.getLogger(__name__)

#: The port `serve` listens on unless told otherwise.
DEFAULT_PORT = 8710
_TYPES = {".metadata": "text/plain; charset=utf-8", ".sig": "application/json"}
_DIST_TYPES = {".whl": "application/zip", ".tar.gz": "application/gzip"}
_IMMUTABLE = "public, max-age=31536000, immutable"
_MAX_CACHED_PAGES = 10_000
_MAX_CONNECTIONS = 512
_MAX_KEPT_FILE = 4 * 1024 * 1024
_MAX_KEPT_BYTES = 64 * 1024 * 1024
_FLUSH_S = 1.0


def registry_app(
    store: RegistryStore,
    *,
    max_upload_mb: float = 100,
    max_concurrent_uploads: int = 8,
    read_timeout_s: float = 30,
    upload_timeout_s: float = 600,
    api: bool = True,
) -> Starlette:
    """The registry's ASGI app: simple API, files, uploads and (``api``) the marketplace."""
    limits = UploadLimits(
        max_upload_mb=max_upload_mb,
        max_concurrent=max_concurrent_uploads,
        read_timeout_s=read_timeout_s,
        upload_timeout_s=upload_timeout_s,
    )
    pages = _Pages(store)
    upload = UploadEndpoint(store, limits=limits)
    routes: list[BaseRoute] = [
        Route("/", upload.receive, methods=["POST"]),
        Route("/", _home, methods=["GET"]),
        Route("/legacy/", upload.receive, methods=["POST"]),
        Route("/simple/", pages.root, methods=["GET"]),
        Route("/simple/{project}/", pages.project, methods=["GET"], name="project"),
        Route("/files/{project}/{filename}", pages.file, methods=["GET"]),
    ]
    if api:
        routes.extend(_marketplace(store))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        pages.flush()  # the downloads counted since the last write

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.flush_downloads = pages.flush
    return app


def _marketplace(store: RegistryStore) -> list[BaseRoute]:
    """The marketplace's JSON API, mounted at ``/api`` (`pluginctl.registry.api`)."""
    from pluginctl.registry.api import marketplace_routes

    return marketplace_routes(store)


def _home(request: Request) -> Response:
    return PlainTextResponse("pluginctl registry: the simple API is at /simple/\n")


class _Pages:
    """The read side: simple pages and files, from the index.

    Pages are built once and kept until the index's pages generation moves (a
    publish or a yank, by this process or another): answering a page is then one
    small query on a kept connection. Pages and files are answered on the event
    loop; a download's count, a write, runs in Starlette's threads once the file
    is sent.
    """

    def __init__(self, store: RegistryStore) -> None:
        self.store = store
        self._cache: dict[tuple[str, str], str | None] = {}
        self._generation = -1
        self._files: dict[Path, bytes] = {}
        self._files_bytes = 0
        self._downloads: dict[str, int] = {}
        self._flushed = time.monotonic()
        self._flushing: set[asyncio.Future[None]] = set()

    async def root(self, request: Request) -> Response:
        kind = _negotiated(request)
        if kind is None:
            return _not_acceptable()
        return _page(self._cached(("", kind), lambda: self._root(kind)) or "", kind)

    def _root(self, kind: str) -> str:
        projects = self.store.index.projects()
        if kind == JSON:
            return simple_pages.root_json(projects)
        return simple_pages.root_html(projects)

    async def project(self, request: Request) -> Response:
        asked = request.path_params["project"]
        name = canonicalize_name(asked)
        if name != asked:
            return RedirectResponse(str(request.url_for("project", project=name)), 301)
        kind = _negotiated(request)
        body = self._cached((name, kind or ""), lambda: self._project(name, kind))
        if body is None:
            return PlainTextResponse(f"no project {name} in this registry\n", 404)
        if kind is None:
            return _not_acceptable()
        return _page(body, kind)

    def _project(self, name: str, kind: str | None) -> str | None:
        files = self.store.index.files(name)
        if not files:
            return None
        if kind == JSON:
            return simple_pages.project_json(name, files)
        if kind is None:
            return ""
        display = dict(self.store.index.projects()).get(name, name)
        return simple_pages.project_html(name, display, files)

    def _cached(self, key: tuple[str, str], build: Callable[[], str | None]) -> str | None:
        generation = self.store.index.pages_generation()
        if generation != self._generation:
            self._cache.clear()
            self._generation = generation
        if key not in self._cache:
            if len(self._cache) > _MAX_CACHED_PAGES:
                self._cache.clear()
            self._cache[key] = build()
        return self._cache[key]

    async def file(self, request: Request) -> Response:
        """A published file, found through the index; its download counted after it is sent."""
        project, asked = request.path_params["project"], request.path_params["filename"]
        suffix = next((s for s in _TYPES if asked.endswith(s)), "")
        found = self.store.open_file(asked.removesuffix(suffix) if suffix else asked)
        if found is None or found[0].project != project:
            return PlainTextResponse("no such file\n", 404)
        row, path = found
        if (suffix == ".metadata" and row.kind != "wheel") or (suffix == ".sig" and not row.signed):
            return PlainTextResponse("no such file\n", 404)
        target = path.with_name(path.name + suffix)
        if not target.is_file():
            log.error("%s is in the index but not on disk: run pluginctl registry fsck", target)
            return PlainTextResponse("no such file\n", 404)
        if not suffix and request.method == "GET":
            self._count(row.filename)
        media = _TYPES.get(suffix) or next(t for s, t in _DIST_TYPES.items() if asked.endswith(s))
        headers = {"cache-control": _IMMUTABLE, "x-content-type-options": "nosniff"}
        if not suffix:
            headers["etag"] = f'"{row.sha256}"'
        kept = self._kept(target)
        if kept is not None:
            return Response(kept, media_type=media, headers=headers)
        return FileResponse(target, media_type=media, headers=headers)

    def _kept(self, path: Path) -> bytes | None:
        """A small file's bytes, read once: published files never change in place.

        A file changed behind the registry's back is still served as it is on disk
        once it drops out (the cache holds at most `_MAX_KEPT_BYTES`), and clients
        check the recorded hash either way.
        """
        data = self._files.get(path)
        if data is not None:
            return data
        size = path.stat().st_size
        if size > _MAX_KEPT_FILE or self._files_bytes + size > _MAX_KEPT_BYTES:
            return None
        data = path.read_bytes()
        self._files[path] = data
        self._files_bytes += len(data)
        return data

    def _count(self, filename: str) -> None:
        """Count a download; the counts are written together, at most once a second."""
        self._downloads[filename] = self._downloads.get(filename, 0) + 1
        now = time.monotonic()
        if now - self._flushed >= _FLUSH_S:
            counts, self._downloads, self._flushed = self._downloads, {}, now
            writing = run_in_threadpool(self.store.index.count_downloads, counts)
            task = asyncio.ensure_future(writing)
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)

    def flush(self) -> None:
        """Write the downloads counted since the last write (at shutdown)."""
        counts, self._downloads = self._downloads, {}
        if counts:
            self.store.index.count_downloads(counts)


def _negotiated(request: Request) -> str | None:
    return simple_pages.negotiate(
        request.headers.get("accept"), format_param=request.query_params.get("format")
    )


def _page(body: str, kind: str) -> Response:
    media = kind if kind == JSON else f"{kind}; charset=utf-8"
    return Response(
        body,
        media_type=media,
        headers={"vary": "Accept", "x-content-type-options": "nosniff"},
    )


def _not_acceptable() -> Response:
    offered = ", ".join([JSON, "application/vnd.pypi.simple.v1+html", "text/html"])
    return PlainTextResponse(f"this registry serves {offered}\n", 406)


# ---------------------------------------------------------------- serving


def exposed(host: str) -> bool:
    """Whether listening on ``host`` reaches beyond this machine.

    Example:
        >>> exposed("127.0.0.1"), exposed("::1"), exposed("localhost"), exposed("0.0.0.0")
        (False, False, False, True)
    """
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def serve(
    app: Starlette,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    on_ready: Callable[[str], None] = lambda _: None,
) -> None:
    """Serve ``app`` on ``host``:``port`` (0: any free port) until SIGINT or SIGTERM.

    ``on_ready`` gets the URL once it serves. Requests in progress finish first.

    Raises:
        UserError: the address cannot be listened on.
    """
    sock = listen(host, port)
    try:
        asyncio.run(_serve(app, sock, on_ready))
    finally:
        sock.close()


async def _serve(app: Starlette, sock: socket.socket, on_ready: Callable[[str], None]) -> None:
    config = uvicorn.Config(
        app,
        http=ReasonPhraseProtocol,
        lifespan="on",
        log_level="warning",
        access_log=False,
        proxy_headers=False,  # the audit log records the peer, not what a header claims
        server_header=False,
        timeout_keep_alive=5,
        limit_concurrency=_MAX_CONNECTIONS,  # past it, 503: slow clients cannot take every fd
        timeout_graceful_shutdown=10,
    )
    server = _QuietServer(config)
    with _exit_on_signals(server):
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not serving.done():
            await asyncio.sleep(0.005)
        if server.started:
            on_ready(_url(sock))
        await serving


class _QuietServer(uvicorn.Server):
    """uvicorn's server without its own signal handling: `serve` owns SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _exit_on_signals(server: uvicorn.Server) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, setattr, server, "should_exit", True)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _url(sock: socket.socket) -> str:
    name, port = sock.getsockname()[:2]
    return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"
