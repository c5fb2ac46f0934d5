from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import pytest

from pluginctl import Plugin, PluginDefinitionError
from pluginctl.manifest import Manifest

FIXTURES = Path(__file__).parent / "fixtures" / "plugins"


def load_fixture(case: str, package: str) -> Plugin:
    path = FIXTURES / case / package / "plugin.py"
    spec = importlib.util.spec_from_file_location(f"{package}.plugin", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugin = module.plugin
    assert isinstance(plugin, Plugin)
    return plugin


def test_registrations_are_recorded_as_data() -> None:
    plugin = load_fixture("good", "good_plugin")
    recorded = plugin.registrations()
    assert recorded.routes == [("GET", "/hello/{name}"), ("POST", "/items/{item_id:int}")]
    assert recorded.events == ["orders.created"]
    assert recorded.exports == ["lookup", "count"]
    assert recorded.panels == ["stats"]
    assert recorded.hooks == ["on_activate", "on_deactivate", "health", "dump_state", "load_state"]


def test_sync_and_async_handlers_are_told_apart() -> None:
    plugin = load_fixture("good", "good_plugin")
    assert [r.is_async for r in plugin.routes] == [True, False]
    assert plugin.exports["count"].is_async
    assert not plugin.exports["lookup"].is_async


def test_decorators_return_the_function_unchanged() -> None:
    plugin = load_fixture("good", "good_plugin")
    lookup = plugin.exports["lookup"].handler
    assert lookup("abc") == "ABC"
    count = plugin.exports["count"].handler
    assert asyncio.run(count()) == 0  # type: ignore[arg-type]  # handler is typed as returning object


def test_the_manifest_is_found_next_to_the_module() -> None:
    plugin = load_fixture("good", "good_plugin")
    assert plugin.manifest_path == FIXTURES / "good" / "good_plugin" / "plugin.toml"
    assert plugin.load_manifest().name == "good-plugin"
    assert plugin.check(plugin.load_manifest()) == []


def test_registrations_the_manifest_does_not_allow() -> None:
    plugin = load_fixture("mismatch", "mismatch")
    problems = plugin.check(Manifest.from_path(plugin.manifest_path))
    messages = [(p.key, p.message) for p in problems]
    assert (
        "@plugin.route",
        "route GET / is registered but plugin.toml does not allow routes",
    ) in messages
    assert ("@plugin.on", "subscribes to 'orders.created' without permission") in messages
    assert ("@plugin.export", "export 'undeclared' is not declared in plugin.toml") in messages
    assert (
        "exports[0]",
        "declares export 'declared_only' but no function is registered for it",
    ) in messages
    assert ("@plugin.admin_panel", "admin panel 'other' is not declared in plugin.toml") in messages
    assert ("admin.panels[0]", "declares panel 'declared' but no function renders it") in messages
    route_problem = problems[0]
    assert route_problem.file.endswith("mismatch/plugin.py:6")  # the decorator line
    assert all(p.hint for p in problems)


def handler(request: object, api: object) -> None:
    return None


@pytest.mark.parametrize(
    ("register", "fragment"),
    [
        (lambda p: p.route("FETCH", "/x"), "not an HTTP method"),
        (lambda p: p.route("GET", "x"), "not a route path"),
        (lambda p: p.route("GET", "/a/../b"), "not a route path"),
        (lambda p: p.route("GET", "/a/{b"), "unbalanced braces"),
        (lambda p: p.route("GET", "/a/{b:decimal}"), "not a path parameter"),
        (lambda p: p.route("GET", "/{a}/{a}"), "parameter name twice"),
        (lambda p: p.on("Orders Created"), "not a topic"),
        (lambda p: p.export("Bad-Name"), "not an export name"),
    ],
)
def test_bad_registrations_fail_at_import(register: object, fragment: str) -> None:
    plugin = Plugin(manifest_path=Path("unused"))
    with pytest.raises(PluginDefinitionError, match=fragment) as caught:
        register(plugin)(handler)  # type: ignore[operator]  # the lambdas return decorators
    assert caught.value.problems[0].hint


def test_registering_twice_names_the_first() -> None:
    plugin = Plugin()
    plugin.route("GET", "/x")(handler)
    plugin.route("POST", "/x")(handler)
    with pytest.raises(
        PluginDefinitionError, match=r"GET /x is registered twice \(first at .*test_plugin.py"
    ):
        plugin.route("get", "/x")(handler)
    plugin.on_activate(handler)
    with pytest.raises(PluginDefinitionError, match=r"on_activate is registered twice"):
        plugin.on_activate(handler)


def test_non_callables_are_refused() -> None:
    plugin = Plugin()
    with pytest.raises(PluginDefinitionError, match="not callable"):
        plugin.export("x")(42)  # type: ignore[type-var]  # the point of the test


def test_missing_manifest_is_explained(tmp_path: Path) -> None:
    module = tmp_path / "lonely.py"
    module.write_text("from pluginctl import Plugin\nplugin = Plugin()\n")
    spec = importlib.util.spec_from_file_location("lonely", module)
    assert spec is not None
    assert spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    with pytest.raises(PluginDefinitionError, match=r"no plugin\.toml next to"):
        loaded.plugin.manifest_path  # noqa: B018  # property access raises
