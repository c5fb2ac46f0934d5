"""``pluginctl create``: scaffold a new plugin project from the bundled template."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pluginctl.scaffold import CreatedPlugin

__all__ = ["create"]


def create(
    name: Annotated[
        str | None,
        typer.Argument(
            metavar="NAME", help="The plugin's name, e.g. my-plugin (asked for when left out)."
        ),
    ] = None,
    *,
    output_dir: Annotated[
        Path,
        typer.Option("--output-dir", "-o", help="Create the project in this directory."),
    ] = Path(),
    author: Annotated[str | None, typer.Option(help="The author's name.")] = None,
    description: Annotated[str | None, typer.Option(help="A one-line description.")] = None,
    features: Annotated[
        list[str] | None,
        typer.Option(
            "--with",
            metavar="FEATURES",
            help="Features to include, comma separated: routes, db, admin, static.",
        ),
    ] = None,
    no_input: Annotated[
        bool, typer.Option("--no-input", help="Ask nothing; use defaults for what is not given.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the project directory if it exists.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print what was created as JSON.")
    ] = False,
) -> None:
    """Create a new plugin project: code, manifest, tests, CI workflow and README.

    Asks for whatever the arguments leave out, unless --no-input is given.
    """
    from pluginctl.scaffold import create_plugin

    try:
        with _prompts_on_stderr(json_output):
            created = create_plugin(
                name,
                output_dir=output_dir,
                features=features,
                author=author,
                description=description,
                no_input=no_input,
                force=force,
            )
    except KeyboardInterrupt:
        _show_aborted()
        raise typer.Exit(130) from None
    if json_output:
        from pluginctl.cli._output import print_json

        print_json(created.to_dict())
    else:
        _show_created(created)


@contextmanager
def _prompts_on_stderr(enabled: bool) -> Iterator[None]:
    """Send cookiecutter's prompts (rich's global console) to stderr, keeping stdout JSON."""
    if not enabled:
        yield
        return
    import rich

    console = rich.get_console()
    saved = console.stderr
    console.stderr = True
    try:
        yield
    finally:
        console.stderr = saved


def _show_aborted() -> None:
    from pluginctl.cli._output import err_console

    err_console().print("\naborted; nothing was created")


def _show_created(created: CreatedPlugin) -> None:
    import os
    import shlex

    from rich.markup import escape

    from pluginctl.cli._output import console

    out = console()
    extras = f" with {', '.join(created.features)}" if created.features else ""
    where = escape(str(created.path))
    out.print(f"[green]Created[/] plugin [bold]{created.name}[/]{extras} in {where}")
    relative = os.path.relpath(created.path)
    directory = str(created.path) if relative.startswith("..") else relative
    out.print("\nNext steps:")
    for step in (f"cd {shlex.quote(directory)}", "pip install -e '.[test]'", "pluginctl validate"):
        out.print(f"  {escape(step)}")
