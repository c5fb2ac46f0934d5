"""What the sandbox refused a plugin: noticed in its worker, counted and audited by the host.

The sandbox (`pluginctl.runtime.sandbox`) refuses a plugin that starts a process or a
program, opens an internet socket, or opens a file outside its code and its data
directory. The plugin gets a `PermissionError`, which it may catch and hide; the
operator hears of it all the same. Once sandboxed, and before the plugin is imported,
the worker watches for refusals with `RefusalWatch`:

- the interpreter's audit events (PEP 578), raised just before the system call the
  sandbox refuses: ``os.fork``, ``os.forkpty``, ``os.exec``, ``os.posix_spawn``,
  ``os.spawn``, ``os.system``, ``subprocess.Popen``, and ``socket.__new__`` for an
  ``AF_INET`` or ``AF_INET6`` socket;
- the errors its handlers raise: a `PermissionError` with ``EACCES`` and a file name
  is a file Landlock refused (seccomp answers ``EPERM``, and the audit events cover
  those).

Each refusal becomes a ``sandbox.denied`` notification to the host — the first of each
operation at once, the ones after it counted and sent together at most once a second —
so a plugin refused in a loop costs the host one small message a second. The host
counts them on the plugin's ``PluginRuntime.sandbox_denied`` (by operation), and its
`RefusalLog` writes ``sandbox.denied`` records to the audit log (plugin, operation,
target, count), throttled per operation, since a worker is untrusted input.

What it cannot see: a system call made directly (through ``ctypes`` or a C extension)
is refused all the same, but not recorded; a file refusal the plugin catches itself
never reaches a handler's error (the ``open`` audit event comes before Landlock
decides, so it cannot tell a refusal apart); and the refusals counted since the last
report are lost if the worker dies before the next.

Example:
    >>> sent = []
    >>> watch = RefusalWatch(lambda *args: sent.append(args), schedule=lambda *_: None)
    >>> watch.refused("fork", "os.fork()")
    >>> watch.refused("fork", "os.fork()")  # within the second: counted, sent later
    >>> sent
    [('fork', 'os.fork()', 1)]
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import sys
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pluginctl.runtime.audit import AuditThrottle

if TYPE_CHECKING:
    from collections.abc import Callable

    from pluginctl.runtime.audit import AuditLog

__all__ = ["OPERATIONS", "RefusalLog", "RefusalWatch"]

logger = logging.getLogger(__name__)

#: The operations a refusal is counted under.
OPERATIONS: frozenset[str] = frozenset(
    {"fork", "exec", "spawn", "system", "subprocess", "socket", "open"}
)

_PROCESS_EVENTS = {
    "os.fork": "fork",
    "os.forkpty": "fork",
    "os.exec": "exec",
    "os.posix_spawn": "spawn",
    "os.spawn": "spawn",
    "os.system": "system",
    "subprocess.Popen": "subprocess",
}
_INTERNET: dict[object, str] = {socket.AF_INET: "AF_INET", socket.AF_INET6: "AF_INET6"}
_MAX_TARGET = 256  # characters of a target kept: a command line can be long
_WORKER_INTERVAL_S = 1.0
_HOST_INTERVAL_S = 0.5  # under the worker's: an honest worker is never held back


class RefusalWatch:
    """The worker's side: notices refusals and reports them, coalesced, to the host.

    Args:
        send: Sends one report to the host: ``(operation, target, count)``; called
            from any thread (the worker's notify is thread-safe).
        schedule: ``schedule(delay_s, callback)`` runs ``callback`` on the event loop
            later; called from any thread.
        interval_s: At most one report per operation this often, after the first.
    """

    def __init__(
        self,
        send: Callable[[str, str, int], None],
        *,
        schedule: Callable[[float, Callable[[], None]], object],
        interval_s: float = _WORKER_INTERVAL_S,
    ) -> None:
        self._send = send
        self._schedule = schedule
        self._interval_s = interval_s
        self._lock = threading.Lock()
        self._held: dict[str, _Held] = {}  # operations reported within the interval

    def install(self, *, processes: bool, sockets: bool) -> None:
        """Watch the audit events of what seccomp refuses (it cannot be undone)."""
        events = dict(_PROCESS_EVENTS) if processes else {}
        if sockets:
            events["socket.__new__"] = "socket"
        if not events:
            return
        audit = self.audit

        def hook(event: str, args: tuple[object, ...]) -> None:
            if event in events:  # every audit event of the process passes here: keep it short
                # a report that cannot be made must not change what the plugin sees
                with contextlib.suppress(Exception):
                    audit(event, args)

        sys.addaudithook(hook)

    def handler_failed(self, exc: BaseException) -> None:
        """A handler raised ``exc``: a file Landlock refused is reported."""
        if isinstance(exc, PermissionError) and exc.errno == errno.EACCES and exc.filename:
            self.refused("open", str(exc.filename))

    def refused(self, operation: str, target: str) -> None:
        """Report one refusal: now if it is the first in a while, else with the next batch."""
        with self._lock:
            held = self._held.get(operation)
            if held is not None:
                held.count += 1
                held.target = target
                return
            self._held[operation] = _Held(0, target)
        self._send(operation, target[:_MAX_TARGET], 1)
        self._schedule(self._interval_s, lambda: self._flush(operation))

    def _flush(self, operation: str) -> None:
        with self._lock:
            held = self._held.get(operation)
            if held is None:
                return
            count, target = held.count, held.target
            if count == 0:
                del self._held[operation]  # quiet for a whole interval: the next one goes at once
                return
            held.count = 0
        self._send(operation, target[:_MAX_TARGET], count)
        self._schedule(self._interval_s, lambda: self._flush(operation))

    def audit(self, event: str, args: tuple[object, ...]) -> None:
        """An audit event (the hook's arguments): a refusal is reported, the rest ignored."""
        if event == "socket.__new__":  # (socket, family, type, proto)
            family = _INTERNET.get(args[1]) if len(args) > 1 else None
            if family is not None:  # not a Unix socket, nor one for an existing descriptor
                self.refused("socket", family)
            return
        operation = _PROCESS_EVENTS.get(event)
        if operation is not None:
            self.refused(operation, _target(event, args))


@dataclass(slots=True)
class _Held:
    """The refusals of one operation since its last report."""

    count: int
    target: str


def _target(event: str, args: tuple[object, ...]) -> str:
    """What the plugin tried to start, in a few words: the program or the command."""
    if event in ("os.fork", "os.forkpty"):
        return f"{event}()"
    if event == "subprocess.Popen":  # (executable, args, cwd, env)
        executable, argv = args[0], args[1]
        if executable is None and isinstance(argv, list | tuple) and argv:
            executable = argv[0]
        return _text(executable if executable is not None else argv)
    if event == "os.spawn":  # (mode, path, args, env)
        return _text(args[1])
    return _text(args[0]) if args else event  # os.exec, os.posix_spawn: path; os.system: command


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return str(value)


class RefusalLog:
    """The host's side: counts each plugin's refusals and audits them, throttled.

    Args:
        audit: Where the ``sandbox.denied`` records go.
        interval_s: At most one record per plugin and operation this often; the
            counts in between are added to the next one.
        clock: Seconds from a monotonic clock.
    """

    def __init__(
        self,
        audit: AuditLog,
        *,
        interval_s: float = _HOST_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._audit = audit
        self._interval_s = interval_s
        self._clock = clock
        self._throttles: dict[tuple[str, str], AuditThrottle] = {}

    def record(self, plugin: str, args: list[object]) -> tuple[str, int] | None:
        """A ``sandbox.denied`` report from ``plugin``'s worker: ``[operation, target, count]``.

        Returns the operation and the count to add to the plugin's tally, or None for a
        malformed report (logged, never counted).
        """
        report = _parse(args)
        if report is None:
            logger.warning("plugin %s sent a malformed sandbox.denied report", plugin)
            return None
        operation, target, count = report
        throttle = self._throttles.get((plugin, operation))
        if throttle is None:  # operations are few: one per plugin and operation at most
            throttle = AuditThrottle(interval_s=self._interval_s)
            self._throttles[plugin, operation] = throttle
        held = throttle.allow(self._clock(), count=count)
        if held is None:
            return operation, count
        total = count + held
        self._audit.record(
            "sandbox.denied", plugin=plugin, operation=operation, target=target, count=total
        )
        logger.warning(
            "plugin %s: the sandbox refused %s %s (%d time%s)",
            plugin,
            operation,
            target,
            total,
            "" if total == 1 else "s",
        )
        return operation, count


def _parse(args: list[object]) -> tuple[str, str, int] | None:
    """A worker's report, checked: a known operation, a short target, a positive count."""
    if len(args) != 3:
        return None
    operation, target, count = args
    if operation not in OPERATIONS or not isinstance(target, str):
        return None
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        return None
    return str(operation), target[:_MAX_TARGET], count
