"""The registry of suites: every public module in ``bench/`` with a ``run`` function.

Adding a suite is adding a module: ``bench/rpc.py`` defining
``run(*, quick: bool) -> list[Metric]`` is the suite ``rpc``. Its docstring's first
line describes it in ``python -m bench --list``. A suite that runs for a set time
also takes ``duration_s: float | None = None`` (``--duration``); `runner` passes it
only to the suites that take it.

Example:
    >>> "cli" in available_suites()
    True
    >>> takes_duration(load_suite("chaos")), takes_duration(load_suite("cli"))
    (True, False)
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from bench._errors import BenchError

if TYPE_CHECKING:
    from collections.abc import Callable

    from bench._metric import Metric

__all__ = [
    "Suite",
    "TimedSuite",
    "available_suites",
    "describe_suite",
    "load_suite",
    "runner",
    "takes_duration",
]

_PACKAGE = "bench"
_HERE = Path(__file__).parent


class Suite(Protocol):
    """What a suite module provides."""

    def run(self, *, quick: bool) -> list[Metric]:
        """Measure every metric of the suite; ``quick`` does few repetitions."""
        ...


class TimedSuite(Protocol):
    """What a suite that runs for a set time provides."""

    def run(self, *, quick: bool, duration_s: float | None = None) -> list[Metric]:
        """Measure every metric; ``duration_s`` replaces the suite's own length."""
        ...


def available_suites() -> list[str]:
    """The names of the suites, sorted."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules([str(_HERE)])
        if not info.name.startswith("_") and not info.ispkg
    )


def load_suite(name: str) -> Suite:
    """Import the suite ``name``.

    Raises:
        BenchError: when there is no such suite, listing the ones there are.
    """
    known = available_suites()
    if name not in known:
        raise BenchError(
            f"unknown suite {name!r}; available suites: {', '.join(known) or '(none)'}",
            hint="run: python -m bench --list",
        )
    module = importlib.import_module(f"{_PACKAGE}.{name}")
    if not callable(getattr(module, "run", None)):
        raise BenchError(f"bench/{name}.py defines no run(*, quick) function")
    return cast("Suite", module)


def describe_suite(name: str) -> str:
    """The first line of the suite module's docstring."""
    module = importlib.import_module(f"{_PACKAGE}.{name}")
    return (module.__doc__ or "").strip().splitlines()[0] if module.__doc__ else ""


def takes_duration(suite: Suite) -> bool:
    """Whether the suite's ``run`` takes ``duration_s`` (``--duration``)."""
    return "duration_s" in inspect.signature(suite.run).parameters


def runner(
    name: str, suite: Suite, *, duration_s: float | None = None
) -> Callable[[bool], list[Metric]]:
    """The suite's ``run``, given ``duration_s`` if set: call it with ``quick``.

    Raises:
        BenchError: when ``duration_s`` is set and the suite runs for no set time.
    """
    if duration_s is None:
        return lambda quick: suite.run(quick=quick)
    if not takes_duration(suite):
        timed = [known for known in available_suites() if takes_duration(load_suite(known))]
        raise BenchError(
            f"suite {name!r} does not run for a set time: --duration does not apply",
            hint=f"suites that take --duration: {', '.join(timed) or '(none)'}",
        )
    timed_suite = cast("TimedSuite", suite)
    return lambda quick: timed_suite.run(quick=quick, duration_s=duration_s)
