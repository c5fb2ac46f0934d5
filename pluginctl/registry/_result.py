"""The base of the marketplace's results: frozen msgspec structs that turn into JSON."""

from __future__ import annotations

import msgspec

__all__ = ["Result"]


class Result(msgspec.Struct, frozen=True, kw_only=True):
    """A typed result with `to_dict`.

    Example:
        >>> class Point(Result, frozen=True, kw_only=True):
        ...     x: int
        ...     y: tuple[int, ...]
        >>> Point(x=1, y=(2,)).to_dict()
        {'x': 1, 'y': [2]}
    """

    def to_dict(self) -> dict[str, object]:
        """The result as JSON-ready builtins (tuples become lists)."""
        data = msgspec.json.decode(msgspec.json.encode(self))
        assert isinstance(data, dict)
        return data
