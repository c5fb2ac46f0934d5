from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pluginctl import __version__
from pluginctl.errors import ResolutionError
from pluginctl.manifest import Manifest
from pluginctl.runtime.discovery import PluginSource, discover
from pluginctl.runtime.resolution import ResolutionProblem, dependents, plan, resolve
from tests.conftest import FIXTURE_PLUGINS

if TYPE_CHECKING:
    from collections.abc import Collection


def plugin(
    name: str, version: str = "1.0.0", *, host: str = ">=0.1,<1", **dependencies: str
) -> PluginSource:
    """A plugin whose manifest has been checked like a real one; ``a_b`` spells ``a-b``."""
    deps = {key.replace("_", "-"): spec for key, spec in dependencies.items()}
    data: dict[str, object] = {
        "name": name,
        "version": version,
        "host": host,
        "dependencies": deps,
    }
    manifest = Manifest.from_dict(data, source=f"{name}/plugin.toml")
    return PluginSource(
        name=name,
        version=version,
        manifest=manifest,
        origin="source",
        entry_point=f"{name.replace('-', '_')}.plugin:plugin",
        package_dir=Path("/src", name, name.replace("-", "_")),
        location=f"/src/{name}",
        distribution=name,
        import_root=Path("/src", name),
    )


def names(plugins: list[PluginSource]) -> list[str]:
    return [p.name for p in plugins]


def resolution_error(
    plugins: list[PluginSource],
    *,
    host_version: str = __version__,
    enabled: Collection[str] | None = None,
    broken: Collection[str] = (),
) -> ResolutionError:
    with pytest.raises(ResolutionError) as caught:
        resolve(plugins, host_version=host_version, enabled=enabled, broken=broken)
    return caught.value


GRAPH = [
    plugin("web", api=">=1"),
    plugin("api", db=""),
    plugin("db"),
    plugin("auth"),
    plugin("cache"),
    plugin("z-app", auth=""),
]


def test_dependencies_start_first_and_ready_plugins_start_in_name_order() -> None:
    assert names(resolve(GRAPH)) == ["auth", "cache", "db", "api", "web", "z-app"]


def test_the_order_does_not_depend_on_the_order_found() -> None:
    for shuffled in itertools.permutations(GRAPH):
        assert names(resolve(shuffled)) == ["auth", "cache", "db", "api", "web", "z-app"]


def test_no_plugins_resolve_to_nothing() -> None:
    assert resolve([]) == []


def test_a_host_version_outside_a_plugins_range_is_an_error() -> None:
    error = resolution_error([plugin("old", host=">=0.1,<0.2")], host_version="0.3.0")
    assert (
        error.message
        == "plugin 'old' supports pluginctl >=0.1,<0.2, but this host is pluginctl 0.3.0"
    )
    assert error.hint == (
        "update the plugin to a release that supports pluginctl 0.3.0 (pip install -U old),"
        " or run a pluginctl in >=0.1,<0.2"
    )


def test_a_prerelease_host_is_inside_a_range_that_covers_it() -> None:
    plugins = [plugin("app", host=">=0.1,<1", lib=">=1.0,<2"), plugin("lib", "1.1.0b1")]
    assert names(resolve(plugins, host_version="0.2.0rc1")) == ["lib", "app"]


def test_an_empty_host_range_means_any_host() -> None:
    assert names(resolve([plugin("any", host="")], host_version="7.0")) == ["any"]


def test_a_missing_dependency_names_the_plugin_the_range_and_the_fix() -> None:
    error = resolution_error([plugin("greeter", cache=">=1.0,<2")])
    assert error.message == (
        "plugin 'greeter' depends on 'cache' (>=1.0,<2), which is not installed"
    )
    assert error.hint == (
        "install it: pip install cache, or run its source directory with --plugin PATH"
    )


def test_a_missing_dependency_without_a_range() -> None:
    error = resolution_error([plugin("greeter", cache="")])
    assert error.message == "plugin 'greeter' depends on 'cache', which is not installed"


def test_a_dependency_that_discovery_found_broken_is_not_called_missing() -> None:
    error = resolution_error([plugin("greeter", cache="")], broken={"cache"})
    assert error.message == "plugin 'greeter' depends on 'cache', which is installed but broken"
    assert error.hint == "fix or reinstall 'cache' as its own error says, then restart"
    assert names(resolve([plugin("a")], enabled=["a", "cache"], broken=["cache"])) == ["a"]


def test_a_dependency_outside_the_range_is_an_error() -> None:
    error = resolution_error([plugin("greeter", cache=">=1.0,<2"), plugin("cache", "2.1.0")])
    assert error.message == (
        "plugin 'greeter' depends on 'cache' (>=1.0,<2), but the 'cache' found is 2.1.0"
        " (/src/cache)"
    )
    assert error.hint == (
        "install a release in range: pip install 'cache>=1.0,<2', or update 'greeter'"
        " to a release that supports cache 2.1.0: pip install -U greeter"
    )


def test_a_dependency_that_is_disabled_is_an_error() -> None:
    plugins = [plugin("greeter", cache=""), plugin("cache")]
    error = resolution_error(plugins, enabled={"greeter"})
    assert error.message == "plugin 'greeter' depends on 'cache', which is disabled"
    assert error.hint == (
        "enable 'cache' (remove it from disabled in pluginctl.toml), or disable 'greeter' too"
    )


def test_only_enabled_plugins_are_started_and_disabled_ones_are_not_checked() -> None:
    plugins = [plugin("a"), plugin("b", host=">=9"), plugin("c", missing="")]
    assert names(resolve(plugins, enabled=["a"])) == ["a"]


def test_an_enabled_name_that_is_not_installed_is_an_error() -> None:
    error = resolution_error([plugin("a")], enabled=["a", "ghost"])
    assert error.message == "plugin 'ghost' is enabled but not installed"


@pytest.mark.parametrize(
    "edges",
    [
        {"a": "b", "b": "c", "c": "a"},
        {"c": "a", "b": "c", "a": "b"},
    ],
)
def test_a_cycle_is_named_in_dependency_order_from_its_least_name(edges: dict[str, str]) -> None:
    plugins = [plugin(name, **{dep: ""}) for name, dep in edges.items()]
    error = resolution_error(plugins)
    assert error.message == "plugins depend on each other in a cycle: a -> b -> c -> a"
    assert error.hint == (
        "remove one of these dependencies from its plugin.toml: 'a' on 'b', 'b' on 'c', 'c' on 'a'"
    )


def test_two_plugins_that_depend_on_each_other() -> None:
    error = resolution_error([plugin("ping", pong=""), plugin("pong", ping="")])
    assert error.message == "plugins depend on each other in a cycle: ping -> pong -> ping"


def test_every_problem_is_reported_at_once() -> None:
    plugins = [
        plugin("a", b=""),
        plugin("b", a=""),
        plugin("x", y=""),
        plugin("y", z=""),
        plugin("z", x=""),
        plugin("greeter", cache=">=1.0,<2"),
        plugin("old", host="<0.1"),
        plugin("fine"),
    ]
    error = resolution_error(plugins, host_version="0.5")
    assert error.message.splitlines() == [
        "4 problems keep plugins from starting:",
        "  - plugin 'greeter' depends on 'cache' (>=1.0,<2), which is not installed",
        "    hint: install it: pip install cache, or run its source directory with --plugin PATH",
        "  - plugin 'old' supports pluginctl <0.1, but this host is pluginctl 0.5",
        "    hint: update the plugin to a release that supports pluginctl 0.5"
        " (pip install -U old), or run a pluginctl in <0.1",
        "  - plugins depend on each other in a cycle: a -> b -> a",
        "    hint: remove one of these dependencies from its plugin.toml: 'a' on 'b', 'b' on 'a'",
        "  - plugins depend on each other in a cycle: x -> y -> z -> x",
        "    hint: remove one of these dependencies from its plugin.toml:"
        " 'x' on 'y', 'y' on 'z', 'z' on 'x'",
    ]
    assert error.hint == (
        "fix each as its hint says, or disable the plugins concerned"
        " (disabled = [...] in pluginctl.toml)"
    )


def test_the_plan_starts_what_it_can_and_says_why_not_the_rest() -> None:
    plugins = [
        plugin("app", web=""),
        plugin("web", cache=">=2"),
        plugin("cache", "1.0.0"),
        plugin("loop", loop2=""),
        plugin("loop2", loop=""),
        plugin("uses-loop", loop=""),
        plugin("fine"),
    ]
    result = plan(plugins)
    assert names(result.order) == ["cache", "fine"]
    assert [p.plugin for p in result.problems] == ["web", "loop"]
    assert result.blocked == [
        ResolutionProblem(
            "app", "plugin 'app' depends on 'web', which cannot start", "fix 'web' first"
        ),
        ResolutionProblem(
            "uses-loop",
            "plugin 'uses-loop' depends on 'loop', which cannot start",
            "fix 'loop' first",
        ),
    ]
    error = result.error()
    assert error is not None
    assert error.message.startswith("2 problems keep plugins from starting:")
    assert plan([plugin("fine")]).error() is None


def test_the_same_plugin_name_twice_is_an_error() -> None:
    error = resolution_error([plugin("a"), plugin("a", "2.0.0")])
    assert error.message == "plugin 'a' is given twice: by /src/a and by /src/a"


def test_dependents_are_transitive_and_in_start_order() -> None:
    order = resolve(GRAPH)
    assert dependents(order, "db") == ["api", "web"]
    assert dependents(order, "auth") == ["z-app"]
    assert dependents(order, "web") == []
    assert dependents(order, "unknown") == []


def test_dependents_with_a_diamond() -> None:
    order = resolve(
        [
            plugin("base"),
            plugin("left", base=""),
            plugin("right", base=""),
            plugin("top", left="", right=""),
        ]
    )
    assert names(order) == ["base", "left", "right", "top"]
    assert dependents(order, "base") == ["left", "right", "top"]
    assert dependents(order, "right") == ["top"]


def test_real_source_plugins_resolve_dependencies_first() -> None:
    found = discover(
        sources=[FIXTURE_PLUGINS / "src-layout", FIXTURE_PLUGINS / "import-trap"],
        include_installed=False,
    )
    assert names(resolve(found.plugins)) == ["import-trap", "src-layout"]
    alone = discover(sources=[FIXTURE_PLUGINS / "src-layout"], include_installed=False)
    error = resolution_error(alone.plugins)
    assert error.message == (
        "plugin 'src-layout' depends on 'import-trap' (>=1.0,<2), which is not installed"
    )
