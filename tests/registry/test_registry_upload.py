"""publish to a pluginctl registry goes straight over httpx, the signature with it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import PublishError
from pluginctl.registry.upload import Progress, publish_remote
from pluginctl.signing.sign import sign_wheel
from pluginctl.signing.trust import TrustStore
from tests.registry.registry_harness import served
from tests.signing.wheelmaker import make_wheel

if TYPE_CHECKING:
    from pathlib import Path

    from pluginctl.signing.keys import SigningKey

pytestmark = pytest.mark.xdist_group("registry-upload-direct")


def test_a_signed_wheel_reaches_the_registry_with_its_signature_and_without_twine(
    tmp_path: Path, key: SigningKey, trust: TrustStore, publish_home: Path
) -> None:
    wheel = make_wheel(tmp_path, "direct", "1.0")
    sign_wheel(wheel, key)
    root = tmp_path / "registry"
    root.mkdir()
    own = TrustStore.load(project_file=root / "pluginctl.trust.toml", user_file=root / "none")
    own.trust(key.public, name="Ada", projects=["*"], project=True)
    progress: list[Progress] = []
    with served(root, env={"XDG_CONFIG_HOME": str(publish_home / ".config")}) as registry:
        token = registry.token("direct")
        for name in [m for m in sys.modules if m.startswith("twine")]:
            del sys.modules[name]
        (done,) = publish_remote(
            [wheel],
            trust=trust,
            repository_url=registry.url,
            token=token,
            on_progress=progress.append,
        )
        assert not any(m.startswith("twine") for m in sys.modules)
        stored = registry.store.path_of("direct", wheel.name)
        assert stored.read_bytes() == wheel.read_bytes()
        sig = wheel.with_name(wheel.name + ".sig")
        assert stored.with_name(stored.name + ".sig").read_bytes() == sig.read_bytes()
        assert done.signature is None  # the registry keeps it: no signature source needed
        assert progress[-1].sent_bytes == progress[-1].total_bytes == wheel.stat().st_size
        with pytest.raises(PublishError, match="is already on"):
            publish_remote([wheel], trust=trust, repository_url=registry.url, token=token)
        (tmp_path / "dist").mkdir()
        other = make_wheel(tmp_path / "dist", "direct", "2.0")
        sign_wheel(other, key)
        wrong = "pcr_" + "x" * 43
        with pytest.raises(PublishError, match="HTTP 403"):
            publish_remote([other], trust=trust, repository_url=registry.url, token=wrong)
