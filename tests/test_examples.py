from __future__ import annotations

from pathlib import Path

import pytest

from pluginctl.validation import validate_project

EXAMPLES = sorted(p for p in (Path(__file__).parent.parent / "examples").iterdir() if p.is_dir())


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_validates_strictly(example: Path) -> None:
    report = validate_project(example)
    assert [str(p) for p in report.problems] == []
    assert report.passed(strict=True)
