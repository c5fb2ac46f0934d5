"""Talking to running hosts, for ``pluginctl status``, ``enable`` and ``disable``.

A host that serves HTTP lists itself in ``<data_dir>/hosts/`` with its URL and its
control token (see `pluginctl.runtime.host_record`). `HostClient.find` reads those
records; `HostClient` asks a host for ``GET /status`` and posts
``/control/plugins/<name>/<action>``, always with ``Authorization: Bearer <token>``.

What ``/status`` answers is the host's own report (`pluginctl.runtime.host.Host.status`):
the host, then every plugin with its state, health, calls, latency, restarts,
breaker and memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pluginctl.errors import UserError

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

__all__ = ["HostClient", "HostStatus"]

_TIMEOUT_S = 30.0  # enabling a plugin waits for it to start
_HINTS = {
    404: "pluginctl status lists the plugins the host runs",
    409: "try again once the plugin has finished starting",
}
_TOKEN_HINT = "it is the token of the host's <data_dir>/hosts/<pid>.json"  # noqa: S105  # a hint


@dataclass(frozen=True, slots=True)
class HostStatus:
    """What one host said, or why it could not be asked.

    Attributes:
        url: The host's gateway.
        report: Its ``/status`` body, or None when it did not answer.
        error: Why not, and what to do about it.
    """

    url: str
    report: dict[str, object] | None = None
    error: UserError | None = None

    @property
    def healthy(self) -> bool:
        """Whether the host answered and every plugin is active and well, or off by choice.

        A plugin an operator disabled counts as healthy here, as it does at ``/healthz``.
        """
        if self.report is None:
            return False
        plugins = self.report.get("plugins")
        return isinstance(plugins, list) and all(
            isinstance(p, dict) and (p.get("state") == "active" or p.get("operator_disabled"))
            for p in plugins
        )


@dataclass(frozen=True, slots=True)
class HostClient:
    """One running host's gateway and the token of its control endpoints."""

    url: str
    token: str = field(repr=False)

    @classmethod
    def find(cls, data_dir: Path) -> list[HostClient]:
        """The hosts running with ``data_dir``, oldest first.

        Raises:
            UserError: none runs with it.
        """
        from pluginctl.runtime.host_record import find_hosts

        records = find_hosts(data_dir)
        if not records:
            raise UserError(
                f"no pluginctl host is running with the data directory {data_dir}",
                hint="start one with: pluginctl run (or pass --data-dir, or --url and --token)",
            )
        return [cls(record.url, record.token) for record in records]

    @classmethod
    def at(cls, url: str, token: str | None) -> HostClient:
        """The host at ``url``.

        Raises:
            UserError: without a token.
        """
        if not token:
            raise UserError(
                f"talking to the host at {url} needs its token",
                hint=f"pass --token, or set PLUGINCTL_HOST_TOKEN; {_TOKEN_HINT}",
            )
        return cls(url.rstrip("/"), token)

    def status(self) -> HostStatus:
        """The host's report, or why it gave none (never raises)."""
        try:
            report = self._request("GET", "/status")
        except UserError as exc:
            return HostStatus(self.url, error=exc)
        return HostStatus(self.url, report=report)

    def act(self, plugin: str, action: str) -> dict[str, object]:
        """Ask the host to ``enable`` or ``disable`` the plugin ``plugin``; its answer.

        Raises:
            UserError: the host does not answer, refuses the token, has no such
                plugin, or cannot do it (the reason is the host's).
        """
        return self._request("POST", f"/control/plugins/{plugin}/{action}")

    def _request(self, method: str, path: str) -> dict[str, object]:
        import httpx

        try:
            response = httpx.request(
                method,
                f"{self.url}{path}",
                headers={"authorization": f"Bearer {self.token}"},
                timeout=_TIMEOUT_S,
                trust_env=False,  # never through a proxy from the environment: the token
            )
        except httpx.InvalidURL as exc:
            raise UserError(
                f"{self.url} is not a URL httpx can use: {exc}",
                hint="give the host's address as http://HOST:PORT",
            ) from None
        except httpx.HTTPError as exc:
            raise UserError(
                f"the host at {self.url} does not answer: {exc}",
                hint="is it still running? pluginctl status lists the hosts that are",
            ) from None
        return _answer(self.url, response)


def _answer(url: str, response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code == 401:
        raise UserError(f"the host at {url} refused the token (401)", hint=_TOKEN_HINT)
    if response.status_code != 200:
        said = body.get("error") if isinstance(body, dict) else None
        hint = _HINTS.get(response.status_code, "the host's log says more")
        raise UserError(
            f"the host at {url} answered {response.status_code}: {said or '?'}", hint=hint
        )
    if not isinstance(body, dict):
        raise UserError(f"the host at {url} answered something that is not a JSON object")
    return body
