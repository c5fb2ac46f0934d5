"""Choosing a plugin release to install: the newest one this host can run.

A `Release` is one plugin wheel a registry offers, with what choosing needs: its
version, its recorded sha256, whether it is yanked, and the ``host`` range and
permissions of its signed manifest. `choose` picks, for a requirement such as
``notes>=1.2``, the newest release that the requirement admits, that supports this
host, and that is not yanked — a yanked release only when the requirement pins it
exactly (PEP 592). Pre-releases only when asked for, as pip does.

`LocalRegistry` offers the releases of a registry directory (the default, no server
needed).

Example:
    >>> from packaging.requirements import Requirement
    >>> releases = [
    ...     Release("notes", "1.0", "notes-1.0-py3-none-any.whl", "a" * 64, host=">=0.1"),
    ...     Release("notes", "2.0", "notes-2.0-py3-none-any.whl", "b" * 64, host=">=9"),
    ...     Release("notes", "1.5", "notes-1.5-py3-none-any.whl", "c" * 64, yanked=True),
    ... ]
    >>> choose(releases, Requirement("notes"), host_version="0.1.0").version
    '1.0'
    >>> choose(releases, Requirement("notes==1.5"), host_version="0.1.0").version
    '1.5'
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pluginctl.errors import RegistryError

if TYPE_CHECKING:
    from pathlib import Path

    from packaging.requirements import Requirement

    from pluginctl.registry.index import FileRow
    from pluginctl.registry.store import RegistryStore

__all__ = ["LocalRegistry", "Release", "ReleaseSource", "choose"]


@dataclass(frozen=True, slots=True)
class Release:
    """One plugin wheel a registry offers.

    Attributes:
        project: The normalised project name.
        version: Its version.
        filename: The wheel's file name.
        sha256: The sha256 the registry recorded when it was published.
        yanked: Whether it is yanked (PEP 592).
        yank_reason: Why, if it is.
        host: The ``host`` range of its manifest ("" for any host).
        permissions: The permissions its manifest asks for.
    """

    project: str
    version: str
    filename: str
    sha256: str
    yanked: bool = False
    yank_reason: str = ""
    host: str = ""
    permissions: tuple[str, ...] = ()

    def supports(self, host_version: str) -> bool:
        """Whether its ``host`` range admits ``host_version``."""
        if not self.host:
            return True
        try:
            return SpecifierSet(self.host, prereleases=True).contains(host_version)
        except InvalidSpecifier:
            return False


def choose(releases: list[Release], requirement: Requirement, *, host_version: str) -> Release:
    """The newest release ``requirement`` admits that supports ``host_version``.

    Raises:
        RegistryError: none qualifies; the message says why the newest ones do not.
    """
    pinned = _pinned(requirement)
    admitted = [r for r in releases if _admits(requirement, r.version)]
    if not releases:
        raise RegistryError(
            f"no plugin named {requirement.name!r} is in the registry",
            hint=f"pluginctl search {requirement.name} finds plugins by name and words",
        )
    usable = [r for r in admitted if r.supports(host_version) and (not r.yanked or pinned)]
    if usable:
        return max(usable, key=lambda r: Version(r.version))
    raise RegistryError(
        f"no release of {requirement.name!r} satisfies {str(requirement)!r} on pluginctl"
        f" {host_version}: {_why_not(admitted, releases, host_version)}",
        hint="ask for another version, or update pluginctl",
    )


def _pinned(requirement: Requirement) -> bool:
    return any(spec.operator in {"==", "==="} for spec in requirement.specifier)


def _admits(requirement: Requirement, version: str) -> bool:
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    wants_pre = any(
        Version(s.version).is_prerelease for s in requirement.specifier if _parses(s.version)
    )
    return requirement.specifier.contains(parsed, prereleases=wants_pre or None)


def _parses(text: str) -> bool:
    try:
        Version(text.rstrip(".*"))
    except InvalidVersion:
        return False
    return True


def _why_not(admitted: list[Release], releases: list[Release], host_version: str) -> str:
    if not admitted:
        listed = ", ".join(sorted({r.version for r in releases}, key=Version)[-5:])
        return f"the registry has {listed}"
    newest = max(admitted, key=lambda r: Version(r.version))
    if not newest.supports(host_version):
        return f"{newest.version} supports pluginctl {newest.host}"
    return f"{newest.version} is yanked ({newest.yank_reason or 'no reason given'}); pin it with =="


class ReleaseSource(Protocol):
    """Where plugin releases come from: a registry directory or a remote index."""

    def releases(self, name: str) -> list[Release]:
        """Every plugin wheel of project ``name``."""
        ...

    def fetch(self, release: Release, directory: Path) -> Path:
        """The release's wheel (and its ``.sig``) in ``directory``, its hash checked."""
        ...

    def installer_args(self) -> list[str]:
        """What tells pip or uv to take dependencies from here too."""
        ...


class LocalRegistry:
    """The releases of a registry directory, read through its index."""

    def __init__(self, store: RegistryStore) -> None:
        self.store = store

    def releases(self, name: str) -> list[Release]:
        """Every plugin wheel of project ``name``, as published."""
        rows = self.store.index.files(canonicalize_name(name))
        return [_release(row) for row in rows if row.kind == "wheel" and row.plugin is not None]

    def installer_args(self) -> list[str]:
        """``--find-links`` for each project directory: dependencies come from here first."""
        return [arg for d in self.store.project_dirs() for arg in ("--find-links", str(d))]

    def fetch(self, release: Release, directory: Path) -> Path:
        """Copy the release's wheel and its ``.sig`` into ``directory``; the wheel's path.

        Raises:
            RegistryError: the stored file is missing or its sha256 is not the recorded one.
        """
        from pluginctl.signing.wheel import file_sha256

        source = self.store.path_of(release.project, release.filename)
        target = directory / release.filename
        try:
            shutil.copyfile(source, target)
            shutil.copyfile(
                source.with_name(source.name + ".sig"), target.with_name(target.name + ".sig")
            )
        except FileNotFoundError:
            raise RegistryError(
                f"{release.filename} is listed in the registry at {self.store.root} but its"
                " files are missing",
                hint="check the registry: pluginctl registry fsck",
            ) from None
        if file_sha256(target) != release.sha256:
            raise RegistryError(
                f"{release.filename}: its sha256 is not the one recorded when it was published:"
                " the stored file was changed",
                hint="do not install it; check the registry: pluginctl registry fsck",
            )
        return target


def _release(row: FileRow) -> Release:
    facts = row.plugin or {}
    permissions = facts.get("permissions")
    return Release(
        project=row.project,
        version=row.version,
        filename=row.filename,
        sha256=row.sha256,
        yanked=row.yanked,
        yank_reason=row.yank_reason,
        host=str(facts.get("host", "")),
        permissions=tuple(str(p) for p in permissions) if isinstance(permissions, list) else (),
    )
