"""What the sandbox refuses a plugin: coalesced in the worker, counted and audited by the host.

The refusals themselves, with real workers, are rows of the chaos matrix
(`tests/runtime/test_chaos.py`); these test the bookkeeping on both sides.
"""

from __future__ import annotations

import errno
import socket
import threading
from typing import TYPE_CHECKING

from pluginctl.runtime.audit import AuditLog, read
from pluginctl.runtime.refusals import RefusalLog, RefusalWatch

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path


class Later:
    """A stand-in for the loop's ``call_later``: callbacks run when the test says."""

    def __init__(self) -> None:
        self.due: list[Callable[[], None]] = []

    def __call__(self, delay_s: float, callback: Callable[[], None]) -> None:
        assert delay_s == 1.0
        self.due.append(callback)

    def run(self) -> None:
        due, self.due = self.due, []
        for callback in due:
            callback()


def watching() -> tuple[RefusalWatch, list[tuple[str, str, int]], Later]:
    sent: list[tuple[str, str, int]] = []
    later = Later()
    watch = RefusalWatch(lambda *report: sent.append(report), schedule=later)
    return watch, sent, later


def test_the_first_refusal_goes_at_once_and_the_rest_together_a_second_later() -> None:
    watch, sent, later = watching()
    for n in range(5):
        watch.refused("fork", f"attempt {n}")
    watch.refused("socket", "AF_INET")
    assert sent == [("fork", "attempt 0", 1), ("socket", "AF_INET", 1)]
    later.run()
    assert sent[2:] == [("fork", "attempt 4", 4)]  # socket had nothing more to say
    later.run()  # a quiet second: fork's window closes
    assert later.due == []
    watch.refused("fork", "again")
    assert sent[3:] == [("fork", "again", 1)]


def test_refusals_from_many_threads_are_all_counted() -> None:
    watch, sent, later = watching()

    def refuse() -> None:
        for _ in range(1000):
            watch.refused("fork", "os.fork()")

    threads = [threading.Thread(target=refuse) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    later.run()
    assert sum(count for _, _, count in sent) == 8000
    assert len(sent) == 2


def test_audit_events_name_the_operation_and_its_target() -> None:
    watch, sent, _ = watching()
    watch.audit("subprocess.Popen", (None, ["/bin/sh", "-c", "id"], None, None))
    watch.audit("os.system", (b"rm -rf /",))
    watch.audit("os.exec", ("/bin/true", ["true"], {}))
    watch.audit("os.posix_spawn", ("/bin/true", ["true"], {}))
    watch.audit("os.forkpty", ())
    watch.audit("socket.__new__", (None, socket.AF_INET6, socket.SOCK_STREAM, 0))
    assert sent == [
        ("subprocess", "/bin/sh", 1),
        ("system", "rm -rf /", 1),
        ("exec", "/bin/true", 1),
        ("spawn", "/bin/true", 1),
        ("fork", "os.forkpty()", 1),
        ("socket", "AF_INET6", 1),
    ]


def test_what_the_runtime_itself_does_is_not_a_refusal() -> None:
    watch, sent, _ = watching()
    watch.audit("socket.__new__", (None, socket.AF_UNIX, socket.SOCK_STREAM, 0))  # socketpair
    watch.audit("socket.__new__", (None, -1, -1, -1))  # socket(fileno=...) for the RPC socket
    watch.audit("open", ("/etc/passwd", "r", 0))
    watch.handler_failed(PermissionError(errno.EPERM, "Operation not permitted", "/bin/true"))
    watch.handler_failed(FileNotFoundError(errno.ENOENT, "No such file", "/nowhere"))
    watch.handler_failed(PermissionError(errno.EACCES, "Permission denied"))  # no file named
    assert sent == []


def test_a_file_landlock_refused_is_reported_from_the_handlers_error() -> None:
    watch, sent, _ = watching()
    watch.handler_failed(PermissionError(errno.EACCES, "Permission denied", "/etc/shadow"))
    assert sent == [("open", "/etc/shadow", 1)]


def test_the_host_audits_each_operation_at_most_twice_a_second(tmp_path: Path) -> None:
    now = [0.0]
    with AuditLog(tmp_path / "audit.jsonl") as audit:
        refusals = RefusalLog(audit, clock=lambda: now[0])
        counted = [refusals.record("snoop", ["fork", "os.fork()", 1]) for _ in range(3)]
        now[0] = 0.6
        counted.append(refusals.record("snoop", ["fork", "os.fork()", 10]))
        counted.append(refusals.record("snoop", ["socket", "AF_INET", 1]))
    assert counted == [("fork", 1)] * 3 + [("fork", 10), ("socket", 1)]
    records = [(r["operation"], r["count"]) for r in read(tmp_path / "audit.jsonl")]
    assert records == [("fork", 1), ("fork", 12), ("socket", 1)]  # the held two come along


def test_a_hostile_report_is_neither_counted_nor_audited(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "audit.jsonl") as audit:
        refusals = RefusalLog(audit)
        hostile: list[list[object]] = [
            ["reboot", "now", 1],  # not an operation
            ["fork", "os.fork()", -5],
            ["fork", "os.fork()", True],
            ["fork", 7, 1],
            ["fork", "os.fork()"],
        ]
        assert [refusals.record("snoop", report) for report in hostile] == [None] * 5
        assert refusals.record("snoop", ["exec", "x" * 100_000, 1]) == ("exec", 1)
    [record] = read(tmp_path / "audit.jsonl")
    assert len(str(record["target"])) == 256
