"""The plugin registry: publishing plugins, and where their signatures travel.

`publish_remote` uploads wheels and sdists to any existing index (PyPI, devpi,
pypiserver, Artifactory, a ``pluginctl registry serve``) with twine's upload
machinery, after a pre-flight that refuses, before anything is sent, a plugin wheel
that does not verify, invalid metadata, or a file the index already has.
`SignatureSource` keeps each wheel's ``.sig`` keyed by the wheel's sha256 where the
index itself cannot carry it.

`RegistryStore` is the registry directory (write-once files, the SQLite index,
yanking, fsck); `LocalRegistry` and `RemoteIndex` offer its releases, or a remote
index's, to `choose`, which picks what `pluginctl install` installs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pluginctl.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from pluginctl.registry.listing import listed_files, simple_urls
    from pluginctl.registry.preflight import Distribution, check_distribution, find_distributions
    from pluginctl.registry.releases import LocalRegistry, Release, ReleaseSource, choose
    from pluginctl.registry.remote import RemoteIndex
    from pluginctl.registry.signatures import SignatureSource
    from pluginctl.registry.store import FsckReport, RegistryStore
    from pluginctl.registry.upload import Progress, Published, publish_remote

__all__ = [
    "Distribution",
    "FsckReport",
    "LocalRegistry",
    "Progress",
    "Published",
    "RegistryStore",
    "Release",
    "ReleaseSource",
    "RemoteIndex",
    "SignatureSource",
    "check_distribution",
    "choose",
    "find_distributions",
    "listed_files",
    "publish_remote",
    "simple_urls",
]

#: Where each public name lives: imported on first use, so reading the registry
#: directory never pays for twine and requests, which only uploading needs.
_HOMES = {
    "Distribution": "preflight",
    "FsckReport": "store",
    "LocalRegistry": "releases",
    "Progress": "upload",
    "Published": "upload",
    "RegistryStore": "store",
    "Release": "releases",
    "ReleaseSource": "releases",
    "RemoteIndex": "remote",
    "SignatureSource": "signatures",
    "check_distribution": "preflight",
    "choose": "releases",
    "find_distributions": "preflight",
    "listed_files": "listing",
    "publish_remote": "upload",
    "simple_urls": "listing",
}


__getattr__ = lazy_exports(__name__, _HOMES)
