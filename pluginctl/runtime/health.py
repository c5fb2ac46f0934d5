"""Whether each plugin's worker is alive and well, checked while it runs.

Traffic counts as liveness: a worker that sent anything within the last
``interval_s`` is not pinged. An idle one is pinged every ``interval_s``; one that
acknowledges no ping within ``timeout_s`` is unresponsive (stuck in native code with
no call to time out, or wedged), and the `Supervisor` kills and restarts it. A
plugin with a ``health`` hook has it called every ``interval_s`` too: ``False``, a
dictionary with ``"ok": False``, an exception or no answer within ``hook_timeout_s``
makes the plugin *degraded* (it keeps serving; ``/healthz`` and metrics say so)
until the hook passes again; a hook stuck in native code past its deadline and
the grace gets its worker killed, as any call would. Each change is written to the
audit log, the reason cut at 256 characters, a changing reason at most once a minute.

Example:
    >>> verdict_of(True), verdict_of(None), verdict_of({"ok": True, "queue": 3})
    (None, None, None)
    >>> verdict_of(False)
    'the health hook returned False'
    >>> verdict_of({"ok": False, "reason": "the database is down"})
    'the database is down'
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from pluginctl.errors import CallTimeout, PluginctlError, RemoteError, WorkerCrashed
from pluginctl.runtime.channel import ChannelClosed

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pluginctl.runtime.audit import AuditLog
    from pluginctl.runtime.channel import Channel
    from pluginctl.runtime.plugin_runtime import PluginRuntime
    from pluginctl.runtime.processes import WorkerProcess
    from pluginctl.runtime.supervisor import Supervisor

__all__ = ["Health", "HealthMonitor", "HealthPolicy", "verdict_of"]

logger = logging.getLogger(__name__)


class HealthPolicy(msgspec.Struct, kw_only=True, frozen=True):
    """How often plugins are checked (``[defaults.health]`` in pluginctl.toml).

    Attributes:
        interval_s: An idle worker is pinged, and the health hook called, this often.
        timeout_s: A worker that acknowledges no ping for this long is killed.
        hook_timeout_s: The health hook's deadline; a late answer counts as unhealthy.
    """

    interval_s: float = 5.0
    timeout_s: float = 10.0
    hook_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if min(self.interval_s, self.timeout_s, self.hook_timeout_s) <= 0:
            raise ValueError("health interval_s, timeout_s and hook_timeout_s must be positive")


@dataclass(slots=True)
class Health:
    """A plugin's last health check.

    Attributes:
        ok: Whether it passed (True until a check says otherwise).
        reason: Why not, in words.
        checked_at: When (monotonic seconds), or None before the first check.
        ping_s: The last ping's round trip, when one was sent.
        recorded_at: When an unhealthy verdict was last written to the audit log.
    """

    ok: bool = True
    reason: str | None = None
    checked_at: float | None = None
    ping_s: float | None = None
    recorded_at: float | None = None


_MAX_REASON = 256  # a plugin's words, in the audit log and the host's: kept short
_RECORD_CHANGES_EVERY_S = 60.0  # a reason that keeps changing cannot flood the audit log


def _bounded(reason: str) -> str:
    return reason if len(reason) <= _MAX_REASON else reason[: _MAX_REASON - 1] + "…"


def verdict_of(answer: object) -> str | None:
    """What a health hook's answer says is wrong, or None when it is healthy."""
    if answer is False:
        return "the health hook returned False"
    if isinstance(answer, dict) and answer.get("ok") is False:
        reason = answer.get("reason")
        return str(reason) if reason else f"the health hook reported {answer!r}"
    return None


class HealthMonitor:
    """Checks every active plugin's worker on its own schedule.

    Args:
        audit: Where changes of health are recorded.
        supervisor: Ends unresponsive workers (the crash path restarts them).
        policy_for: Plugins with a health policy of their own, by name.
        default: The health policy of every other plugin.
    """

    def __init__(
        self,
        *,
        audit: AuditLog,
        supervisor: Supervisor,
        policy_for: Mapping[str, HealthPolicy],
        default: HealthPolicy,
    ) -> None:
        self.audit = audit
        self._supervisor = supervisor
        self._policies = policy_for
        self._default = default
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def watch(self, runtime: PluginRuntime) -> None:
        """Check ``runtime``'s current worker until it is replaced or ends."""
        self.forget(runtime.name)
        process, channel = runtime.process, runtime.channel
        if process is None or channel is None:
            return
        runtime.health = Health()
        policy = self._policies.get(runtime.name, self._default)
        task = asyncio.ensure_future(self._watch(runtime, process, channel, policy))
        self._tasks[runtime.name] = task
        task.add_done_callback(lambda done: self._ended(runtime.name, done))

    def forget(self, name: str) -> None:
        """Stop checking the plugin ``name`` (it is stopping)."""
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()

    def close(self) -> None:
        """Stop every check."""
        for name in list(self._tasks):
            self.forget(name)

    def _ended(self, name: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(name) is task:
            del self._tasks[name]
        if not task.cancelled() and task.exception() is not None:
            logger.error("the health check of %s failed", name, exc_info=task.exception())

    async def _watch(
        self,
        runtime: PluginRuntime,
        process: WorkerProcess,
        channel: Channel,
        policy: HealthPolicy,
    ) -> None:
        while True:
            await asyncio.sleep(policy.interval_s)
            if runtime.process is not process or not channel.is_open:
                return
            if not await self._alive(runtime, process, channel, policy):
                return
            if runtime.registrations is not None and "health" in runtime.registrations.hooks:
                await self._ask_hook(runtime, channel, policy)
            runtime.health.checked_at = time.monotonic()

    async def _alive(
        self,
        runtime: PluginRuntime,
        process: WorkerProcess,
        channel: Channel,
        policy: HealthPolicy,
    ) -> bool:
        """Ping an idle worker; kill it if it does not answer within ``timeout_s``."""
        if time.monotonic() - channel.last_heard < policy.interval_s:
            return True  # it is talking: traffic is liveness
        if channel.busy_until() > asyncio.get_running_loop().time():
            return True  # silent on a call still within its deadline: that call's deadline judges
        try:
            runtime.health.ping_s = await channel.ping(timeout_s=policy.timeout_s)
        except CallTimeout:
            self._supervisor.kill(
                runtime,
                process,
                reason=(
                    f"was killed by the host: it acknowledged no ping for {policy.timeout_s:g} s"
                    " (unresponsive)"
                ),
                kind="unresponsive",
            )
            return False
        except (PluginctlError, OSError):
            return False  # the channel closed: the crash path takes over
        return True

    async def _ask_hook(
        self, runtime: PluginRuntime, channel: Channel, policy: HealthPolicy
    ) -> None:
        try:
            answer = await channel.call("hook", "health", timeout_s=policy.hook_timeout_s)
        except CallTimeout:
            problem: str | None = (
                f"the health hook did not answer within {policy.hook_timeout_s:g} s"
            )
        except (ChannelClosed, WorkerCrashed, OSError):
            return  # the worker is gone: the crash path takes over
        except RemoteError as exc:
            problem = f"the health hook raised {exc}"
        except PluginctlError as exc:  # a typed error it let escape (a host API refusal)
            problem = f"the health hook raised {type(exc).__name__}: {exc}"
        else:
            problem = verdict_of(answer)
        if not channel.is_open:
            return
        self._record(runtime, None if problem is None else _bounded(problem))

    def _record(self, runtime: PluginRuntime, problem: str | None) -> None:
        health = runtime.health
        if problem is None and not health.ok:
            self.audit.record("plugin.healthy", plugin=runtime.name)
            logger.info("plugin %s is healthy again", runtime.name)
        elif problem is not None and (health.ok or self._may_record_change(health, problem)):
            health.recorded_at = time.monotonic()
            self.audit.record("plugin.unhealthy", plugin=runtime.name, reason=problem)
            logger.warning("plugin %s is unhealthy: %s", runtime.name, problem)
        health.ok, health.reason = problem is None, problem

    @staticmethod
    def _may_record_change(health: Health, problem: str) -> bool:
        """A new reason while unhealthy is recorded at most once a minute."""
        if problem == health.reason:
            return False
        last = health.recorded_at
        return last is None or time.monotonic() - last >= _RECORD_CHANGES_EVERY_S
