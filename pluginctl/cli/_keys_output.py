"""What ``pluginctl keys`` prints: tables of keys and trust entries, their JSON, notes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pluginctl.signing.keys import KeyInfo, KeyRing
    from pluginctl.signing.rotation import Rotation
    from pluginctl.signing.trust import StoredEntry, TrustStore

__all__ = [
    "entry_view",
    "escape",
    "key_view",
    "out",
    "print_json_data",
    "show_own",
    "show_rotation",
    "show_trusted",
    "warn",
]


def _protection(info: KeyInfo) -> str:
    return "encrypted" if info.encrypted else "NOT encrypted"


def _validity(not_before: object, not_after: object) -> str:
    if not_before is None and not_after is None:
        return ""
    return f", valid {not_before or '…'} to {not_after or '…'}"


def show_own(ring: KeyRing, own: list[KeyInfo]) -> None:
    from rich.table import Table

    if not own:
        out(f"no keys of your own in {escape(str(ring.directory))}: pluginctl keys generate")
        return
    table = Table("", "key", "name", "status", "file", "created", box=None, pad_edge=False)
    for info in own:
        table.add_row(
            "*" if info.default else "",
            info.short_id,
            escape(info.name),
            info.status,
            _protection(info),
            info.created.date().isoformat(),
        )
    out(f"your keys ({escape(str(ring.directory))}; * = default):")
    out(table)


def show_trusted(store: TrustStore) -> None:
    from rich.table import Table

    entries = store.entries()
    if not entries:
        out("no trusted keys: pluginctl keys trust KEY --scope PATTERN")
        return
    table = Table("key", "name", "status", "may sign", "valid", "store", box=None, pad_edge=False)
    for stored in entries:
        entry = stored.entry
        status = entry.status + (f" ({entry.reason})" if entry.reason else "")
        table.add_row(
            entry.short_id,
            escape(entry.name),
            _STATUS_STYLE[entry.status].format(escape(status)),
            escape(", ".join(entry.projects)),
            _validity(entry.not_before, entry.not_after).removeprefix(", valid ") or "always",
            stored.store,
        )
    files = {f"{stored.store}: {stored.path}" for stored in entries}
    out(f"trusted keys ({escape('; '.join(sorted(files)))}):")
    out(table)


_STATUS_STYLE = {"active": "[green]{}[/]", "retired": "[yellow]{}[/]", "revoked": "[red]{}[/]"}


def show_rotation(done: Rotation) -> None:
    out(f"[yellow]retired[/] key {done.old.key_id} ({escape(done.old.name)})")
    for stored in done.retired_in:
        out(f"  marked retired in {escape(str(stored.path))}")
    out(f"[green]new[/] key {done.new.key_id}, now your default key")
    out(f"  trusted for {escape(', '.join(done.projects))} in your own trust store")
    out("publish the new public key where the old one was trusted:")
    out("  pluginctl keys export -o new-key.pub")
    scopes = " ".join(f"--scope '{pattern}'" for pattern in done.projects)
    out(f"  pluginctl keys trust new-key.pub {escape(scopes)} --project")


def key_view(info: KeyInfo) -> dict[str, object]:
    return {
        "key_id": info.key_id,
        "name": info.name,
        "status": info.status,
        "default": info.default,
        "encrypted": info.encrypted,
        "created": info.created.isoformat(),
        "retired": info.retired.isoformat() if info.retired else None,
        "public_key": info.public.to_text(),
        "path": str(info.path),
    }


def entry_view(stored: StoredEntry) -> dict[str, object]:
    import msgspec

    view: dict[str, object] = msgspec.to_builtins(stored.entry)
    return {"key_id": view.pop("id"), **view, "store": stored.store, "file": str(stored.path)}


def print_json_data(data: object) -> None:
    from pluginctl.cli._output import print_json

    print_json(data)


def out(renderable: object) -> None:
    from pluginctl.cli._output import console

    console().print(renderable)


def warn(text: str) -> None:
    from pluginctl.cli._output import err_console

    err_console().print(f"[bold yellow]warning:[/] {escape(text)}")


def escape(text: str) -> str:
    """``text`` safe to print as rich markup: a key's name may hold brackets."""
    from rich import markup

    return markup.escape(text)
