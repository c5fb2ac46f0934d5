"""``pluginctl status``: how a running host's plugins are doing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pluginctl.cli._hosts import ConfigPath, DataDir, HostToken, HostUrl, hosts

if TYPE_CHECKING:
    from rich.table import Table

    from pluginctl.runtime.host_client import HostStatus

__all__ = ["status"]

_NOT_HEALTHY = 3  # as systemctl and LSB init scripts: running, but not as it should


def status(
    *,
    config: ConfigPath = None,
    data_dir: DataDir = None,
    url: HostUrl = None,
    token: HostToken = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show each plugin of a running host: state, health, calls, latency, restarts, memory.

    The exit code is 0 when every plugin is active and healthy, 3 when one is not, and
    1 when a host does not answer.
    """
    answers = [client.status() for client in hosts(config, data_dir, url, token)]
    if json_output:
        from pluginctl.cli._output import print_json

        print_json(
            [{"url": a.url, "report": a.report, "error": a.error and str(a.error)} for a in answers]
        )
    else:
        for answer in answers:
            _show(answer)
    if any(answer.report is None for answer in answers):
        raise typer.Exit(1)
    if not all(answer.healthy for answer in answers):
        raise typer.Exit(_NOT_HEALTHY)


def _show(host: HostStatus) -> None:
    from rich.markup import escape

    from pluginctl.cli._output import console, report_error

    out = console()
    if host.report is None:
        if host.error is not None:
            report_error(host.error)
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
