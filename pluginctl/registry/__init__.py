"""The plugin registry: publishing plugins, and where their signatures travel.

`publish_remote` uploads wheels and sdists to any existing index (PyPI, devpi,
pypiserver, Artifactory, a ``pluginctl registry serve``) with twine's upload
machinery, after a pre-flight that refuses, before anything is sent, a plugin wheel
that does not verify, invalid metadata, or a file the index already has.
`SignatureSource` keeps each wheel's ``.sig`` keyed by the wheel's sha256 where the
index itself cannot carry it.
"""

from __future__ import annotations

from pluginctl.registry.listing import listed_files, simple_urls
from pluginctl.registry.preflight import Distribution, check_distribution, find_distributions
from pluginctl.registry.signatures import SignatureSource
from pluginctl.registry.upload import Progress, Published, publish_remote

__all__ = [
    "Distribution",
    "Progress",
    "Published",
    "SignatureSource",
    "check_distribution",
    "find_distributions",
    "listed_files",
    "publish_remote",
    "simple_urls",
]
