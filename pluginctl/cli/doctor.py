"""``pluginctl doctor``: what this machine gives plugins, and what each plugin gets."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pluginctl.cli.run import ConfigPath, PluginPaths

if TYPE_CHECKING:
    from pluginctl.runtime.inventory import Entry

__all__ = ["doctor"]

_FIXES = {
    "landlock": "use Linux 5.13 or newer with landlock in its lsm= boot option (ABI 4+ for TCP)",
    "seccomp": "install the system's libseccomp (Debian: apt-get install libseccomp2)",
    "no_new_privs": "use Linux",
}
_PROGRAMS = "none: no processes, no programs (fork and exec refused; threads work)"


def doctor(
    *,
    plugin: PluginPaths = None,
    config: ConfigPath = None,
    installed: Annotated[
        bool, typer.Option("--installed/--no-installed", help="Include installed plugins.")
    ] = True,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Check the sandbox layers this machine supports and what each plugin would get.

    The exit code is 1 when a sandbox layer is missing (each with the fix), 0 otherwise.
    """
    import platform
    import sys

    from pluginctl.cli._hostconfig import load_host_config
    from pluginctl.runtime.inventory import inventory
    from pluginctl.runtime.loop import loop_name
    from pluginctl.runtime.sandbox import probe

    support = probe()
    settings = load_host_config(config, installed=installed)
    entries = inventory(settings, sources=plugin or [])
    report = {
        "machine": {
            "system": f"{platform.system()} {platform.release()}",
            "python": sys.version.split()[0],
            "event_loop": loop_name(),
            "start_method": settings.defaults.start_method,
        },
        "sandbox": {
            "layers": support.layers,
            "missing": {
                layer: {"why": why, "fix": _FIXES.get(layer, "")}
                for layer, why in support.missing.items()
            },
        },
        "plugins": [_plugin_view(entry, settings.data_dir, support.layers) for entry in entries],
    }
    if json_output:
        from pluginctl.cli._output import print_json

        print_json(report)
    else:
        _show(report)
    raise typer.Exit(1 if support.missing else 0)


def _plugin_view(entry: Entry, data_dir: Path, layers: dict[str, str]) -> dict[str, object]:
    data = entry.to_dict()
    permissions = data.get("permissions")
    granted = [str(p) for p in permissions] if isinstance(permissions, list) else []
    limits: dict[str, object] = {}
    if entry.source is not None:
        table = entry.source.manifest.limits
        limits = {
            "memory_mb": table.memory_mb,
            "cpu_seconds": table.cpu_seconds,
            "open_files": table.open_files,
            "file_size_mb": table.file_size_mb,
            "processes": table.processes,
            "call_timeout_s": table.call_timeout_s,
        }
    network = "none: no TCP, no internet sockets"
    if any(p.startswith("http:fetch") for p in granted):
        network = "outbound HTTP through the host only (api.http.fetch)"
    return {
        "name": entry.name,
        "state": entry.state,
        "files": (
            f"its code read-only; {data_dir / 'plugins' / entry.name} read-write"
            if "landlock" in layers
            else "not confined: Landlock is missing"
        ),
        "network": network if "landlock" in layers or "seccomp" in layers else "not confined",
        "programs": _PROGRAMS if "seccomp" in layers else "not confined",
        "limits": limits,
    }


def _show(report: dict[str, object]) -> None:
    from rich.markup import escape

    from pluginctl.cli._output import console

    out = console()
    machine = report["machine"]
    assert isinstance(machine, dict)
    out.print(
        f"[bold]machine[/]: {escape(machine['system'])}, Python {machine['python']},"
        f" {machine['event_loop']}, workers by {machine['start_method']}"
    )
    sandbox = report["sandbox"]
    assert isinstance(sandbox, dict)
    for layer, what in sandbox["layers"].items():
        out.print(f"[green]✓[/] {layer}: {escape(what)}")
    for layer, missing in sandbox["missing"].items():
        out.print(f"[red]✗[/] {layer}: {escape(missing['why'])}")
        if missing["fix"]:
            out.print(f"  [bold cyan]hint:[/] {escape(missing['fix'])}")
    plugins = report["plugins"]
    assert isinstance(plugins, list)
    for view in plugins:
        out.print(f"\n[bold]{escape(view['name'])}[/] ({view['state']})")
        for key in ("files", "network", "programs"):
            out.print(f"  {key}: {escape(view[key])}")
        limits = view["limits"]
        if limits:
            shown = ", ".join(f"{k}={v}" for k, v in limits.items() if v is not None)
            out.print(f"  limits: {escape(shown)}")
