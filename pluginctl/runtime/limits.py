"""Resource limits of a worker, from its plugin's ``limits`` table, applied before import.

`apply_limits` runs in the worker, before any plugin code: it caps the address space
(``memory_mb``: an allocation past it raises `MemoryError` in the plugin), CPU time
(``cpu_seconds``: at the soft limit the kernel sends ``SIGXCPU``, which ends the
worker, and the host says why), open files, the size of files it writes (a write past
it fails with ``EFBIG`` instead of killing the worker), core dumps (none), and the
number of processes where the kernel enforces it (not for root).

A worker that runs out of memory outside a handler — while encoding a reply, or in
its event loop — cannot go on (a frame may be half written), so it exits with
`OUT_OF_MEMORY_EXIT`, and the host says it ran out of memory. A handler's
`MemoryError` is only that call's error.

So that threads still work under an address-space cap, glibc is told to keep two
malloc arenas (each thread otherwise reserves 64 MiB of address space for its own),
and new threads get 512 KiB stacks instead of 8 MiB.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys
import threading
from dataclasses import dataclass

import msgspec

__all__ = ["OUT_OF_MEMORY_EXIT", "AppliedLimits", "WorkerLimits", "apply_limits"]

#: The exit code of a worker that ran out of memory outside a handler.
OUT_OF_MEMORY_EXIT = 86

_MIB = 1024 * 1024
_THREAD_STACK = 512 * 1024
_M_ARENA_MAX = -8  # mallopt's parameter number in glibc's malloc.h
_ARENAS = 2
_CPU_HARD_MARGIN_S = 2  # SIGXCPU at the soft limit, SIGKILL this much later


class WorkerLimits(msgspec.Struct, frozen=True, kw_only=True):
    """The limits a worker applies to itself (from the manifest's ``limits``)."""

    memory_mb: int | None = None
    cpu_seconds: int | None = None
    open_files: int | None = None
    file_size_mb: int | None = None
    processes: int | None = None


@dataclass(frozen=True, slots=True)
class AppliedLimits:
    """What `apply_limits` set, and what it could not, with why."""

    applied: dict[str, int]
    skipped: dict[str, str]


def apply_limits(limits: WorkerLimits) -> AppliedLimits:
    """Set the calling process's limits; never raises for a limit the system refuses."""
    result = AppliedLimits({}, {})
    _set(result, "core", resource.RLIMIT_CORE, 0)
    if limits.memory_mb is not None:
        _cap_thread_memory()
        _set(result, "memory_mb", resource.RLIMIT_AS, limits.memory_mb * _MIB)
    if limits.cpu_seconds is not None:
        hard = limits.cpu_seconds + _CPU_HARD_MARGIN_S
        _set(result, "cpu_seconds", resource.RLIMIT_CPU, limits.cpu_seconds, hard)
    if limits.open_files is not None:
        _set(result, "open_files", resource.RLIMIT_NOFILE, limits.open_files)
    if limits.file_size_mb is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past it fails, nothing dies
        _set(result, "file_size_mb", resource.RLIMIT_FSIZE, limits.file_size_mb * _MIB)
    if limits.processes is not None:
        if os.geteuid() == 0:
            result.skipped["processes"] = "the kernel does not limit processes for root"
        else:
            _set(result, "processes", resource.RLIMIT_NPROC, limits.processes)
    return result


def _set(result: AppliedLimits, name: str, which: int, soft: int, hard: int | None = None) -> None:
    """Set one limit, never above the hard limit the process already has."""
    current_hard = resource.getrlimit(which)[1]
    hard = soft if hard is None else hard
    if current_hard != resource.RLIM_INFINITY:
        soft, hard = min(soft, current_hard), min(hard, current_hard)
    try:
        resource.setrlimit(which, (soft, hard))
    except (ValueError, OSError) as exc:
        result.skipped[name] = str(exc)
    else:
        result.applied[name] = soft


def _cap_thread_memory() -> None:
    threading.stack_size(_THREAD_STACK)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            # the C library this process already has (find_library would run ldconfig)
            ctypes.CDLL(None).mallopt(_M_ARENA_MAX, _ARENAS)
