"""A package's public names, imported from their modules on first use (PEP 562)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["lazy_exports"]


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that finds each name of ``homes`` in its submodule.

    Example:
        >>> getter = lazy_exports("pluginctl.signing", {"verify_wheel": "verify"})
        >>> getter("verify_wheel").__name__
        'verify_wheel'
    """

    def attribute(name: str) -> object:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{home}"), name)

    return attribute
