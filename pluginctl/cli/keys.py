"""``pluginctl keys``: make, share, trust, revoke and rotate the keys that sign plugins."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pluginctl.cli._keys_output import (
    _protection,
    _validity,
    entry_view,
    escape,
    key_view,
    out,
    print_json_data,
    show_own,
    show_rotation,
    show_trusted,
    warn,
)

if TYPE_CHECKING:
    from pluginctl.signing.keys import KeyRing
    from pluginctl.signing.public import PublicKey
    from pluginctl.signing.trust import TrustStore

__all__ = ["app"]

app = typer.Typer(
    name="keys",
    help="Make, share, trust, revoke and rotate the Ed25519 keys that sign plugins.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

KeyArg = Annotated[
    str | None,
    typer.Argument(
        help="A key id, or its unique start (default: your default key).", show_default=False
    ),
]
AnyKey = Annotated[
    str,
    typer.Argument(
        metavar="KEY",
        help="A public key file (- for stdin), its text (ed25519:...), or a known key's id start.",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
Name = Annotated[str | None, typer.Option(help="A name for people: ada@laptop, ci, release.")]
NoPassphrase = Annotated[
    bool,
    typer.Option("--no-passphrase", help="Store the private key unencrypted (a CI key)."),
]
Scopes = Annotated[
    list[str] | None,
    typer.Option(
        "--scope",
        metavar="PATTERN",
        help="A project name pattern the key may sign: acme-*, my-plugin, * (repeatable).",
        show_default=False,
    ),
]
Project = Annotated[
    bool,
    typer.Option("--project", help="Edit the project's pluginctl.trust.toml, not your own store."),
]
ProjectFile = Annotated[
    Path | None,
    typer.Option(
        "--project-file",
        metavar="FILE",
        help="The project trust store (implies --project; default: pluginctl.trust.toml"
        " here or in a parent directory, else created here).",
    ),
]
Force = Annotated[bool, typer.Option("--force", help="Override a revocation in this store.")]
NotBefore = Annotated[
    datetime | None,
    typer.Option(formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="The first day it may sign."),
]
NotAfter = Annotated[
    datetime | None,
    typer.Option(formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="The last day it may sign."),
]


@app.command("generate")
def generate(
    *,
    name: Name = None,
    no_passphrase: NoPassphrase = False,
    scope: Scopes = None,
    no_trust: Annotated[
        bool, typer.Option("--no-trust", help="Do not trust the new key in your own store.")
    ] = False,
) -> None:
    """Make a new signing key, the default one, trusted by you for --scope (default: *)."""
    from pluginctl.signing.keys import KeyRing

    ring = KeyRing.default()
    key = ring.generate(name or _default_name(), passphrase=_new_passphrase(no_passphrase))
    info = ring.info(key.key_id)
    out(f"[green]generated[/] key {key.key_id} ({escape(key.name)}), now your default key")
    out(f"  private key  {escape(str(info.path))} ({_protection(info)})")
    out(f"  public key   {key.public.to_text()}")
    if not no_trust:
        store = _stores(None)
        entry = store.trust(key.public, name=key.name, projects=scope or ["*"])
        scopes = ", ".join(entry.projects)
        out(f"  trusted for  {escape(scopes)} in {escape(str(store.user_file))}")
    out("share the public key with: pluginctl keys export")


@app.command("list")
def list_keys(*, project_file: ProjectFile = None, json_output: Json = False) -> None:
    """Your own keys and the keys you and this project trust."""
    from pluginctl.signing.keys import KeyRing

    ring = KeyRing.default()
    own, store = ring.keys(), _stores(project_file)
    if json_output:
        print_json_data(
            {
                "key_ring": str(ring.directory),
                "keys": [key_view(info) for info in own],
                "trust_stores": {"user": str(store.user_file), "project": str(store.project_file)},
                "trusted": [entry_view(stored) for stored in store.entries()],
            }
        )
        return
    show_own(ring, own)
    show_trusted(store)


@app.command("export")
def export(
    key: KeyArg = None,
    *,
    private: Annotated[
        bool, typer.Option("--private", help="Export the private key, e.g. for a CI secret.")
    ] = False,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE, not standard output.")
    ] = None,
) -> None:
    """Print a key's public half, for others to trust (or, with --private, the private key)."""
    from pluginctl.atomic_file import write_atomically
    from pluginctl.signing.keys import KeyRing

    ring = KeyRing.default()
    text = ring.export_private(key) if private else ring.export_public(key).to_text() + "\n"
    if private:
        warn(
            "this is a private key: whoever holds it signs as you. Keep it secret, e.g. as the"
            " CI secret PLUGINCTL_SIGNING_KEY (and its passphrase as PLUGINCTL_KEY_PASSPHRASE)"
        )
    if output is None:
        sys.stdout.write(text)
        return
    write_atomically(output, text.encode("ascii"), mode=0o600 if private else 0o644)
    what = "private key" if private else "public key"
    out(f"wrote the {what} of key {ring.info(key).short_id} to {escape(str(output))}")


@app.command("import")
def import_key(
    source: Annotated[str, typer.Argument(metavar="FILE|-", help="A private key file, or -.")],
    *,
    name: Name = None,
    no_passphrase: NoPassphrase = False,
) -> None:
    """Add a private key made elsewhere, such as on another machine, to your key ring."""
    from pluginctl.signing.keys import KeyRing, needs_passphrase

    text = _read_source(source)
    if needs_passphrase(text):
        secret = _passphrase("Passphrase of the key to import")
        stored = None if no_passphrase else secret
        key = KeyRing.default().import_private(text, passphrase=stored, name=name, unlock=secret)
    else:
        stored = _new_passphrase(no_passphrase)
        key = KeyRing.default().import_private(text, passphrase=stored, name=name)
    protection = "encrypted" if stored is not None else "not encrypted"
    out(f"[green]imported[/] key {key.key_id} ({escape(key.name)}), {protection}")


@app.command("trust")
def trust(
    key: AnyKey,
    *,
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope",
            metavar="PATTERN",
            help="A project name pattern the key may sign: acme-*, my-plugin, * (repeatable).",
        ),
    ],
    name: Name = None,
    not_before: NotBefore = None,
    not_after: NotAfter = None,
    project: Project = False,
    project_file: ProjectFile = None,
    force: Force = False,
) -> None:
    """Trust a public key to sign the projects matching --scope, from now or --not-before."""
    from pluginctl.signing.keys import KeyRing

    store, ring = _stores(project_file), KeyRing.default()
    public = _public_key(key, store, ring)
    entry = store.trust(
        public,
        name=name or _known_name(public, store, ring),
        projects=scope,
        not_before=not_before.date() if not_before else None,
        not_after=not_after.date() if not_after else None,
        project=project or project_file is not None,
        force=force,
    )
    where = store.project_file if project or project_file else store.user_file
    out(
        f"[green]trusted[/] key {entry.short_id} ({escape(entry.name)}) for"
        f" {escape(', '.join(entry.projects))}{_validity(entry.not_before, entry.not_after)}"
        f" in {escape(str(where))}"
    )


@app.command("untrust")
def untrust(
    key: Annotated[str, typer.Argument(help="The key's id, or its unique start.")],
    *,
    project: Project = False,
    project_file: ProjectFile = None,
    force: Annotated[bool, typer.Option("--force", help="Also forget a revocation.")] = False,
) -> None:
    """Stop trusting a key: remove its entry from one store (a revoked one only with --force)."""
    store = _stores(project_file)
    in_project = project or project_file is not None
    entry = store.untrust(store.resolve(key), project=in_project, force=force)
    where = store.project_file if in_project else store.user_file
    out(f"removed key {entry.short_id} ({escape(entry.name)}) from {escape(str(where))}")


@app.command("revoke")
def revoke(
    key: AnyKey,
    *,
    reason: Annotated[str, typer.Option(help='Why: "leaked", "lost laptop".')] = "",
    project: Project = False,
    project_file: ProjectFile = None,
) -> None:
    """Refuse a key for good: its entry stays, revoked, and wins over the other store."""
    from pluginctl.signing.keys import KeyRing

    store, ring = _stores(project_file), KeyRing.default()
    public = _public_key(key, store, ring)
    in_project = project or project_file is not None
    entry = store.revoke(public.key_id, reason=reason, project=in_project, public=public)
    where = store.project_file if in_project else store.user_file
    out(f"[red]revoked[/] key {entry.short_id} ({escape(entry.name)}) in {escape(str(where))}")
    own = ring.keys()
    if any(info.key_id == public.key_id for info in own):
        ring.retire(public.key_id)
        out("it was one of your keys: it is retired and signs no more; make a new one with:")
        out(f"  pluginctl keys rotate {entry.short_id}")


@app.command("rotate")
def rotate(key: KeyArg = None, *, no_passphrase: NoPassphrase = False) -> None:
    """Replace a key with a new one: same name and scopes, the new default; the old one retires."""
    from pluginctl.signing.keys import KeyRing
    from pluginctl.signing.rotation import rotate_key

    done = rotate_key(
        KeyRing.default(), _stores(None), key, passphrase=_new_passphrase(no_passphrase)
    )
    show_rotation(done)


# -- inside ------------------------------------------------------------------------


def _stores(project_file: Path | None) -> TrustStore:
    from pluginctl.signing.trust import TrustStore

    return TrustStore.load(project_file=project_file)


def _new_passphrase(no_passphrase: bool) -> str | None:
    """The passphrase for a new key: none, the environment's, or asked twice."""
    if no_passphrase:
        return None
    return _passphrase("Passphrase for the new key", confirm=True)


def _passphrase(question: str, *, confirm: bool = False) -> str:
    import os

    from pluginctl.errors import SigningKeyError
    from pluginctl.signing.keys import PASSPHRASE_ENV

    from_env = os.environ.get(PASSPHRASE_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise SigningKeyError(
            f"a passphrase is needed, {PASSPHRASE_ENV} is not set and there is no terminal to ask",
            hint=f"set {PASSPHRASE_ENV}, or pass --no-passphrase for an unencrypted (CI) key",
        )
    answer: str = typer.prompt(question, hide_input=True, confirmation_prompt=confirm)
    return answer


def _default_name() -> str:
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name: a container's uid without a passwd entry
        user = "pluginctl"
    return f"{user}@{socket.gethostname()}"


def _read_source(source: str) -> str:
    from pluginctl.errors import SigningKeyError

    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SigningKeyError(
            f"cannot read the key file {source}: {getattr(exc, 'strerror', None) or exc}",
            hint="give the file that pluginctl keys export wrote, or - to read standard input",
        ) from None


def _public_key(arg: str, store: TrustStore, ring: KeyRing) -> PublicKey:
    """The public key named by a file, by its text, or by the id of a key we know."""
    import re

    from pluginctl.errors import SigningKeyError
    from pluginctl.signing.keys import match_key_id
    from pluginctl.signing.public import PublicKey

    if arg.startswith(("ed25519:", "-----BEGIN")):
        return PublicKey.from_text(arg)
    if arg == "-" or Path(arg).is_file():
        return PublicKey.from_text(_read_source(arg))
    if not re.fullmatch(r"[0-9a-fA-F]+", arg):
        raise SigningKeyError(
            f"{arg!r} is neither a file, a public key nor a key id",
            hint="give the file pluginctl keys export wrote, its text (ed25519:...),"
            " or a key id from pluginctl keys list",
        )
    own = ring.keys()
    ids = {stored.entry.id for stored in store.entries()} | {info.key_id for info in own}
    key_id = match_key_id(arg, ids, where="your key ring and trust stores")
    return store.public_key(key_id) or ring.export_public(key_id)


def _known_name(public: PublicKey, store: TrustStore, ring: KeyRing) -> str:
    names = [s.entry.name for s in store.entries() if s.entry.id == public.key_id]
    own = ring.keys()
    names += [info.name for info in own if info.key_id == public.key_id]
    return names[0] if names else f"key {public.short_id}"
