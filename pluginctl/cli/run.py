"""``pluginctl run``: the production host."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pluginctl.cli._hostconfig import AdminSwitch, DatabaseUrl

if TYPE_CHECKING:
    from rich.console import Console

    from pluginctl.runtime.launcher import HostPlan, RunningHost


__all__ = ["run", "show_admin", "show_plan"]

PluginPaths = Annotated[
    list[Path] | None,
    typer.Option("--plugin", "-p", help="A plugin source directory to run (repeatable)."),
]
ConfigPath = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="The host config (default: ./pluginctl.toml if present)."),
]


def run(
    *,
    plugin: PluginPaths = None,
    config: ConfigPath = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on [127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on; 0 picks one [8700].")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where plugin data lives.")] = None,
    database_url: DatabaseUrl = None,
    installed: Annotated[
        bool, typer.Option("--installed/--no-installed", help="Also run installed plugins.")
    ] = True,
    admin: AdminSwitch = True,
) -> None:
    """Run plugins, each in its own worker, behind one HTTP gateway, until Ctrl-C."""
    from pluginctl.cli._hostconfig import load_host_config
    from pluginctl.runtime.launcher import plan_host, run_host

    settings = load_host_config(
        config, data_dir=data_dir, installed=installed, database_url=database_url
    )
    plan = plan_host(settings, sources=plugin or [])
    bind_host = host or settings.server.host
    show_plan(plan, bind_host=bind_host)
    from pluginctl.runtime.loop import run as run_loop

    run_loop(
        run_host(
            plan,
            bind_host=bind_host,
            port=settings.server.port if port is None else port,
            on_ready=_show_ready,
            admin=admin,
        )
    )
    from pluginctl.cli._output import err_console

    err_console().print("stopped")


def show_plan(plan: HostPlan, *, bind_host: str) -> None:
    """Say which plugins are skipped, disabled or unresolved, and warn of a public bind."""
    from rich.markup import escape

    from pluginctl.cli._output import err_console

    err = err_console()
    for problem in plan.broken:
        err.print(
            f"[yellow]skipped[/] {escape(problem.name)} ({escape(problem.location)}): "
            f"{escape(str(problem.error))}"
        )
        if problem.error.hint:
            err.print(f"  [bold cyan]hint:[/] {escape(problem.error.hint)}")
    for source in plan.disabled:
        err.print(f"[dim]disabled[/] {escape(source.name)}")
    for unresolved in plan.unresolved:
        err.print(f"[bold red]error:[/] {escape(unresolved.message)}")
        if unresolved.hint:
            err.print(f"  [bold cyan]hint:[/] {escape(unresolved.hint)}")
    if not _is_loopback(bind_host):
        err.print(
            f"[yellow]warning:[/] the gateway listens on {escape(bind_host)}, beyond this machine"
        )


def _is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _show_ready(running: RunningHost) -> None:
    from rich.markup import escape
    from rich.table import Table

    from pluginctl.cli._output import console, err_console

    table = Table("plugin", "version", "state", "pid", "routes", box=None, pad_edge=False)
    for runtime in running.host.plugins:
        info = runtime.describe()
        colour = "green" if info["state"] == "active" else "red"
        routes = info["routes"] if isinstance(info["routes"], list) else []
        table.add_row(
            escape(runtime.name),
            escape(str(info["version"])),
            f"[{colour}]{info['state']}[/]",
            str(info["pid"] or "-"),
            escape(", ".join(map(str, routes[:3])) + (" …" if len(routes) > 3 else "")),
        )
    out = console()
    out.print(table)
    for runtime in running.host.plugins:
        if runtime.last_error:
            err_console().print(
                f"[bold red]{escape(runtime.name)} failed:[/]\n{escape(runtime.last_error)}"
            )
    out.print(f"serving on [bold]{running.url}[/] (health: {running.url}/healthz); Ctrl-C stops")
    show_admin(running)


def show_admin(running: RunningHost, out: Console | None = None) -> None:
    """Say where the admin UI is (on ``out``); print its token only on the start that made it."""
    from rich.markup import escape

    from pluginctl.cli._output import console

    admin = running.admin
    if admin is None:
        return
    out = out or console()
    out.print(f"admin UI: [bold]{running.url}/admin/[/]")
    if admin.token.created:
        out.print(
            f"  admin token (printed this once, kept in {escape(admin.token.source)}): "
            f"[bold]{escape(admin.token.value)}[/]"
        )
    else:
        out.print(f"  admin token: in {escape(admin.token.source)}")
