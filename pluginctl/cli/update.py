"""``pluginctl update`` and ``outdated``: installed plugins against the registry's releases."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pluginctl.cli.install import IndexUrl, Registry, TrustFile, Yes

if TYPE_CHECKING:
    from pluginctl.registry.updates import Update

__all__ = ["outdated", "update"]

Names = Annotated[
    list[str] | None,
    typer.Argument(metavar="[NAME]...", help="Installed plugins (default: all of them)."),
]


def update(
    names: Names = None,
    *,
    yes: Yes = False,
    allow_downgrade: Annotated[
        bool,
        typer.Option("--allow-downgrade", help="Install an older release if that is the newest."),
    ] = False,
    registry: Registry = None,
    index_url: IndexUrl = None,
    trust_file: TrustFile = None,
) -> None:
    """Update installed plugins to the newest release this host runs, showing new permissions.

    Yanked releases are skipped; an older release is refused unless --allow-downgrade.
    """
    import tempfile
    from pathlib import Path

    from pluginctl.cli.install import confirm_candidates, release_source
    from pluginctl.installation import install_wheels
    from pluginctl.registry.updates import installed_plugins, plan_updates
    from pluginctl.signing.trust import TrustStore

    source = release_source(registry, index_url)
    plans = plan_updates(
        source, installed_plugins(), names=names or (), allow_downgrade=allow_downgrade
    )
    changing = [plan for plan in plans if plan.change != "current"]
    _show_plans(plans)
    if not changing:
        return
    trust = TrustStore.load(project_file=trust_file)
    with tempfile.TemporaryDirectory(prefix="pluginctl-update-") as scratch:
        wheels = [source.fetch(plan.release, Path(scratch)) for plan in changing]
        candidates = confirm_candidates(wheels, trust=trust, yes=yes, question="Update")
        install_wheels(candidates, trust=trust, source_args=source.installer_args())
    _out(f"[green]updated[/] {len(changing)} plugin(s)")


def outdated(
    *,
    registry: Registry = None,
    index_url: IndexUrl = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List installed plugins with a newer release for this host in the registry."""
    from pluginctl.cli.install import release_source
    from pluginctl.registry.updates import installed_plugins, plan_updates

    source = release_source(registry, index_url)
    plans = plan_updates(source, installed_plugins(), allow_downgrade=True)
    newer = [plan for plan in plans if plan.change == "upgrade"]
    if json_output:
        from pluginctl.cli._output import print_json

        print_json([_view(plan) for plan in newer])
        return
    if not newer:
        _out("every installed plugin is up to date")
    for plan in newer:
        _out(f"{plan.installed.name}  {plan.installed.version} -> {plan.release.version}")


def _show_plans(plans: list[Update]) -> None:
    from rich.markup import escape

    for plan in plans:
        name, old, new = plan.installed.name, plan.installed.version, plan.release.version
        if plan.change == "current":
            _out(f"{escape(name)} {escape(old)} is up to date")
            continue
        _out(f"[bold]{escape(name)}[/] {escape(old)} -> {escape(new)} ({plan.change})")
        for permission in plan.added:
            _out(f"  [yellow]+ permission[/]  {escape(permission)}")
        for permission in plan.removed:
            _out(f"  [dim]- permission[/]  {escape(permission)}")


def _view(plan: Update) -> dict[str, object]:
    return {
        "name": plan.installed.name,
        "installed": plan.installed.version,
        "latest": plan.release.version,
        "added_permissions": list(plan.added),
        "removed_permissions": list(plan.removed),
    }


def _out(text: str) -> None:
    from pluginctl.cli._output import console

    console().print(text)
