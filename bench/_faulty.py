"""Plugins for the ``faults`` and ``chaos`` suites: one that fails on request, one that never does.

`write_faulty` writes a plugin with an export per fault (`FAULTS`) and routes that run
the same faults from an HTTP request; `write_calm` writes one that only answers. Both
answer ``GET /ok`` and ``export echo``. The faults are those of the test suite's chaos,
greedy and misbehaves fixtures, written out again here: benchmarks never import tests.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from pluginctl.runtime.discovery import load_source
    >>> root = Path(tempfile.mkdtemp())
    >>> source = load_source(write_faulty(root, "bench-faulty-demo", call_timeout_s=0.2))
    >>> sorted(source.manifest.exports) == sorted(["echo", *FAULTS])
    True
    >>> source.manifest.limits.call_timeout_s
    0.2
    >>> FAULTS["native"].crashes, FAULTS["spin"].crashes
    (True, False)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench._workers import write_plugin

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["FAULTS", "Fault", "write_calm", "write_faulty"]


@dataclass(frozen=True, slots=True)
class Fault:
    """One way a plugin can fail.

    Attributes:
        what: What it does, in words.
        crashes: Whether the worker ends (and the host restarts it).
        in_thread: Whether it runs in a plain ``def`` handler (a worker thread) rather
            than on the worker's event loop.
    """

    what: str
    crashes: bool
    in_thread: bool = False


#: Every fault, by the name of the export (and route segment) that injects it.
FAULTS: dict[str, Fault] = {
    "raise": Fault("raises RuntimeError", crashes=False),
    "exit": Fault("os._exit(3)", crashes=True),
    "segfault": Fault("reads address 0 (SIGSEGV)", crashes=True),
    "spin": Fault("an endless Python loop on the event loop", crashes=False),
    "spin_thread": Fault("an endless Python loop in a thread", crashes=False, in_thread=True),
    "regex": Fault("catastrophic regex backtracking", crashes=False),
    "native": Fault("stuck in C: sum(range(10**14))", crashes=True),
    "allocate": Fault("allocates until its memory limit", crashes=False),
    "garbage": Fault("writes a garbage frame on its RPC socket", crashes=True, in_thread=True),
}

_COMMON = '''
@plugin.route("GET", "/ok")
async def ok(request: Any, api: Any) -> dict[str, Any]:
    """A healthy answer."""
    return {"ok": True}


@plugin.export("echo")
async def echo(payload: Any, *, api: Any) -> Any:
    """Return ``payload`` unchanged."""
    return payload
'''

_FAULT_FUNCTIONS = '''
import ctypes
import os
import re
import socket
import stat
import struct

_GARBAGE = struct.pack(">I", 5) + b"\\xc1\\xc1\\xc1\\xc1\\xc1"


def _rpc_fd() -> int:
    """The socket to the host: the one whose peer is another process."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            sock = socket.socket(fileno=os.dup(fd))
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
            sock.close()
        except OSError:
            continue
        if struct.unpack("3i", creds)[0] != os.getpid():
            return fd
    raise RuntimeError("no socket to the host")


def _raise() -> Any:
    raise RuntimeError("an injected fault")


def _exit() -> Any:
    os._exit(3)


def _segfault() -> Any:
    return ctypes.string_at(0)


def _spin() -> Any:
    n = 0
    while True:
        n += 1


def _regex() -> Any:
    return bool(re.match(r"(a+)+$", "a" * 64 + "b"))


def _native() -> Any:
    return sum(range(10**14))


def _allocate() -> Any:
    held = []
    while True:
        held.append(bytearray(16 * 1024 * 1024))


def _garbage() -> Any:
    os.write(_rpc_fd(), _GARBAGE)
    time.sleep(5)


FAULTS = {
    "raise": _raise,
    "exit": _exit,
    "segfault": _segfault,
    "spin": _spin,
    "spin_thread": _spin,
    "regex": _regex,
    "native": _native,
    "allocate": _allocate,
    "garbage": _garbage,
}


@plugin.route("GET", "/fault/{kind}")
async def fault_route(request: Any, api: Any) -> Any:
    """Fail, on the event loop, in the way the path names."""
    return FAULTS[request.path_params["kind"]]()


@plugin.route("GET", "/fault-thread/{kind}")
def fault_thread_route(request: Any, api: Any) -> Any:
    """Fail, in a worker thread, in the way the path names."""
    return FAULTS[request.path_params["kind"]]()
'''

_ASYNC_EXPORT = '''

@plugin.export("{kind}")
async def fault_{kind}(*, api: Any) -> Any:
    """{what}, on the event loop."""
    return FAULTS["{kind}"]()
'''

_THREAD_EXPORT = '''

@plugin.export("{kind}")
def fault_{kind}(*, api: Any) -> Any:
    """{what}, in a worker thread."""
    return FAULTS["{kind}"]()
'''

_ROUTES = '[routes]\nprefix = "/"\n'


def write_faulty(
    root: Path,
    name: str,
    *,
    call_timeout_s: float = 10.0,
    memory_mb: int = 256,
    permissions: tuple[str, ...] = (),
    manifest_extra: str = "",
) -> Path:
    """Write plugin ``name``, which fails on request in every way of `FAULTS`; its directory.

    ``call_timeout_s`` and ``memory_mb`` go to its manifest's ``[limits]``; the
    ``routes`` permission is always granted, ``permissions`` are added to it.
    """
    exports = "".join(
        (_THREAD_EXPORT if fault.in_thread else _ASYNC_EXPORT).format(kind=kind, what=fault.what)
        for kind, fault in FAULTS.items()
    )
    limits = f"[limits]\ncall_timeout_s = {call_timeout_s!r}\nmemory_mb = {memory_mb}\n"
    return write_plugin(
        root,
        name,
        body=_COMMON + _FAULT_FUNCTIONS + exports,
        permissions=["routes", *permissions],
        exports=["echo", *FAULTS],
        manifest_extra=_ROUTES + limits + manifest_extra,
    )


def write_calm(root: Path, name: str) -> Path:
    """Write plugin ``name``, which only answers ``GET /ok`` and ``echo``; its directory."""
    return write_plugin(
        root,
        name,
        body=_COMMON,
        permissions=["routes"],
        exports=["echo"],
        manifest_extra=_ROUTES,
    )
