"""A cache other plugins share: ``get`` and ``set`` exports over the key-value store."""

from __future__ import annotations

from typing import Any

from pluginctl import Plugin

plugin = Plugin()


def ttl_for(requested: float | None, default_ttl_s: float) -> float:
    """The expiry to use: the caller's, else the configured default (never below 1 ms)."""
    return max(requested if requested is not None else default_ttl_s, 0.001)


@plugin.export("get")
async def get(key: str, *, api: Any) -> object:
    """The cached value of ``key``, or None when missing or expired."""
    return await api.kv.get(f"entry:{key}")


@plugin.export("set")
async def set_(key: str, value: object, ttl_s: float | None = None, *, api: Any) -> None:
    """Cache ``value`` under ``key`` for ``ttl_s`` seconds."""
    ttl = ttl_for(ttl_s, float(api.config["default_ttl_s"]))
    await api.kv.set(f"entry:{key}", value, ttl_s=ttl)
