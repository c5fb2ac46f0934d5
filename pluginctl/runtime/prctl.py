"""Linux process controls the runtime needs, through libc's ``prctl``.

Only what is used: the parent-death signal, so a worker (or a test's PostgreSQL
server) ends when its parent does, even when the parent is killed with SIGKILL.
Elsewhere these are no-ops that say so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["die_with_parent", "die_with_parent_preexec"]

_PR_SET_PDEATHSIG = 1


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def die_with_parent(expected_parent: int, *, sig: int = signal.SIGKILL) -> bool:
    """Ask the kernel to send ``sig`` when the parent ends; exit now if it already has.

    Args:
        expected_parent: The parent's pid as seen before the fork; if the parent
            changed (it died between fork and this call), the process exits at once.
        sig: The signal to receive.

    Returns:
        True when the kernel took the request; False where ``prctl`` is unavailable.
    """
    libc = _libc()
    if libc is None:
        return False
    if libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(err)}")
    if os.getppid() != expected_parent:
        os._exit(1)
    return True


def die_with_parent_preexec(*, sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A ``preexec_fn`` for `subprocess.Popen`: the child gets ``sig`` when this thread ends.

    libc is loaded here, in the parent, so the forked child only makes the call.
    The order matters when ``Popen`` also changes the child's ``user=``/``group=``:
    the kernel clears the parent-death signal on every change of credentials, and
    CPython's ``_posixsubprocess`` calls ``setgroups``, ``setregid`` and
    ``setreuid`` before ``preexec_fn``, so the signal set here survives them (and
    ``exec``, unless the program is set-user-ID).

    The "parent" is the thread that starts the child: start it from a thread that
    lives as long as the child should.
    """
    _libc()
    parent = os.getpid()

    def preexec() -> None:
        die_with_parent(parent, sig=sig)

    return preexec
