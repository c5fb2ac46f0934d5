"""``pluginctl create``: scaffold a new plugin project (placeholder, being written)."""

from __future__ import annotations


def create() -> None:
    """Create a new plugin project."""
