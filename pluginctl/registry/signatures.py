"""Where a wheel's ``.sig`` lives when the index it was published to cannot carry it.

PyPI, devpi, pypiserver and Artifactory keep the wheel, not its detached signature.
A `SignatureSource` keeps the signature beside them, keyed by the wheel's sha256,
so whoever downloads the wheel can find the envelope that signs exactly those bytes:
a local directory (``<dir>/<sha256>.sig``, written atomically), or a read-only
HTTP(S) URL template such as ``https://sigs.example.org/{sha256}.sig`` (that
directory, served by any web server).

The key is checked strictly, 64 lowercase hex digits, so it can never be a path.

Example:
    >>> import tempfile
    >>> source = SignatureSource.directory(Path(tempfile.mkdtemp()))
    >>> digest = "ab" * 32
    >>> source.get(digest) is None
    True
    >>> source.put(digest, b'{"payload": "..."}').name == digest + ".sig"
    True
    >>> source.get(digest)
    b'{"payload": "..."}'
    >>> SignatureSource.parse("https://sigs.example.org/{sha256}.sig").location(digest)
    'https://sigs.example.org/abababababababababababababababababababababababababababababababab.sig'
"""

from __future__ import annotations

import re
from pathlib import Path

from pluginctl.atomic_file import write_atomically
from pluginctl.errors import SignatureError, UserError
from pluginctl.signing.envelope import MAX_ENVELOPE_BYTES

__all__ = ["SignatureSource"]

_SHA256 = re.compile(r"[0-9a-f]{64}")
_PLACEHOLDER = "{sha256}"


class SignatureSource:
    """A place that maps a wheel's sha256 to its signature envelope.

    Build one with `directory`, `url`, `default` or `parse`; a directory source
    can be written (`put`), every source can be read (`get`).
    """

    __slots__ = ("_root", "_template", "_timeout_s")

    def __init__(
        self, *, root: Path | None = None, template: str | None = None, timeout_s: float = 30.0
    ) -> None:
        if (root is None) == (template is None):
            raise UserError("a signature source is a directory or a URL template, one of them")
        self._root = root
        self._template = template
        self._timeout_s = timeout_s

    @classmethod
    def directory(cls, root: Path) -> SignatureSource:
        """Signatures as ``<root>/<sha256>.sig``; the directory is made on the first `put`."""
        return cls(root=root)

    @classmethod
    def url(cls, template: str, *, timeout_s: float = 30.0) -> SignatureSource:
        """Signatures fetched from ``template`` with ``{sha256}`` replaced; read-only.

        Raises:
            UserError: the template is not HTTP(S) or lacks ``{sha256}``.
        """
        if not template.startswith(("http://", "https://")) or _PLACEHOLDER not in template:
            raise UserError(
                f"signature source {template!r} is not an http(s) URL with {_PLACEHOLDER} in it",
                hint="e.g. https://sigs.example.org/{sha256}.sig, or a local directory",
            )
        return cls(template=template, timeout_s=timeout_s)

    @classmethod
    def default(cls) -> SignatureSource:
        """The user's own: ``<user data dir>/pluginctl/registry/signatures``."""
        from platformdirs import user_data_dir

        return cls.directory(
            Path(user_data_dir("pluginctl", appauthor=False)) / "registry" / "signatures"
        )

    @classmethod
    def parse(cls, spec: str) -> SignatureSource:
        """An HTTP(S) URL template, or else a directory path."""
        if spec.startswith(("http://", "https://")):
            return cls.url(spec)
        return cls.directory(Path(spec).expanduser())

    @property
    def writable(self) -> bool:
        """Whether `put` works: only a directory source can be written."""
        return self._root is not None

    def location(self, sha256: str) -> str:
        """Where the signature of the wheel with this sha256 is (a path or a URL)."""
        key = _checked(sha256)
        if self._template is not None:
            return self._template.replace(_PLACEHOLDER, key)
        assert self._root is not None
        return str(self._root / f"{key}.sig")

    def put(self, sha256: str, envelope: bytes) -> Path:
        """Keep ``envelope`` as the signature of the wheel with this sha256; returns its path.

        Raises:
            UserError: the source is a URL (read-only), or the key is not a sha256.
            SignatureError: the envelope is past the size limit.
        """
        if self._root is None:
            raise UserError(
                f"the signature source {self._template} is read-only",
                hint="publish signatures into a directory, then serve that directory",
            )
        if len(envelope) > MAX_ENVELOPE_BYTES:
            raise _too_big(sha256)
        target = Path(self.location(sha256))
        self._root.mkdir(parents=True, exist_ok=True)
        write_atomically(target, envelope)
        return target

    def get(self, sha256: str) -> bytes | None:
        """The signature of the wheel with this sha256, or None when this source has none.

        Raises:
            UserError: the key is not a sha256.
            SignatureError: ``check="envelope"``: the signature is past the size limit,
                or the URL could not be read.
        """
        location = self.location(sha256)
        if self._template is not None:
            return self._fetch(location, sha256)
        try:
            with Path(location).open("rb") as file:
                data = file.read(MAX_ENVELOPE_BYTES + 1)
        except FileNotFoundError:
            return None
        if len(data) > MAX_ENVELOPE_BYTES:
            raise _too_big(sha256)
        return data

    def _fetch(self, url: str, sha256: str) -> bytes | None:
        import httpx

        try:
            with httpx.stream("GET", url, timeout=self._timeout_s) as response:
                if response.status_code == 404:
                    return None
                if response.status_code != 200:
                    raise _unreadable(url, f"HTTP {response.status_code}")
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > MAX_ENVELOPE_BYTES:
                        raise _too_big(sha256)
                return bytes(data)
        except httpx.HTTPError as exc:
            raise _unreadable(url, str(exc) or type(exc).__name__) from None

    def __repr__(self) -> str:
        return f"SignatureSource({str(self._root) if self._root else self._template!r})"


def _checked(sha256: str) -> str:
    if not _SHA256.fullmatch(sha256):
        raise UserError(
            f"{sha256[:80]!r} is not a sha256: 64 lowercase hex digits",
            hint="signatures are looked up by the wheel's sha256",
        )
    return sha256


def _too_big(sha256: str) -> SignatureError:
    return SignatureError(
        f"the signature for {sha256[:16]} is over {MAX_ENVELOPE_BYTES} bytes",
        check="envelope",
        hint="a real signature is a few kilobytes: this one is not to be trusted",
    )


def _unreadable(url: str, why: str) -> SignatureError:
    return SignatureError(
        f"the signature at {url} cannot be read: {why}",
        check="envelope",
        hint="check the signature source's URL and your network, then retry",
    )
