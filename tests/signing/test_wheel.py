"""The wheel checks that pip and uv skip: RECORD, policy, metadata and the plugin inside."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from pluginctl.errors import SignatureError
from pluginctl.signing.archive import read_archive
from pluginctl.signing.wheel import (
    check_host,
    check_metadata,
    check_policy,
    check_record,
    parse_name,
    read_plugin,
)
from tests.signing.wheelmaker import make_wheel, members, rewrite

if TYPE_CHECKING:
    from pathlib import Path

DIST_INFO = "demo-1.0.dist-info"


def checked(wheel: Path) -> None:
    name = parse_name(wheel.name)
    archive = read_archive(wheel)
    check_record(archive, name)
    check_policy((m.path for m in archive.members), subject=wheel.name)
    check_metadata(archive, name)
    plugin = read_plugin(archive, name)
    check_host(plugin.manifest, "0.1.0", subject=wheel.name)


def failure(wheel: Path, check: str) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        checked(wheel)
    assert caught.value.check == check, caught.value.message
    assert caught.value.hint
    return caught.value


def test_a_sound_plugin_wheel_passes_every_check(tmp_path: Path) -> None:
    checked(make_wheel(tmp_path))
    plugin = read_plugin(
        read_archive(make_wheel(tmp_path)), parse_name("demo-1.0-py3-none-any.whl")
    )
    assert (plugin.name, plugin.entry_point, plugin.manifest.version) == (
        "demo",
        "demo.plugin:plugin",
        "1.0",
    )


# ---------------------------------------------------------------- RECORD (rows 1 and 3)


def test_a_member_modified_under_an_untouched_record_is_named(tmp_path: Path) -> None:
    wheel = rewrite(make_wheel(tmp_path), replace={"demo/plugin.py": b"import os\n"})
    error = failure(wheel, "record")
    assert error.files == (("demo/plugin.py", "modified"),)
    assert "demo/plugin.py (modified)" in error.message


@pytest.mark.parametrize("extra", ["evil.pth", "sitecustomize.py", "demo-1.0.data/scripts/x"])
def test_an_unlisted_member_is_named_as_added(tmp_path: Path, extra: str) -> None:
    wheel = rewrite(make_wheel(tmp_path), add={extra: b"import os; os.system('id')\n"})
    error = failure(wheel, "record")
    assert error.files == ((extra, "added"),)


def test_a_listed_member_missing_from_the_archive_is_named_as_removed(tmp_path: Path) -> None:
    wheel = rewrite(make_wheel(tmp_path), remove=frozenset({"demo/__init__.py"}))
    assert failure(wheel, "record").files == (("demo/__init__.py", "removed"),)


def test_a_record_with_weak_hashes_or_bad_rows_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    record = members(wheel)[f"{DIST_INFO}/RECORD"].decode()
    weak = record.replace("demo/__init__.py,sha256=", "demo/__init__.py,md5=", 1)
    rewrite(wheel, replace={f"{DIST_INFO}/RECORD": weak.encode()})
    assert "with 'md5'; a plugin wheel's RECORD uses sha256" in failure(wheel, "record").message
    doubled = record + record.splitlines()[0] + "\n"
    rewrite(wheel, replace={f"{DIST_INFO}/RECORD": doubled.encode()})
    assert "lists 'demo/__init__.py' twice" in failure(wheel, "record").message
    rewrite(wheel, replace={f"{DIST_INFO}/RECORD": b"a,b\n"})
    assert "line 1: 2 fields, not 3" in failure(wheel, "record").message


def test_a_wrong_size_in_record_is_a_modification(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    record = members(wheel)[f"{DIST_INFO}/RECORD"].decode()
    line = next(line for line in record.splitlines() if line.startswith("demo/plugin.py,"))
    rewrite(wheel, replace={f"{DIST_INFO}/RECORD": record.replace(line, line + "0").encode()})
    assert failure(wheel, "record").files == (("demo/plugin.py", "modified"),)


# ---------------------------------------------------------------- policy (row 3)


@pytest.mark.parametrize(
    ("extra", "rule"),
    [
        ("evil.pth", "is a .pth file"),
        ("demo-1.0.data/purelib/evil.pth", "is a .pth file"),
        ("sitecustomize.py", "is sitecustomize"),
        ("usercustomize/__init__.py", "is usercustomize"),
        ("demo-1.0.data/scripts/x", "installs outside site-packages"),
        ("demo-1.0.data/data/bin/python3", "installs outside site-packages"),
        ("demo-1.0.data/headers/x.h", "installs outside site-packages"),
    ],
)
def test_files_that_run_at_start_or_land_outside_site_packages_are_refused(
    tmp_path: Path, extra: str, rule: str
) -> None:
    wheel = make_wheel(tmp_path, extra={extra: b"import os\n"})  # listed in RECORD, even signed
    error = failure(wheel, "policy")
    assert f"{extra!r} {rule}" in error.message
    assert error.files == ((extra, "refused"),)


def test_a_pth_file_deeper_in_a_package_is_inert_and_allowed(tmp_path: Path) -> None:
    checked(make_wheel(tmp_path, extra={"demo/data/notes.pth": b"not run\n"}))


# ---------------------------------------------------------------- metadata


def test_metadata_must_agree_with_the_file_name(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    metadata = members(wheel)[f"{DIST_INFO}/METADATA"]
    rewrite(
        wheel,
        replace={f"{DIST_INFO}/METADATA": metadata.replace(b"Version: 1.0", b"Version: 2.0")},
        regenerate_record=True,
    )
    assert "METADATA says version '2.0', the file name 1.0" in failure(wheel, "metadata").message
    rewrite(
        wheel,
        replace={f"{DIST_INFO}/METADATA": metadata.replace(b"Name: demo", b"Name: other")},
        regenerate_record=True,
    )
    assert "METADATA names 'other', the file name 'demo'" in failure(wheel, "metadata").message


def test_a_renamed_wheel_disagrees_with_its_dist_info(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    renamed = wheel.rename(tmp_path / "demo-2.0-py3-none-any.whl")
    error = failure(renamed, "metadata")  # found before RECORD is read
    assert "demo-1.0.dist-info does not match" in error.message


def test_a_second_dist_info_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, extra={"other-1.0.dist-info/METADATA": b"Name: other\n"})
    assert "one .dist-info directory needed" in failure(wheel, "metadata").message


def test_a_file_name_that_is_not_a_wheel_name_is_refused() -> None:
    with pytest.raises(SignatureError) as caught:
        parse_name("demo.whl")
    assert caught.value.check == "input"
    assert "not a wheel file name" in caught.value.message


# ---------------------------------------------------------------- the plugin


def test_the_entry_point_must_name_a_module_in_the_wheel(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    rewrite(
        wheel,
        replace={
            f"{DIST_INFO}/entry_points.txt": b"[pluginctl.plugins]\ndemo = demo.missing:plugin\n"
        },
        regenerate_record=True,
    )
    assert (
        "names module 'demo.missing', which is not in the wheel" in failure(wheel, "plugin").message
    )


def test_a_wheel_without_a_plugin_entry_point_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    rewrite(
        wheel,
        replace={f"{DIST_INFO}/entry_points.txt": b"[console_scripts]\nx = a:b\n"},
        regenerate_record=True,
    )
    assert "0 entry points in the group 'pluginctl.plugins'" in failure(wheel, "plugin").message


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (b'name = "demo"\nversion = "1.0"\npermisions = []\n', "permisions: unknown key"),
        (b'name = "demo"\nversion = "1.0"\nlimits = 3\n', "limits"),
        (b'name = "demo\n', "not valid TOML"),
        (b'name = "other"\nversion = "1.0"\n', "names 'other', the entry point 'demo'"),
        (b'name = "demo"\nversion = "1.1"\n', "says version '1.1', the wheel 1.0"),
    ],
)
def test_a_bad_plugin_toml_inside_the_wheel_is_refused_with_its_key(
    tmp_path: Path, manifest: bytes, expected: str
) -> None:
    wheel = rewrite(
        make_wheel(tmp_path), replace={"demo/plugin.toml": manifest}, regenerate_record=True
    )
    error = failure(wheel, "plugin")
    assert expected in error.message
    assert (
        "demo-1.0-py3-none-any.whl!demo/plugin.toml" in error.message
        or "demo/plugin.toml" in error.message
    )


def test_the_host_range_must_admit_this_host(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, host=">=9")
    error = failure(wheel, "host")
    assert "supports pluginctl >=9, this is pluginctl 0.1.0" in error.message


def test_a_record_that_csv_cannot_read_is_refused_not_a_crash(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    record = "demo-1.0.dist-info/RECORD"
    rewrite(wheel, replace={record: members(wheel)[record] + b"x" * 200_000 + b",,\n"})
    with pytest.raises(SignatureError) as caught:
        check_record(read_archive(wheel), parse_name(wheel.name))
    assert caught.value.check == "record"
    assert "cannot be read" in caught.value.message
