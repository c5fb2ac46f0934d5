"""Bytecode caches of an installed plugin's modules: each must be its signed source, compiled.

Python runs ``pkg/__pycache__/mod.<tag>.pyc`` instead of ``pkg/mod.py`` when the
cache's header matches the source's size and mtime (or says not to check), so a
forged cache runs code that was never signed while ``mod.py`` still hashes right.
A cache this interpreter would load must hold the code that compiling the signed
source gives here (code objects compare without their file names).
"""

from __future__ import annotations

import importlib.util
import marshal
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

__all__ = ["forged_caches"]

_OPTIMIZATIONS = (0, 1, 2)
_HEADER_BYTES = 16
#: A cache past this size is refused unread (a module's bytecode is far smaller).
_MAX_CACHE_BYTES = 32 * 1024 * 1024


def forged_caches(sources: Iterable[Path]) -> Iterator[Path]:
    r"""The caches of ``sources`` (signed ``.py`` files) this interpreter would load, but forged.

    Example:
        >>> import pathlib, tempfile
        >>> source = pathlib.Path(tempfile.mkdtemp()) / "mod.py"
        >>> _ = source.write_text("x = 1\n")
        >>> list(forged_caches([source]))
        []
    """
    for source in sources:
        for optimization in _OPTIMIZATIONS:
            level = optimization or ""  # cache_from_source's name for no optimisation
            cache = Path(importlib.util.cache_from_source(str(source), optimization=level))
            present = cache.exists() or cache.is_symlink()
            if present and not _faithful(cache, source, optimization):
                yield cache


def _faithful(cache: Path, source: Path, optimization: int) -> bool:
    try:
        if cache.is_symlink() or cache.stat().st_size > _MAX_CACHE_BYTES:
            return False
        data = cache.read_bytes()
        if data[:4] != importlib.util.MAGIC_NUMBER:
            return True  # another interpreter's cache: this one never loads it
        code = marshal.loads(data[_HEADER_BYTES:])  # noqa: S302  # compared, never run
        expected = compile(
            source.read_bytes(), str(source), "exec", dont_inherit=True, optimize=optimization
        )
    except (OSError, ValueError, EOFError, TypeError, SyntaxError):
        return False
    return bool(code == expected)
