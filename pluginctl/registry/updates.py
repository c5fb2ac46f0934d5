"""What installing or updating plugins from a registry would do, before anything is fetched.

`plan_install` turns requirements (``notes``, ``notes>=1.2``, ``notes==1.5``) into
the releases `choose` picks. `plan_updates` compares the installed plugins with the
newest release each supports on this host: an update never goes down a version
unless asked (a registry offering an older release than the installed one is
refused, REFERENCES.md row 20), and says which permissions the new release adds and
drops, for the person to consent to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from pluginctl._version import __version__
from pluginctl.errors import RegistryError, UserError
from pluginctl.registry.releases import choose

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from pluginctl.registry.releases import Release, ReleaseSource

__all__ = [
    "Installed",
    "Update",
    "installed_plugins",
    "plan_install",
    "plan_updates",
    "requirement",
]

Change = Literal["upgrade", "downgrade", "current"]


@dataclass(frozen=True, slots=True)
class Installed:
    """An installed plugin: its distribution's name, version and granted permissions."""

    name: str
    version: str
    permissions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Update:
    """One installed plugin and the release an update would bring.

    Attributes:
        installed: What is installed.
        release: The newest release for this host (maybe the installed one).
        change: ``upgrade``, ``downgrade`` (only when allowed) or ``current``.
        added: Permissions the release asks for that the installed one did not.
        removed: Permissions the installed one had that the release drops.
    """

    installed: Installed
    release: Release
    change: Change
    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()


def requirement(text: str) -> Requirement:
    """Parse ``NAME[SPEC]``.

    Raises:
        UserError: not a requirement, naming the rule.
    """
    try:
        return Requirement(text)
    except InvalidRequirement as exc:
        raise UserError(
            f"{text!r} is not a plugin name with an optional version: {exc}",
            hint="write NAME, NAME==1.2 or 'NAME>=1.2,<2' (or give a .whl file)",
        ) from None


def plan_install(
    requirements: Sequence[Requirement], source: ReleaseSource, *, host_version: str = __version__
) -> list[Release]:
    """The release to install for each requirement."""
    return [choose(source.releases(r.name), r, host_version=host_version) for r in requirements]


def installed_plugins() -> dict[str, Installed]:
    """The plugins installed in this environment, by normalised distribution name."""
    from pluginctl.runtime.discovery import discover_installed

    found = discover_installed()
    return {
        canonicalize_name(p.distribution): Installed(
            canonicalize_name(p.distribution), p.version, tuple(p.manifest.permissions)
        )
        for p in found.plugins
    }


def plan_updates(
    source: ReleaseSource,
    installed: Mapping[str, Installed],
    *,
    names: Sequence[str] = (),
    allow_downgrade: bool = False,
    host_version: str = __version__,
) -> list[Update]:
    """For each installed plugin (or each of ``names``), the release an update brings.

    Raises:
        UserError: a name is not installed.
        RegistryError: the registry offers only an older release and ``allow_downgrade``
            is not set (naming both versions).
    """
    wanted = [str(canonicalize_name(n)) for n in names] or sorted(installed)
    updates = []
    for name in wanted:
        current = installed.get(name)
        if current is None:
            raise UserError(
                f"{name!r} is not an installed plugin",
                hint=f"install it: pluginctl install {name}",
            )
        releases = source.releases(name)
        if not releases:
            continue  # not from this registry: nothing to say
        release = choose(releases, Requirement(name), host_version=host_version)
        updates.append(_update(current, release, allow_downgrade=allow_downgrade))
    return updates


def _update(current: Installed, release: Release, *, allow_downgrade: bool) -> Update:
    newer, older = Version(release.version), Version(current.version)
    change: Change = "upgrade" if newer > older else "downgrade" if newer < older else "current"
    if change == "downgrade" and not allow_downgrade:
        raise RegistryError(
            f"the registry's newest {current.name} for this host is {release.version}, older"
            f" than the installed {current.version}: refusing to downgrade",
            hint=f"pluginctl update {current.name} --allow-downgrade, if you mean it",
        )
    added = tuple(p for p in release.permissions if p not in current.permissions)
    removed = tuple(p for p in current.permissions if p not in release.permissions)
    return Update(current, release, change, added, removed)
