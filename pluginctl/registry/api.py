"""The marketplace's JSON API: search, lists, project pages, ratings, update checks, keys.

`marketplace_routes` returns one starlette `Mount` at ``/api`` for the registry
server to add to its routes:

- ``GET /api/search?q=&category=&tag=&host=&sort=&limit=&offset=``: a search page;
- ``GET /api/projects/{name}``: a project page, or 404;
- ``GET /api/featured``, ``/api/popular``, ``/api/recent`` (``?limit=&host=``):
  ``{"projects": [hit, ...]}``;
- ``POST /api/projects/{name}/rating``: ``{"stars": 1..5}``, with a token;
- ``POST /api/updates``: ``{"installed": {name: version}, "host": version}``;
- ``GET /api/keys``: ``{"keys": [key, ...]}``.

Every parameter is checked; a bad one is a 400 whose JSON body names it and its
rule (``{"error": "limit: ...", "parameter": "limit", "rule": "..."}``), an unknown
project a 404, a body past its size 413. JSON is written with ``<``, ``>`` and ``&``
escaped, so a description holding HTML stays data wherever the answer lands.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import TYPE_CHECKING, Protocol, TypeVar

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from pluginctl.errors import PluginctlError, RegistryError
from pluginctl.manifest import CATEGORIES
from pluginctl.registry import marketplace as market

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.datastructures import QueryParams
    from starlette.requests import Request

    from pluginctl.registry.index import Index
    from pluginctl.registry.store import RegistryStore

__all__ = ["MAX_BODY_BYTES", "MAX_INSTALLED", "TokenCheck", "marketplace_routes"]

#: The largest request body taken, in bytes (an update check of many plugins).
MAX_BODY_BYTES = 256 * 1024
#: The most installed plugins one update check may name.
MAX_INSTALLED = 1000
_MAX_NAME_CHARS = 200
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_REALM = 'Basic realm="pluginctl registry", Bearer'
_Body = TypeVar("_Body")


class TokenCheck(Protocol):
    """Resolve an upload token's secret: the id of the token, or None if it is not one."""

    def __call__(self, secret: str, project: str) -> str | None:
        """The id of the token whose secret this is (valid, not revoked), else None."""
        ...


class _Refused(Exception):
    """A request the API answers with an error status: never raised out of a route."""

    def __init__(self, status: int, message: str, **fields: str) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": message, **fields}


def _bad(parameter: str, rule: str) -> _Refused:
    return _Refused(400, f"{parameter}: {rule}", parameter=parameter, rule=rule)


class _Json(Response):
    """JSON with ``<``, ``>``, ``&`` and the two JavaScript line separators escaped."""

    media_type = "application/json"

    def render(self, content: object) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        for char, escaped in (
            ("<", "\\u003c"),
            (">", "\\u003e"),
            ("&", "\\u0026"),
            ("\u2028", "\\u2028"),
            ("\u2029", "\\u2029"),
        ):
            text = text.replace(char, escaped)
        return text.encode()


def _json(content: object, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    sent = {"x-content-type-options": "nosniff"} | (headers or {})
    return _Json(content, status_code=status, headers=sent)


def marketplace_routes(
    store: RegistryStore, *, check_token: TokenCheck | None = None
) -> list[BaseRoute]:
    """The JSON API over ``store``, as one `Mount` at ``/api``.

    Args:
        store: The registry.
        check_token: Resolves a rating's token; by default
            ``pluginctl.registry.tokens``, imported when a rating first comes.
    """
    api = _Api(store, check_token or _tokens_module(store))
    return [
        Mount(
            "/api",
            routes=[
                Route("/search", _guard(api.search), methods=["GET"]),
                Route("/projects/{name}", _guard(api.project), methods=["GET"]),
                Route("/projects/{name}/rating", _guard(api.rate), methods=["POST"]),
                Route("/featured", _guard(api.featured), methods=["GET"]),
                Route("/popular", _guard(api.popular), methods=["GET"]),
                Route("/recent", _guard(api.recent), methods=["GET"]),
                Route("/updates", _guard(api.updates), methods=["POST"]),
                Route("/keys", _guard(api.keys), methods=["GET"]),
            ],
        )
    ]


def _guard(
    handler: Callable[[Request], Awaitable[object]],
) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return _json(await handler(request))
        except _Refused as refused:
            headers = {"www-authenticate": _REALM} if refused.status == 401 else None
            return _json(refused.body, refused.status, headers)
        except RegistryError as exc:  # a rule the library checks itself: "param: rule"
            parameter, _, rule = exc.message.partition(": ")
            return _json({"error": exc.message, "parameter": parameter, "rule": rule}, 400)

    return endpoint


class _Api:
    def __init__(self, store: RegistryStore, check_token: TokenCheck) -> None:
        self.store = store
        self.check_token = check_token

    async def search(self, request: Request) -> object:
        params = request.query_params
        query = _text(params, "q", max_chars=market.MAX_QUERY_CHARS)
        category, tag, host = _category(params), _tag(params), _host(params)
        sort = _choice(params, "sort", market.SORTS)
        limit = _int(params, "limit", default=20, low=1, high=market.MAX_LIMIT)
        offset = _int(params, "offset", default=0, low=0, high=market.MAX_OFFSET)
        page = await run_in_threadpool(
            lambda: market.search(
                self.store.index,
                query,
                category=category,
                tag=tag,
                host_version=host,
                sort=sort,
                limit=limit,
                offset=offset,
            )
        )
        return page.to_dict()

    async def project(self, request: Request) -> object:
        name = _name(request)
        page = await run_in_threadpool(market.project_page, self.store.index, name)
        if page is None:
            raise _Refused(404, f"no project named {name!r} in this registry")
        return page.to_dict()

    async def featured(self, request: Request) -> object:
        return await self._listed(request, market.featured)

    async def popular(self, request: Request) -> object:
        return await self._listed(request, market.popular)

    async def recent(self, request: Request) -> object:
        return await self._listed(request, market.recent)

    async def _listed(self, request: Request, lister: _Lister) -> object:
        limit = _int(request.query_params, "limit", default=20, low=1, high=market.MAX_LIMIT)
        host = _host(request.query_params)
        hits = await run_in_threadpool(
            lambda: lister(self.store.index, limit=limit, host_version=host)
        )
        return {"projects": [hit.to_dict() for hit in hits]}

    async def rate(self, request: Request) -> object:
        name = _name(request)
        secret = _secret(request)
        body = _decode(await _body(request, max_bytes=1024), _RatingBody)
        token_id = await run_in_threadpool(self._token, secret, name)
        rating = await run_in_threadpool(market.rate, self.store.index, name, token_id, body.stars)
        if rating is None:
            raise _Refused(404, f"no project named {name!r} in this registry")
        return {"project": name, "stars": body.stars, "rating": rating.to_dict()}

    def _token(self, secret: str, project: str) -> str:
        token_id = self.check_token(secret, project)
        if token_id is None:
            raise _Refused(401, "the token is not valid for this registry")
        return token_id

    async def updates(self, request: Request) -> object:
        body = _decode(await _body(request, max_bytes=MAX_BODY_BYTES), _UpdatesBody)
        if len(body.installed) > MAX_INSTALLED:
            raise _bad("installed", f"at most {MAX_INSTALLED} plugins")
        for name, version in body.installed.items():
            if not _NAME.match(name) or len(name) > _MAX_NAME_CHARS or len(version) > 64:
                raise _bad("installed", "project names to PEP 440 versions")
        found = await run_in_threadpool(
            lambda: market.updates(self.store.index, body.installed, host_version=body.host)
        )
        return {"updates": [update.to_dict() for update in found]}

    async def keys(self, request: Request) -> object:
        keys = await run_in_threadpool(market.trusted_keys, self.store)
        return {"keys": [key.to_dict() for key in keys]}


class _Lister(Protocol):
    def __call__(
        self, index: Index, *, limit: int, host_version: str | None
    ) -> list[market.Hit]: ...


class _RatingBody(msgspec.Struct):
    stars: int


class _UpdatesBody(msgspec.Struct):
    installed: dict[str, str]
    host: str


# ---------------------------------------------------------------- parameters


def _text(params: QueryParams, name: str, *, max_chars: int) -> str:
    value = params.get(name, "")
    if len(value) > max_chars:
        raise _bad(name, f"at most {max_chars} characters")
    return value


def _int(params: QueryParams, name: str, *, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6 or not low <= int(raw) <= high:
        raise _bad(name, f"a whole number from {low} to {high}")
    return int(raw)


def _choice(params: QueryParams, name: str, choices: tuple[str, ...]) -> str:
    value = params.get(name) or choices[0]
    if value not in choices:
        raise _bad(name, f"one of {', '.join(choices)}")
    return value


def _category(params: QueryParams) -> str | None:
    value = params.get("category") or None
    if value is not None and value not in CATEGORIES:
        raise _bad("category", f"one of {', '.join(CATEGORIES)}")
    return value


def _tag(params: QueryParams) -> str | None:
    value = params.get("tag") or None
    if value is not None and not _TAG.match(value):
        raise _bad("tag", "a lowercase word with hyphens, up to 32 characters")
    return value


def _host(params: QueryParams) -> str | None:
    value = params.get("host") or None
    if value is not None and len(value) > 64:
        raise _bad("host", "a PEP 440 version such as 0.1.0")
    return value


def _name(request: Request) -> str:
    name = str(request.path_params["name"])
    if len(name) > _MAX_NAME_CHARS or not _NAME.match(name):
        raise _bad("name", "a project name: letters, digits, '.', '_' and '-'")
    return name


# ---------------------------------------------------------------- bodies and tokens


async def _body(request: Request, *, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _Refused(413, f"the body is past the limit of {max_bytes} bytes")
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise _Refused(413, f"the body is past the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _decode(body: bytes, shape: type[_Body]) -> _Body:
    try:
        return msgspec.json.decode(body, type=shape)
    except msgspec.ValidationError as exc:
        field = re.search(r"\$\.(\w+)", str(exc))
        parameter = field.group(1) if field else "body"
        raise _bad(parameter, str(exc)) from None
    except msgspec.DecodeError:
        raise _bad("body", "a JSON object") from None


def _secret(request: Request) -> str:
    """The token's secret from ``Authorization: Bearer S`` or Basic ``__token__:S``."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _Refused(401, "the Authorization header is not Basic base64") from None
        if user == "__token__" and password:
            return password
    raise _Refused(401, "rating needs a token: Authorization: Bearer TOKEN (or __token__)")


def _tokens_module(store: RegistryStore) -> TokenCheck:
    """Any live upload token may rate, once per project: its holder is a known uploader."""

    def check(secret: str, project: str) -> str | None:
        from pluginctl.registry.tokens import Tokens

        del project  # a rating needs a live token, not one scoped to the project
        try:
            return Tokens(store.index).check(secret).id
        except PluginctlError:
            return None

    return check
