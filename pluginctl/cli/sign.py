"""``pluginctl sign``: write a detached, Ed25519-signed ``<wheel>.sig`` beside each wheel."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pluginctl.signing.keys import SigningKey
    from pluginctl.signing.sign import SignResult

__all__ = ["sign", "signing_key"]


def sign(
    wheels: Annotated[
        list[Path],
        typer.Argument(metavar="WHEEL...", help="The wheels to sign, e.g. dist/*.whl."),
    ],
    *,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            "-k",
            help="The key id (or a unique prefix) to sign with (default: your default key,"
            " or PLUGINCTL_SIGNING_KEY).",
            show_default=False,
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Start a new signature file if the old one is stale."),
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Sign wheels; the wheels stay byte-identical. Signing again adds a signature."""
    from pluginctl.signing.sign import sign_wheel

    signer = signing_key(key)
    results = [sign_wheel(wheel, signer, replace=replace) for wheel in wheels]
    if json_output:
        from pluginctl.cli._output import print_json

        print_json([_view(result) for result in results])
        return
    for result in results:
        render_signed(result, signer)


def signing_key(key: str | None) -> SigningKey:
    """The key to sign with, asking for its passphrase on the terminal if it needs one."""
    from pluginctl.signing.keys import resolve_signing_key

    def ask() -> str:
        return str(typer.prompt("Passphrase for the signing key", hide_input=True, err=True))

    return resolve_signing_key(key, prompt=ask)


def render_signed(result: SignResult, signer: SigningKey) -> None:
    """One line per signed wheel: its signature file and who signed."""
    from rich.markup import escape

    from pluginctl.cli._output import console

    count = f"{result.signatures} signature{'s' if result.signatures != 1 else ''}"
    console().print(
        f"[green]signed[/] {escape(str(result.wheel))} with {escape(signer.name or 'key')}"
        f" ({signer.public.short_id}): {escape(str(result.signature))}, {count}"
    )


def _view(result: SignResult) -> dict[str, object]:
    return {
        "wheel": str(result.wheel),
        "sha256": result.sha256,
        "signature": str(result.signature),
        "key_id": result.key_id,
        "signatures": result.signatures,
    }
