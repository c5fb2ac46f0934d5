"""Fixtures for the registry tests: a real pypiserver, signing keys and trust stores, and
registries with real, signed plugin wheels published into them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pluginctl.registry.store import RegistryStore
from pluginctl.signing.keys import SigningKey
from pluginctl.signing.trust import TrustStore
from tests.registry.publishing import Publisher, trusted_key
from tests.registry.pypiserver import (
    publish_home as publish_home,  # noqa: PLC0414  # re-export: pytest finds the fixture here
)
from tests.registry.pypiserver import (
    pypiserver as pypiserver,  # noqa: PLC0414  # re-export: pytest finds the fixture here
)

if TYPE_CHECKING:
    from pathlib import Path


def trusted_by_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    """A new key that the user's trust store, in a temporary config home, trusts for all."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    signer = SigningKey.generate("Ada")
    TrustStore.load(project_file=tmp_path / "unused.toml").trust(
        signer.public, name="Ada", projects=["*"]
    )
    return signer


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate("Ada")


@pytest.fixture
def trust(publish_home: Path, key: SigningKey) -> TrustStore:
    """A trust store that trusts ``key`` for every project."""
    store = TrustStore.load(
        project_file=publish_home / "pluginctl.trust.toml", user_file=publish_home / "trust.toml"
    )
    store.trust(key.public, name="Ada", projects=["*"])
    return store


@pytest.fixture
def market_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    """A key the user's trust store (in a temporary config home) trusts for everything."""
    return trusted_key(tmp_path, monkeypatch)


@pytest.fixture
def registry(tmp_path: Path, market_key: SigningKey) -> RegistryStore:
    """An empty registry directory whose trust store trusts ``market_key``."""
    return RegistryStore(tmp_path / "registry")


@pytest.fixture
def publisher(registry: RegistryStore, market_key: SigningKey, tmp_path: Path) -> Publisher:
    """Publishes plugin wheels signed with ``market_key`` into ``registry``."""
    return Publisher(registry, market_key, tmp_path / "scratch")
