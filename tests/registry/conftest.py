"""Fixtures for the registry tests: a real pypiserver, a signing key and a trust store."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pluginctl.signing.keys import SigningKey
from pluginctl.signing.trust import TrustStore
from tests.registry.pypiserver import (
    publish_home as publish_home,  # noqa: PLC0414  # re-export: pytest finds the fixture here
)
from tests.registry.pypiserver import (
    pypiserver as pypiserver,  # noqa: PLC0414  # re-export: pytest finds the fixture here
)

if TYPE_CHECKING:
    from pathlib import Path


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
