"""A plugin's output on its way to the host's log: line by line, within a budget.

What a worker prints (stdout, stderr) and logs (``api.log``) reaches the host's log
tagged with its plugin. A plugin that prints without end must neither fill that log
nor slow the host, so each plugin has an `OutputBudget`: a token bucket of lines
(``lines_per_s``, holding up to ``burst_lines``) shared by all three, and a line
longer than ``max_line_bytes`` is cut there. Lines over the budget are dropped
without being decoded, and counted; for each interval with drops the host's log gets
one summary line and the audit log an ``output.dropped`` record.

`LineSplitter` cuts one stream's bytes into lines, holding at most one line's worth
of an unfinished one.

Example:
    >>> import logging
    >>> budget = OutputBudget(
    ...     "chatty",
    ...     logging.getLogger("demo"),
    ...     lines_per_s=1.0,
    ...     burst_lines=2,
    ...     clock=lambda: 0.0,
    ...     schedule=lambda *_: None,
    ... )
    >>> budget.write("stdout", [b"one", b"two", b"three"])
    >>> budget.lines, budget.dropped
    (3, 1)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING

import msgspec

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

    from pluginctl.runtime.audit import AuditLog

__all__ = ["LineSplitter", "LogLine", "OutputBudget", "OutputPolicy"]

_CUT = " [cut at {} bytes]"
#: How many of a plugin's latest lines it keeps for the admin UI.
RECENT_LINES = 200


class LogLine(msgspec.Struct, frozen=True):
    """One line a plugin printed or logged, as the admin UI lists it.

    Attributes:
        ts: Seconds since the epoch when the host read it.
        stream: ``stdout``, ``stderr`` or a log level (``info``, ``error``, ...).
        text: The line, decoded, cut at the budget's ``line_bytes``.
    """

    ts: float
    stream: str
    text: str


class OutputPolicy(msgspec.Struct, kw_only=True, frozen=True):
    """How much of each plugin's output reaches the host's log (``[defaults.output]``).

    Attributes:
        lines_per_s: Lines a plugin may put in the log each second, in the long run.
        burst_lines: Lines it may put there at once after a quiet spell.
        line_bytes: A longer line is cut to this many bytes.
    """

    lines_per_s: float = 200.0
    burst_lines: int = 2000
    line_bytes: int = 4096

    def __post_init__(self) -> None:
        if not self.lines_per_s > 0 or self.burst_lines < 1 or self.line_bytes < 1:
            raise ValueError("output lines_per_s, burst_lines and line_bytes must be positive")


class OutputBudget:
    """One plugin's allowance of log lines, and the count of what went over it.

    Args:
        plugin: The plugin's name, for the summary and the audit record.
        log: The logger its lines go to.
        lines_per_s: Lines let through a second, in the long run.
        burst_lines: Lines let through at once after a quiet spell (the bucket's size).
        max_line_bytes: A longer line is cut to this many bytes.
        interval_s: How often, at most, the drops are summarised.
        audit: Where ``output.dropped`` records go (none when None).
        clock: Seconds from a monotonic clock.
        schedule: ``schedule(delay_s, callback)``; the running loop's ``call_later``
            when None.
    """

    def __init__(
        self,
        plugin: str,
        log: logging.Logger,
        *,
        lines_per_s: float = 200.0,
        burst_lines: int = 2000,
        max_line_bytes: int = 4096,
        interval_s: float = 1.0,
        audit: AuditLog | None = None,
        clock: Callable[[], float] = time.monotonic,
        schedule: Callable[[float, Callable[[], None]], object] | None = None,
    ) -> None:
        if not lines_per_s > 0 or burst_lines < 1 or max_line_bytes < 1:
            raise ValueError("lines_per_s, burst_lines and max_line_bytes must be positive")
        self.plugin = plugin
        self.log = log
        self.lines_per_s = lines_per_s
        self.burst_lines = burst_lines
        self.max_line_bytes = max_line_bytes
        self.interval_s = interval_s
        self._audit = audit
        self._clock = clock
        self._schedule = schedule
        self._tokens = float(burst_lines)
        self._last: float | None = None
        self._unreported = 0  # dropped since the last summary
        self._summary: object = None  # the scheduled summary, while one is
        self.lines = 0  #: every line seen, let through or not
        self.dropped = 0  #: lines dropped over the budget
        self.cut = 0  #: lines cut at max_line_bytes
        #: The latest lines let through, oldest first (the admin UI shows them).
        self.recent: deque[LogLine] = deque(maxlen=RECENT_LINES)

    def write(self, stream: str, lines: list[bytes]) -> None:
        """Log as many of ``lines`` (from ``stream``) as the budget allows; count the rest."""
        allowed = self._take(len(lines))
        self.lines += len(lines)
        now = time.time()
        for line in lines[:allowed] if allowed < len(lines) else lines:
            text = self._text(line)
            self.recent.append(LogLine(now, stream, text))
            self.log.info("%s: %s", stream, text)
        if allowed < len(lines):
            self._drop(len(lines) - allowed)

    def admit(self) -> bool:
        """Take one line's token for a structured log line; False (and counted) when out."""
        self.lines += 1
        if self._take(1):
            return True
        self._drop(1)
        return False

    def remember(self, stream: str, text: str) -> None:
        """Keep a structured log line (already admitted) among the `recent` ones."""
        self.recent.append(LogLine(time.time(), stream, text[: self.max_line_bytes]))

    def _take(self, wanted: int) -> int:
        now = self._clock()
        if self._last is not None and now > self._last:
            self._tokens = min(
                self.burst_lines, self._tokens + (now - self._last) * self.lines_per_s
            )
        if self._last is None or now > self._last:
            self._last = now
        allowed = min(wanted, int(self._tokens))
        self._tokens -= allowed
        return allowed

    def _text(self, line: bytes) -> str:
        if len(line) <= self.max_line_bytes:
            return line.decode(errors="replace")
        self.cut += 1
        cut = line[: self.max_line_bytes].decode(errors="ignore")
        return cut + _CUT.format(self.max_line_bytes)

    def _drop(self, count: int) -> None:
        self.dropped += count
        if not self._unreported:  # the first drop of an interval: summarise at its end
            schedule = self._schedule or asyncio.get_running_loop().call_later
            self._summary = schedule(self.interval_s, self._summarise)
        self._unreported += count

    def close(self) -> None:
        """Summarise what was dropped since the last summary now (the host is stopping)."""
        summary, self._summary = self._summary, None
        if isinstance(summary, asyncio.TimerHandle):
            summary.cancel()
        self._summarise()

    def _summarise(self) -> None:
        self._summary = None
        count, self._unreported = self._unreported, 0
        if not count:
            return
        self.log.warning(
            "output over its budget of %g lines/s (burst %d): %d line%s dropped",
            self.lines_per_s,
            self.burst_lines,
            count,
            "" if count == 1 else "s",
        )
        if self._audit is not None:
            self._audit.record(
                "output.dropped",
                plugin=self.plugin,
                lines=count,
                total=self.dropped,
                lines_per_s=self.lines_per_s,
            )


class LineSplitter:
    r"""One output stream's bytes as lines, never holding more than one cut line.

    Example:
        >>> lines = LineSplitter(max_line_bytes=4)
        >>> lines.feed(b"ab\ncdefgh"), lines.feed(b"ij\n"), lines.rest()
        ([b'ab'], [b'cdefg'], b'')
    """

    __slots__ = ("_max", "_pending")

    def __init__(self, *, max_line_bytes: int) -> None:
        self._max = max_line_bytes
        self._pending = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines ``chunk`` completes; an unfinished line waits for the next chunk.

        An unfinished line is kept only up to one byte past ``max_line_bytes`` (enough
        to know it must be cut); the rest of it is dropped as it arrives.
        """
        lines = chunk.split(b"\n")
        rest = lines.pop()
        if lines and self._pending:  # the unfinished line ends here
            self._pending += lines[0]
            lines[0] = bytes(self._pending[: self._max + 1])
            self._pending.clear()
        room = self._max + 1 - len(self._pending)
        if room > 0:
            self._pending += rest[:room]
        return lines

    def rest(self) -> bytes:
        """The unfinished line (the stream ended), and forget it."""
        rest = bytes(self._pending)
        self._pending.clear()
        return rest
