"""``pluginctl build``: validate a plugin, build its sdist and wheel, check what the wheel holds.

The build goes the way ``python -m build`` goes, through its API: the sdist from the
source tree, then the wheel from the unpacked sdist, so a file the sdist leaves out is
missing from the wheel too and is caught. The plugin's own checks come around it:

1. ``plugin.toml`` and the project are validated (`validate_project`, without the
   security scan); any error stops the build before the backend runs.
2. While the backend builds, the plugin is imported in a child process and its
   registrations are checked against the manifest (as ``pluginctl validate`` does).
3. The wheel is opened and checked (`pluginctl.wheel_contents.check_wheel`):
   ``plugin.toml``, the entry point module, every file of the ``static`` and
   ``migrations`` directories, the name, version and entry point in its metadata.

Only when every check passes are the sdist and the wheel moved into the output
directory, so ``dist/`` never holds a wheel that failed them. Nothing is printed:
progress goes to ``on_event`` and the backend's output is kept for error messages
(and the ``pluginctl.builder`` debug log).

Builds are as reproducible as the backend makes them: hatchling's are byte-identical
from the same sources, at the time ``SOURCE_DATE_EPOCH`` gives or a fixed one without
it. pluginctl passes the environment through and never invents a timestamp.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pluginctl.errors import ManifestError, PluginDefinitionError, Problem
from pluginctl.project import PluginProject

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

    from pluginctl.introspect import Inspection
    from pluginctl.manifest import Manifest

__all__ = ["Artifact", "BuildEvent", "BuildResult", "BuildStep", "build_plugin"]

#: The steps of a build, in the order they finish.
BuildStep = Literal["validate", "environment", "sdist", "wheel", "registrations", "check"]


@dataclass(frozen=True, slots=True)
class BuildEvent:
    """One step of a build starting or finishing, for a progress display.

    Attributes:
        step: Which step.
        finished: False when it starts, True when it has succeeded.
        message: What it does or did, for a person: ``building the sdist with hatchling.build``.
    """

    step: BuildStep
    finished: bool
    message: str


@dataclass(frozen=True, slots=True)
class Artifact:
    """A built file: where it is, how big and its sha256.

    Example:
        >>> import pathlib, tempfile
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "x.whl"
        >>> _ = file.write_bytes(b"abc")
        >>> artifact = Artifact.of(file)
        >>> artifact.size, artifact.sha256[:12]
        (3, 'ba7816bf8f01')
    """

    path: Path
    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> Artifact:
        """Measure and hash the file at ``path``."""
        data = path.read_bytes()
        return cls(path, len(data), hashlib.sha256(data).hexdigest())

    def to_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        return {"path": str(self.path), "size": self.size, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class BuildResult:
    """What `build_plugin` built and checked.

    Attributes:
        name: The plugin's name.
        version: Its version (the manifest's, which the wheel's metadata equals).
        sdist: The source distribution, in the output directory.
        wheel: The wheel, in the output directory.
        checked: The wheel members checked against the source tree: ``plugin.toml``,
            the entry point module, the static and migration files.
        warnings: Problems found that do not stop the build.
    """

    name: str
    version: str
    sdist: Artifact
    wheel: Artifact
    checked: tuple[str, ...]
    warnings: tuple[Problem, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        return {
            "name": self.name,
            "version": self.version,
            "sdist": self.sdist.to_dict(),
            "wheel": self.wheel.to_dict(),
            "checked": list(self.checked),
            "warnings": [dataclasses.asdict(problem) for problem in self.warnings],
        }


def build_plugin(
    path: Path,
    *,
    out_dir: Path | None = None,
    isolation: bool = True,
    on_event: Callable[[BuildEvent], None] | None = None,
) -> BuildResult:
    """Validate the plugin project at ``path``, build its sdist and wheel, and check the wheel.

    Args:
        path: The plugin project, or a file or directory inside it.
        out_dir: Where the sdist and wheel go; default ``dist/`` in the project.
        isolation: Build in a fresh virtual environment holding only the backend's
            requirements (``[build-system] requires``), as ``python -m build`` does;
            False builds with the backend installed in this environment.
        on_event: Called as each step starts and finishes, from this thread.

    Returns:
        The built files, the plugin files checked and any warnings.

    Raises:
        ProjectError: ``path`` is not a plugin project.
        ManifestError: ``plugin.toml`` is not TOML or breaks the schema, or disagrees
            with ``pyproject.toml`` (name, version, directories, host range); every
            problem is listed.
        PluginDefinitionError: the plugin cannot be imported, or registers what its
            manifest does not declare; every problem is listed.
        BuildError: the backend failed (its last output lines are in the message), or
            the wheel lacks a file the plugin needs.
    """
    emit = on_event or _ignore
    project = PluginProject.from_path(path)
    emit(BuildEvent("validate", False, f"validating {project.name}"))
    manifest, warnings = _validate(project)
    emit(BuildEvent("validate", True, f"validated {project.name} {manifest.version}"))
    target = (out_dir if out_dir is not None else project.root / "dist").absolute()
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="pluginctl-inspect") as pool,
        tempfile.TemporaryDirectory(prefix="pluginctl-build-") as scratch,
    ):
        inspection = pool.submit(_inspect, project)
        built = _build_distributions(project, Path(scratch), inspection, isolation, emit)
        emit(BuildEvent("registrations", False, f"checking what {project.name} registers"))
        registration_warnings = _check_registrations(project, inspection.result())
        warnings += registration_warnings
        done = (
            f"registrations: {len(registration_warnings)} warning(s)"
            if registration_warnings
            else "registrations match plugin.toml"
        )
        emit(BuildEvent("registrations", True, done))
        emit(BuildEvent("check", False, f"checking the files in {built.wheel.name}"))
        checked = _check(project, manifest, built)
        emit(BuildEvent("check", True, f"{built.wheel.name} holds every plugin file"))
        sdist, wheel = _publish(built.sdist, target), _publish(built.wheel, target)
    return BuildResult(
        project.name, manifest.version, Artifact.of(sdist), Artifact.of(wheel), checked, warnings
    )


def _ignore(event: BuildEvent) -> None:
    """The default ``on_event``: nobody is watching."""


# -- validation -------------------------------------------------------------------------


def _validate(project: PluginProject) -> tuple[Manifest, tuple[Problem, ...]]:
    """The manifest and the warnings, after the checks that need no import of the plugin.

    Raises:
        ManifestError: listing every error: ``plugin.toml`` itself, or where it
            disagrees with ``pyproject.toml`` (name, version, directories, host range).
    """
    from pluginctl.validation import validate_project

    report = validate_project(project.root, scan=False, inspect=False)
    if report.errors:
        raise ManifestError(report.errors)
    assert report.manifest is not None  # no errors: it loaded
    # the wheel's metadata is compared with the manifest after the build, dynamic or not
    warnings = [p for p in report.warnings if p.key != "project.version"]
    return report.manifest, tuple(warnings)


def _inspect(project: PluginProject) -> Inspection:
    """Import the plugin in a child process (run on a thread, beside the build)."""
    from pluginctl.introspect import inspect_entry_point

    return inspect_entry_point(
        project.import_root, project.entry_point, source=str(project.root / "pyproject.toml")
    )


#: The last line of a traceback for an import of something not installed.
_NOT_INSTALLED = re.compile(r"ModuleNotFoundError: No module named '([\w.]+)'\s*\Z")


def _check_registrations(project: PluginProject, inspection: Inspection) -> tuple[Problem, ...]:
    """Raise for registration errors; an import that needs what is not installed here warns."""
    problems = [_not_installed_here(project, problem) or problem for problem in inspection.problems]
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise PluginDefinitionError(errors)
    return tuple(p for p in problems if p.severity != "error")


def _not_installed_here(project: PluginProject, problem: Problem) -> Problem | None:
    """A warning for a failed import of a module that is neither the plugin's nor installed.

    The build does not need the plugin's dependencies (an isolated one never has
    them), so their absence here says nothing about the wheel.
    """
    found = _NOT_INSTALLED.search(problem.message) if problem.severity == "error" else None
    if found is None or found.group(1).split(".")[0] == project.package_dir.name:
        return None
    return dataclasses.replace(
        problem,
        message=f"imports {found.group(1)!r}, which is not installed here, so its"
        " registrations were not checked",
        hint="install the plugin's dependencies in this environment (pip install -e .)"
        " to have them checked, or run: pluginctl validate",
        severity="warning",
    )


# -- building and checking --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Built:
    """The sdist and wheel in the scratch directory, the wheel's sources and the backend."""

    sdist: Path
    wheel: Path
    sources: Path
    backend: str


def _build_distributions(
    project: PluginProject,
    scratch: Path,
    inspection: Future[Inspection],
    isolation: bool,
    emit: Callable[[BuildEvent], None],
) -> _Built:
    """Build the sdist and the wheel from it; a failure reports the plugin's errors first."""
    from pluginctl.errors import BuildError
    from pluginctl.pep517 import Backend, unpack_sdist

    backend = Backend.for_project(project.root, isolation=isolation, emit=emit)
    try:
        with backend:
            sdist = backend.build_sdist(project.root, scratch / "out")
            sources = unpack_sdist(sdist, scratch / "sdist")
            wheel = backend.build_wheel(sources, scratch / "out")
    except BuildError:
        _check_registrations(project, inspection.result())  # raises its errors, if any
        raise
    return _Built(sdist, wheel, sources, backend.name)


def _check(project: PluginProject, manifest: Manifest, built: _Built) -> tuple[str, ...]:
    from pluginctl.wheel_contents import check_wheel

    return check_wheel(
        built.wheel,
        project=project,
        manifest=manifest,
        sdist_root=built.sources,
        backend=built.backend,
    )


def _publish(path: Path, target: Path) -> Path:
    """Move a checked file into the output directory, replacing one of the same name."""
    target.mkdir(parents=True, exist_ok=True)
    return Path(shutil.move(path, target / path.name))
