"""``pluginctl install``: verify signed plugin wheels, show what they ask for, install them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pluginctl.installation import Candidate

__all__ = ["install"]


def install(
    wheels: Annotated[
        list[Path],
        typer.Argument(
            metavar="WHEEL...", help="Signed plugin wheels, each with its .sig beside it."
        ),
    ],
    *,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Grant the permissions asked for without asking.")
    ] = False,
    reinstall: Annotated[
        bool, typer.Option("--reinstall", help="Install again even if this version is installed.")
    ] = False,
    trust_file: Annotated[
        Path | None,
        typer.Option(help="The project trust store (default: pluginctl.trust.toml here or above)."),
    ] = None,
) -> None:
    """Verify each wheel (failing closed), ask consent for its permissions, install it.

    The signature is kept with the installed plugin, so `pluginctl run` re-verifies its
    files at every start.
    """
    from pluginctl.cli._output import console
    from pluginctl.installation import install_wheels, verify_candidates
    from pluginctl.signing.trust import TrustStore

    trust = TrustStore.load(project_file=trust_file)
    candidates = verify_candidates(wheels, trust=trust)
    for candidate in candidates:
        _show(candidate)
    if not yes and not typer.confirm("Install, granting these permissions?", default=False):
        raise typer.Exit(1)
    for result in install_wheels(candidates, trust=trust, reinstall=reinstall):
        console().print(
            f"[green]installed[/] {result.project} {result.version}, signature kept in"
            f" {result.signature}"
        )


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
    permissions = manifest.permissions or ["(none)"]
    for permission in permissions:
        out.print(f"  permission  {escape(permission)}")
