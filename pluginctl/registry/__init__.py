"""The plugin registry: publishing plugins, and where their signatures travel.

`SignatureSource` keeps each wheel's ``.sig`` keyed by the wheel's sha256 where the
index itself cannot carry it.
"""

from __future__ import annotations

from pluginctl.registry.signatures import SignatureSource

__all__ = [
    "SignatureSource",
]
