"""The one exception the benchmark runner reports without a traceback."""

from __future__ import annotations

__all__ = ["BenchError"]


class BenchError(Exception):
    """A benchmark could not run: a missing tool, a failing command, an unknown suite.

    Args:
        message: What went wrong.
        hint: What to do about it, if anything.
    """

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message
