"""Where a pluginctl registry's parts live, from any of its URLs."""

from __future__ import annotations

__all__ = ["api_url"]


def api_url(url: str) -> str:
    """The marketplace API's URL for a registry ``url`` (its root, ``/simple/`` or ``/api``).

    Example:
        >>> api_url("http://127.0.0.1:8710/simple/")
        'http://127.0.0.1:8710/api'
    """
    base = url.rstrip("/")
    for suffix in ("/simple", "/api"):
        base = base.removesuffix(suffix)
    return base + "/api"
