"""``pluginctl install``: verify signed plugins, show what they ask for, install them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pluginctl.installation import Candidate
    from pluginctl.registry.releases import ReleaseSource
    from pluginctl.signing.trust import TrustStore

__all__ = [
    "IndexUrl",
    "Registry",
    "TrustFile",
    "Yes",
    "confirm_candidates",
    "install",
    "release_source",
]

Yes = Annotated[
    bool, typer.Option("--yes", "-y", help="Grant the permissions asked for without asking.")
]
TrustFile = Annotated[
    Path | None,
    typer.Option(help="The project trust store (default: pluginctl.trust.toml here or above)."),
]
Registry = Annotated[
    Path | None,
    typer.Option(
        help="The registry directory (default: $PLUGINCTL_REGISTRY, or the user data dir).",
        show_default=False,
    ),
]
IndexUrl = Annotated[
    str | None,
    typer.Option(
        help="A remote index's simple API instead (a pluginctl registry serve, or any"
        " PEP 691 index), e.g. http://127.0.0.1:8700/simple/.",
        show_default=False,
    ),
]


def install(
    targets: Annotated[
        list[str],
        typer.Argument(
            metavar="NAME[SPEC]|WHEEL...",
            help="Plugins from the registry (notes, 'notes>=1.2'), or signed wheel files.",
        ),
    ],
    *,
    yes: Yes = False,
    reinstall: Annotated[
        bool, typer.Option("--reinstall", help="Install again even if this version is installed.")
    ] = False,
    registry: Registry = None,
    index_url: IndexUrl = None,
    trust_file: TrustFile = None,
) -> None:
    """Pick the newest release this host runs, verify it, ask consent, install it.

    Each wheel is verified (failing closed) before anything is installed; yanked
    releases are skipped unless pinned with ==. The signature is kept with the
    installed plugin, so `pluginctl run` re-verifies its files at every start.
    """
    import tempfile

    from pluginctl.installation import install_wheels
    from pluginctl.signing.trust import TrustStore as Store

    trust = Store.load(project_file=trust_file)
    source = release_source(registry, index_url) if _names(targets) else None
    with tempfile.TemporaryDirectory(prefix="pluginctl-install-") as scratch:
        wheels = _fetch(targets, source, Path(scratch))
        candidates = confirm_candidates(wheels, trust=trust, yes=yes, question="Install")
        args = source.installer_args() if source is not None else []
        done = install_wheels(candidates, trust=trust, reinstall=reinstall, source_args=args)
    from pluginctl.cli._output import console

    for result in done:
        console().print(f"[green]installed[/] {result.project} {result.version}")


def release_source(registry: Path | None, index_url: str | None) -> ReleaseSource:
    """The remote index at ``index_url``, else the registry directory (or the default one)."""
    if index_url is not None:
        if registry is not None:
            raise typer.BadParameter("give --registry or --index-url, not both")
        from pluginctl.registry.remote import RemoteIndex
        from pluginctl.registry.signatures import SignatureSource

        return RemoteIndex(index_url, signatures=SignatureSource.default().get)
    from pluginctl.registry.releases import LocalRegistry
    from pluginctl.registry.store import RegistryStore

    store = RegistryStore(registry) if registry is not None else RegistryStore.default()
    return LocalRegistry(store)


def confirm_candidates(
    wheels: list[Path], *, trust: TrustStore, yes: bool, question: str
) -> list[Candidate]:
    """Verify ``wheels``, show each one's signer and permissions, and ask to go on."""
    from pluginctl.installation import verify_candidates

    candidates = verify_candidates(wheels, trust=trust)
    for candidate in candidates:
        _show(candidate)
    if not yes and not typer.confirm(f"{question}, granting these permissions?", default=False):
        raise typer.Exit(1)
    return candidates


def _names(targets: list[str]) -> list[str]:
    return [t for t in targets if not t.endswith(".whl")]


def _fetch(targets: list[str], source: ReleaseSource | None, scratch: Path) -> list[Path]:
    from pluginctl.registry.updates import plan_install, requirement

    wheels = [Path(t) for t in targets if t.endswith(".whl")]
    names = _names(targets)
    if source is None or not names:
        return wheels
    releases = plan_install([requirement(n) for n in names], source)
    return wheels + [source.fetch(release, scratch) for release in releases]


def _show(candidate: Candidate) -> None:
    from rich.markup import escape

    from pluginctl.cli._output import console

    manifest = candidate.manifest
    signers = ", ".join(
        f"{s.name or 'unnamed'} ({s.key_id[:16]})" for s in candidate.report.signers if s.trusted
    )
    out = console()
    out.print(
        f"[bold]{escape(manifest.name)} {escape(manifest.version)}[/], signed by {escape(signers)}"
    )
    for permission in manifest.permissions or ["(none)"]:
        out.print(f"  permission  {escape(permission)}")
