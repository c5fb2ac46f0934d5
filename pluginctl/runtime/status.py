"""Asking running hosts how they are, for ``pluginctl status``.

`fetch_status` finds the hosts that run with a data directory (their records in
``<data_dir>/hosts/``, see `pluginctl.runtime.host_record`), or takes one host's URL
and token, and asks each for ``GET /status`` with its token. What comes back is the
host's own report (`pluginctl.runtime.host.Host.status`): the host, then every
plugin with its state, health, calls, latency, restarts, breaker and memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from pluginctl.errors import UserError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["HostStatus", "fetch_status"]

_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class HostStatus:
    """What one host said, or why it could not be asked.

    Attributes:
        url: The host's gateway.
        report: Its ``/status`` body, or None when it did not answer.
        error: Why not.
    """

    url: str
    report: dict[str, object] | None = None
    error: str | None = None

    @property
    def healthy(self) -> bool:
        """Whether the host answered and every plugin in it is active and well."""
        if self.report is None:
            return False
        plugins = self.report.get("plugins")
        return isinstance(plugins, list) and all(
            isinstance(p, dict) and p.get("state") == "active" for p in plugins
        )


def fetch_status(
    data_dir: Path, *, url: str | None = None, token: str | None = None
) -> list[HostStatus]:
    """The status of every host running with ``data_dir``, or of the host at ``url``.

    Raises:
        UserError: no host runs with ``data_dir``; or ``url`` came without a token.
    """
    from pluginctl.runtime.host_record import find_hosts

    if url is not None:
        if not token:
            raise UserError(
                f"asking {url} for its status needs its token",
                hint="pass --token, or set PLUGINCTL_STATUS_TOKEN; it is in the host's"
                " <data_dir>/hosts/<pid>.json",
            )
        return [_ask(url.rstrip("/"), token)]
    records = find_hosts(data_dir)
    if not records:
        raise UserError(
            f"no pluginctl host is running with the data directory {data_dir}",
            hint="start one with: pluginctl run (or pass --data-dir, or --url and --token)",
        )
    return [_ask(record.url, record.token) for record in records]


def _ask(url: str, token: str) -> HostStatus:
    import httpx

    try:
        response = httpx.get(
            f"{url}/status",
            headers={"authorization": f"Bearer {token}"},
            timeout=_TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        return HostStatus(url, error=f"it does not answer: {exc}")
    if response.status_code == 401:
        return HostStatus(url, error="it refused the token (401)")
    if response.status_code != 200:
        return HostStatus(url, error=f"it answered {response.status_code}")
    try:
        report = response.json()
    except ValueError:
        return HostStatus(url, error="its answer is not JSON")
    if not isinstance(report, dict):
        return HostStatus(url, error="its answer is not a status report")
    return HostStatus(url, report=report)
