"""``pluginctl build``: validate a plugin, build its sdist and wheel, check the wheel, sign it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from types import TracebackType

    from rich.status import Status

    from pluginctl.builder import BuildEvent, BuildResult

__all__ = ["build"]


def build(
    path: Annotated[
        Path,
        typer.Argument(metavar="PATH", help="The plugin project (default: the current directory)."),
    ] = Path(),
    *,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir", "-o", metavar="DIR", help="Where to write them (default: PATH/dist)."
        ),
    ] = None,
    isolation: Annotated[
        bool,
        typer.Option(
            "--isolation/--no-isolation",
            help="Build in a fresh environment with only the backend's requirements (default),"
            " or with what is installed here.",
        ),
    ] = True,
    sign: Annotated[bool, typer.Option("--sign", help="Sign the wheel once it is built.")] = False,
    key: Annotated[
        str | None,
        typer.Option("--key", metavar="KEY", help="The signing key for --sign (default: yours)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Validate a plugin, build its sdist and wheel, and check the wheel holds every plugin file.

    The wheel is built from the sdist, as `python -m build` does. Nothing is written to
    the output directory unless every check passes.
    """
    from pluginctl.builder import build_plugin
    from pluginctl.cli._output import print_json, render_problem

    if key is not None and not sign:
        raise typer.BadParameter("a key is used only to sign: add --sign", param_hint="--key")
    with _Progress() as progress:
        result = build_plugin(path, out_dir=out_dir, isolation=isolation, on_event=progress.show)
    for problem in result.warnings:
        render_problem(problem)
    signature = _sign(result.wheel.path, key) if sign else None
    if json_output:
        print_json({**result.to_dict(), "signature": None if signature is None else str(signature)})
    else:
        _show(result, signature)


def _sign(wheel: Path, key: str | None) -> Path:
    """Sign ``wheel`` as ``pluginctl sign`` does; return the signature's path."""
    from pluginctl.cli.sign import signing_key
    from pluginctl.signing import sign_wheel

    return sign_wheel(wheel, signing_key(key)).signature


def _show(result: BuildResult, signature: Path | None) -> None:
    from rich.filesize import decimal
    from rich.markup import escape

    from pluginctl.cli._output import console

    out = console()
    out.print(f"[green]✓[/] built {escape(result.name)} {escape(result.version)}")
    for artifact in (result.sdist, result.wheel):
        where = escape(_shown(artifact.path))
        out.print(f"  {where}  {decimal(artifact.size)}  sha256:{artifact.sha256}")
    if signature is not None:
        out.print(f"  {escape(_shown(signature))}  (signature)")


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it is inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class _Progress:
    """A spinner on stderr naming the step running, and a line for each step done."""

    def __init__(self) -> None:
        self._status: Status | None = None

    def __enter__(self) -> _Progress:
        from pluginctl.cli._output import err_console

        self._status = err_console().status("building")
        self._status.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._status is not None:
            self._status.stop()

    def show(self, event: BuildEvent) -> None:
        """Put a starting step on the spinner; print a finished one."""
        from rich.markup import escape

        from pluginctl.cli._output import err_console

        if event.finished:
            err_console().print(f"[green]✓[/] {escape(event.message)}")
        elif self._status is not None:
            self._status.update(f"{escape(event.message)}…")
