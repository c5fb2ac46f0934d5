"""``pluginctl migrate``: a plugin's database migrations, on SQLite or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pluginctl.cli._hostconfig import DatabaseUrl

if TYPE_CHECKING:
    from pluginctl.data.migrations import Migrations, MigrationStatus, Revision, Step

__all__ = ["app"]

app = typer.Typer(
    name="migrate",
    help="Create, apply, undo and inspect a plugin's database migrations.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

PluginPath = Annotated[
    Path,
    typer.Option(
        "--plugin",
        "-p",
        help="The plugin project (default: the current directory).",
        show_default=False,
    ),
]
DataDir = Annotated[
    Path | None,
    typer.Option(help="Where plugin data lives (default: data_dir in pluginctl.toml)."),
]
ConfigPath = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="The host config (default: ./pluginctl.toml if present)."),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Print the SQL it would run; change nothing.")
]


@app.command("new")
def new(
    message: Annotated[str, typer.Argument(help='What it does: "add a done column".')],
    *,
    plugin: PluginPath = Path(),
    json_output: Json = False,
) -> None:
    """Write a new, empty migration after the newest one."""
    revision = _migrations(plugin, None, None, None).new(message)
    if json_output:
        _json(_revision_view(revision))
        return
    _out(f"[green]created[/] {revision.revision}: {_escape(str(revision.path))}")


@app.command("up")
def up(
    *,
    to: Annotated[str, typer.Option(help="The revision to stop at.")] = "head",
    plugin: PluginPath = Path(),
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    config: ConfigPath = None,
    dry_run: DryRun = False,
    json_output: Json = False,
) -> None:
    """Apply the pending migrations (up to --to), each in its own transaction."""
    migrations = _migrations(plugin, database_url, data_dir, config)
    if dry_run:
        _sql(migrations.sql("up", to), json_output=json_output)
        return
    steps = migrations.upgrade(to, on_step=None if json_output else _show_step)
    _finish(migrations, steps, json_output=json_output)


@app.command("down")
def down(
    *,
    to: Annotated[str | None, typer.Option(help="The revision to land on (base: none).")] = None,
    steps: Annotated[
        int | None, typer.Option(min=1, help="How many migrations to undo [1].")
    ] = None,
    plugin: PluginPath = Path(),
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    config: ConfigPath = None,
    dry_run: DryRun = False,
    json_output: Json = False,
) -> None:
    """Undo the newest migration (or --steps N of them, or down --to a revision)."""
    migrations = _migrations(plugin, database_url, data_dir, config)
    if dry_run:
        target = to if to is not None else f"-{steps or 1}"
        _sql(migrations.sql("down", target), json_output=json_output)
        return
    done = migrations.downgrade(to=to, steps=steps, on_step=None if json_output else _show_step)
    _finish(migrations, done, json_output=json_output)


@app.command("status")
def status(
    *,
    plugin: PluginPath = Path(),
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    config: ConfigPath = None,
    json_output: Json = False,
) -> None:
    """Where the database stands: its revision, what is pending, what was edited."""
    migrations = _migrations(plugin, database_url, data_dir, config)
    found = migrations.status()
    if json_output:
        _json(_status_view(migrations, found))
        return
    _show_status(migrations, found)


@app.command("history")
def history(
    *,
    plugin: PluginPath = Path(),
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    config: ConfigPath = None,
    json_output: Json = False,
) -> None:
    """Every migration, oldest first, marked applied or pending."""
    migrations = _migrations(plugin, database_url, data_dir, config)
    found = migrations.status()
    applied = {entry.revision for entry in found.applied}
    if json_output:
        _json(
            [
                {**_revision_view(entry), "applied": entry.revision in applied}
                for entry in migrations.revisions()
            ]
        )
        return
    for entry in migrations.revisions():
        mark = "[green]applied[/]" if entry.revision in applied else "[yellow]pending[/]"
        current = "  [bold](current)[/]" if entry.revision == found.current else ""
        _out(f"{entry.revision}  {mark}  {_escape(entry.message)}{current}")


# -- inside ------------------------------------------------------------------------


def _migrations(
    plugin: Path,
    database_url: str | None,
    data_dir: Path | None,
    config: Path | None,
) -> Migrations:
    """The plugin's migrations on its database, as ``pluginctl run`` would find it."""
    from pluginctl.cli._hostconfig import load_host_config
    from pluginctl.data.migrations import Migrations

    settings = load_host_config(config, data_dir=data_dir, database_url=database_url)
    return Migrations.for_plugin(
        plugin, data_dir=settings.data_dir, database_url=settings.database_url
    )


def _finish(migrations: Migrations, steps: list[Step], *, json_output: bool) -> None:
    found = migrations.status()
    if json_output:
        _json(
            {
                "steps": [
                    {"revision": s.revision, "direction": s.direction, "message": s.message}
                    for s in steps
                ],
                **_status_view(migrations, found),
            }
        )
        return
    if not steps:
        _out("nothing to do: " + _where(found))
        return
    _out(f"[green]done[/]: {_where(found)}")


def _show_step(step: Step) -> None:
    arrow = "[green]↑ up[/]" if step.direction == "up" else "[yellow]↓ down[/]"
    _out(f"{arrow} {step.revision}  {_escape(step.message)}")


def _where(found: MigrationStatus) -> str:
    at = found.current or "base (no migration applied)"
    pending = f"; {len(found.pending)} pending" if found.pending else "; up to date"
    return f"at {at}{pending}"


def _show_status(migrations: Migrations, found: MigrationStatus) -> None:
    _out(f"plugin    {_escape(migrations.target.plugin)}")
    _out(f"database  {_escape(migrations.target.describe())}")
    _out(f"revision  {found.current or 'base (none applied)'}  (head: {found.head or '-'})")
    if found.pending:
        _out(f"[yellow]pending[/]   {len(found.pending)}: run pluginctl migrate up")
        for entry in found.pending:
            _out(f"  {entry.revision}  {_escape(entry.message)}")
    else:
        _out("[green]up to date[/]")
    _warn_edited(found.edited)


def _warn_edited(edited: list[Revision]) -> None:
    from pluginctl.cli._output import err_console

    for entry in edited:
        err_console().print(
            f"[bold yellow]warning:[/] migration {entry.revision} ({_escape(entry.path.name)})"
            " changed after it was applied; databases that ran it will not run the change"
        )
        err_console().print(
            "  [bold cyan]hint:[/] put the change in a new migration: pluginctl migrate new"
            ' "..."; or undo the edit'
        )


def _status_view(migrations: Migrations, found: MigrationStatus) -> dict[str, object]:
    return {
        "plugin": migrations.target.plugin,
        "backend": migrations.target.backend,
        "database": migrations.target.describe(),
        "current": found.current,
        "head": found.head,
        "up_to_date": found.up_to_date,
        "pending": [_revision_view(entry) for entry in found.pending],
        "applied": [_revision_view(entry) for entry in found.applied],
        "edited": [_revision_view(entry) for entry in found.edited],
    }


def _revision_view(entry: Revision) -> dict[str, object]:
    return {
        "revision": entry.revision,
        "down_revision": entry.down_revision,
        "message": entry.message,
        "path": str(entry.path),
    }


def _sql(text: str, *, json_output: bool) -> None:
    if json_output:
        _json({"sql": text})
        return
    import sys

    sys.stdout.write(text)


def _json(data: object) -> None:
    from pluginctl.cli._output import print_json

    print_json(data)


def _out(text: str) -> None:
    from pluginctl.cli._output import console

    console().print(text)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
