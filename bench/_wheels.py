"""Plugin wheels for the signing benchmarks: a big generated one and the hello example's."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from bench._errors import BenchError

if TYPE_CHECKING:
    from pluginctl.signing.keys import SigningKey

__all__ = ["big_wheel", "hello_wheel", "library_wheel", "plugin_wheel"]

_DATE = (2026, 1, 1, 0, 0, 0)
_REPO = Path(__file__).resolve().parent.parent


def big_wheel(directory: Path, *, total_mb: int = 50, members: int = 200) -> Path:
    """A valid plugin wheel of about ``total_mb`` MB in ``members`` incompressible members."""
    dist_info = "bench_big-1.0.dist-info"
    size = total_mb * 1024 * 1024 // members
    files: dict[str, bytes] = {
        "bench_big/__init__.py": b"",
        "bench_big/plugin.py": b"from pluginctl import Plugin\n\nplugin = Plugin()\n",
        "bench_big/plugin.toml": b'name = "bench-big"\nversion = "1.0"\n',
        f"{dist_info}/METADATA": b"Metadata-Version: 2.1\nName: bench-big\nVersion: 1.0\n",
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": (
            b"[pluginctl.plugins]\nbench-big = bench_big.plugin:plugin\n"
        ),
    }
    for index in range(members - len(files) - 1):
        files[f"bench_big/data/blob{index:03}.bin"] = os.urandom(size)
    rows = [f"{p},sha256={_b64(hashlib.sha256(d).digest())},{len(d)}" for p, d in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*rows, f"{dist_info}/RECORD,,"]) + "\n").encode()
    wheel = directory / "bench_big-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, _DATE)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data, compresslevel=1)
    return wheel


def library_wheel(directory: Path, name: str, version: str) -> Path:
    """A plain library wheel: one module, no plugin entry point."""
    package = name.replace("-", "_")
    dist_info = f"{package}-{version}.dist-info"
    files = {
        f"{package}/__init__.py": b"VALUE = 1\n",
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
        ),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    return _write(directory / f"{package}-{version}-py3-none-any.whl", files, dist_info)


def plugin_wheel(
    directory: Path, key: SigningKey, name: str, version: str, *, requires: list[str] | None = None
) -> Path:
    """A small plugin wheel, signed with ``key``, depending on ``requires``."""
    from pluginctl.signing.sign import sign_wheel

    package = name.replace("-", "_")
    dist_info = f"{package}-{version}.dist-info"
    needs = "".join(f"Requires-Dist: {r}\n" for r in requires or [])
    files = {
        f"{package}/__init__.py": b"",
        f"{package}/plugin.py": b"from pluginctl import Plugin\n\nplugin = Plugin()\n",
        f"{package}/plugin.toml": f'name = "{name}"\nversion = "{version}"\n'.encode(),
        f"{dist_info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{needs}"
        ).encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": (
            f"[pluginctl.plugins]\n{name} = {package}.plugin:plugin\n".encode()
        ),
    }
    wheel = _write(directory / f"{package}-{version}-py3-none-any.whl", files, dist_info)
    sign_wheel(wheel, key)
    return wheel


def _metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()


def _write(wheel: Path, files: dict[str, bytes], dist_info: str) -> Path:
    wheel.parent.mkdir(parents=True, exist_ok=True)
    rows = [f"{p},sha256={_b64(hashlib.sha256(d).digest())},{len(d)}" for p, d in files.items()]
    files[f"{dist_info}/RECORD"] = ("\n".join([*rows, f"{dist_info}/RECORD,,"]) + "\n").encode()
    with zipfile.ZipFile(wheel, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, _DATE)
            info.external_attr = 0o100644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return wheel


def hello_wheel(directory: Path) -> Path:
    """The ``hello`` example's wheel, built with ``python -m build --no-isolation``."""
    project = directory / "hello"
    shutil.copytree(_REPO / "examples" / "hello", project)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(directory),
            str(project),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"building examples/hello failed: {done.stderr.strip()[-300:]}")
    (wheel,) = directory.glob("hello-*.whl")
    return wheel


def _b64(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
