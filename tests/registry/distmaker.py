"""Sdists built by the tests: a ``NAME-VERSION/PKG-INFO`` in a gzipped tar, as build makes."""

from __future__ import annotations

import io
import tarfile
from typing import TYPE_CHECKING

from tests.signing.wheelmaker import package

if TYPE_CHECKING:
    from pathlib import Path


def pkg_info(name: str, version: str) -> bytes:
    return (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: A demo plugin.\n"
    ).encode()


def make_sdist(
    directory: Path, name: str = "demo", version: str = "1.0", *, metadata: bytes | None = None
) -> Path:
    """An sdist ``name-version.tar.gz`` in ``directory``, with ``metadata`` as its PKG-INFO."""
    root = f"{package(name)}-{version}"
    files = {
        f"{root}/PKG-INFO": metadata if metadata is not None else pkg_info(name, version),
        f"{root}/pyproject.toml": f'[project]\nname = "{name}"\nversion = "{version}"\n'.encode(),
    }
    target = directory / f"{root}.tar.gz"
    with tarfile.open(target, "w:gz") as archive:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 1767225600, 0o644
            archive.addfile(info, io.BytesIO(data))
    return target
