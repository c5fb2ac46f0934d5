"""``pluginctl status``: how a running host's plugins are doing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pluginctl.cli.run import ConfigPath

if TYPE_CHECKING:
    from rich.table import Table

    from pluginctl.runtime.status import HostStatus

__all__ = ["status"]

_NOT_HEALTHY = 3  # as systemctl and LSB init scripts: running, but not as it should


def status(
    *,
    config: ConfigPath = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="The data directory of the host to ask.")
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Ask the host at this URL instead (with --token).")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="PLUGINCTL_STATUS_TOKEN", help="The status token of --url's host."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show each plugin of a running host: state, health, calls, latency, restarts, memory.

    The exit code is 0 when every plugin is active and healthy, 3 when one is not, and
    1 when a host does not answer.
    """
    from pluginctl.cli._hostconfig import load_host_config
    from pluginctl.runtime.status import fetch_status

    settings = load_host_config(config, data_dir=data_dir)
    hosts = fetch_status(settings.data_dir, url=url, token=token)
    if json_output:
        from pluginctl.cli._output import print_json

        print_json([{"url": h.url, "report": h.report, "error": h.error} for h in hosts])
    else:
        for host in hosts:
            _show(host)
    if any(host.report is None for host in hosts):
        raise typer.Exit(1)
    if not all(host.healthy for host in hosts):
        raise typer.Exit(_NOT_HEALTHY)


def _show(host: HostStatus) -> None:
    from rich.markup import escape

    from pluginctl.cli._output import console, err_console

    out = console()
    if host.report is None:
        err_console().print(f"[bold red]error:[/] the host at {escape(host.url)}: {host.error}")
        return
    about = host.report.get("host")
    about = about if isinstance(about, dict) else {}
    out.print(
        f"[bold]host[/] {escape(host.url)}: pid {about.get('pid')}, pluginctl"
        f" {escape(str(about.get('version')))}, up {_duration(about.get('uptime_s'))}"
    )
    plugins = host.report.get("plugins")
    plugins = [p for p in plugins if isinstance(p, dict)] if isinstance(plugins, list) else []
    out.print(_table(plugins))
    for plugin in plugins:
        problem = plugin.get("last_error") or _health_reason(plugin)
        if problem and plugin.get("state") != "active":
            out.print(f"[bold red]{escape(str(plugin['name']))}[/]: {escape(str(problem))}")


def _table(plugins: list[dict[str, object]]) -> Table:
    from rich.markup import escape
    from rich.table import Table

    table = Table(
        "plugin", "state", "pid", "up", "calls", "failed", "p50/p99 ms", "restarts", "breaker",
        "USS MiB", box=None, pad_edge=False,
    )  # fmt: skip
    for plugin in plugins:
        latency = plugin.get("latency_ms")
        latency = latency if isinstance(latency, dict) else {}
        table.add_row(
            escape(str(plugin.get("name"))),
            _state(str(plugin.get("state"))),
            str(plugin.get("pid") or "-"),
            _duration(plugin.get("uptime_s")),
            str(plugin.get("calls", 0)),
            str(plugin.get("failures", 0)),
            f"{_number(latency.get('p50'))}/{_number(latency.get('p99'))}",
            escape(_restarts(plugin)),
            str(plugin.get("breaker", "-")),
            _memory(plugin),
        )
    return table


def _state(state: str) -> str:
    colour = {"active": "green", "degraded": "yellow", "starting": "cyan"}.get(state, "red")
    return f"[{colour}]{state}[/]"


def _restarts(plugin: dict[str, object]) -> str:
    count = plugin.get("restarts", 0)
    reasons = plugin.get("restarts_by_reason")
    if not count or not isinstance(reasons, dict) or not reasons:
        return str(count)
    return f"{count} ({', '.join(f'{k} {v}' for k, v in sorted(reasons.items()))})"


def _memory(plugin: dict[str, object]) -> str:
    uss = plugin.get("uss_bytes")
    return f"{uss / 2**20:.1f}" if isinstance(uss, int) else "-"


def _health_reason(plugin: dict[str, object]) -> str | None:
    health = plugin.get("health")
    return str(health.get("reason")) if isinstance(health, dict) and health.get("reason") else None


def _number(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, int | float) else "-"


def _duration(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"
