"""pluginctl build against python -m build, both on the same copy of examples/hello.

Measured in the ``sign`` suite:
    build_ms: ``python -m pluginctl build --no-isolation`` on a copy of examples/hello:
        validation, the sdist, the wheel from the sdist, the import of the plugin in a
        child process and the wheel's checks; against ``python -m build --no-isolation``
        on the same copy, which builds the sdist and the wheel from it too, with the
        same hatchling; goal <= 1.1. Both run as fresh processes, alternately, each
        writing into a new empty directory.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from bench._errors import BenchError
from bench._harness import SCRATCH, Command, compare
from bench._metric import Metric

__all__ = ["FULL", "QUICK", "measure_build_ms"]

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "hello"
SUBJECT = "pluginctl build --no-isolation examples/hello"
ANCHOR = "python -m build --no-isolation examples/hello"
GOAL = "<= 1.1"

#: (runs, warm-ups) in quick and in full mode.
QUICK = (3, 1)
FULL = (15, 2)


def measure_build_ms(*, runs: int, warmups: int) -> Metric:
    """``build_ms``: the p50 of ``pluginctl build`` and of ``python -m build``, interleaved.

    A failure of either command becomes the metric's error.
    """
    with tempfile.TemporaryDirectory(prefix="bench-build-") as scratch:
        project = Path(shutil.copytree(EXAMPLE, Path(scratch) / "hello"))
        subject = Command(
            SUBJECT,
            (sys.executable, "-m", "pluginctl", "build", "--no-isolation", str(project)),
        )
        anchor = Command(ANCHOR, (sys.executable, "-m", "build", "--no-isolation", str(project)))
        try:
            comparison = compare(
                _into_scratch(subject, "--out-dir"),
                _into_scratch(anchor, "--outdir"),
                runs=runs,
                warmups=warmups,
            )
        except BenchError as exc:
            return Metric.failed("build_ms", anchor=ANCHOR, goal=GOAL, error=str(exc))
    return Metric.measured(
        "build_ms", comparison, goal=GOAL, extra={"project": "examples/hello (hatchling)"}
    )


def _into_scratch(command: Command, option: str) -> Command:
    """``command`` writing its files into the fresh directory each run gets."""
    return Command(command.label, (*command.argv, option, SCRATCH))
