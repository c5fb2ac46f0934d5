"""The registry of suites: every public module in ``bench/`` with a ``run`` function.

Adding a suite is adding a module: ``bench/rpc.py`` defining
``run(*, quick: bool) -> list[Metric]`` is the suite ``rpc``. Its docstring's first
line describes it in ``python -m bench --list``.

Example:
    >>> "cli" in available_suites()
    True
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, cast

from bench._errors import BenchError

if TYPE_CHECKING:
    from bench._metric import Metric

__all__ = ["Suite", "available_suites", "describe_suite", "load_suite"]

_PACKAGE = "bench"
_HERE = Path(__file__).parent


class Suite(Protocol):
    """What a suite module provides."""

    def run(self, *, quick: bool) -> list[Metric]:
        """Measure every metric of the suite; ``quick`` does few repetitions."""
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
