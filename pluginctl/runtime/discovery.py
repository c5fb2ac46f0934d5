"""Finding the plugins a host can run, from their manifests, without importing their code.

Two places hold plugins:

- **installed** distributions that declare an entry point in the ``pluginctl.plugins``
  group (`discover_installed`); their ``plugin.toml`` is located through the
  distribution's file list, or else through the import system's finders asked about
  the *top-level* package only, which executes nothing;
- **source** directories of plugin projects (`load_source`), as ``pluginctl dev``
  and the host config's ``plugins = [...]`` name them.

`discover` combines both. A source directory overrides an installed plugin of the
same name (logged at INFO). A broken installed plugin does not hide the others: it
is reported in `DiscoveryReport.problems` and the host starts the rest. Sources are
named explicitly by the operator, so a broken source, or two sources claiming one
name, raise at once.

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> _ = (root / "pyproject.toml").write_text('''
    ... [project]
    ... name = "hello"
    ... dynamic = ["version"]
    ... [project.entry-points."pluginctl.plugins"]
    ... hello = "hello.plugin:plugin"
    ... ''')
    >>> (root / "hello").mkdir()
    >>> _ = (root / "hello" / "plugin.toml").write_text('''
    ... name = "hello"
    ... version = "1.0.0"
    ... ''')
    >>> report = discover(sources=[root], include_installed=False)
    >>> [(p.name, p.version, p.origin, p.entry_point) for p in report.plugins]
    [('hello', '1.0.0', 'source', 'hello.plugin:plugin')]
    >>> plugin = load_source(root / "hello")
    >>> plugin.import_root == root, plugin.module, plugin.attribute
    (True, 'hello.plugin', 'plugin')
"""

from __future__ import annotations

import importlib.util
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from packaging.version import InvalidVersion, Version

from pluginctl.errors import ManifestError, Problem, ProjectError, ResolutionError, UserError
from pluginctl.manifest import MANIFEST_FILENAME, Manifest
from pluginctl.project import ENTRY_POINT_GROUP, PluginProject

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from importlib.metadata import Distribution

__all__ = [
    "DiscoveryProblem",
    "DiscoveryReport",
    "Origin",
    "PluginSource",
    "discover",
    "discover_installed",
    "load_source",
]

logger = logging.getLogger(__name__)

#: Where a plugin comes from: an installed distribution or a source directory.
Origin = Literal["installed", "source"]


@dataclass(frozen=True, slots=True)
class PluginSource:
    """One plugin the host can start, described by its manifest; none of its code is run.

    Attributes:
        name: The plugin's name (the entry point's name, equal to the manifest's).
        version: Its version: the distribution's, which the manifest's must equal.
        manifest: Its checked ``plugin.toml``.
        origin: ``"installed"`` or ``"source"``.
        entry_point: ``module:attribute`` of its ``Plugin`` object.
        package_dir: The directory of its top-level package, which holds ``plugin.toml``.
        location: Where it comes from, for messages: ``distribution NAME VERSION`` or the
            source directory.
        distribution: The distribution's name (``[project].name`` for a source).
        import_root: For a source, the directory to put first on ``sys.path`` before
            importing it; None for an installed plugin, which imports as installed.
    """

    name: str
    version: str
    manifest: Manifest = field(repr=False)
    origin: Origin
    entry_point: str
    package_dir: Path
    location: str
    distribution: str
    import_root: Path | None = None

    @property
    def module(self) -> str:
        """The module part of the entry point, imported by the worker."""
        return self.entry_point.partition(":")[0]

    @property
    def attribute(self) -> str:
        """The attribute part of the entry point: the ``Plugin`` object's name."""
        return self.entry_point.partition(":")[2]

    @property
    def manifest_path(self) -> Path:
        """The plugin's ``plugin.toml``."""
        return self.package_dir / MANIFEST_FILENAME


@dataclass(frozen=True, slots=True)
class DiscoveryProblem:
    """An installed plugin that cannot be used, and why.

    Attributes:
        name: The name the plugin claims (its entry point's name).
        location: Where it was found, e.g. ``distribution cache 1.0.0``.
        error: What is wrong, with a hint (a `ManifestError`, `ProjectError` or
            `ResolutionError`).
    """

    name: str
    location: str
    error: UserError


@dataclass(frozen=True, slots=True)
class DiscoveryReport:
    """The plugins found, sorted by name, and the installed plugins that are broken."""

    plugins: list[PluginSource] = field(default_factory=list)
    problems: list[DiscoveryProblem] = field(default_factory=list)

    @property
    def broken(self) -> set[str]:
        """The names of the plugins in ``problems``: pass them to `resolve` as ``broken``."""
        return {problem.name for problem in self.problems}

    def get(self, name: str) -> PluginSource | None:
        """The plugin called ``name``, or None."""
        return next((p for p in self.plugins if p.name == name), None)


def discover(*, sources: Sequence[Path] = (), include_installed: bool = True) -> DiscoveryReport:
    """Find the plugins in ``sources`` and, unless told not to, the installed ones.

    A source plugin shadows an installed plugin of the same name, broken or not.

    Raises:
        ProjectError: a source directory is not a plugin project.
        ManifestError: a source plugin's ``plugin.toml`` is wrong.
        ResolutionError: two different source directories hold plugins of the same name.
    """
    from_source = _load_sources(sources)
    installed = discover_installed() if include_installed else DiscoveryReport()
    by_source = {plugin.name: plugin for plugin in from_source}
    kept = [p for p in installed.plugins if not _shadowed(p.name, p.location, by_source)]
    problems = [p for p in installed.problems if not _shadowed(p.name, p.location, by_source)]
    return DiscoveryReport(sorted(from_source + kept, key=_by_name), problems)


def _shadowed(name: str, location: str, by_source: Mapping[str, PluginSource]) -> bool:
    source = by_source.get(name)
    if source is not None:
        logger.info(
            "plugin %r from %s shadows the installed one (%s)", name, source.location, location
        )
    return source is not None


def discover_installed() -> DiscoveryReport:
    """Every plugin installed in this environment, read from its ``plugin.toml``.

    No plugin code is imported: not the entry point's module, not even its package's
    ``__init__``. A plugin whose manifest is missing or wrong, or whose name or version
    differs from its distribution's, is reported in `DiscoveryReport.problems`; so is
    a name claimed by two distributions (neither is used).
    """
    found: defaultdict[str, list[PluginSource]] = defaultdict(list)
    readable, problems = _readable(entry_points(group=ENTRY_POINT_GROUP))
    for entry_point in sorted(readable, key=_entry_point_key):
        try:
            plugin = _from_entry_point(entry_point)
        except UserError as exc:
            problems.append(DiscoveryProblem(entry_point.name, _location(entry_point), exc))
        else:
            found[plugin.name].append(plugin)
    plugins = []
    for name, claimants in sorted(found.items()):
        if len(claimants) == 1:
            plugins.append(claimants[0])
        else:
            where = " and ".join(c.location for c in claimants)
            problems.append(DiscoveryProblem(name, where, _installed_twice(name, claimants)))
    return DiscoveryReport(plugins, sorted(problems, key=_by_name))


def _readable(found: Iterable[EntryPoint]) -> tuple[list[EntryPoint], list[DiscoveryProblem]]:
    """The entry points whose distribution's METADATA can be read, and a problem for each other."""
    readable: list[EntryPoint] = []
    problems: list[DiscoveryProblem] = []
    for entry_point in found:
        try:
            if entry_point.dist is not None:
                _ = entry_point.dist.name, entry_point.dist.version
        except (UnicodeDecodeError, OSError):
            error = ProjectError(
                f"the distribution of entry point {entry_point.name} = {entry_point.value!r}"
                " has a METADATA file that cannot be read as UTF-8 text",
                hint="reinstall the plugin from its signed wheel: pluginctl install WHEEL",
            )
            problems.append(
                DiscoveryProblem(entry_point.name, f"entry point {entry_point.name}", error)
            )
        else:
            readable.append(entry_point)
    return readable, problems


def load_source(path: Path) -> PluginSource:
    """The plugin in the project directory ``path`` (or any directory inside it).

    The version is the manifest's; a dynamic ``[project].version`` is accepted, a
    static one must equal it.

    Raises:
        ProjectError: ``path`` is not a plugin project.
        ManifestError: its ``plugin.toml`` is wrong or disagrees with ``pyproject.toml``.
    """
    project = PluginProject.from_path(path)
    manifest = project.load_manifest()
    _check_identity(
        manifest,
        name=project.name,
        version=project.version,
        manifest_path=project.manifest_path,
        owner=str(project.root / "pyproject.toml"),
        installed=False,
    )
    return PluginSource(
        name=manifest.name,
        version=manifest.version,
        manifest=manifest,
        origin="source",
        entry_point=project.entry_point,
        package_dir=project.package_dir,
        location=str(project.root),
        distribution=project.distribution,
        import_root=project.import_root,
    )


def _load_sources(paths: Iterable[Path]) -> list[PluginSource]:
    loaded: dict[str, PluginSource] = {}
    for path in paths:
        plugin = load_source(path)
        other = loaded.get(plugin.name)
        if other is None:
            loaded[plugin.name] = plugin
        elif other.location != plugin.location:
            raise ResolutionError(
                f"plugin {plugin.name!r} is given twice: by {other.location}"
                f" and by {plugin.location}",
                hint="pass one source directory per plugin"
                " (check --plugin options and plugins = [...] in pluginctl.toml)",
            )
    return list(loaded.values())


def _from_entry_point(entry_point: EntryPoint) -> PluginSource:
    dist = entry_point.dist
    module, _, attribute = entry_point.value.partition(":")
    if dist is None or not module or not attribute:
        raise ProjectError(
            f"entry point {entry_point.name} = {entry_point.value!r} is not 'module:attribute'",
            hint="rebuild the plugin's wheel with a valid entry point; pluginctl validate"
            " checks it",
        )
    top = module.split(".")[0]
    manifest_path = _find_manifest(dist, top, entry_point)
    manifest = _read_manifest(manifest_path)
    _check_identity(
        manifest,
        name=entry_point.name,
        version=dist.version,
        manifest_path=manifest_path,
        owner=f"the installed distribution {dist.name}",
        installed=True,
    )
    return PluginSource(
        name=manifest.name,
        version=dist.version,
        manifest=manifest,
        origin="installed",
        entry_point=entry_point.value,
        package_dir=manifest_path.parent,
        location=_location(entry_point),
        distribution=dist.name,
    )


def _find_manifest(dist: Distribution, top: str, entry_point: EntryPoint) -> Path:
    """``<top>/plugin.toml`` from the distribution's RECORD, else from the import system.

    Editable installs list no package files, so the finders are asked, about the
    top-level package only: ``find_spec`` of a submodule would import its parents.
    """
    wanted = f"{top}/{MANIFEST_FILENAME}"
    for file in dist.files or ():
        if file.as_posix() == wanted:
            return Path(str(file.locate()))
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        spec = None
    for directory in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(directory) / MANIFEST_FILENAME
        if candidate.is_file():
            return candidate
    where = f"package {top!r} of distribution {dist.name} {dist.version}"
    problem = Problem(
        wanted,
        "",
        f"not found in the {where} (entry point {entry_point.name} = {entry_point.value!r})",
        hint="the wheel must ship plugin.toml inside the package; rebuild it with the"
        f" file included, then reinstall: pip install --force-reinstall {dist.name}",
    )
    raise ManifestError([problem])


def _read_manifest(path: Path) -> Manifest:
    try:
        return Manifest.from_path(path)
    except OSError as exc:  # a directory, unreadable, ...: not the file-not-found case
        problem = Problem(str(path), "", f"cannot be read: {exc.strerror or exc}")
        raise ManifestError([problem]) from None


def _check_identity(
    manifest: Manifest,
    *,
    name: str,
    version: str | None,
    manifest_path: Path,
    owner: str,
    installed: bool,
) -> None:
    """The manifest must name the plugin as its entry point does, at the same version.

    ``owner`` is where the entry point and version come from, for the message; an
    installed plugin cannot be fixed in place, so its hint says to reinstall.
    """
    reinstall = (
        f"the wheel is inconsistent: install another release (pip install -U {name}),"
        " or rebuild it with plugin.toml and pyproject.toml in agreement"
    )
    problems = []
    if manifest.name != name:
        problems.append(
            Problem(
                str(manifest_path),
                "name",
                f"{manifest.name!r} differs from the entry point name {name!r} in {owner}",
                hint=reinstall if installed else "use the same name in both files",
            )
        )
    if version is not None and not _same_version(manifest.version, version):
        problems.append(
            Problem(
                str(manifest_path),
                "version",
                f"{manifest.version!r} differs from the version {version!r} in {owner}",
                hint=reinstall
                if installed
                else f'set version = "{version}" in plugin.toml, or change [project].version',
            )
        )
    if problems:
        raise ManifestError(problems)


def _same_version(left: str, right: str) -> bool:
    """PEP 440 equality (``1.0 == 1.0.0``), or plain equality for invalid versions."""
    try:
        return Version(left) == Version(right)
    except InvalidVersion:
        return left == right


def _installed_twice(name: str, claimants: list[PluginSource]) -> ResolutionError:
    where = " and by ".join(c.location for c in claimants)
    commands = " or ".join(f"`pip uninstall {c.distribution}`" for c in claimants)
    return ResolutionError(
        f"plugin {name!r} is installed twice: by {where}",
        hint=f"uninstall one of them ({commands}), or run a source directory of"
        f" {name!r} with --plugin PATH, which shadows both",
    )


def _location(entry_point: EntryPoint) -> str:
    dist = entry_point.dist
    return f"distribution {dist.name} {dist.version}" if dist else f"entry point {entry_point}"


def _entry_point_key(entry_point: EntryPoint) -> tuple[str, str]:
    return entry_point.name, entry_point.dist.name if entry_point.dist else ""


def _by_name(item: PluginSource | DiscoveryProblem) -> str:
    return item.name
