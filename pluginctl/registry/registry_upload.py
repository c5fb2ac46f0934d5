"""Publishing to a pluginctl registry directly: the legacy upload form, over httpx.

A ``pluginctl registry serve`` speaks the same upload API as PyPI, and twine can
use it; but twine and requests take longer to import than a whole upload to a
registry on the same network takes. So when the URL and the credentials are
given and the index says it is a pluginctl registry (it answers ``/api/keys``),
`publish_to_registry` sends the form itself: the fields twine sends that the
registry reads (``name``, ``version``, ``filetype``, ``pyversion``, the digests),
the file, and the wheel's signature as the ``signature`` part, streamed from disk
with progress. The pre-flight has already run; the registry checks everything
again.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from pluginctl.errors import PublishError
from pluginctl.registry.urls import api_url

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import BinaryIO

    import httpx

    from pluginctl.registry.preflight import Distribution
    from pluginctl.registry.upload import Progress

__all__ = ["is_pluginctl_registry", "listed", "publish_to_registry"]

_JSON = "application/vnd.pypi.simple.v1+json"


def is_pluginctl_registry(client: httpx.Client, url: str) -> bool:
    """Whether ``url`` is served by ``pluginctl registry serve`` (it answers /api/keys)."""
    import httpx

    try:
        response = client.get(f"{api_url(url)}/keys")
    except httpx.HTTPError:
        return False
    return response.status_code == 200 and "json" in response.headers.get("content-type", "")


def listed(client: httpx.Client, url: str, project: str) -> set[str]:
    """The file names the registry lists for ``project`` (PEP 691 JSON)."""
    page = client.get(
        urljoin(url.rstrip("/") + "/", f"simple/{project}/"), headers={"Accept": _JSON}
    )
    if page.status_code == 404:
        return set()
    if page.status_code != 200:
        raise PublishError(
            f"{url} answered {page.status_code} for the project page of {project}",
            hint="check that the registry is up, then publish again",
        )
    files = page.json().get("files", [])
    return {str(entry.get("filename")) for entry in files if isinstance(entry, dict)}


def publish_to_registry(
    client: httpx.Client,
    url: str,
    dist: Distribution,
    *,
    on_progress: Callable[[Progress], None] | None = None,
) -> None:
    """POST ``dist`` (and its signature) to the registry at ``url``.

    Raises:
        PublishError: the registry refused it, with the registry's reason.
    """
    import httpx

    fields = _fields(dist)
    with dist.path.open("rb") as file:
        reader = _Reporting(file, dist, on_progress)
        files: dict[str, tuple[str, object, str]] = {
            "content": (dist.filename, reader, "application/octet-stream")
        }
        if dist.signature is not None:
            files["signature"] = (dist.filename + ".sig", dist.signature, "application/json")
        try:
            response = client.post(url, data=fields, files=files)  # type: ignore[arg-type]  # a reader httpx streams
        except httpx.HTTPError as exc:
            raise PublishError(
                f"{dist.filename}: the upload to {url} failed: {type(exc).__name__}",
                hint="check the URL and that the registry is up, then retry",
            ) from None
    if response.status_code != 200:
        reason = response.reason_phrase or response.text.strip()[:300]
        raise PublishError(
            f"{dist.filename}: {url} refused the upload (HTTP {response.status_code} {reason})",
            hint="fix what the registry says, then publish again",
        )


def _fields(dist: Distribution) -> dict[str, str]:
    digest = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    blake = hashlib.blake2b(digest_size=32)
    with dist.path.open("rb") as file:
        while chunk := file.read(1 << 20):
            for hasher in (digest, md5, blake):
                hasher.update(chunk)
    wheel = dist.kind == "wheel"
    return {
        ":action": "file_upload",
        "protocol_version": "1",
        "name": dist.project,
        "version": dist.version,
        "filetype": "bdist_wheel" if wheel else "sdist",
        "pyversion": dist.filename.split("-")[-3] if wheel else "source",
        "metadata_version": "2.1",
        "sha256_digest": digest.hexdigest(),
        "md5_digest": md5.hexdigest(),
        "blake2_256_digest": blake.hexdigest(),
    }


class _Reporting:
    """The wheel's file as httpx reads it, in chunks, reporting how much was sent.

    ``fileno`` lets httpx size the body from the file, so the request carries a
    Content-Length the registry checks.
    """

    def __init__(
        self, file: BinaryIO, dist: Distribution, on_progress: Callable[[Progress], None] | None
    ) -> None:
        self._file = file
        self._dist = dist
        self._on_progress = on_progress
        self._total = dist.path.stat().st_size
        self._sent = 0

    def fileno(self) -> int:
        return self._file.fileno()

    def read(self, size: int = -1) -> bytes:
        from pluginctl.registry.upload import Progress

        chunk = self._file.read(size)
        self._sent += len(chunk)
        if chunk and self._on_progress is not None:
            self._on_progress(Progress(self._dist.filename, self._sent, self._total))
        return chunk
