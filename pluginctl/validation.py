"""``pluginctl validate``: everything that can be checked about a plugin before it runs.

Checks, in order: the project (pyproject.toml and entry point), the manifest, the
manifest against the project (name, version, host range, declared directories), the
plugin's registrations against the manifest (imported in a child process), and a
static security scan of its code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pluginctl._version import __version__
from pluginctl.errors import ManifestError, Problem
from pluginctl.project import PluginProject

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from pluginctl.manifest import Manifest
    from pluginctl.plugin import Registrations
    from pluginctl.scan import ScanReport

__all__ = ["ValidationReport", "validate_project"]


@dataclass(slots=True)
class ValidationReport:
    """The outcome of validating one plugin project."""

    project: PluginProject
    manifest: Manifest | None = None
    registrations: Registrations | None = None
    scan: ScanReport | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        """Problems that fail validation."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        """Problems worth fixing that do not fail validation."""
        return [p for p in self.problems if p.severity != "error"]

    def passed(self, *, strict: bool = False) -> bool:
        """No errors (and, with ``strict``, no warnings either)."""
        return not self.errors and not (strict and self.warnings)

    def to_dict(self) -> dict[str, object]:
        """Plain data for ``--json``."""
        import msgspec

        return {
            "path": str(self.project.root),
            "name": self.project.name,
            "version": self.manifest.version if self.manifest else self.project.version,
            "ok": not self.errors,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [_problem_dict(p) for p in self.problems],
            "registrations": msgspec.to_builtins(self.registrations),
            "findings": self.scan.to_dict()["findings"] if self.scan else [],
        }


def validate_project(
    path: Path, *, scan: bool = True, inspect: bool = True, import_timeout_s: float = 30.0
) -> ValidationReport:
    """Validate the plugin project at ``path`` and return every problem found.

    Args:
        path: The project, or a file or directory inside it.
        scan: Run the static security scan of the plugin's code.
        inspect: Import the plugin in a child process and check its registrations
            against the manifest (``pluginctl build`` runs that step itself, beside the
            build).
        import_timeout_s: How long that import may take.

    Raises:
        ProjectError: when ``path`` is not a plugin project at all.
    """
    project = PluginProject.from_path(path)
    report = ValidationReport(project)
    try:
        report.manifest = project.load_manifest()
    except ManifestError as exc:
        report.problems.extend(exc.problems)
    if report.manifest is not None:
        report.problems.extend(_project_problems(project, report.manifest))
        if inspect:
            _inspect(report, import_timeout_s)
    if scan:
        _scan(report)
    return report


def _inspect(report: ValidationReport, timeout_s: float) -> None:
    from pluginctl.introspect import inspect_entry_point

    project = report.project
    inspection = inspect_entry_point(
        project.import_root,
        project.entry_point,
        source=str(project.root / "pyproject.toml"),
        timeout_s=timeout_s,
    )
    report.registrations = inspection.registrations
    report.problems.extend(inspection.problems)


def _scan(report: ValidationReport) -> None:
    from pluginctl.permissions import PermissionSet
    from pluginctl.scan import scan_package

    permissions = report.manifest.permission_set if report.manifest else PermissionSet()
    report.scan = scan_package(report.project.package_dir, permissions=permissions)
    report.problems.extend(finding.to_problem() for finding in report.scan.findings)


def _project_problems(project: PluginProject, manifest: Manifest) -> Iterator[Problem]:
    manifest_file = str(project.manifest_path)
    pyproject = str(project.root / "pyproject.toml")
    if manifest.name != project.name:
        yield Problem(
            manifest_file,
            "name",
            f"{manifest.name!r} differs from the entry point name {project.name!r}"
            " in pyproject.toml",
            hint="use the same name in both files",
        )
    if canonicalize_name(project.distribution) != manifest.name:
        yield Problem(
            pyproject,
            "project.name",
            f"distribution {project.distribution!r} differs from the plugin name {manifest.name!r}",
            hint=f'set name = "{manifest.name}" in [project]',
        )
    yield from _version_problems(project, manifest, pyproject)
    yield from _host_problems(manifest, manifest_file)
    for key in ("static", "migrations"):
        relative = getattr(manifest, key)
        if relative is not None and not (project.package_dir / relative).is_dir():
            yield Problem(
                manifest_file,
                key,
                f"directory {relative!r} does not exist in {project.package_dir}",
                hint=f"create {project.package_dir / relative} or remove '{key}'",
            )


def _version_problems(
    project: PluginProject, manifest: Manifest, pyproject: str
) -> Iterator[Problem]:
    if project.version is None:
        yield Problem(
            pyproject,
            "project.version",
            "is dynamic, so it cannot be compared with plugin.toml before the build",
            hint="set project.version in pyproject.toml to have it checked here",
            severity="warning",
        )
        return
    try:
        same = Version(project.version) == Version(manifest.version)
    except InvalidVersion:
        same = project.version == manifest.version
    if not same:
        yield Problem(
            str(project.manifest_path),
            "version",
            f"{manifest.version!r} differs from the distribution's version {project.version!r}",
            hint=f'set version = "{project.version}" in plugin.toml (or change pyproject.toml)',
        )


def _host_problems(manifest: Manifest, manifest_file: str) -> Iterator[Problem]:
    if not manifest.host:
        yield Problem(
            manifest_file,
            "host",
            "is not set, so the plugin claims to work with every pluginctl version",
            hint=f'add host = ">={Version(__version__).base_version},<1"',
            severity="warning",
        )
    elif Version(__version__) not in SpecifierSet(manifest.host, prereleases=True):
        yield Problem(
            manifest_file,
            "host",
            f"{manifest.host!r} excludes this pluginctl ({__version__})",
            hint="widen the range if the plugin works with this version",
        )


def _problem_dict(problem: Problem) -> dict[str, object]:
    return {
        "file": problem.file,
        "key": problem.key,
        "message": problem.message,
        "hint": problem.hint,
        "severity": problem.severity,
    }
