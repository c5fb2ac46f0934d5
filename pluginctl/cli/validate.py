"""``pluginctl validate``: check a plugin project before it is built, run or published."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["validate"]


def validate(
    path: Annotated[
        Path,
        typer.Argument(metavar="PATH", help="The plugin project (default: the current directory)."),
    ] = Path(),
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
    scan: Annotated[
        bool, typer.Option("--scan/--no-scan", help="Run the static security scan.")
    ] = True,
) -> None:
    """Check the manifest, the entry point, the registrations and the code of a plugin.

    Exits 1 when there are errors (or warnings, with --strict).
    """
    from pluginctl.cli._output import console, print_json, render_problem
    from pluginctl.validation import validate_project

    report = validate_project(path, scan=scan)
    if json_output:
        print_json(report.to_dict())
    else:
        for problem in report.problems:
            render_problem(problem)
        version = report.manifest.version if report.manifest else "?"
        summary = f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)"
        mark = "[green]✓[/]" if report.passed(strict=strict) else "[red]✗[/]"
        console().print(
            f"{mark} {report.project.name} {version} ({report.project.root}): {summary}"
        )
    if not report.passed(strict=strict):
        raise typer.Exit(1)
