"""The plugin template, end to end: every feature combination installs and passes its tests.

Each generated project is installed, with its ``test`` extra, into a fresh virtual
environment next to a pluginctl wheel built once per run, and its own test suite runs
there. ``uv`` makes that take seconds; the wheel is shared by the xdist workers through
a lock file.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pluginctl.scaffold import FEATURES, create_plugin

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
ALL_COMBINATIONS = [
    combo for size in range(len(FEATURES) + 1) for combo in itertools.combinations(FEATURES, size)
]


def combo_id(combo: tuple[str, ...]) -> str:
    return "-".join(combo) or "base"


def find_uv() -> str:
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            pytest.skip("uv is not installed (it comes with pluginctl's test extra)")
        return found


def find_ruff() -> str:
    try:
        from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]  # ships no types
    except ImportError:
        found = shutil.which("ruff")
        if found is None:
            pytest.skip("ruff is not installed (it comes with pluginctl's lint extra)")
        return found
    return str(find_ruff_bin())


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command with a clean environment; fail the test with its output if it fails."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "VIRTUAL_ENV", "PYTHON", "UV_PYTHON", "COV_"))
    }
    done = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(map(str, args))} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    return done


@contextmanager
def locked(path: Path) -> Iterator[None]:
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def pluginctl_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout, built by the first xdist worker that needs it."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # this run only
    wheel_dir = shared / "pluginctl-wheel"
    with locked(shared / "pluginctl-wheel.lock"):
        if not wheel_dir.is_dir():
            staging = Path(tempfile.mkdtemp(dir=shared))
            run(find_uv(), "build", "--wheel", "--quiet", "--out-dir", staging, REPO)
            staging.rename(wheel_dir)
    (wheel,) = wheel_dir.glob("pluginctl-*.whl")
    return wheel


def fresh_venv(path: Path, *requirements: str | Path) -> Path:
    """A new virtual environment at ``path`` with ``requirements``; returns its python."""
    uv = find_uv()
    run(uv, "venv", "--quiet", "--python", sys.executable, path)
    python = path / "bin" / "python"
    run(uv, "pip", "install", "--quiet", "--python", python, *requirements)
    return python


@pytest.mark.parametrize("features", ALL_COMBINATIONS, ids=combo_id)
def test_generated_project_passes_its_own_tests(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    pluginctl_wheel: Path,
    features: tuple[str, ...],
) -> None:
    name = f"gen-{combo_id(features)}"
    created = create_plugin(name, output_dir=tmp_path, features=features, no_input=True)
    postgres = ["psycopg[binary]>=3.2"] if features == FEATURES else []  # pluginctl[postgres]
    python = fresh_venv(tmp_path / "venv", pluginctl_wheel, f"{created.path}[test]", *postgres)
    # -P: import the plugin from the installed wheel, not the source tree, so the test
    # also proves that plugin.toml, static/ and migrations/ ship in the wheel.
    done = run(python, "-P", "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=created.path)
    summary = done.stdout.strip().splitlines()[-1]
    assert " passed" in summary
    assert "failed" not in summary
    assert "error" not in summary
    assert "skipped" not in summary
    if features in ((), FEATURES):
        # What the generated CI workflow runs, with the pluginctl installed from the wheel.
        bin_dir = python.parent
        run(bin_dir / "pluginctl", "validate", "--strict", cwd=created.path)
        tested = run(
            bin_dir / "pluginctl", "test", "-q", "-p", "no:cacheprovider", cwd=created.path
        )
        assert " passed" in tested.stdout
    if "db" in features:  # the migration runs outside the tests' host too
        up = ("migrate", "up", "--data-dir", tmp_path / "data")
        migrated = run(python.parent / "pluginctl", *up, cwd=created.path)
        assert "0001  Create the greetings table." in migrated.stdout
    if features == FEATURES:  # and the generated tests pass on PostgreSQL
        url = request.getfixturevalue("postgres_url")
        on_postgres = run(
            python.parent / "pluginctl",
            *("test", "--database-url", url, "-q", "-p", "no:cacheprovider"),
            cwd=created.path,
        )
        last = on_postgres.stdout.strip().splitlines()[-1]
        assert " passed" in last
        assert "skipped" not in last


def test_generated_code_passes_ruff_with_default_settings(tmp_path: Path) -> None:
    for features in ALL_COMBINATIONS:
        create_plugin(
            f"p-{combo_id(features)}", output_dir=tmp_path, features=features, no_input=True
        )
    longest = "a" + "-b" * 31 + "c"
    create_plugin(longest, output_dir=tmp_path, features=FEATURES, no_input=True)
    ruff = find_ruff()
    # from the projects' side: in this checkout ruff would take pluginctl for first-party
    run(ruff, "check", "--isolated", "--no-cache", tmp_path, cwd=tmp_path)
    run(ruff, "format", "--isolated", "--no-cache", "--check", tmp_path, cwd=tmp_path)


def test_the_installed_wheel_creates_the_same_project(
    tmp_path: Path, pluginctl_wheel: Path
) -> None:
    """The wheel carries the template (as pluginctl/_templates) and finds it."""
    python = fresh_venv(tmp_path / "venv", pluginctl_wheel)
    from_wheel = tmp_path / "from-wheel"
    args = ("--no-input", "--with", ",".join(FEATURES), "--author", "Ada", "--json")
    done = run(python.parent / "pluginctl", "create", "same", "-o", from_wheel, *args)
    assert '"name": "same"' in done.stdout
    from_checkout = create_plugin(
        "same",
        output_dir=tmp_path / "from-checkout",
        features=FEATURES,
        author="Ada",
        no_input=True,
    )

    def tree(root: Path) -> dict[str, bytes]:
        return {
            str(path.relative_to(root)): path.read_bytes()
            for path in sorted(root.rglob("*"))
            if path.is_file()
        }

    assert tree(from_wheel / "same") == tree(from_checkout.path)
