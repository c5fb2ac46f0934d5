"""``pluginctl validate``: check a plugin project (placeholder, being written)."""

from __future__ import annotations


def validate() -> None:
    """Validate a plugin project."""
