"""Which pluginctl versions a release's ``host`` range admits, parsed once per range."""

from __future__ import annotations

import functools

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from pluginctl.errors import RegistryError

__all__ = ["admits", "normalise_version"]


@functools.lru_cache(maxsize=4096)
def _specifier(spec: str) -> SpecifierSet | None:
    try:
        return SpecifierSet(spec, prereleases=True)
    except InvalidSpecifier:
        return None


@functools.lru_cache(maxsize=65536)
def admits(spec: str, version: str) -> bool:
    """Whether a release's ``host`` range ``spec`` admits pluginctl ``version``.

    An empty range admits every version; a range that does not parse admits none.

    Example:
        >>> admits(">=0.1,<0.2", "0.1.5"), admits(">=0.2", "0.1.0"), admits("", "9")
        (True, False, True)
    """
    if not spec:
        return True
    specifier = _specifier(spec)
    return specifier is not None and specifier.contains(version)


def normalise_version(text: str) -> str:
    """``text`` as a normalised PEP 440 version.

    Raises:
        RegistryError: it is not one.

    Example:
        >>> normalise_version("0.1")
        '0.1'
    """
    try:
        return str(Version(text))
    except InvalidVersion:
        raise RegistryError(
            f"host: {text[:64]!r} is not a version (PEP 440)",
            hint="give the pluginctl version to be compatible with, e.g. 0.1.0",
        ) from None
