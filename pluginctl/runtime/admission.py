"""Which discovered plugins a host may load: installed ones only when their signature holds.

Before a host imports any plugin, `admit` re-verifies every installed plugin's files
against the signature kept with it (`pluginctl.signing.installed.verify_installed`):
signed by a key the trust stores trust for that project, in date, not revoked, and
every file as signed. A plugin that fails is reported as broken, with the reason and
the command that fixes it, and the host starts the others.

Unsigned code loads only from a source tree the operator names (``--plugin PATH`` or
``plugins = [...]`` in ``pluginctl.toml``): that is dev mode for that one plugin, and
the host logs it. There is no switch that lets unsigned installed plugins load.
"""

from __future__ import annotations

import logging
from importlib.metadata import PackageNotFoundError, distribution
from typing import TYPE_CHECKING

from pluginctl.errors import SignatureError
from pluginctl.runtime.discovery import DiscoveryProblem, DiscoveryReport

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from pluginctl.runtime.discovery import PluginSource
    from pluginctl.runtime.host_config import HostConfig
    from pluginctl.signing.trust import TrustStore

__all__ = ["admit", "discover_for_host", "host_trust"]

logger = logging.getLogger(__name__)


def host_trust(config_path: Path | None) -> TrustStore:
    """The trust stores a host uses: the user's, and the project's beside its config."""
    from pluginctl.signing.trust import TrustStore

    return TrustStore.load(start=config_path.parent if config_path is not None else None)


def discover_for_host(config: HostConfig, *, sources: Sequence[Path] = ()) -> DiscoveryReport:
    """The plugins ``config`` (plus ``sources``) names, installed ones admitted by `admit`."""
    from pluginctl.runtime.discovery import discover

    report = discover(sources=[*config.plugins, *sources], include_installed=config.installed)
    if not any(plugin.origin == "installed" for plugin in report.plugins):
        return admit(report, trust=None)
    return admit(report, trust=host_trust(config.path))


def admit(report: DiscoveryReport, *, trust: TrustStore | None) -> DiscoveryReport:
    """``report`` with every installed plugin whose signature fails moved to its problems.

    ``trust`` may be None only when ``report`` holds no installed plugin.
    """
    plugins: list[PluginSource] = []
    problems = list(report.problems)
    for plugin in report.plugins:
        if plugin.origin == "source":
            logger.warning(
                "plugin %r runs unsigned from its source tree %s (dev mode)",
                plugin.name,
                plugin.location,
            )
            plugins.append(plugin)
            continue
        assert trust is not None, "installed plugins need a trust store"
        error = _refusal(plugin, trust)
        if error is None:
            plugins.append(plugin)
        else:
            problems.append(DiscoveryProblem(plugin.name, plugin.location, error))
    return DiscoveryReport(plugins, sorted(problems, key=lambda p: p.name))


def _refusal(plugin: PluginSource, trust: TrustStore) -> SignatureError | None:
    from pluginctl.signing.installed import verify_installed

    try:
        dist = distribution(plugin.distribution)
    except PackageNotFoundError:
        return SignatureError(
            f"plugin {plugin.name!r}: its distribution {plugin.distribution} vanished",
            check="input",
        )
    report = verify_installed(dist, trust=trust)
    if report.error is None:
        return None
    error = report.error
    return SignatureError(
        f"plugin {plugin.name!r} is refused: {error.message}",
        check=error.check,
        hint=error.hint,
        files=error.files,
    )
