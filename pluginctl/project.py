"""A plugin project on disk: its ``pyproject.toml``, entry point, package and manifest.

Example:
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (root / "pyproject.toml").write_text('''
    ... [project]
    ... name = "hello"
    ... version = "1.0.0"
    ... [project.entry-points."pluginctl.plugins"]
    ... hello = "hello.plugin:plugin"
    ... ''')
    >>> (root / "hello").mkdir()
    >>> project = PluginProject.from_path(root)
    >>> project.entry_point, project.package_dir.name
    ('hello.plugin:plugin', 'hello')
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pluginctl.errors import ProjectError

if TYPE_CHECKING:
    from pathlib import Path

    from pluginctl.manifest import Manifest

__all__ = ["ENTRY_POINT_GROUP", "PluginProject"]

#: The entry point group a plugin distribution declares its ``Plugin`` object in.
ENTRY_POINT_GROUP = "pluginctl.plugins"


@dataclass(frozen=True, slots=True)
class PluginProject:
    """A plugin's source tree, read from its ``pyproject.toml`` without importing code.

    Attributes:
        root: The directory holding ``pyproject.toml``.
        name: The entry point's name, which is the plugin's name.
        distribution: ``[project].name``.
        version: ``[project].version``, or None when the version is dynamic.
        entry_point: ``module:attribute`` of the ``Plugin`` object.
        package_dir: The directory of the entry point's top-level package.
    """

    root: Path
    name: str
    distribution: str
    version: str | None
    entry_point: str
    package_dir: Path

    @classmethod
    def from_path(cls, path: Path) -> PluginProject:
        """Read the project at ``path`` (a directory, or a file inside one)."""
        root = _find_root(path.resolve())
        pyproject = root / "pyproject.toml"
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ProjectError(f"{pyproject} is not valid TOML: {exc}", hint=_TOML_FIX) from None
        project = data.get("project")
        if not isinstance(project, dict) or not isinstance(project.get("name"), str):
            raise ProjectError(
                f"{pyproject} has no [project] table with a name",
                hint="add [project] with name and version (PEP 621)",
            )
        name, target = _entry_point(project, pyproject)
        version = project.get("version")
        return cls(
            root=root,
            name=name,
            distribution=project["name"],
            version=version if isinstance(version, str) else None,
            entry_point=target,
            package_dir=_package_dir(root, target, pyproject),
        )

    @property
    def module(self) -> str:
        """The module part of the entry point."""
        return self.entry_point.partition(":")[0]

    @property
    def attribute(self) -> str:
        """The attribute part of the entry point (the ``Plugin`` object's name)."""
        return self.entry_point.partition(":")[2]

    @property
    def import_root(self) -> Path:
        """The directory to put on ``sys.path`` to import the package (root or ``src/``)."""
        return self.package_dir.parent

    @property
    def manifest_path(self) -> Path:
        """Where ``plugin.toml`` lives: in the package, next to the code."""
        from pluginctl.manifest import MANIFEST_FILENAME

        return self.package_dir / MANIFEST_FILENAME

    def load_manifest(self) -> Manifest:
        """Load and check the project's ``plugin.toml``."""
        from pluginctl.manifest import Manifest

        return Manifest.from_path(self.manifest_path)


_TOML_FIX = "fix the TOML syntax at the line and column shown"


def _find_root(path: Path) -> Path:
    if not path.exists():
        raise ProjectError(f"{path} does not exist", hint="pass the plugin project's directory")
    start = path if path.is_dir() else path.parent
    for directory in (start, *start.parents):
        if (directory / "pyproject.toml").is_file():
            return directory
    raise ProjectError(
        f"no pyproject.toml in {start} or any directory above it",
        hint="run this inside a plugin project, or create one with: pluginctl create NAME",
    )


def _entry_point(project: dict[str, object], pyproject: Path) -> tuple[str, str]:
    groups = project.get("entry-points")
    group = groups.get(ENTRY_POINT_GROUP) if isinstance(groups, dict) else None
    hint = f'add [project.entry-points."{ENTRY_POINT_GROUP}"] with  name = "package.module:plugin"'
    if not isinstance(group, dict) or not group:
        raise ProjectError(f"{pyproject} declares no {ENTRY_POINT_GROUP} entry point", hint=hint)
    if len(group) > 1:
        raise ProjectError(
            f"{pyproject} declares {len(group)} plugins; a project holds exactly one",
            hint="split them into one project per plugin",
        )
    ((name, target),) = group.items()
    module, _, attribute = str(target).partition(":")
    if not module or not attribute or not all(p.isidentifier() for p in module.split(".")):
        raise ProjectError(
            f"entry point {name} = {target!r} in {pyproject} is not 'module:attribute'",
            hint=hint,
        )
    return str(name), str(target)


def _package_dir(root: Path, target: str, pyproject: Path) -> Path:
    top = target.partition(":")[0].split(".")[0]
    for base in (root, root / "src"):
        if (base / top).is_dir():
            return base / top
    raise ProjectError(
        f"package {top!r} named by the entry point is neither in {root} nor in {root / 'src'}",
        hint=f"check the entry point in {pyproject}",
    )
