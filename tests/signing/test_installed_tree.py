"""verify_installed against a hand-made site-packages: what an attacker there may change."""

from __future__ import annotations

import shutil
from importlib.metadata import Distribution
from typing import TYPE_CHECKING

import pytest

from pluginctl.signing.installed import SIGNATURE_FILE, verify_installed
from pluginctl.signing.keys import SigningKey
from pluginctl.signing.sign import sign_wheel
from pluginctl.signing.trust import TrustStore
from tests.signing.installtree import install
from tests.signing.wheelmaker import make_wheel

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def trust(tmp_path: Path) -> tuple[SigningKey, TrustStore]:
    key = SigningKey.generate("Ada")
    store = TrustStore.load(
        project_file=tmp_path / "pluginctl.trust.toml", user_file=tmp_path / "trust.toml"
    )
    store.trust(key.public, name="Ada", projects=["*"])
    return key, store


@pytest.fixture
def site(tmp_path: Path, trust: tuple[SigningKey, TrustStore]) -> Path:
    wheel = make_wheel(tmp_path)
    sign_wheel(wheel, trust[0])
    site = tmp_path / "site-packages"
    install(wheel, site)
    return site


def test_a_plugin_installed_as_signed_verifies(
    site: Path, trust: tuple[SigningKey, TrustStore]
) -> None:
    report = verify_installed(Distribution.at(site / "demo-1.0.dist-info"), trust=trust[1])
    assert report.ok, report.error


def test_a_second_dist_info_for_the_project_is_not_vouched_for_by_the_first(
    site: Path, trust: tuple[SigningKey, TrustStore]
) -> None:
    """A look-alike .dist-info whose RECORD names the signed one's METADATA first."""
    fake = site / "demo-0.dist-info"
    fake.mkdir()
    (fake / "METADATA").write_text("Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
    (fake / "entry_points.txt").write_text("[pluginctl.plugins]\ndemo = evil:plugin\n")
    (fake / "RECORD").write_text("demo-1.0.dist-info/METADATA,,\n")
    shutil.copy(site / "demo-1.0.dist-info" / SIGNATURE_FILE, fake)
    (site / "evil.py").write_text("plugin = None\n")
    report = verify_installed(Distribution.at(fake), trust=trust[1])
    assert report.error is not None, "the look-alike distribution verified"
    assert report.error.check == "subject"
    assert "is read from demo-0.dist-info" in report.error.message
