"""Import a plugin's own source files without bytecode caches.

A plugin run from its source tree is edited while it runs. CPython's ``.pyc``
cache is keyed by the source's modification time in whole seconds and its size,
so an edit that keeps the size within the same second (``Hello`` → ``Howdy``)
would load the stale bytecode; and writing ``__pycache__`` into the author's tree
is clutter. `install` makes every module under one directory compile from its
source on import, reading and writing no cache; everything else (the standard
library, installed dependencies) keeps its caches.

It changes the importing process for good, so only a worker calls it.
"""

from __future__ import annotations

import sys
from importlib.machinery import SOURCE_SUFFIXES, FileFinder, SourceFileLoader
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import CodeType

__all__ = ["install"]


class _SourceOnlyLoader(SourceFileLoader):
    """Compile from the source every time: no ``.pyc`` read, none written."""

    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        return self.source_to_code(self.get_data(path), path)


def install(root: Path) -> None:
    """Make imports from ``root`` and below compile from source, without caches."""
    base = Path(root).resolve()

    def hook(entry: str) -> FileFinder:
        try:
            Path(entry or ".").resolve().relative_to(base)
        except (ValueError, OSError):
            raise ImportError("not under the plugin's source root") from None
        return FileFinder(entry, (_SourceOnlyLoader, SOURCE_SUFFIXES))

    sys.path_hooks.insert(0, _named(hook))
    sys.path_importer_cache.clear()


def _named(hook: Callable[[str], FileFinder]) -> Callable[[str], FileFinder]:
    hook.__qualname__ = hook.__name__ = "pluginctl_fresh_source"
    return hook
