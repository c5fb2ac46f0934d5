"""Publishing real, signed plugin wheels into a registry, one call each."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pluginctl.signing.keys import SigningKey
from pluginctl.signing.sign import sign_wheel
from pluginctl.signing.trust import TrustStore
from tests.signing.wheelmaker import make_wheel

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

    from pluginctl.registry.distfile import DistFile
    from pluginctl.registry.store import RegistryStore


def trusted_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    """A key the user's trust store (in a temporary config home) trusts for everything."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    signer = SigningKey.generate("Ada")
    TrustStore.load(project_file=tmp_path / "unused.toml").trust(
        signer.public, name="Ada", projects=["*"]
    )
    return signer


@dataclass
class Publisher:
    """Builds, signs and publishes plugin wheels into one registry, one call each."""

    store: RegistryStore
    key: SigningKey
    scratch: Path

    def __post_init__(self) -> None:
        self._dirs = itertools.count()

    def publish(
        self,
        name: str,
        version: str = "1.0",
        *,
        host: str = "",
        summary: str = "",
        category: str = "other",
        tags: tuple[str, ...] = (),
        permissions: tuple[str, ...] = (),
        description: str = "",
    ) -> DistFile:
        directory = self.scratch / f"dist-{next(self._dirs)}"
        directory.mkdir(parents=True)
        facts: dict[str, str | list[str]] = {"category": category, "tags": list(tags)}
        if permissions:
            facts["permissions"] = list(permissions)
        if description:
            facts["description"] = description
        wheel = make_wheel(directory, name, version, host=host, facts=facts, summary=summary)
        sign_wheel(wheel, self.key)
        return self.store.publish(wheel, uploader="ada")
