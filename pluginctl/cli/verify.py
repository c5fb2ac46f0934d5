"""``pluginctl verify``: check signed wheels, or installed plugins, failing closed."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pluginctl.signing.trust import TrustStore
    from pluginctl.signing.verify import VerifyReport

__all__ = ["verify"]


def verify(
    files: Annotated[
        list[Path] | None,
        typer.Argument(metavar="FILE...", help="Wheels to verify, each with its .sig beside it."),
    ] = None,
    *,
    installed: Annotated[
        list[str] | None,
        typer.Option(
            "--installed",
            "-i",
            metavar="NAME",
            help="Verify an installed plugin's files against its signature (repeatable).",
            show_default=False,
        ),
    ] = None,
    signature: Annotated[
        Path | None, typer.Option(help="The signature file, for one wheel (default: WHEEL.sig).")
    ] = None,
    trust_file: Annotated[
        Path | None,
        typer.Option(
            help="The project trust store (default: pluginctl.trust.toml here or above).",
        ),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
) -> None:
    """Verify signatures, trust, hashes, RECORD, zip hygiene and the plugin inside.

    Exits 0 when everything verifies, else with the code of the first failed check
    (10 input ... 20 host; see the docs).
    """
    from pluginctl.signing.trust import TrustStore as Store

    _check_arguments(files, installed, signature)
    trust = Store.load(project_file=trust_file)
    reports = _verify_files(files or [], signature, trust) + _verify_installed(
        installed or [], trust
    )
    if json_output:
        from pluginctl.cli._output import print_json

        print_json([report.to_dict() for report in reports])
    else:
        for report in reports:
            _render(report)
    failed = [report for report in reports if not report.ok]
    if failed:
        raise typer.Exit(failed[0].exit_code)


def _check_arguments(
    files: list[Path] | None, installed: list[str] | None, signature: Path | None
) -> None:
    if not files and not installed:
        raise typer.BadParameter("give wheel files, or --installed NAME", param_hint="FILE...")
    if signature is not None and len(files or []) != 1:
        raise typer.BadParameter(
            "--signature goes with exactly one wheel", param_hint="--signature"
        )


def _verify_files(
    files: list[Path], signature: Path | None, trust: TrustStore
) -> list[VerifyReport]:
    from pluginctl.signing.verify import verify_wheel

    return [verify_wheel(path, trust=trust, signature=signature) for path in files]


def _verify_installed(names: list[str], trust: TrustStore) -> list[VerifyReport]:
    from pluginctl.signing.installed import verify_installed

    return [verify_installed(name, trust=trust) for name in names]


def _render(report: VerifyReport) -> None:
    from rich.markup import escape

    from pluginctl.cli._output import console, err_console

    signers = ", ".join(
        f"{escape(s.name or 'unnamed')} ({s.key_id[:16]})" for s in report.signers if s.trusted
    )
    error = report.error
    if error is None:
        console().print(f"[green]✓[/] {escape(report.subject)}: verified, signed by {signers}")
        for signer in report.signers:
            if signer.note or not signer.trusted:
                why = signer.note or f"ignored: {signer.reason}"
                console().print(f"  [yellow]note:[/] key {signer.key_id[:16]}: {escape(why)}")
        return
    err = err_console()
    err.print(f"[red]✗[/] {escape(report.subject)}: the {error.check} check failed")
    err.print(f"[bold red]error:[/] {escape(error.message)}")
    for path, change in error.files:
        err.print(f"  {change:<9} {escape(path)}")
    if error.hint:
        err.print(f"[bold cyan]hint:[/] {escape(error.hint)}")
