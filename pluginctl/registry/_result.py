"""The base of the marketplace's results: frozen msgspec structs that turn into JSON."""

from __future__ import annotations

from typing import Self

import msgspec

from pluginctl.errors import RegistryError

__all__ = ["Result"]


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """A typed result with `to_dict`.

    Example:
        >>> class Point(Result, frozen=True, kw_only=True):
        ...     x: int
        ...     y: tuple[int, ...]
        >>> Point(x=1, y=(2,)).to_dict()
        {'x': 1, 'y': [2]}
        >>> Point.from_dict({"x": 1, "y": [2]})
        Point(x=1, y=(2,))
    """

    @classmethod
    def from_dict(cls, data: object) -> Self:
        """The result `to_dict` wrote (a remote registry's answer, say).

        Raises:
            RegistryError: ``data`` is not one.
        """
        try:
            return msgspec.convert(data, cls)
        except msgspec.ValidationError as exc:
            raise RegistryError(
                f"the registry's answer is not a {cls.__name__}: {exc}",
                hint="check that the URL names a pluginctl registry",
            ) from None

    def to_dict(self) -> dict[str, object]:
        """The result as JSON-ready builtins (tuples become lists)."""
        data = msgspec.json.decode(msgspec.json.encode(self))
        assert isinstance(data, dict)
        return data
