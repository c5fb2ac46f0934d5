"""The registry directory: atomic, write-once publishing; tombstones; yanking; fsck.

Hostile inputs (REFERENCES.md): 1 (a tampered plugin wheel is refused at upload),
12 (file name and metadata disagree), 13 (one canonical project), 14 (no overwrite,
no re-upload after delete), 15 (invalid metadata), 22 (a file tampered at rest is
found by fsck).
"""

from __future__ import annotations

import io
import tarfile
import threading
from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import RegistryError
from pluginctl.registry.store import RegistryStore
from pluginctl.signing.sign import sign_wheel
from tests.registry.conftest import trusted_by_user
from tests.signing.wheelmaker import make_wheel, members, record_for, rewrite, write_zip

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from pluginctl.signing.keys import SigningKey


@pytest.fixture
def key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SigningKey:
    """A key the user's trust store (in a temporary config home) trusts for everything."""
    return trusted_by_user(tmp_path, monkeypatch)


@pytest.fixture
def store(tmp_path: Path, key: SigningKey) -> RegistryStore:
    return RegistryStore(tmp_path / "registry")


@pytest.fixture
def signed(tmp_path: Path, key: SigningKey) -> Path:
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel = make_wheel(dist, "demo", "1.0")
    sign_wheel(wheel, key)
    return wheel


def _metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()


def library_wheel(directory: Path, name: str = "helper", version: str = "2.0") -> Path:
    """A plain library wheel: no plugin entry point, so no signature needed."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 1\n",
        f"{dist_info}/METADATA": _metadata(name, version),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    files[f"{dist_info}/RECORD"] = record_for(files, dist_info)
    return write_zip(directory / f"{name}-{version}-py3-none-any.whl", files)


def sdist(directory: Path, name: str = "demo", version: str = "1.0", **extra: bytes) -> Path:
    path = directory / f"{name}-{version}.tar.gz"
    contents = {
        f"{name}-{version}/PKG-INFO": _metadata(name, version),
        **{f"{name}-{version}/{k}": v for k, v in extra.items()},
    }
    with tarfile.open(path, "w:gz") as archive:
        for member, data in contents.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def test_a_signed_plugin_wheel_is_published_with_its_metadata_and_signature(
    store: RegistryStore, signed: Path
) -> None:
    dist = store.publish(signed, uploader="ada")
    assert (dist.project, dist.version, dist.kind) == ("demo", "1.0", "wheel")
    assert dist.plugin is not None
    path = store.path_of("demo", signed.name)
    assert path.read_bytes() == signed.read_bytes()
    assert path.with_name(path.name + ".metadata").read_bytes().startswith(b"Metadata-Version")
    assert path.with_name(path.name + ".sig").is_file()
    (row,) = store.index.files("demo")
    assert (row.sha256, row.uploader, row.signed) == (dist.sha256, "ada", True)
    assert not list((store.root / "staging").iterdir())
    assert '"event": "publish"' in (store.root / "audit.jsonl").read_text()


def test_library_wheels_and_sdists_need_no_signature(store: RegistryStore, tmp_path: Path) -> None:
    assert store.publish(library_wheel(tmp_path)).plugin is None
    assert store.publish(sdist(tmp_path)).kind == "sdist"
    assert [name for name, _ in store.index.projects()] == ["demo", "helper"]


def test_row1_a_plugin_wheel_tampered_after_signing_is_refused(
    store: RegistryStore, signed: Path
) -> None:
    rewrite(signed, replace={"demo/plugin.py": b"import os\n"})
    with pytest.raises(RegistryError) as caught:
        store.publish(signed)
    assert "demo-1.0-py3-none-any.whl" in caught.value.message
    assert store.index.files("demo") == []
    assert "publish.refused" in (store.root / "audit.jsonl").read_text()


def test_an_unsigned_plugin_wheel_is_refused_with_the_command_to_sign_it(
    store: RegistryStore, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "lonely")
    with pytest.raises(RegistryError) as caught:
        store.publish(wheel)
    assert "a plugin wheel must verify to be published" in caught.value.message
    assert caught.value.hint == f"sign it first: pluginctl sign {wheel.name}"


def test_row14_a_published_file_is_never_replaced_not_even_after_it_is_gone(
    store: RegistryStore, signed: Path
) -> None:
    store.publish(signed)
    with pytest.raises(RegistryError, match="File already exists"):
        store.publish(signed)
    path = store.path_of("demo", signed.name)
    path.chmod(0o644)
    path.unlink()  # deleted behind the registry's back: the name stays taken
    with pytest.raises(RegistryError, match="File already exists"):
        store.publish(signed)


def test_row13_confusable_names_are_one_canonical_project(
    store: RegistryStore, tmp_path: Path
) -> None:
    store.publish(library_wheel(tmp_path, "Foo_Bar", "1.0"))
    store.publish(sdist(tmp_path, "foo.bar", "1.0"))
    assert store.index.projects() == [("foo-bar", "foo.bar")]
    assert {row.filename for row in store.index.files("foo-bar")} == {
        "Foo_Bar-1.0-py3-none-any.whl",
        "foo.bar-1.0.tar.gz",
    }


def test_a_file_a_crash_left_without_its_record_stops_a_publish_with_the_repair(
    store: RegistryStore, signed: Path
) -> None:
    left = store.path_of("demo", signed.name)  # linked, then the process died before COMMIT
    left.parent.mkdir(parents=True)
    left.write_bytes(b"left by a crash")
    with pytest.raises(RegistryError, match="no record names it") as caught:
        store.publish(signed)
    assert caught.value.hint == "remove it: pluginctl registry fsck --repair, then publish again"
    assert left.read_bytes() == b"left by a crash"
    assert store.index.files("demo") == []
    assert store.fsck(repair=True).repaired == [f"files/demo/{signed.name}"]
    store.publish(signed)
    assert [row.filename for row in store.index.files("demo")] == [signed.name]


@pytest.mark.parametrize(
    ("first", "again"),
    [
        (("demo", "1.0"), ("Demo", "1.0")),
        (("demo", "1.0"), ("demo", "1.0.0")),
        (("Foo_Bar", "1.0"), ("foo.bar", "01.0")),
    ],
    ids=["case", "trailing-zero", "separators-and-leading-zero"],
)
@pytest.mark.parametrize("make", [library_wheel, sdist], ids=["wheel", "sdist"])
def test_row14_a_file_name_spelled_otherwise_is_still_the_published_file(
    store: RegistryStore,
    tmp_path: Path,
    make: Callable[..., Path],
    first: tuple[str, str],
    again: tuple[str, str],
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    published = store.publish(make(tmp_path / "a", *first))
    respelled = make(tmp_path / "b", *again)
    with pytest.raises(RegistryError, match="File already exists") as caught:
        store.publish(respelled)
    assert published.filename in caught.value.message
    assert [row.filename for row in store.index.files(published.project)] == [published.filename]


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (b"Metadata-Version: 2.1\nVersion: 2.0\n", "METADATA names '', the file name 'helper'"),
        (b"Metadata-Version: 2.1\nName: helper\nVersion: one\n", "METADATA says version 'one'"),
        (
            b"Metadata-Version: 2.1\nName: helper\nVersion: 2.0\nRequires-Dist: ?!\n",
            "invalid metadata",
        ),
        (b"Metadata-Version: 2.1\nName: helper\nVersion: 2.0\nSummary: \xff\n", "not UTF-8"),
        (b"Metadata-Version: 2.1\nName: other\nVersion: 2.0\n", "METADATA names 'other'"),
        (
            b"Metadata-Version: 2.1\nName: helper\nVersion: 2.0\n\n" + b"x" * 2_000_000,
            "past the limit",
        ),
    ],
    ids=["no-name", "bad-version", "bad-requirement", "not-utf8", "name-disagrees", "huge"],
)
def test_rows12_and_15_bad_metadata_is_refused_with_the_reason(
    store: RegistryStore, tmp_path: Path, metadata: bytes, expected: str
) -> None:
    wheel = library_wheel(tmp_path)
    files = members(wheel)
    files["helper-2.0.dist-info/METADATA"] = metadata
    del files["helper-2.0.dist-info/RECORD"]
    files["helper-2.0.dist-info/RECORD"] = record_for(files, "helper-2.0.dist-info")
    wheel.unlink()
    write_zip(wheel, files)
    with pytest.raises(RegistryError) as caught:
        store.publish(wheel)
    assert expected in caught.value.message


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("notes.txt", "wheels (.whl) and sdists (.tar.gz) only"),
        ("demo.whl", "not a valid distribution file name"),
        ("demo-1.0.zip", "wheels (.whl) and sdists (.tar.gz) only"),
    ],
)
def test_files_that_are_not_distributions_are_refused(
    store: RegistryStore, tmp_path: Path, filename: str, expected: str
) -> None:
    path = tmp_path / filename
    path.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(RegistryError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        store.publish(path)


def test_an_sdist_with_a_link_or_an_escaping_name_is_refused(
    store: RegistryStore, tmp_path: Path
) -> None:
    path = tmp_path / "demo-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("demo-1.0/PKG-INFO")
        data = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("demo-1.0/passwd")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
    with pytest.raises(RegistryError, match="not a plain file or directory"):
        store.publish(path)
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("../evil.py")
        archive.addfile(info, io.BytesIO(b""))
    with pytest.raises(RegistryError, match=r"'\.\.' segment"):
        store.publish(path)


def test_twenty_concurrent_publishes_of_one_file_record_it_once(
    store: RegistryStore, signed: Path
) -> None:
    outcomes: list[str] = []
    lock = threading.Lock()

    def publish() -> None:
        try:
            store.publish(signed)
            result = "published"
        except RegistryError as exc:
            result = exc.message
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=publish) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("published") == 1
    assert all(o.startswith("File already exists") for o in outcomes if o != "published")
    assert len(store.index.files("demo")) == 1
    assert store.fsck().clean


def test_yank_and_unyank_a_version(store: RegistryStore, signed: Path) -> None:
    store.publish(signed)
    assert store.yank("Demo", "1.0", reason="broken on Python 3.13") == 1
    (row,) = store.index.files("demo")
    assert (row.yanked, row.yank_reason) == (True, "broken on Python 3.13")
    store.yank("demo", "1.0", yanked=False)
    assert not store.index.files("demo")[0].yanked
    with pytest.raises(RegistryError, match=r"demo 9\.9 is not in this registry"):
        store.yank("demo", "9.9")


def test_row20_a_yank_takes_every_file_of_the_version_however_it_is_spelled(
    store: RegistryStore, tmp_path: Path
) -> None:
    store.publish(library_wheel(tmp_path, "demo", "1.0"))
    store.publish(sdist(tmp_path, "demo", "1.0.0"))  # pip reads both as demo 1.0
    assert store.yank("demo", "1", reason="broken") == 2
    assert [row.yanked for row in store.index.files("demo")] == [True, True]
    assert store.yank("demo", "1.0", yanked=False) == 2
    assert not any(row.yanked for row in store.index.files("demo"))


def test_row22_fsck_finds_a_file_tampered_at_rest_and_strays(
    store: RegistryStore, signed: Path, tmp_path: Path
) -> None:
    store.publish(signed)
    store.publish(library_wheel(tmp_path))
    assert store.fsck().clean
    path = store.path_of("helper", "helper-2.0-py3-none-any.whl")
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"\0")
    stray = store.root / "files" / "demo" / "left-behind.whl"
    stray.write_bytes(b"a crashed upload")
    (store.root / "staging" / "abandoned").mkdir()
    report = store.fsck()
    assert report.problems == [
        "files/helper/helper-2.0-py3-none-any.whl: its sha256 is not the one recorded at"
        " publish time",
        "files/demo/left-behind.whl: no record names it",
    ]
    repaired = store.fsck(repair=True)
    assert "files/demo/left-behind.whl" in repaired.repaired
    assert "staging/abandoned" in repaired.repaired
    assert path.exists()  # evidence is kept
    assert not stray.exists()


def test_fsck_finds_a_signature_that_no_longer_verifies(
    store: RegistryStore, signed: Path, key: SigningKey
) -> None:
    store.publish(signed)
    store.trust().revoke(key.key_id, reason="leaked")
    (problem,) = store.fsck().problems
    assert problem.startswith("files/demo/demo-1.0-py3-none-any.whl: no longer verifies")
    assert "revoked" in problem
