"""The authoring API: a `Plugin` object whose decorators record what the plugin offers.

Decorators only record; nothing runs at import. The runtime reads the records
(`Plugin.registrations`) to route requests, deliver events and call exports,
and `Plugin.check` compares them with ``plugin.toml``.

Example:
    >>> plugin = Plugin()
    >>> @plugin.route("GET", "/hello/{name}")
    ... async def hello(request, api):
    ...     return {"hello": request.path_params["name"]}
    >>> [(r.method, r.path, r.is_async) for r in plugin.routes]
    [('GET', '/hello/{name}', True)]
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import msgspec

from pluginctl.errors import PluginDefinitionError, Problem
from pluginctl.manifest import MANIFEST_FILENAME
from pluginctl.permissions import is_topic_pattern

if TYPE_CHECKING:
    from pluginctl.manifest import Manifest

__all__ = [
    "HOOKS",
    "HTTP_METHODS",
    "Handler",
    "Plugin",
    "Registration",
    "Registrations",
]

Handler = Callable[..., object]
F = TypeVar("F", bound=Handler)

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: Single-handler lifecycle hooks, in the order the runtime may call them.
HOOKS = ("on_activate", "load_state", "health", "dump_state", "on_deactivate")

_PARAM = re.compile(r"\{([^{}]*)\}")
_PARAM_BODY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(:(str|int|float|path|uuid))?$")
_EXPORT = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Registration:
    """One recorded handler: what kind, its key (path, topic, name), and the function."""

    kind: str
    key: str
    handler: Handler
    method: str = ""

    @property
    def is_async(self) -> bool:
        """Whether the handler is a coroutine function (sync handlers run in a thread)."""
        return inspect.iscoroutinefunction(self.handler)

    @property
    def path(self) -> str:
        """The route path (for ``kind == "route"``)."""
        return self.key

    @property
    def where(self) -> str:
        """``file:line`` of the handler's definition, for error messages."""
        code = getattr(self.handler, "__code__", None)
        if code is None:
            return "<unknown>"
        return f"{code.co_filename}:{code.co_firstlineno}"


class Registrations(msgspec.Struct, frozen=True, kw_only=True):
    """The plain-data summary of a plugin's registrations, as the host receives it."""

    routes: list[tuple[str, str]] = []
    events: list[str] = []
    exports: list[str] = []
    panels: list[str] = []
    hooks: list[str] = []


class Plugin:
    """A plugin's handlers. Its name and version come from ``plugin.toml`` beside the code.

    Create one at module level and decorate functions with it. Handlers may be
    ``def`` or ``async def``; route handlers take ``(request, api)``, event handlers
    ``(event, api)``, exports their own arguments and ``api`` as keyword.
    """

    def __init__(self, *, manifest_path: Path | None = None) -> None:
        caller = sys._getframe(1).f_globals  # the module that made us
        self._module: str = str(caller.get("__name__", "__main__"))
        self._module_file: str | None = caller.get("__file__")
        self._manifest_path = manifest_path
        self._items: list[Registration] = []

    def __repr__(self) -> str:
        return f"<Plugin from {self._module} with {len(self._items)} registrations>"

    # -- decorators -----------------------------------------------------------------

    def route(self, method: str, path: str) -> Callable[[F], F]:
        """Serve ``method path`` (under ``/plugins/<name><prefix>``) with the decorated function.

        Path parameters use Starlette's syntax: ``/items/{item_id:int}``.
        """
        verb = method.upper()
        if verb not in HTTP_METHODS:
            self._fail(
                "route",
                f"{method!r} is not an HTTP method",
                "use one of " + ", ".join(HTTP_METHODS),
            )
        _check_route_path(self, path)
        return self._recorder("route", path, method=verb)

    def on(self, topic: str) -> Callable[[F], F]:
        """Call the decorated function for every event published on ``topic`` (``*`` allowed)."""
        if not is_topic_pattern(topic):
            self._fail(
                "on",
                f"{topic!r} is not a topic",
                "use dotted lowercase names, e.g. 'orders.created'",
            )
        return self._recorder("event", topic)

    def export(self, name: str | None = None) -> Callable[[F], F]:
        """Let other plugins call the decorated function as ``name`` (default: its own name)."""

        def decorate(func: F) -> F:
            export = name if name is not None else str(getattr(func, "__name__", ""))
            if not _EXPORT.match(export):
                self._fail("export", f"{export!r} is not an export name", "use snake_case")
            return self._recorder("export", export)(func)

        return decorate

    def admin_panel(self, panel_id: str) -> Callable[[F], F]:
        """Render the admin UI panel ``panel_id`` (declared in plugin.toml) with the function."""
        return self._recorder("panel", panel_id)

    def on_activate(self, func: F) -> F:
        """Run once when the plugin starts, before it receives traffic."""
        return self._recorder("hook", "on_activate")(func)

    def on_deactivate(self, func: F) -> F:
        """Run once when the plugin stops."""
        return self._recorder("hook", "on_deactivate")(func)

    def health(self, func: F) -> F:
        """Report health: return ``True``/``None`` when healthy, ``False`` or raise when not.

        The host calls it while the plugin runs (every ``[defaults.health]``
        ``interval_s``, 5 s by default) and before a hot reload switches to a new
        version. A dictionary answer is fine too: ``{"ok": False, "reason": "the
        database is down"}`` gives the reason that ``pluginctl status`` shows
        (``/healthz`` gives the state only). An unhealthy plugin is *degraded*: it
        keeps serving.

        Example:
            >>> plugin = Plugin()
            >>> @plugin.health
            ... async def health(api):
            ...     return {"ok": True, "queue": 0}
            >>> "health" in plugin.hooks
            True
        """
        return self._recorder("hook", "health")(func)

    def dump_state(self, func: F) -> F:
        """Return state (msgpack-able data) to hand to the next version on hot reload."""
        return self._recorder("hook", "dump_state")(func)

    def load_state(self, func: F) -> F:
        """Receive the state the previous version's ``dump_state`` returned."""
        return self._recorder("hook", "load_state")(func)

    # -- reading ----------------------------------------------------------------------

    def _of(self, kind: str) -> list[Registration]:
        return [item for item in self._items if item.kind == kind]

    @property
    def routes(self) -> list[Registration]:
        """Registered routes, in registration order."""
        return self._of("route")

    @property
    def events(self) -> list[Registration]:
        """Registered event handlers."""
        return self._of("event")

    @property
    def exports(self) -> dict[str, Registration]:
        """Exports by name."""
        return {item.key: item for item in self._of("export")}

    @property
    def panels(self) -> dict[str, Registration]:
        """Admin panels by id."""
        return {item.key: item for item in self._of("panel")}

    @property
    def hooks(self) -> dict[str, Registration]:
        """Lifecycle hooks by name."""
        return {item.key: item for item in self._of("hook")}

    def registrations(self) -> Registrations:
        """Everything registered, as plain data."""
        return Registrations(
            routes=[(item.method, item.key) for item in self.routes],
            events=[item.key for item in self.events],
            exports=list(self.exports),
            panels=list(self.panels),
            hooks=list(self.hooks),
        )

    @property
    def manifest_path(self) -> Path:
        """The ``plugin.toml`` in the package that created this plugin."""
        if self._manifest_path is not None:
            return self._manifest_path
        if self._module_file is None:
            raise PluginDefinitionError(
                [
                    Problem(
                        self._module,
                        "",
                        "cannot locate plugin.toml for a module without a file",
                        hint="pass Plugin(manifest_path=...)",
                    )
                ]
            )
        return _find_manifest(Path(self._module_file))

    def load_manifest(self) -> Manifest:
        """Load and check the plugin's ``plugin.toml``."""
        from pluginctl.manifest import Manifest

        return Manifest.from_path(self.manifest_path)

    def check(self, manifest: Manifest) -> list[Problem]:
        """Every registration the manifest does not allow, and every declaration left unused."""
        from pluginctl.plugin_checks import check_registrations

        return check_registrations(self, manifest)

    # -- internals --------------------------------------------------------------------

    def _recorder(self, kind: str, key: str, *, method: str = "") -> Callable[[F], F]:
        def record(func: F) -> F:
            target: object = func  # typed callable, but plugin code may pass anything
            if not callable(target):
                self._fail(kind, f"{func!r} is not callable", "decorate a function")
            item = Registration(kind, key, func, method)
            clash = next(
                (x for x in self._items if (x.kind, x.key, x.method) == (kind, key, method)), None
            )
            if clash is not None:
                label = f"{method} {key}".strip()
                self._fail(
                    kind,
                    f"{label} is registered twice (first at {clash.where})",
                    "remove one of them",
                    at=item.where,
                )
            self._items.append(item)
            return func

        return record

    def _fail(self, what: str, message: str, hint: str, *, at: str | None = None) -> None:
        raise PluginDefinitionError(
            [Problem(at or self._module, f"@plugin.{what}", message, hint=hint)]
        )


def _check_route_path(plugin: Plugin, path: str) -> None:
    hint = "paths start with '/' and use {name} or {name:int} for parameters"
    if not path.startswith("/") or "//" in path or ".." in path.split("/"):
        plugin._fail("route", f"{path!r} is not a route path", hint)
    stripped = _PARAM.sub("", path)
    if "{" in stripped or "}" in stripped:
        plugin._fail("route", f"{path!r} has unbalanced braces", hint)
    names = [body.split(":")[0] for body in _PARAM.findall(path)]
    for body in _PARAM.findall(path):
        if not _PARAM_BODY.match(body):
            plugin._fail("route", f"{{{body}}} in {path!r} is not a path parameter", hint)
    if len(set(names)) != len(names):
        plugin._fail("route", f"{path!r} uses a parameter name twice", "rename one")


def _find_manifest(module_file: Path) -> Path:
    directory = module_file.parent
    while True:
        candidate = directory / MANIFEST_FILENAME
        if candidate.is_file():
            return candidate
        if not (directory.parent / "__init__.py").is_file():
            break
        directory = directory.parent
    raise PluginDefinitionError(
        [
            Problem(
                str(module_file),
                "",
                f"no {MANIFEST_FILENAME} next to the plugin's package",
                hint=f"add {MANIFEST_FILENAME} to the package directory ({module_file.parent})",
            )
        ]
    )
