"""The zygote: a small process that preloads the worker runtime and forks workers.

Forking a process that has already imported asyncio, msgspec and pluginctl costs
about a millisecond, against tens for a fresh interpreter. The host starts one
zygote (``python -m pluginctl.runtime.zygote CONTROL_FD EVENTS_FD HOST_PID``) and asks
it for workers over the control socket; each request carries the worker's socket
and its stdout/stderr pipes as file descriptors (SCM_RIGHTS). The zygote answers
with the worker's pid, reaps workers as they end and reports each exit, with its
status, on the events socket. It dies with the host (parent-death signal), and its
workers die with it.

Before its first fork the zygote rehearses serving a plugin
(`pluginctl.runtime.rehearsal`), so workers share the memory that warming up
writes. It keeps one worker forked ahead (the standby, as Android's pool of
unspecialised app processes): its event loop already runs, and a request hands it
the plugin's spec and descriptors, so a start never waits for the fork itself; the
zygote forks the next standby right after.

The zygote is single-threaded and never runs plugin code itself.
"""

from __future__ import annotations

import contextlib
import gc
import os
import selectors
import signal
import socket
import sys
import time
from dataclasses import dataclass

import msgspec

from pluginctl.runtime.protocol import FrameDecoder, Notify, WorkerSpec, encode

__all__ = ["describe_status", "main"]

_FDS_PER_WORKER = 3
_MAX_REQUEST = 1024 * 1024  # as the host's _MAX_CONTROL_MESSAGE
_REFILL_DELAY_S = 0.002


def describe_status(status: int) -> tuple[int, str]:
    """A wait status as ``(returncode, reason)``; signals give negative codes.

    Example:
        >>> describe_status(3 << 8)
        (3, 'exited with code 3')
        >>> describe_status(signal.SIGKILL)
        (-9, 'killed by SIGKILL')
    """
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        core = " (core dumped)" if os.WCOREDUMP(status) else ""
        return -number, f"killed by {signal.Signals(number).name}{core}"
    code = os.waitstatus_to_exitcode(status)
    return code, f"exited with code {code}"


class _Zygote:
    def __init__(self, control: socket.socket, events: socket.socket, host_pid: int) -> None:
        self.control = control
        self.events = events
        self.host_pid = host_pid
        self.decoder = FrameDecoder()
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.standby: _Standby | None = None
        self.refill_at: float | None = None

    def serve(self) -> None:
        self._refill()
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ, self._on_control)
        selector.register(self.wake_r, selectors.EVENT_READ, self._on_signal)
        while True:
            wait = None if self.refill_at is None else max(0.0, self.refill_at - time.monotonic())
            for key, _ in selector.select(wait):
                key.data()
            if self.refill_at is not None and time.monotonic() >= self.refill_at:
                self.refill_at = None
                if self.standby is None:
                    self._refill()

    def _on_control(self) -> None:
        # one message per request (SOCK_SEQPACKET), its descriptors attached to it
        data, fds, flags, _ = socket.recv_fds(self.control, _MAX_REQUEST, _FDS_PER_WORKER)
        if not data:
            os._exit(0)  # the host is gone
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(fds) != _FDS_PER_WORKER:
            for fd in fds:
                os.close(fd)
            raise RuntimeError(f"a fork request arrived cut short (flags {flags})")
        for message in self.decoder.feed(data):
            if isinstance(message, Notify) and message.method == "fork":
                self._fork(message.args, fds)

    def _on_signal(self) -> None:
        os.read(self.wake_r, 512)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.standby is not None and pid == self.standby.pid:
                self.standby.channel.close()  # it died unassigned: nobody else knew it
                self.standby = None
                self._refill()
                continue
            code, reason = describe_status(status)
            self.events.sendall(encode(Notify("exited", [pid, code, reason])))

    def _fork(self, args: list[object], fds: list[int]) -> None:
        """Hand the request to the standby worker, then fork the next standby."""
        request_id, raw_spec = args
        if not isinstance(raw_spec, bytes):
            raise TypeError(f"fork request {request_id} carries no worker spec")
        msgspec.msgpack.decode(raw_spec, type=WorkerSpec)  # checked here, used there
        pid = self._assign(raw_spec, fds)
        for fd in fds:
            os.close(fd)
        self.control.sendall(encode(Notify("forked", [request_id, pid])))
        # the next standby once things are quiet: a fork takes about a millisecond of
        # CPU, which the worker just started and the host need more right now
        self.refill_at = time.monotonic() + _REFILL_DELAY_S

    def _assign(self, raw_spec: bytes, fds: list[int]) -> int:
        for _ in range(2):  # the standby may have died since: then its successor
            if self.standby is None:
                self._refill()
            standby, self.standby = self.standby, None
            assert standby is not None
            try:
                socket.send_fds(standby.channel, [raw_spec], fds)
            except OSError:
                continue
            finally:
                standby.channel.close()
            return standby.pid
        raise RuntimeError("two standby workers in a row died before taking a plugin")

    def _refill(self) -> None:
        """Fork the next standby: a worker with its loop running, waiting for a plugin."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ours.close()
            self._become_standby(theirs)
        theirs.close()
        self.standby = _Standby(pid, ours)

    def _become_standby(self, assignments: socket.socket) -> None:
        try:
            from pluginctl.runtime.prctl import die_with_parent
            from pluginctl.runtime.worker import run_standby

            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            die_with_parent(os.getppid())
            for fd in (self.wake_r, self.wake_w, self.control.fileno(), self.events.fileno()):
                os.close(fd)
            run_standby(assignments)
        finally:
            os._exit(70)


@dataclass(frozen=True, slots=True)
class _Standby:
    """The next worker, forked ahead: its pid and the socket that assigns it a plugin."""

    pid: int
    channel: socket.socket


def _preload() -> None:
    """Import what every worker needs, so forks share it instead of importing it again."""
    import asyncio  # noqa: F401
    import concurrent.futures  # noqa: F401
    import json  # noqa: F401
    import urllib.parse  # noqa: F401

    import pluginctl.http
    import pluginctl.plugin
    import pluginctl.runtime.worker  # noqa: F401

    with contextlib.suppress(ImportError):
        import uvloop  # noqa: F401
    from pluginctl.runtime.sandbox import prepare_seccomp

    prepare_seccomp()  # compiled once here, loaded by each worker in microseconds


def main(argv: list[str]) -> None:
    """Run the zygote until the host closes the control socket."""
    from pluginctl.runtime.prctl import die_with_parent

    control_fd, events_fd, host_pid = (int(arg) for arg in argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host decides when workers stop
    die_with_parent(host_pid)
    _preload()
    from pluginctl.runtime.rehearsal import rehearse

    rehearse()
    gc.collect()
    gc.freeze()
    zygote = _Zygote(socket.socket(fileno=control_fd), socket.socket(fileno=events_fd), host_pid)
    zygote.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
