from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pluginctl.validation import validate_project

EXAMPLES = sorted(p for p in (Path(__file__).parent.parent / "examples").iterdir() if p.is_dir())


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_validates_strictly(example: Path) -> None:
    report = validate_project(example)
    assert [str(p) for p in report.problems] == []
    assert report.passed(strict=True)


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_passes_its_own_tests(example: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(example), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            str(example / "tests"),
        ],
        cwd=example,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout.splitlines()[-1]
