"""pluginctl's start-up and `create`, against pip's start-up and cookiecutter.

Metrics:
    cli_help_ms: ``pluginctl --help`` against ``python -m pip --version``; goal <= 0.7.
    cli_version_ms: ``pluginctl --version`` against the same anchor; goal <= 0.5.
    create_ms: ``pluginctl create`` with every feature against the ``cookiecutter`` CLI
        rendering the same template with the same features; goal <= 1.3.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench._errors import BenchError
from bench._harness import SCRATCH, Command, compare
from bench._metric import Metric
from bench._template import TEMPLATE_DIR, extra_context, read_spec

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["run"]

PLUGIN_NAME = "bench-plugin"
FEATURES = ("routes", "db", "admin", "static")

_PIP_LABEL = "python -m pip --version"
_COOKIECUTTER_LABEL = "cookiecutter templates/plugin --no-input"


@dataclass(frozen=True, slots=True)
class _Plan:
    """How many times to run each kind of metric."""

    startup_runs: int
    create_runs: int
    warmups: int


_QUICK = _Plan(startup_runs=3, create_runs=3, warmups=1)
_FULL = _Plan(startup_runs=30, create_runs=15, warmups=2)


def run(*, quick: bool) -> list[Metric]:
    """Measure the suite's three metrics; ``quick`` runs each pair only a few times."""
    with tempfile.TemporaryDirectory(prefix="bench-cookiecutter-") as config_dir:
        return _run(_QUICK if quick else _FULL, Path(config_dir))


def _run(plan: _Plan, config_dir: Path) -> list[Metric]:
    return [
        _measure(
            "cli_help_ms",
            lambda: (_pluginctl("--help"), _pip_version()),
            anchor=_PIP_LABEL,
            goal="<= 0.7",
            runs=plan.startup_runs,
            warmups=plan.warmups,
        ),
        _measure(
            "cli_version_ms",
            lambda: (_pluginctl("--version"), _pip_version()),
            anchor=_PIP_LABEL,
            goal="<= 0.5",
            runs=plan.startup_runs,
            warmups=plan.warmups,
        ),
        _measure(
            "create_ms",
            lambda: (_pluginctl_create(), _cookiecutter_create(config_dir)),
            anchor=_COOKIECUTTER_LABEL,
            goal="<= 1.3",
            runs=plan.create_runs,
            warmups=plan.warmups,
        ),
    ]


def _measure(
    name: str,
    commands: Callable[[], tuple[Command, Command]],
    *,
    anchor: str,
    goal: str,
    runs: int,
    warmups: int,
) -> Metric:
    """Compare the subject and anchor ``commands`` builds; a failure becomes the metric's error."""
    try:
        subject, anchor_command = commands()
        comparison = compare(subject, anchor_command, runs=runs, warmups=warmups)
    except BenchError as exc:
        return Metric.failed(name, anchor=anchor, goal=goal, error=str(exc))
    return Metric.measured(name, comparison, goal=goal)


def _pluginctl(*args: str) -> Command:
    return Command(" ".join(("pluginctl", *args)), (_executable("pluginctl"), *args))


def _pluginctl_create() -> Command:
    args = ("create", PLUGIN_NAME, "--no-input", "--with", ",".join(FEATURES))
    command = _pluginctl(*args)
    return Command(command.label, (*command.argv, "--output-dir", SCRATCH))


def _pip_version() -> Command:
    return Command(_PIP_LABEL, (sys.executable, "-m", "pip", "--version"))


def _cookiecutter_create(config_dir: Path) -> Command:
    """The cookiecutter CLI, with a config that keeps its replay files out of ``~``."""
    config = config_dir / "cookiecutter.yaml"
    config.write_text(f'replay_dir: "{config_dir / "replay"}"\n', encoding="utf-8")
    context = extra_context(read_spec(TEMPLATE_DIR), name=PLUGIN_NAME, features=FEATURES)
    try:
        program: tuple[str, ...] = (_executable("cookiecutter"),)
    except BenchError:
        program = (sys.executable, "-m", "cookiecutter")
    answers = tuple(f"{key}={value}" for key, value in context.items())
    argv = (*program, str(TEMPLATE_DIR), "--no-input", "--config-file", str(config))
    argv = (*argv, "--output-dir", SCRATCH, *answers)
    return Command(_COOKIECUTTER_LABEL, argv)


def _executable(name: str) -> str:
    """``name`` in this interpreter's ``bin`` directory, else on ``PATH``."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise BenchError(
            f"no {name} executable next to {sys.executable} or on PATH",
            hint="install pluginctl into this environment: pip install -e '.[dev]'",
        )
    return found
