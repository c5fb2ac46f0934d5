"""The zygote: a small process that preloads the worker runtime and forks workers.

Forking a process that has already imported asyncio, msgspec and pluginctl costs
about a millisecond, against tens for a fresh interpreter. The host starts one
zygote (``python -m pluginctl.runtime.zygote CONTROL_FD EVENTS_FD HOST_PID``) and asks
it for workers over the control socket; each request carries the worker's socket
and its stdout/stderr pipes as file descriptors (SCM_RIGHTS). The zygote answers
with the worker's pid, reaps workers as they end and reports each exit, with its
status, on the events socket. It dies with the host (parent-death signal), and its
workers die with it.

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

import msgspec

from pluginctl.runtime.protocol import FrameDecoder, Notify, WorkerSpec, encode

__all__ = ["describe_status", "main"]

_FDS_PER_WORKER = 3


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
        self.fds: list[int] = []
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.control, selectors.EVENT_READ, self._on_control)
        selector.register(self.wake_r, selectors.EVENT_READ, self._on_signal)
        while True:
            for key, _ in selector.select():
                key.data()

    def _on_control(self) -> None:
        data, fds, _, _ = socket.recv_fds(self.control, 65536, 64)
        if not data:
            os._exit(0)  # the host is gone
        self.fds.extend(fds)
        for message in self.decoder.feed(data):
            if isinstance(message, Notify) and message.method == "fork":
                self._fork(message.args)

    def _on_signal(self) -> None:
        os.read(self.wake_r, 512)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            code, reason = describe_status(status)
            self.events.sendall(encode(Notify("exited", [pid, code, reason])))

    def _fork(self, args: list[object]) -> None:
        request_id, raw_spec = args
        fds, self.fds = self.fds[:_FDS_PER_WORKER], self.fds[_FDS_PER_WORKER:]
        if not isinstance(raw_spec, bytes):
            raise TypeError(f"fork request {request_id} carries no worker spec")
        spec = msgspec.msgpack.decode(raw_spec, type=WorkerSpec)
        pid = os.fork()
        if pid == 0:
            self._become_worker(spec, fds)
        for fd in fds:
            os.close(fd)
        self.control.sendall(encode(Notify("forked", [request_id, pid])))

    def _become_worker(self, spec: WorkerSpec, fds: list[int]) -> None:
        try:
            from pluginctl.runtime.prctl import die_with_parent
            from pluginctl.runtime.worker import run_worker

            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            zygote = os.getppid()
            die_with_parent(zygote)
            rpc, out, err = fds
            os.dup2(out, 1)
            os.dup2(err, 2)
            for fd in (
                out,
                err,
                self.wake_r,
                self.wake_w,
                self.control.fileno(),
                self.events.fileno(),
            ):
                os.close(fd)
            run_worker(socket.socket(fileno=rpc), spec)
        finally:
            os._exit(70)


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


def main(argv: list[str]) -> None:
    """Run the zygote until the host closes the control socket."""
    from pluginctl.runtime.prctl import die_with_parent

    control_fd, events_fd, host_pid = (int(arg) for arg in argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host decides when workers stop
    die_with_parent(host_pid)
    _preload()
    gc.collect()
    gc.freeze()
    zygote = _Zygote(socket.socket(fileno=control_fd), socket.socket(fileno=events_fd), host_pid)
    zygote.serve()


if __name__ == "__main__":
    main(sys.argv[1:])
