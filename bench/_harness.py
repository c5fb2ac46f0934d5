"""Time whole processes, subject and anchor interleaved (ABAB...), so drift hits both alike.

Example:
    >>> import sys
    >>> fast = Command("python -c pass", (sys.executable, "-c", "pass"))
    >>> result = compare(fast, fast, runs=2, warmups=0)
    >>> result.runs, result.subject_p50 > 0
    (2, True)
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench._errors import BenchError
from bench._stats import p50, p95

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["SCRATCH", "Command", "Comparison", "compare"]

#: Replaced, in a command's arguments, by a fresh empty directory for each run.
SCRATCH = "{scratch}"

_TIMEOUT_S = 120.0
_QUIET_ENV = {"NO_COLOR": "1", "TERM": "dumb", "COLUMNS": "100"}


@dataclass(frozen=True, slots=True)
class Command:
    """A process to time.

    Attributes:
        label: How the report names it, as a person would type it.
        argv: The program and its arguments; any ``{scratch}`` becomes a new empty
            directory per run, made and removed outside the timed span.
        env: Extra environment variables, on top of the current ones.
    """

    label: str
    argv: tuple[str, ...]
    env: Mapping[str, str] | None = None

    def time_once(self, *, timeout_s: float = _TIMEOUT_S) -> float:
        """Run the command once and return its wall time in milliseconds.

        Raises:
            BenchError: when it exits non-zero or overruns ``timeout_s``.
        """
        env = {**os.environ, **_QUIET_ENV, **(self.env or {})}
        with self._scratch() as scratch:
            argv = [arg.replace(SCRATCH, scratch) for arg in self.argv]
            start = time.perf_counter_ns()
            try:
                done = subprocess.run(
                    argv,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    env=env,
                    timeout=timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise BenchError(f"`{self.label}` ran longer than {timeout_s:g} s") from None
            except OSError as exc:
                raise BenchError(f"`{self.label}` could not start: {exc}") from None
            elapsed_ns = time.perf_counter_ns() - start
        if done.returncode != 0:
            raise BenchError(f"`{self.label}` exited with {done.returncode}: {_tail(done)}")
        return elapsed_ns / 1e6

    @contextlib.contextmanager
    def _scratch(self) -> Iterator[str]:
        if not any(SCRATCH in arg for arg in self.argv):
            yield ""
            return
        with tempfile.TemporaryDirectory(prefix="pluginctl-bench-") as scratch:
            yield scratch


@dataclass(frozen=True, slots=True)
class Comparison:
    """The timings of a subject and its anchor from one interleaved session, in ms."""

    subject_label: str
    anchor_label: str
    subject_ms: tuple[float, ...]
    anchor_ms: tuple[float, ...]

    @property
    def runs(self) -> int:
        """Timed runs of each (warm-ups not counted)."""
        return len(self.subject_ms)

    @property
    def subject_p50(self) -> float:
        """The subject's median wall time."""
        return p50(self.subject_ms)

    @property
    def subject_p95(self) -> float:
        """The subject's 95th percentile wall time."""
        return p95(self.subject_ms)

    @property
    def anchor_p50(self) -> float:
        """The anchor's median wall time."""
        return p50(self.anchor_ms)

    @property
    def anchor_p95(self) -> float:
        """The anchor's 95th percentile wall time."""
        return p95(self.anchor_ms)


def compare(subject: Command, anchor: Command, *, runs: int, warmups: int = 1) -> Comparison:
    """Time ``subject`` and ``anchor`` alternately: ``warmups`` untimed pairs, then ``runs``.

    Raises:
        BenchError: when either command fails; a failed run is not a measurement.
    """
    if runs < 1:
        raise ValueError(f"runs must be at least 1, not {runs}")
    for _ in range(warmups):
        subject.time_once()
        anchor.time_once()
    subject_ms: list[float] = []
    anchor_ms: list[float] = []
    for _ in range(runs):
        subject_ms.append(subject.time_once())
        anchor_ms.append(anchor.time_once())
    return Comparison(subject.label, anchor.label, tuple(subject_ms), tuple(anchor_ms))


def _tail(done: subprocess.CompletedProcess[bytes], *, lines: int = 3) -> str:
    output = (done.stderr or done.stdout).decode(errors="replace")
    kept = [line.strip() for line in output.splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(no output)"
