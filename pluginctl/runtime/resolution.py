"""Which plugins can start together, and in which order: dependencies first.

Before anything runs, the host checks every plugin's ``host`` range against its own
version and every dependency against the plugins found, then orders them so each
plugin starts after the plugins it depends on. Among plugins that are ready at the
same time, names decide, so the order is the same on every run.

`resolve` is strict: it raises one `ResolutionError` listing every problem.
`plan` is the lenient form the host uses: it starts what it can and reports the rest.

Example:
    >>> from pathlib import Path
    >>> from pluginctl.manifest import Manifest
    >>> from pluginctl.runtime.discovery import PluginSource
    >>> def plugin(name, **deps):
    ...     manifest = Manifest(name=name, version="1.0.0", dependencies=deps)
    ...     return PluginSource(
    ...         name=name,
    ...         version="1.0.0",
    ...         manifest=manifest,
    ...         origin="source",
    ...         entry_point=f"{name}.plugin:plugin",
    ...         package_dir=Path(name),
    ...         location=name,
    ...         distribution=name,
    ...     )
    >>> plugins = [plugin("web", api=">=1"), plugin("api", db=""), plugin("db")]
    >>> [p.name for p in resolve(plugins)]
    ['db', 'api', 'web']
    >>> dependents(resolve(plugins), "db")
    ['api', 'web']
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from graphlib import CycleError, TopologicalSorter
from itertools import pairwise
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from pluginctl._version import __version__
from pluginctl.errors import ResolutionError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pluginctl.runtime.discovery import PluginSource

__all__ = ["ResolutionProblem", "StartPlan", "dependents", "plan", "resolve"]

_Graph = Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class ResolutionProblem:
    """Why one plugin cannot start.

    Attributes:
        plugin: The plugin that cannot start (for a cycle, its first member).
        message: What is wrong, naming the plugin and the rule.
        hint: The change that fixes it.
    """

    plugin: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        return self.message if self.hint is None else f"{self.message}\n    hint: {self.hint}"


@dataclass(frozen=True, slots=True)
class StartPlan:
    """What the host can start, in order, and what it cannot.

    Attributes:
        order: The plugins that can start, each after the plugins it depends on.
        problems: The causes: each names a plugin that cannot start and why.
        blocked: Plugins that are fine themselves but depend, directly or not, on a
            plugin in ``problems``.
    """

    order: list[PluginSource] = field(default_factory=list)
    problems: list[ResolutionProblem] = field(default_factory=list)
    blocked: list[ResolutionProblem] = field(default_factory=list)

    def error(self) -> ResolutionError | None:
        """One error listing every problem, or None when every plugin can start."""
        if not self.problems:
            return None
        if len(self.problems) == 1:
            (only,) = self.problems
            return ResolutionError(only.message, hint=only.hint)
        listed = "\n".join(f"  - {problem}" for problem in self.problems)
        return ResolutionError(
            f"{len(self.problems)} problems keep plugins from starting:\n{listed}",
            hint="fix each as its hint says, or disable the plugins concerned"
            " (disabled = [...] in pluginctl.toml)",
        )


def resolve(
    plugins: Sequence[PluginSource],
    *,
    host_version: str = __version__,
    enabled: Collection[str] | None = None,
    broken: Collection[str] = (),
) -> list[PluginSource]:
    """The start order of ``plugins``: dependencies first, ties broken by name.

    Args:
        plugins: The plugins found, e.g. ``discover().plugins``.
        host_version: The pluginctl version the plugins' ``host`` ranges must admit;
            a prerelease admits itself.
        enabled: The names to start (all when None); the others are disabled, so a
            plugin that depends on one of them cannot start.
        broken: Names of plugins found but unusable (``DiscoveryReport.broken``), so a
            dependency on one is reported as broken rather than as not installed.

    Raises:
        ResolutionError: listing every plugin whose host range excludes this host, whose
            dependency is missing, disabled or out of range, and every cycle.
    """
    result = plan(plugins, host_version=host_version, enabled=enabled, broken=broken)
    error = result.error()
    if error is not None:
        raise error
    return result.order


def plan(
    plugins: Sequence[PluginSource],
    *,
    host_version: str = __version__,
    enabled: Collection[str] | None = None,
    broken: Collection[str] = (),
) -> StartPlan:
    """Like `resolve`, but returns what can start instead of raising for what cannot."""
    by_name = {plugin.name: plugin for plugin in plugins}
    wanted = sorted(by_name if enabled is None else set(enabled) & by_name.keys())
    problems = list(_duplicates(plugins))
    unknown = set(enabled or ()) - by_name.keys() - set(broken)  # broken: reported by discovery
    problems += [_not_installed(name) for name in sorted(unknown)]
    context = _Context(by_name, set(wanted), broken, Version(host_version))
    for name in wanted:
        problems += _plugin_problems(by_name[name], context)
    graph = {
        name: sorted(set(by_name[name].manifest.dependencies) & set(wanted)) for name in wanted
    }
    cycles = _find_cycles(graph)
    problems += [_cycle_problem(cycle) for cycle in cycles]
    failed = {p.plugin for p in problems} | {name for cycle in cycles for name in cycle}
    startable = _without(graph, failed)  # acyclic: every cycle's members failed
    blocked = list(_blocked(_topological(startable), graph, failed))
    order = _topological(_without(startable, {b.plugin for b in blocked}))
    return StartPlan([by_name[name] for name in order], problems, blocked)


def dependents(order: Sequence[PluginSource], name: str) -> list[str]:
    """The plugins that depend on ``name``, directly or through others, in start order.

    ``order`` is a start order (from `resolve`); stop the result in reverse before
    stopping ``name`` itself.
    """
    found: list[str] = []
    reached = {name}
    for plugin in order:
        if plugin.name not in reached and reached & plugin.manifest.dependencies.keys():
            found.append(plugin.name)
            reached.add(plugin.name)
    return found


@dataclass(frozen=True, slots=True)
class _Context:
    by_name: Mapping[str, PluginSource]
    wanted: Collection[str]
    broken: Collection[str]
    host: Version


def _plugin_problems(plugin: PluginSource, context: _Context) -> Iterator[ResolutionProblem]:
    name, manifest, host = plugin.name, plugin.manifest, context.host
    if manifest.host and not _admits(manifest.host, str(host)):
        yield ResolutionProblem(
            name,
            f"plugin {name!r} supports pluginctl {manifest.host}, but this host is"
            f" pluginctl {host}",
            hint=f"update the plugin to a release that supports pluginctl {host}"
            f" (pip install -U {name}), or run a pluginctl in {manifest.host}",
        )
    for dependency, spec in sorted(manifest.dependencies.items()):
        yield from _dependency_problems(name, dependency, spec, context)


def _dependency_problems(
    name: str, dependency: str, spec: str, context: _Context
) -> Iterator[ResolutionProblem]:
    wanted_as = f"{dependency!r} ({spec})" if spec else repr(dependency)
    found = context.by_name.get(dependency)
    if found is None and dependency in context.broken:
        yield ResolutionProblem(
            name,
            f"plugin {name!r} depends on {wanted_as}, which is installed but broken",
            hint=f"fix or reinstall {dependency!r} as its own error says, then restart",
        )
    elif found is None:
        yield ResolutionProblem(
            name,
            f"plugin {name!r} depends on {wanted_as}, which is not installed",
            hint=f"install it: pip install {dependency}, or run its source"
            " directory with --plugin PATH",
        )
    elif dependency not in context.wanted:
        yield ResolutionProblem(
            name,
            f"plugin {name!r} depends on {wanted_as}, which is disabled",
            hint=f"enable {dependency!r} (remove it from disabled in pluginctl.toml),"
            f" or disable {name!r} too",
        )
    elif spec and not _admits(spec, found.version):
        yield ResolutionProblem(
            name,
            f"plugin {name!r} depends on {wanted_as}, but the {dependency!r} found is"
            f" {found.version} ({found.location})",
            hint=f"install a release in range: pip install '{dependency}{spec}',"
            f" or update {name!r} to a release that supports {dependency}"
            f" {found.version}: pip install -U {name}",
        )


def _admits(spec: str, version: str) -> bool:
    """Whether the PEP 440 range ``spec`` contains ``version``, prereleases included."""
    try:
        return Version(version) in SpecifierSet(spec, prereleases=True)
    except InvalidVersion:
        return False


def _duplicates(plugins: Sequence[PluginSource]) -> Iterator[ResolutionProblem]:
    seen: dict[str, PluginSource] = {}
    for plugin in plugins:
        if (first := seen.setdefault(plugin.name, plugin)) is not plugin:
            yield ResolutionProblem(
                plugin.name,
                f"plugin {plugin.name!r} is given twice: by {first.location}"
                f" and by {plugin.location}",
                hint="keep one of them (a source directory shadows an installed plugin)",
            )


def _not_installed(name: str) -> ResolutionProblem:
    return ResolutionProblem(
        name,
        f"plugin {name!r} is enabled but not installed",
        hint=f"install it: pip install {name}, or run its source directory with --plugin PATH",
    )


def _find_cycles(graph: _Graph) -> list[list[str]]:
    """Every cycle, one at a time: report a cycle, drop its members, look again."""
    cycles: list[list[str]] = []
    while True:
        try:
            TopologicalSorter(graph).prepare()
        except CycleError as exc:
            cycle = _readable(exc.args[1])
            cycles.append(cycle)
            graph = _without(graph, set(cycle))
        else:
            return cycles


def _readable(cycle: list[str]) -> list[str]:
    """Turn graphlib's cycle (dependency first) into "depends on" order, least name first."""
    names = list(reversed(cycle))[:-1]
    start = names.index(min(names))
    names = names[start:] + names[:start]
    return [*names, names[0]]


def _cycle_problem(cycle: list[str]) -> ResolutionProblem:
    edges = ", ".join(f"{a!r} on {b!r}" for a, b in pairwise(cycle))
    return ResolutionProblem(
        cycle[0],
        f"plugins depend on each other in a cycle: {' -> '.join(cycle)}",
        hint=f"remove one of these dependencies from its plugin.toml: {edges}",
    )


def _blocked(order: list[str], graph: _Graph, failed: set[str]) -> Iterator[ResolutionProblem]:
    cannot = set(failed)
    for name in order:
        causes = [dependency for dependency in graph[name] if dependency in cannot]
        if causes:
            cannot.add(name)
            yield ResolutionProblem(
                name,
                f"plugin {name!r} depends on {causes[0]!r}, which cannot start",
                hint=f"fix {causes[0]!r} first",
            )


def _without(graph: _Graph, names: Collection[str]) -> dict[str, list[str]]:
    return {
        node: [d for d in deps if d not in names]
        for node, deps in graph.items()
        if node not in names
    }


def _topological(graph: _Graph) -> list[str]:
    """Dependencies first; among the plugins ready at once, the least name first."""
    sorter = TopologicalSorter(graph)
    sorter.prepare()
    ready = list(sorter.get_ready())
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        sorter.done(name)
        for node in sorter.get_ready():
            heapq.heappush(ready, node)
    return order
