"""Registries with real, signed plugin wheels published into them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pluginctl.registry.store import RegistryStore
from tests.registry.publishing import Publisher, trusted_key

if TYPE_CHECKING:
    from pathlib import Path

    from pluginctl.signing.keys import SigningKey


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    """A key the user's trust store (in a temporary config home) trusts for everything."""
    return trusted_key(tmp_path, monkeypatch)


@pytest.fixture
def registry(tmp_path: Path, key: SigningKey) -> RegistryStore:
    return RegistryStore(tmp_path / "registry")


@pytest.fixture
def publisher(registry: RegistryStore, key: SigningKey, tmp_path: Path) -> Publisher:
    return Publisher(registry, key, tmp_path / "scratch")
