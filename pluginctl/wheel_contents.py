"""What a plugin's wheel must hold, checked against the source tree it was built from.

A backend builds what its configuration includes, and a plugin needs files that are
not Python modules: ``plugin.toml``, its static files, its migration scripts. A wheel
without them installs fine and fails only when the host loads it. `check_wheel`
catches that at build time:

- ``<package>/plugin.toml`` is in the wheel, byte for byte the source's;
- the entry point's module is in the wheel;
- every file under the manifest's ``static`` and ``migrations`` directories is in
  the wheel (``__pycache__`` and ``*.pyc`` aside);
- the wheel's metadata has the manifest's name and version, and the entry point.
"""

from __future__ import annotations

import configparser
import email.parser
import zipfile
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pluginctl.errors import BuildError
from pluginctl.project import ENTRY_POINT_GROUP

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pluginctl.manifest import Manifest
    from pluginctl.project import PluginProject

__all__ = ["check_wheel", "plugin_files"]


def check_wheel(
    wheel: Path, *, project: PluginProject, manifest: Manifest, sdist_root: Path, backend: str
) -> tuple[str, ...]:
    """Check that ``wheel`` holds every file the plugin needs; return the members checked.

    Args:
        wheel: The built wheel.
        project: The source tree it was built from.
        manifest: The project's loaded ``plugin.toml``.
        sdist_root: The unpacked sdist the wheel was built from, to say where a
            missing file was lost.
        backend: The build backend's name, for the hint on including files.

    Raises:
        BuildError: naming each missing file, or the metadata that disagrees.
    """
    expected = plugin_files(project, manifest)
    try:
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
            _check_present(
                wheel, expected, names, project=project, sdist_root=sdist_root, backend=backend
            )
            _check_manifest_bytes(wheel, archive, project)
            _check_metadata(wheel, archive, names, project=project, manifest=manifest)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BuildError(
            f"{wheel.name} is not a readable wheel: {exc}", hint="check the build backend"
        ) from None
    return (*expected, _entry_module(project, names))


def plugin_files(project: PluginProject, manifest: Manifest) -> tuple[str, ...]:
    """The wheel members the plugin needs besides its modules: manifest, static, migrations.

    Paths are relative to the wheel's root (``hello/static/index.html``), sorted within
    each directory, ``plugin.toml`` first.
    """
    base = project.import_root
    files = [project.manifest_path.relative_to(base).as_posix()]
    for relative in (manifest.static, manifest.migrations):
        if relative is not None:
            files += sorted(_data_files(project.package_dir / relative, base))
    return tuple(dict.fromkeys(files))


def _data_files(directory: Path, base: Path) -> Iterator[str]:
    for path in directory.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            yield path.relative_to(base).as_posix()


def _check_present(
    wheel: Path,
    expected: tuple[str, ...],
    names: set[str],
    *,
    project: PluginProject,
    sdist_root: Path,
    backend: str,
) -> None:
    missing = [name for name in expected if name not in names]
    if _entry_module(project, names) not in names:
        missing.append(_module_file(project))
    if not missing:
        return
    in_sdist = sdist_root / project.import_root.relative_to(project.root)
    listed = "\n".join(
        f"  - {name}" + ("" if (in_sdist / name).is_file() else " (not in the sdist either)")
        for name in missing
    )
    raise BuildError(
        f"{wheel.name} lacks {len(missing)} file(s) the plugin needs:\n{listed}",
        hint=_include_hint(backend, missing),
    )


def _check_manifest_bytes(wheel: Path, archive: zipfile.ZipFile, project: PluginProject) -> None:
    member = project.manifest_path.relative_to(project.import_root).as_posix()
    if archive.read(member) != project.manifest_path.read_bytes():
        raise BuildError(
            f"{member} in {wheel.name} differs from {project.manifest_path}",
            hint="a build hook rewrites plugin.toml; the host reads the wheel's copy,"
            " so ship the file as it is",
        )


def _check_metadata(
    wheel: Path,
    archive: zipfile.ZipFile,
    names: set[str],
    *,
    project: PluginProject,
    manifest: Manifest,
) -> None:
    dist_info = _dist_info(wheel, names)
    metadata = email.parser.BytesParser().parsebytes(archive.read(f"{dist_info}/METADATA"))
    name, version = str(metadata.get("Name", "")), str(metadata.get("Version", ""))
    if canonicalize_name(name) != canonicalize_name(manifest.name):
        raise BuildError(
            f"{wheel.name} is the distribution {name!r}, but plugin.toml names {manifest.name!r}",
            hint=f'set name = "{manifest.name}" in [project] of pyproject.toml',
        )
    if not _same_version(version, manifest.version):
        raise BuildError(
            f"{wheel.name} has version {version!r}, but plugin.toml says {manifest.version!r}",
            hint=f'set version = "{version}" in {project.manifest_path}, or change the'
            " version the build computes",
        )
    _check_entry_point(wheel, archive, f"{dist_info}/entry_points.txt", names, project)


def _check_entry_point(
    wheel: Path, archive: zipfile.ZipFile, member: str, names: set[str], project: PluginProject
) -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # entry point names keep their case
    if member in names:
        parser.read_string(archive.read(member).decode("utf-8", errors="replace"))
    found = parser.get(ENTRY_POINT_GROUP, project.name, fallback=None)
    if found is None or found.replace(" ", "") != project.entry_point:
        raise BuildError(
            f"{wheel.name} does not declare the entry point {project.name} ="
            f" {project.entry_point!r} in the group {ENTRY_POINT_GROUP}"
            + ("" if found is None else f" (it says {found!r})"),
            hint="the backend writes entry points from [project.entry-points] in"
            " pyproject.toml; check that it reads them",
        )


def _dist_info(wheel: Path, names: set[str]) -> str:
    found = sorted(
        {n.split("/")[0] for n in names if n.count("/") == 1 and n.endswith("/METADATA")}
    )
    candidates = [name for name in found if name.endswith(".dist-info")]
    if len(candidates) != 1:
        raise BuildError(
            f"{wheel.name} has {len(candidates)} .dist-info directories with METADATA, not one",
            hint="check the build backend",
        )
    return candidates[0]


def _entry_module(project: PluginProject, names: set[str]) -> str:
    """The wheel member holding the entry point's module: a file, a package or an extension."""
    stem = project.module.replace(".", "/")
    for candidate in (f"{stem}.py", f"{stem}/__init__.py"):
        if candidate in names:
            return candidate
    extensions = sorted(
        n for n in names if n.startswith(f"{stem}.") and n.endswith((".so", ".pyd"))
    )
    return extensions[0] if extensions else _module_file(project)


def _module_file(project: PluginProject) -> str:
    return project.module.replace(".", "/") + ".py"


def _same_version(built: str, declared: str) -> bool:
    try:
        return Version(built) == Version(declared)
    except InvalidVersion:
        return built == declared


def _include_hint(backend: str, missing: list[str]) -> str:
    """How to make ``backend`` put the missing files into the wheel."""
    top = missing[0].rpartition("/")[0] or missing[0]
    if backend.startswith("hatchling"):
        return (
            "hatchling leaves out what [tool.hatch.build] exclude (or a target's exclude,"
            " only-include, packages) or .gitignore leaves out: fix that, or add"
            f' artifacts = ["{top}/**"] under [tool.hatch.build]'
        )
    if backend.startswith("setuptools"):
        return (
            "setuptools packs only modules unless told: add"
            f' [tool.setuptools.package-data] {top.split("/")[0]} = ["**/*"] to pyproject.toml'
        )
    if backend.startswith("flit_core"):
        return "flit packs the whole package: check [tool.flit.sdist] exclude in pyproject.toml"
    if backend.startswith("pdm"):
        return "check includes and excludes under [tool.pdm.build] in pyproject.toml"
    return f"configure the build backend ({backend or 'setuptools'}) to include these files"
