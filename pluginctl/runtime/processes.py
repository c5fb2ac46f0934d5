"""Worker processes as the host sees them: started, watched, and ended.

`Zygote` starts workers by fork from a preloaded process; `spawn_worker` starts one
as a fresh interpreter where fork is unavailable. Both give a `WorkerProcess` with
the host's end of the RPC socket, the worker's output pipes, and a future that
resolves with the exit code and the reason once the worker has ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from pluginctl.errors import RuntimeFault, UserError
from pluginctl.runtime.protocol import FrameDecoder, Notify, WorkerSpec, encode

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Exit", "WorkerProcess", "Zygote", "spawn_worker"]

logger = logging.getLogger(__name__)

# The largest fork request (the worker spec, with the plugin's settings) and answer.
_MAX_CONTROL_MESSAGE = 1024 * 1024
# The host's own secrets in its environment: never passed on to plugin code. The
# database URL holds the credentials the host provisions every plugin's role with.
_HOST_ONLY_ENV = frozenset(
    {
        "PLUGINCTL_ADMIN_TOKEN",  # pluginctl.web.admin.auth.TOKEN_ENV
        "PLUGINCTL_DATABASE_URL",
        "PLUGINCTL_TEST_DATABASE_URL",  # pluginctl.suite.DATABASE_URL_ENV
        "PLUGINCTL_HOST_TOKEN",
        "PLUGINCTL_KEY_PASSPHRASE",
        "PLUGINCTL_SIGNING_KEY",
    }
)


@dataclass(frozen=True, slots=True)
class Exit:
    """How a process ended: its return code (negative for a signal) and why, in words."""

    code: int
    reason: str


@dataclass(eq=False)
class WorkerProcess:
    """A started worker: its pid, the host's end of its socket, its output, its end."""

    pid: int
    sock: socket.socket
    stdout: int
    stderr: int
    exited: asyncio.Future[Exit]
    started_by: str
    _signal: Callable[[int], None] = field(repr=False, default=lambda _: None)

    def send_signal(self, sig: int) -> None:
        """Send ``sig`` to the worker, unless it has already ended."""
        if not self.exited.done():
            with contextlib.suppress(ProcessLookupError):
                self._signal(sig)

    async def stop(self, *, grace_s: float = 2.0) -> Exit:
        """End the worker: SIGTERM, wait up to ``grace_s``, then SIGKILL."""
        self.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(asyncio.shield(self.exited), grace_s)
        except TimeoutError:
            self.send_signal(signal.SIGKILL)
            return await self.exited


def _pythonpath() -> dict[str, str]:
    """The environment a child needs to import this pluginctl, even from a checkout.

    It is the host's, without the host's secrets (`_HOST_ONLY_ENV`): plugins run in it.
    """
    here = str(Path(__file__).resolve().parents[2])
    current = os.environ.get("PYTHONPATH")
    env = {name: value for name, value in os.environ.items() if name not in _HOST_ONLY_ENV}
    return {**env, "PYTHONPATH": here if not current else f"{here}{os.pathsep}{current}"}


def _pipes() -> tuple[int, int, int, int]:
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    return out_r, out_w, err_r, err_w


class Zygote:
    """The host's handle on its zygote process."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._events: socket.socket | None = None
        self._forks: dict[int, asyncio.Future[int]] = {}
        self._exits: dict[int, asyncio.Future[Exit]] = {}
        self._early: dict[int, Exit] = {}
        self._ids = 0
        self._decoder = FrameDecoder()
        self._decoder_control = FrameDecoder()
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    async def start(self) -> None:
        """Start the zygote and wait until it is ready to fork."""
        self._loop = asyncio.get_running_loop()
        # one message per fork request, with its descriptors: never split, never merged
        control_host, control_zygote = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        events_host, events_zygote = socket.socketpair()
        command = [
            sys.executable,
            "-m",
            "pluginctl.runtime.zygote",
            str(control_zygote.fileno()),
            str(events_zygote.fileno()),
            str(os.getpid()),
        ]
        self._process = subprocess.Popen(
            command,
            pass_fds=(control_zygote.fileno(), events_zygote.fileno()),
            env=_pythonpath(),
            stdin=subprocess.DEVNULL,
            process_group=0,  # a terminal's Ctrl-C goes to the host, which stops workers in order
        )
        control_zygote.close()
        events_zygote.close()
        self._control = control_host
        self._events = events_host
        events_host.setblocking(False)
        control_host.setblocking(False)
        self._loop.add_reader(events_host.fileno(), self._on_events)
        self._loop.add_reader(control_host.fileno(), self._on_control)

    def _on_control(self) -> None:
        """The zygote's answers to fork requests: one message each."""
        assert self._control is not None
        while True:
            try:
                data = self._control.recv(_MAX_CONTROL_MESSAGE)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                self._on_zygote_exit()
                return
            for message in self._decoder_control.feed(data):
                if isinstance(message, Notify) and message.method == "forked":
                    request_id, pid = (int(str(arg)) for arg in message.args)
                    future = self._forks.pop(request_id, None)
                    if future is not None and not future.done():
                        future.set_result(pid)

    def _on_events(self) -> None:
        assert self._events is not None
        try:
            data = self._events.recv(65536)
        except BlockingIOError:
            return
        if not data:
            self._on_zygote_exit()
            return
        for message in self._decoder.feed(data):
            if isinstance(message, Notify) and message.method == "exited":
                pid, code, reason = message.args
                self._settle(int(str(pid)), Exit(int(str(code)), str(reason)))

    def _settle(self, pid: int, result: Exit) -> None:
        future = self._exits.pop(pid, None)
        if future is None:
            self._early[pid] = result
        elif not future.done():
            future.set_result(result)

    def _on_zygote_exit(self) -> None:
        assert self._loop is not None
        for sock in (self._events, self._control):
            if sock is not None:
                with contextlib.suppress(ValueError, OSError):
                    self._loop.remove_reader(sock.fileno())
        for future in self._forks.values():
            if not future.done():
                future.set_exception(RuntimeFault("the zygote ended while starting a worker"))
        self._forks.clear()
        for pid in list(self._exits):
            self._settle(pid, Exit(-signal.SIGKILL, "killed: the zygote ended"))

    async def fork(self, spec: WorkerSpec) -> WorkerProcess:
        """Fork a worker for ``spec``."""
        assert self._loop is not None
        host_end, worker_end = socket.socketpair()
        out_r, out_w, err_r, err_w = _pipes()
        try:
            pid = await self._request_fork(spec, [worker_end.fileno(), out_w, err_w])
        except BaseException:
            host_end.close()
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            worker_end.close()
            os.close(out_w)
            os.close(err_w)
        exited: asyncio.Future[Exit] = self._loop.create_future()
        if pid in self._early:
            exited.set_result(self._early.pop(pid))
        else:
            self._exits[pid] = exited
        return WorkerProcess(
            pid, host_end, out_r, err_r, exited, "fork", lambda sig: os.kill(pid, sig)
        )

    async def _request_fork(self, spec: WorkerSpec, fds: list[int]) -> int:
        """Send one fork request with the worker's descriptors; wait for its pid."""
        assert self._loop is not None
        if self._control is None or self._control.fileno() < 0:
            raise RuntimeFault("the zygote is not running")
        self._ids += 1
        request_id = self._ids
        frame = encode(Notify("fork", [request_id, msgspec.msgpack.encode(spec)]))
        if len(frame) > _MAX_CONTROL_MESSAGE:
            raise UserError(
                f"the settings of plugin {spec.plugin!r} take {len(frame)} bytes,"
                f" over the {_MAX_CONTROL_MESSAGE}-byte limit of a worker's start request",
                hint="keep large data in files under the plugin's data directory",
            )
        answer: asyncio.Future[int] = self._loop.create_future()
        self._forks[request_id] = answer
        try:
            while True:
                try:
                    socket.send_fds(self._control, [frame], fds)
                    break
                except BlockingIOError:  # the zygote is behind: wait until it reads
                    await self._writable(self._control)
            return await answer
        finally:
            self._forks.pop(request_id, None)

    async def _writable(self, sock: socket.socket) -> None:
        assert self._loop is not None
        ready: asyncio.Future[None] = self._loop.create_future()
        self._loop.add_writer(sock.fileno(), ready.set_result, None)
        try:
            await ready
        finally:
            self._loop.remove_writer(sock.fileno())

    async def stop(self, *, grace_s: float = 2.0) -> None:
        """Close the zygote's sockets and wait for it to end (its workers end with it)."""
        for sock in (self._control, self._events):
            if self._loop is not None and sock is not None:
                with contextlib.suppress(ValueError, OSError):
                    self._loop.remove_reader(sock.fileno())
        for sock in (self._control, self._events):
            if sock is not None:
                sock.close()
        if self._process is not None:
            process = self._process
            try:
                await asyncio.wait_for(asyncio.to_thread(process.wait), grace_s)
            except TimeoutError:
                process.kill()
                await asyncio.to_thread(process.wait)


async def spawn_worker(spec: WorkerSpec) -> WorkerProcess:
    """Start a worker as a fresh interpreter (the fallback where fork is unavailable)."""
    loop = asyncio.get_running_loop()
    host_end, worker_end = socket.socketpair()
    out_r, out_w, err_r, err_w = _pipes()
    spec_r, spec_w = os.pipe()  # the spec holds settings (secrets): never on the command line
    command = [
        sys.executable,
        "-m",
        "pluginctl.runtime.worker",
        str(spec_r),
        str(worker_end.fileno()),
        str(os.getpid()),
    ]
    with os.fdopen(spec_w, "wb") as pipe:  # a spec fits the pipe buffer unless it is huge
        writer = asyncio.get_running_loop().run_in_executor(
            None, pipe.write, msgspec.json.encode(spec)
        )
        process = await asyncio.create_subprocess_exec(
            *command,
            pass_fds=(worker_end.fileno(), spec_r),
            stdin=subprocess.DEVNULL,
            stdout=out_w,
            stderr=err_w,
            env=_pythonpath(),
            start_new_session=True,  # Ctrl-C reaches the host only (uvloop has no process_group)
        )
        os.close(spec_r)
        await writer
    worker_end.close()
    os.close(out_w)
    os.close(err_w)
    exited: asyncio.Future[Exit] = loop.create_future()

    async def watch() -> None:
        code = await process.wait()
        reason = (
            f"killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"
        )
        exited.set_result(Exit(code, reason))

    watcher = asyncio.ensure_future(watch())
    exited.add_done_callback(lambda _: watcher)
    return WorkerProcess(process.pid, host_end, out_r, err_r, exited, "spawn", process.send_signal)
