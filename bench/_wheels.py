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

from bench._errors import BenchError

__all__ = ["big_wheel", "hello_wheel"]

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
