"""A plugin's own modules compile from source on every import, leaving no bytecode."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

SCRIPT = """
import importlib, os, sys
from pathlib import Path
from pluginctl.runtime.fresh_import import install
root = Path(sys.argv[1])
install(root)
sys.path.insert(0, str(root))
print(importlib.import_module("pkg.mod").WORD)
import json  # the standard library still imports as usual
"""


def test_the_plugin_source_wins_over_a_stale_cache_and_none_is_written(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    module = package / "mod.py"
    module.write_text('WORD = "Hello"\n')
    # a cache from a normal import, then an edit of the same size in the same second
    writes = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-c", "import pkg.mod"], cwd=tmp_path, check=True, env=writes)
    assert list(package.glob("__pycache__/mod.*.pyc"))
    stat = module.stat()
    module.write_text('WORD = "Howdy"\n')
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    plain = subprocess.run(
        [sys.executable, "-c", "import pkg.mod; print(pkg.mod.WORD)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert plain.stdout.strip() == "Hello"  # what CPython alone does: the stale bytecode
    caches = sorted(package.glob("__pycache__/*"))
    fresh = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert fresh.stdout.strip() == "Howdy"
    assert sorted(package.glob("__pycache__/*")) == caches  # nothing read, nothing written
    assert all(cache.stat().st_mtime_ns <= stat.st_mtime_ns + 10**9 for cache in caches)
