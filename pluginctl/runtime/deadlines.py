"""Worker side: interrupt a handler that runs past its call's deadline.

The host gives every call a deadline, and gives up on the call when it passes. A
handler that never yields — an endless loop on the event loop, or in a thread —
would keep the worker busy for nothing, and a worker whose event loop is stuck
answers nothing else either. `DeadlineEnforcer` keeps the deadline of every call in
progress and one interval timer (``SIGALRM``, the worker's main thread) for the
earliest. When it fires, each overdue handler gets `DeadlineExceeded` raised where it
runs: in the main thread when that is where it is stuck, in its thread otherwise
(``PyThreadState_SetAsyncExc``). Python code is interrupted at its next bytecode;
code stuck in C is not, and the host kills that worker after a grace period.

`DeadlineExceeded` derives from `BaseException`, like `KeyboardInterrupt`, so that a
handler's ``except Exception`` cannot swallow it.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import signal
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

__all__ = ["DeadlineEnforcer", "DeadlineExceeded"]

_MIN_ALARM_S = 0.0002


class DeadlineExceeded(BaseException):  # named for what happened, like TimeoutError
    """Raised inside a handler that ran past its call's deadline."""


class DeadlineEnforcer:
    """The deadlines of the calls a worker is running, and the alarm for the earliest.

    Only the worker's main thread may create one (it installs the ``SIGALRM``
    handler); `begin`, `end`, `task` and ``running_id`` belong there too, `in_thread`
    to the thread that runs a plain ``def`` handler.
    """

    def __init__(self) -> None:
        self._deadlines: dict[int, float] = {}
        self._threads: dict[int, int] = {}  # call id -> thread ident
        self._tasks: dict[object, int] = {}  # asyncio task -> call id
        self.running_id: int | None = None  # the call whose code runs eagerly, outside tasks
        self._armed_for = math.inf
        signal.signal(signal.SIGALRM, self._on_alarm)

    def begin(self, call_id: int, timeout_s: float) -> None:
        """Call ``call_id`` starts; it must end within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        self._deadlines[call_id] = deadline
        if deadline < self._armed_for:
            self._arm(deadline)

    def end(self, call_id: int) -> None:
        """Call ``call_id`` ended (answered, failed or cancelled); its thread, if any, is done."""
        self._deadlines.pop(call_id, None)

    def task(self, call_id: int, task: object) -> None:
        """``task`` runs ``call_id`` from now on (its first await has passed)."""
        self._tasks[task] = call_id

    def task_done(self, task: object) -> None:
        self._tasks.pop(task, None)

    @contextlib.contextmanager
    def in_thread(self, call_id: int) -> Iterator[None]:
        """The current thread runs ``call_id``'s plain ``def`` handler in this block."""
        self._threads[call_id] = threading.get_ident()
        try:
            yield
        finally:
            self._threads.pop(call_id, None)

    def close(self) -> None:
        """Disarm the alarm and give ``SIGALRM`` back its default handling."""
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)

    # -- the alarm ------------------------------------------------------------------

    def _arm(self, deadline: float) -> None:
        self._armed_for = deadline
        signal.setitimer(signal.ITIMER_REAL, max(_MIN_ALARM_S, deadline - time.monotonic()))

    def _on_alarm(self, _signum: int, frame: FrameType | None) -> None:
        self._armed_for = math.inf
        now = time.monotonic()
        overdue = [call_id for call_id, deadline in self._deadlines.items() if deadline <= now]
        here = False
        for call_id in overdue:
            del self._deadlines[call_id]
            thread = self._threads.pop(call_id, None)
            if thread is not None:
                _raise_in_thread(thread)
            elif call_id in (self.running_id, self._current_task_call()):
                here = True
        if self._deadlines:
            self._arm(min(self._deadlines.values()))
        if here:
            raise DeadlineExceeded("the call ran past its deadline and was interrupted")

    def _current_task_call(self) -> int | None:
        import asyncio

        try:
            task = asyncio.current_task()
        except RuntimeError:  # no running loop
            return None
        return None if task is None else self._tasks.get(task)


def _raise_in_thread(thread: int) -> None:
    """Raise `DeadlineExceeded` in the Python code the thread ``thread`` runs."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread), ctypes.py_object(DeadlineExceeded)
    )
