"""Match a request against one plugin's routes with Starlette's path syntax.

A `PluginRouter` compiles each ``(METHOD, path)`` a plugin registered, under its
manifest's ``routes.prefix``, with `starlette.routing.compile_path`, so
``{name}``, ``{id:int}``, ``{rest:path}``, ``{x:float}`` and ``{u:uuid}`` behave
as in any Starlette app. It does its own method dispatch instead of
`starlette.routing.Router`'s because a plugin may register one path several
times with different methods: a 405 must list all of them in ``Allow``, and an
explicit ``HEAD`` route wins over the implicit ``HEAD`` of a ``GET`` route.

Example:
    >>> router = PluginRouter("/api", [("GET", "/items/{id:int}"), ("POST", "/items")])
    >>> router.resolve("GET", "/api/items/007")
    RouteMatch(index=0, template='/api/items/{id:int}', path_params={'id': '7'})
    >>> router.resolve("DELETE", "/api/items")
    MethodNotAllowed(allowed=('POST',))
    >>> router.resolve("GET", "/api/nothing") is None
    True
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.routing import compile_path

if TYPE_CHECKING:
    import re
    from collections.abc import Sequence

    from starlette.convertors import Convertor

__all__ = ["MethodNotAllowed", "PluginRouter", "RouteMatch", "join_route_path"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """The route a request resolved to.

    Attributes:
        index: The route id: its position in the plugin's registration order.
        template: The full route path under the plugin mount, for logs.
        path_params: Each parameter as its convertor understood it, back as text
            (``{id:int}`` turns ``007`` into ``"7"``).
    """

    index: int
    template: str
    path_params: dict[str, str]


@dataclass(frozen=True, slots=True)
class MethodNotAllowed:
    """The path is known but not for this method; ``allowed`` feeds the ``Allow`` header."""

    allowed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _CompiledRoute:
    index: int
    method: str
    template: str
    regex: re.Pattern[str]
    convertors: dict[str, Convertor[Any]]

    def params(self, path: str) -> dict[str, str] | None:
        found = self.regex.fullmatch(path)  # `$` alone would accept a trailing newline
        if found is None:
            return None
        params: dict[str, str] = {}
        for key, raw in found.groupdict().items():
            convertor = self.convertors[key]
            params[key] = convertor.to_string(convertor.convert(raw))
        return params


def join_route_path(prefix: str, path: str) -> str:
    """A route's path under the plugin mount: the prefix, less its trailing slash, then the path.

    Example:
        >>> join_route_path("/", "/items"), join_route_path("/api/", "/items")
        ('/items', '/api/items')
    """
    return prefix.rstrip("/") + path


class PluginRouter:
    """The routes of one plugin generation, compiled once.

    Args:
        prefix: The manifest's ``routes.prefix`` (``"/"``, ``"/api"``).
        routes: ``(METHOD, path)`` pairs in registration order; a pair that does not
            compile (an unknown convertor) is logged and skipped, keeping the other
            routes' ids.
    """

    def __init__(self, prefix: str, routes: Sequence[tuple[str, str]]) -> None:
        self._routes: list[_CompiledRoute] = []
        for index, (method, path) in enumerate(routes):
            template = join_route_path(prefix, path)
            try:
                regex, _format, convertors = compile_path(template)
            except (AssertionError, KeyError, ValueError) as exc:
                # compile_path asserts on unknown convertors and raises ValueError on
                # duplicate names; the plugin's own checks should have caught both.
                logger.warning("skipping route %d %s %r: %s", index, method, template, exc)
                continue
            self._routes.append(_CompiledRoute(index, method.upper(), template, regex, convertors))

    def resolve(self, method: str, path: str) -> RouteMatch | MethodNotAllowed | None:
        """The route for ``method path``, the methods the path allows, or None (unknown path).

        The first route in registration order that matches both wins. ``HEAD`` falls
        back to the first matching ``GET`` route when no ``HEAD`` route matches.
        """
        allowed: list[str] = []
        head_fallback: RouteMatch | None = None
        for route in self._routes:
            params = route.params(path)
            if params is None:
                continue
            if route.method == method:
                return RouteMatch(route.index, route.template, params)
            if method == "HEAD" and route.method == "GET" and head_fallback is None:
                head_fallback = RouteMatch(route.index, route.template, params)
            allowed.append(route.method)
        if head_fallback is not None:
            return head_fallback
        if not allowed:
            return None
        if "GET" in allowed:
            allowed.append("HEAD")
        return MethodNotAllowed(tuple(sorted(set(allowed))))
