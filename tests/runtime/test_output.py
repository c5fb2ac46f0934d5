"""A plugin's output in the host's log: line by line, within a budget, long lines cut.

The flood itself, from a real worker beside a plugin that must not notice, is a row of
the chaos matrix (`tests/runtime/test_chaos.py`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import pytest

from pluginctl.runtime.audit import AuditLog, read
from pluginctl.runtime.output import LineSplitter, OutputBudget

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

LOG = logging.getLogger("pluginctl.plugin.chatty")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.due: list[Callable[[], None]] = []

    def schedule(self, delay_s: float, callback: Callable[[], None]) -> None:
        assert delay_s == 1.0
        self.due.append(callback)

    def run_due(self) -> None:
        due, self.due = self.due, []
        for callback in due:
            callback()


def budget(clock: Clock, audit: AuditLog | None = None, **limits: float) -> OutputBudget:
    return OutputBudget(
        "chatty",
        LOG,
        lines_per_s=limits.get("lines_per_s", 2.0),
        burst_lines=int(limits.get("burst_lines", 3)),
        max_line_bytes=int(limits.get("max_line_bytes", 4096)),
        audit=audit,
        clock=lambda: clock.now,
        schedule=clock.schedule,
    )


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG.name]


def test_lines_over_the_budget_are_dropped_counted_and_summarised_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOG.name)
    clock = Clock()
    with AuditLog(tmp_path / "audit.jsonl") as audit:
        output = budget(clock, audit)
        output.write("stdout", [b"%d" % n for n in range(5)])  # a burst of 3
        clock.now = 1.0  # 2 more tokens
        output.write("stderr", [b"late %d" % n for n in range(3)])
        assert logged(caplog) == [
            "stdout: 0",
            "stdout: 1",
            "stdout: 2",
            "stderr: late 0",
            "stderr: late 1",
        ]
        assert (output.lines, output.dropped) == (8, 3)
        assert len(clock.due) == 1  # one summary for the interval, however many drops
        clock.run_due()
    assert logged(caplog)[-1] == "output over its budget of 2 lines/s (burst 3): 3 lines dropped"
    [record] = read(tmp_path / "audit.jsonl")
    assert (record["event"], record["plugin"], record["lines"]) == ("output.dropped", "chatty", 3)


def test_structured_log_lines_share_the_budget(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOG.name)
    clock = Clock()
    output = budget(clock)
    output.write("stdout", [b"one", b"two"])
    assert [output.admit(), output.admit()] == [True, False]
    assert output.dropped == 1


def test_a_long_line_is_cut_and_an_endless_one_is_never_held_whole(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=LOG.name)
    output = budget(Clock(), max_line_bytes=8, burst_lines=10)
    lines = LineSplitter(max_line_bytes=8)
    for _ in range(1000):  # a mebibyte with no end of line yet
        assert lines.feed(b"x" * 1024) == []
    output.write("stdout", lines.feed(b"y\nshort\n" + b"z" * 20 + b"\npartial"))
    output.write("stdout", [lines.rest()])
    assert logged(caplog) == [
        "stdout: xxxxxxxx [cut at 8 bytes]",
        "stdout: short",
        "stdout: zzzzzzzz [cut at 8 bytes]",
        "stdout: partial",
    ]
    assert output.cut == 2


def test_undecodable_bytes_are_replaced(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOG.name)
    output = budget(Clock())
    output.write("stderr", [b"caf\xe9"])
    assert logged(caplog) == ["stderr: caf\ufffd"]


def test_a_budget_needs_positive_limits() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        budget(Clock(), lines_per_s=0)


def test_closing_summarises_at_once_what_was_dropped(tmp_path: Path) -> None:
    clock = Clock()
    with AuditLog(tmp_path / "audit.jsonl") as audit:
        output = budget(clock, audit, burst_lines=1)
        output.write("stdout", [b"kept", b"dropped"])
        output.close()  # the host stops before the interval ends
        clock.run_due()  # the summary that was due finds nothing left to say
    assert [r["lines"] for r in read(tmp_path / "audit.jsonl")] == [1]
