"""verify_installed against a hand-made site-packages: what an attacker there may change."""

from __future__ import annotations

import compileall
import importlib.util
import marshal
import shutil
import struct
import subprocess
import sys
from importlib.metadata import Distribution
from pathlib import Path

import pytest

from pluginctl.signing.installed import SIGNATURE_FILE, verify_installed
from pluginctl.signing.keys import SigningKey
from pluginctl.signing.sign import sign_wheel
from pluginctl.signing.trust import TrustStore
from tests.signing.installtree import install
from tests.signing.wheelmaker import make_wheel


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


def forge_cache(source: Path, code: str, *, optimization: int | str = "") -> Path:
    """A timestamp pyc of ``code`` that Python takes for ``source``'s (size and mtime match)."""
    info = source.stat()
    compiled = compile(code, str(source), "exec", dont_inherit=True)
    data = bytearray(importlib.util.MAGIC_NUMBER + bytes(4))
    data += struct.pack("<2L", int(info.st_mtime) & 0xFFFFFFFF, info.st_size & 0xFFFFFFFF)
    cache = Path(importlib.util.cache_from_source(str(source), optimization=optimization))
    cache.parent.mkdir(exist_ok=True)
    cache.write_bytes(bytes(data) + marshal.dumps(compiled))
    return cache


def test_a_forged_bytecode_cache_of_a_signed_module_is_refused(
    site: Path, trust: tuple[SigningKey, TrustStore]
) -> None:
    source = site / "demo" / "plugin.py"
    forge_cache(source, "import os\nos.system('echo owned')\n")
    done = subprocess.run(
        [sys.executable, "-c", "import demo.plugin"],
        cwd=site,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "owned" in done.stdout  # Python runs the cache, not the signed source
    report = verify_installed(Distribution.at(site / "demo-1.0.dist-info"), trust=trust[1])
    assert report.error is not None, "the forged cache verified"
    assert report.error.check == "files"
    assert (
        "demo/__pycache__/" + Path(importlib.util.cache_from_source("plugin.py")).name,
        "added",
    ) in report.error.files


def test_bytecode_caches_compiled_from_the_signed_sources_verify(
    site: Path, trust: tuple[SigningKey, TrustStore]
) -> None:
    for optimize in (0, 1):
        compileall.compile_dir(site / "demo", quiet=1, optimize=optimize)
    forge_cache(site / "demo" / "__init__.py", "", optimization=2)  # the same code as the source
    report = verify_installed(Distribution.at(site / "demo-1.0.dist-info"), trust=trust[1])
    assert report.ok, report.error


def test_a_record_that_csv_cannot_read_is_refused_not_a_crash(
    site: Path, trust: tuple[SigningKey, TrustStore]
) -> None:
    record = site / "demo-1.0.dist-info" / "RECORD"
    record.write_text(record.read_text() + "x" * 200_000 + ",,\n")
    report = verify_installed(Distribution.at(site / "demo-1.0.dist-info"), trust=trust[1])
    assert report.error is not None
    assert report.error.check == "input"
    assert "RECORD cannot be read" in report.error.message


def test_installer_files_that_are_not_utf8_are_no_crash(
    site: Path, trust: tuple[SigningKey, TrustStore]
) -> None:
    dist_info = site / "demo-1.0.dist-info"
    (dist_info / "direct_url.json").write_bytes(b"\xff\xfe")  # not an editable install's
    assert verify_installed(Distribution.at(dist_info), trust=trust[1]).ok
    entry_points = dist_info / "entry_points.txt"
    entry_points.write_bytes(entry_points.read_bytes() + b"\xff\xfe")
    report = verify_installed(Distribution.at(dist_info), trust=trust[1])
    assert report.error is not None
    assert report.error.files == (("demo-1.0.dist-info/entry_points.txt", "modified"),)


def test_metadata_that_is_not_utf8_is_refused_and_discovery_survives_it(
    site: Path, trust: tuple[SigningKey, TrustStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    dist_info = site / "demo-1.0.dist-info"
    metadata = dist_info / "METADATA"
    metadata.write_bytes(metadata.read_bytes().replace(b"A demo plugin.", b"\xff\xfe demo"))
    report = verify_installed(Distribution.at(dist_info), trust=trust[1])
    assert report.error is not None
    assert report.error.check in {"input", "files"}
    monkeypatch.syspath_prepend(str(site))
    from pluginctl.runtime.discovery import discover_installed

    found = discover_installed()
    assert "demo" not in [plugin.name for plugin in found.plugins]
    assert [problem.name for problem in found.problems] == ["demo"]
