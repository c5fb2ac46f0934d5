r"""What changed between two versions of a plugin's manifest and project, in words.

Example:
    >>> from pluginctl.manifest import Manifest
    >>> old = Manifest.from_text('name = "a"\nversion = "1.0.0"\npermissions = ["kv"]\n')
    >>> new = Manifest.from_text(
    ...     'name = "a"\nversion = "1.1.0"\npermissions = ["routes"]\n'
    ...     '[dependencies]\ncache = ">=1,<2"\n'
    ... )
    >>> diff = manifest_diff(old, new)
    >>> diff.added_permissions, diff.removed_permissions
    (('routes',), ('kv',))
    >>> diff.dependencies
    ('cache: added >=1,<2',)
    >>> diff.other_keys
    ('version',)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    from pathlib import Path

    from pluginctl.manifest import Manifest

__all__ = ["ManifestDiff", "manifest_diff", "python_dependencies"]


@dataclass(frozen=True, slots=True)
class ManifestDiff:
    """The differences that matter to someone editing ``plugin.toml``.

    Attributes:
        added_permissions: Granted now, not before.
        removed_permissions: Granted before, not now.
        dependencies: Each changed plugin dependency, as ``name: added|removed|range``.
        other_keys: The other top-level keys that changed.
    """

    added_permissions: tuple[str, ...] = ()
    removed_permissions: tuple[str, ...] = ()
    dependencies: tuple[str, ...] = ()
    other_keys: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(
            self.added_permissions
            or self.removed_permissions
            or self.dependencies
            or self.other_keys
        )


def manifest_diff(old: Manifest, new: Manifest) -> ManifestDiff:
    """Compare two manifests of the same plugin."""
    before, after = set(old.permissions), set(new.permissions)
    dependencies = []
    for name in sorted({*old.dependencies, *new.dependencies}):
        was, now = old.dependencies.get(name), new.dependencies.get(name)
        if was == now:
            continue
        if was is None:
            dependencies.append(f"{name}: added {now or 'any version'}")
        elif now is None:
            dependencies.append(f"{name}: removed")
        else:
            dependencies.append(f"{name}: {was or 'any version'} → {now or 'any version'}")
    old_data, new_data = msgspec.to_builtins(old), msgspec.to_builtins(new)
    skipped = {"permissions", "dependencies"}
    other = sorted(
        key
        for key in {*old_data, *new_data}
        if key not in skipped and old_data.get(key) != new_data.get(key)
    )
    return ManifestDiff(
        tuple(sorted(after - before)),
        tuple(sorted(before - after)),
        tuple(dependencies),
        tuple(other),
    )


def python_dependencies(pyproject: Path) -> tuple[str, ...] | None:
    """``[project].dependencies`` of a ``pyproject.toml``; None when it cannot be read."""
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    project = data.get("project")
    found = project.get("dependencies", []) if isinstance(project, dict) else []
    return tuple(str(item) for item in found) if isinstance(found, list) else None
