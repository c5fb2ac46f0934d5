"""From a host config to a running host: discover, resolve, start, serve HTTP, stop.

`plan_host` does everything that can fail before a process starts (finding plugins,
reading manifests, resolving versions and dependencies). `run_host` then starts the
workers, serves the gateway with uvicorn until asked to stop, and stops everything
in reverse order. Neither prints: `run_host` reports through its ``on_ready``
callback and the host's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import uvicorn

from pluginctl.errors import UserError
from pluginctl.listening import listen
from pluginctl.runtime.admission import discover_for_host
from pluginctl.runtime.host import Host, HostOptions
from pluginctl.runtime.resolution import ResolutionProblem, plan

if TYPE_CHECKING:
    import socket
    from collections.abc import Callable, Iterator, Sequence
    from pathlib import Path

    from pluginctl.runtime.discovery import DiscoveryProblem, PluginSource
    from pluginctl.runtime.host_config import HostConfig
    from pluginctl.web.admin import AdminUI
    from pluginctl.web.gateway import GatewayHost

__all__ = [
    "Gateway",
    "HostPlan",
    "RunningHost",
    "bind",
    "host_options",
    "plan_host",
    "run_host",
    "start_gateway",
]


@dataclass(frozen=True, slots=True)
class HostPlan:
    """What a host will run: the plugins in start order, and the ones that cannot start.

    Attributes:
        order: The plugins to start, dependencies first.
        broken: Installed plugins whose files are wrong.
        disabled: Plugins the config turns off.
        unresolved: Why each other plugin cannot start (missing or out-of-range
            dependency, host range, cycle), with a hint.
    """

    config: HostConfig
    order: list[PluginSource]
    broken: list[DiscoveryProblem] = field(default_factory=list)
    disabled: list[PluginSource] = field(default_factory=list)
    unresolved: list[ResolutionProblem] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class RunningHost:
    """A host that is serving: the host itself, the URL of its gateway, its admin UI."""

    host: Host
    url: str
    admin: AdminUI | None = None


def plan_host(config: HostConfig, *, sources: Sequence[Path] = ()) -> HostPlan:
    """Find and resolve the plugins ``config`` (plus ``sources``) asks for.

    A plugin that cannot start (a missing dependency, a version out of range, a cycle)
    is listed in ``unresolved``; the others still start.

    Raises:
        ResolutionError: when plugins were found but none of them can start.
        ProjectError, ManifestError: a source directory is not a valid plugin.
    """
    report = discover_for_host(config, sources=sources)
    enabled = [p.name for p in report.plugins if config.is_enabled(p.name)]
    start = plan(report.plugins, enabled=enabled, broken=report.broken)
    error = start.error()
    if error is not None and not start.order:
        raise error
    disabled = [p for p in report.plugins if not config.is_enabled(p.name)]
    return HostPlan(
        config, start.order, list(report.problems), disabled, [*start.problems, *start.blocked]
    )


def host_options(config: HostConfig) -> HostOptions:
    """The host's options from its config file."""
    defaults = config.defaults
    return HostOptions(
        data_dir=config.data_dir,
        database_url=config.database_url,
        call_timeout_s=defaults.call_timeout_s,
        start_timeout_s=defaults.start_timeout_s,
        deadline_grace_s=defaults.deadline_grace_s,
        start_method=defaults.start_method,
        restart=defaults.restart,
        restart_by_plugin={
            name: table.restart for name, table in config.plugin.items() if table.restart
        },
        breaker=defaults.breaker,
        breaker_by_plugin={
            name: table.breaker for name, table in config.plugin.items() if table.breaker
        },
        health=defaults.health,
        output=defaults.output,
        health_by_plugin={
            name: table.health for name, table in config.plugin.items() if table.health
        },
        max_frame_bytes=defaults.max_frame_mb * 1024 * 1024,
        default_rates=defaults.rate,
        settings={name: config.config_for(name) for name in config.plugin},
        settings_source=str(config.path or "pluginctl.toml"),
        traffic_every_s=defaults.traffic_every_s,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port); see `listen`.

    Raises:
        UserError: when the address is in use or cannot be bound.
    """
    return listen(host, port)


async def run_host(
    plan: HostPlan,
    *,
    bind_host: str,
    port: int,
    on_ready: Callable[[RunningHost], None] = lambda _: None,
    stop: asyncio.Event | None = None,
    admin: bool = True,
) -> None:
    """Start the plan's plugins, serve HTTP until ``stop`` is set (or SIGINT/SIGTERM), stop.

    While it serves, the host is listed in ``<data_dir>/hosts/`` for ``pluginctl status``,
    from before ``on_ready`` is called. With ``admin``, the gateway serves the admin UI
    at ``/admin``.

    Raises:
        UserError: the address cannot be bound, or the admin token is unusable.
    """
    import secrets

    from pluginctl.runtime.host_record import host_record

    admin_ui = None
    if admin:
        from pluginctl.web.admin import load_admin_token

        admin_token = load_admin_token(plan.config.data_dir)
    sock = bind(bind_host, port)
    host = Host(plan.order, host_options(plan.config))
    stop = stop or asyncio.Event()
    token = secrets.token_urlsafe(32)
    gateway: Gateway | None = None
    try:
        await host.start()
        if admin:
            from pluginctl.web.admin import AdminUI

            admin_ui = AdminUI(host, admin_token)
            admin_ui.start()
        gateway = await start_gateway(host, sock, control_token=token, admin=admin_ui)
        # what start-up made lives as long as the host: keep it out of every later
        # collection, or a full one scans it all and stalls every plugin's requests
        gc.collect()
        gc.freeze()
        with (
            _stop_on_signals(stop),
            host_record(host.options.data_dir, url=gateway.url, token=token),
        ):
            # only now is it ready: whoever reads "serving on" may run pluginctl status
            on_ready(RunningHost(host, gateway.url, admin_ui))
            await _serve_until(stop, gateway)
    finally:
        if gateway is not None and not gateway.serving.done():
            await gateway.stop()  # no request reaches a host that is stopping
        if admin_ui is not None:
            await admin_ui.stop()
        await host.stop()
        sock.close()


async def _serve_until(stop: asyncio.Event, gateway: Gateway) -> None:
    waiter: asyncio.Future[object] = asyncio.ensure_future(stop.wait())
    try:
        ending: list[asyncio.Future[object]] = [gateway.serving, waiter]  # type: ignore[list-item]  # None and bool
        await asyncio.wait(ending, return_when=asyncio.FIRST_COMPLETED)
    finally:
        waiter.cancel()


@dataclass(frozen=True, slots=True)
class Gateway:
    """The HTTP gateway serving on a socket: uvicorn, and the task it runs in."""

    server: uvicorn.Server
    serving: asyncio.Future[None]
    sock: socket.socket

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the socket (IPv6 in brackets)."""
        name, port = self.sock.getsockname()[:2]
        return f"http://[{name}]:{port}" if ":" in name else f"http://{name}:{port}"

    async def stop(self) -> None:
        """Finish the requests in progress and stop serving (the socket stays open)."""
        self.server.should_exit = True
        await self.serving


async def start_gateway(
    host: GatewayHost,
    sock: socket.socket,
    *,
    control_token: str | None = None,
    admin: AdminUI | None = None,
) -> Gateway:
    """Serve ``host``'s gateway with uvicorn on the listening ``sock``; return once it serves.

    ``control_token`` guards ``/status`` and ``/control`` (None: no such routes);
    ``admin`` is served at ``/admin``.
    """
    from pluginctl.web.gateway import build_app

    app = build_app(host, control_token=control_token, admin=admin)
    server = _QuietServer(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    serving = asyncio.ensure_future(server.serve(sockets=[sock]))
    while not server.started and not serving.done():
        await asyncio.sleep(0.002)
    if serving.done():
        await serving  # it ended before serving: raise its error
        raise UserError(f"the HTTP gateway on {sock.getsockname()} stopped at once")
    return Gateway(server, serving, sock)


class _QuietServer(uvicorn.Server):
    """uvicorn's server without its own signal handling: the host owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    installed = []
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
