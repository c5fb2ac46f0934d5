"""The event loop the host and its workers run on: uvloop where it is installed.

uvloop cuts a host-to-worker round trip to about a third of the stdlib loop's on
this kind of machine; where it is missing (Windows, or a trimmed install) the
standard loop runs the same code.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Coroutine

__all__ = ["loop_name", "run"]

T = TypeVar("T")


def run(main: Coroutine[object, object, T]) -> T:
    """Run ``main`` to completion on the fastest available event loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def loop_name() -> str:
    """``uvloop`` or ``asyncio``: what `run` will use, for ``pluginctl doctor`` and reports."""
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return "asyncio"
    return "uvloop"
