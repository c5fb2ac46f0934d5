"""``pluginctl dev``: run plugins from source and hot-swap each one on save."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pluginctl.cli._hostconfig import AdminSwitch

if TYPE_CHECKING:
    from pluginctl.dev.report import Events
    from pluginctl.runtime.host import Host
    from pluginctl.runtime.launcher import HostPlan

__all__ = ["dev"]

# A save that hangs at import is reported after this long (the last good version serves).
_DEV_START_TIMEOUT_S = 10.0


class EventFormat(enum.StrEnum):
    """Machine-readable event streams ``--events`` can write."""

    JSONL = "jsonl"


def dev(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Plugin project directories [default: the current directory]."),
    ] = None,
    *,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="The host config (default: ./pluginctl.toml)."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on [127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on; 0 picks one [8700].")] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where plugin data lives [the data directory's dev/].")
    ] = None,
    installed: Annotated[
        bool,
        typer.Option("--installed/--no-installed", help="Also run installed plugins."),
    ] = False,
    poll: Annotated[
        bool, typer.Option(help="Poll for changes (for file systems without change events).")
    ] = False,
    events: Annotated[
        EventFormat | None,
        typer.Option(help="Stream machine-readable events to stdout (people's output: stderr)."),
    ] = None,
    status: Annotated[
        bool, typer.Option("--status/--no-status", help="Show the live status table.")
    ] = True,
    start_timeout: Annotated[
        float | None,
        typer.Option(min=0.001, help="Seconds a new version may take to import and activate [10]."),
    ] = None,
    admin: AdminSwitch = True,
) -> None:
    """Run plugins from source; each save hot-swaps that plugin in milliseconds."""
    import dataclasses

    import msgspec

    from pluginctl.cli._hostconfig import load_host_config
    from pluginctl.cli.run import show_plan
    from pluginctl.runtime.launcher import plan_host
    from pluginctl.runtime.loop import run as run_loop

    settings = load_host_config(config, data_dir=data_dir, installed=installed)
    if data_dir is None:  # keep what a dev session writes apart from the production data
        settings = dataclasses.replace(settings, data_dir=settings.data_dir / "dev")
    defaults = msgspec.structs.replace(
        settings.defaults, start_timeout_s=start_timeout or _DEV_START_TIMEOUT_S
    )
    settings = dataclasses.replace(settings, defaults=defaults)
    plan = plan_host(settings, sources=paths or [Path.cwd()])
    bind_host = host or settings.server.host
    show_plan(plan, bind_host=bind_host)
    run_loop(
        _serve(
            plan,
            bind_host=bind_host,
            port=settings.server.port if port is None else port,
            poll=poll,
            jsonl=events is EventFormat.JSONL,
            status=status,
            admin=admin,
        )
    )


async def _serve(
    plan: HostPlan,
    *,
    bind_host: str,
    port: int,
    poll: bool,
    jsonl: bool,
    status: bool,
    admin: bool,
) -> None:
    import asyncio

    from pluginctl.dev.session import DevSession
    from pluginctl.runtime.launcher import RunningHost, run_host

    stop = asyncio.Event()
    ready: asyncio.Future[RunningHost] = asyncio.get_running_loop().create_future()
    hosting = asyncio.ensure_future(
        run_host(
            plan,
            bind_host=bind_host,
            port=port,
            on_ready=ready.set_result,
            stop=stop,
            admin=admin,
        )
    )
    waiting: list[asyncio.Future[object]] = [hosting, ready]  # type: ignore[list-item]  # either
    await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    if not ready.done():
        await hosting  # it failed before serving: its error is the command's
        return
    running = ready.result()
    reporter = _reporter(running.host, jsonl=jsonl, status=status)
    _show_start_failures(running.host)
    reporter.ready(running.url)
    from pluginctl.cli._output import console, err_console
    from pluginctl.cli.run import show_admin

    show_admin(running, err_console() if jsonl else console())
    sources = [source for source in plan.order if source.origin == "source"]
    session = DevSession(running.host, sources, reporter)
    watching = asyncio.ensure_future(session.watch(stop, poll=poll))
    try:
        await hosting
    finally:
        stop.set()
        await watching
        reporter.stopped()


def _reporter(host: Host, *, jsonl: bool, status: bool) -> Events:
    from pluginctl.cli._output import console, err_console
    from pluginctl.dev.report import ConsoleReporter, JsonlReporter, Reporters

    if not jsonl:
        return ConsoleReporter(host, console(), live=status)
    return Reporters(JsonlReporter(host), ConsoleReporter(host, err_console(), live=status))


def _show_start_failures(host: Host) -> None:
    from rich.markup import escape

    from pluginctl.cli._output import err_console

    for runtime in host.plugins:
        if runtime.last_error:
            err_console().print(
                f"[bold red]{escape(runtime.name)} did not start[/]; a save that fixes it"
                f" starts it:\n{escape(runtime.last_error)}"
            )
