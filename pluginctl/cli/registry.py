"""``pluginctl registry``: serve a registry directory, manage its tokens, check it, yank."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pluginctl.registry.store import RegistryStore
    from pluginctl.registry.tokens import Token

__all__ = ["app"]

app = typer.Typer(
    name="registry",
    help="Serve a registry over HTTP for pip, uv and twine; its tokens, checks and yanks.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
token_app = typer.Typer(
    name="token",
    help="Create, list and revoke the tokens that may upload.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(token_app)

RegistryPath = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        "-r",
        help="The registry directory (default: $PLUGINCTL_REGISTRY, else the user data dir).",
        show_default=False,
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _store(registry: Path | None) -> RegistryStore:
    from pluginctl.registry.store import RegistryStore

    return RegistryStore(registry) if registry is not None else RegistryStore.default()


@app.command("serve")
def serve(
    *,
    registry: RegistryPath = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 8710,
    max_upload_mb: Annotated[
        float, typer.Option(min=0.001, help="The largest upload accepted, in MiB.")
    ] = 100,
    max_concurrent_uploads: Annotated[
        int, typer.Option(min=1, help="Uploads received at once; more get 503.")
    ] = 8,
    read_timeout_s: Annotated[
        float, typer.Option(min=0.01, help="The longest wait for an upload's next bytes (408).")
    ] = 30,
) -> None:
    """Serve the registry: the simple API for pip and uv, uploads for twine, until Ctrl-C."""
    from rich.markup import escape

    from pluginctl.cli._output import console, err_console
    from pluginctl.registry.server import exposed, registry_app
    from pluginctl.registry.server import serve as serve_app

    store = _store(registry)
    app = registry_app(
        store,
        max_upload_mb=max_upload_mb,
        max_concurrent_uploads=max_concurrent_uploads,
        read_timeout_s=read_timeout_s,
    )
    if exposed(host):
        err_console().print(
            f"[yellow]warning:[/] the registry listens on {escape(host)}, beyond this machine;"
            " put TLS in front of it, tokens travel in every upload"
        )

    def ready(url: str) -> None:
        out = console()
        out.print(f"serving on [bold]{url}[/] ({escape(str(store.root))}); Ctrl-C stops")
        out.print(f"  pip install --index-url {url}/simple/ NAME", highlight=False)
        out.print(f"  twine upload --repository-url {url}/ -u __token__ -p TOKEN dist/*")
        out.file.flush()

    serve_app(app, host=host, port=port, on_ready=ready)
    err_console().print("stopped")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help='What the token is for: "ci", "ada-laptop".')],
    *,
    project: Annotated[
        list[str],
        typer.Option(
            "--project",
            "-p",
            help="A project it may upload to; a pattern like acme-* works (repeatable).",
        ),
    ],
    registry: RegistryPath = None,
    json_output: Json = False,
) -> None:
    """Create an upload token; its secret is printed once, here, and never again."""
    from pluginctl.cli._output import console, err_console, print_json
    from pluginctl.registry.tokens import Tokens

    token, secret = Tokens(_store(registry).index).create(name, projects=project)
    if json_output:
        print_json(_token_view(token) | {"secret": secret})
        return
    console().out(secret, highlight=False)
    err_console().print(
        f"created token {token.id} ({_escape(token.name)}) for {_escape(', '.join(token.projects))}"
        "; copy the secret now, it is not shown again"
    )


@token_app.command("list")
def token_list(*, registry: RegistryPath = None, json_output: Json = False) -> None:
    """List the tokens: id, name, projects, when made, whether revoked (never secrets)."""
    from rich.table import Table

    from pluginctl.cli._output import console, print_json
    from pluginctl.registry.tokens import Tokens

    tokens = Tokens(_store(registry).index).list()
    if json_output:
        print_json([_token_view(token) for token in tokens])
        return
    table = Table("id", "name", "projects", "created", "state", box=None, pad_edge=False)
    for token in tokens:
        state = "[red]revoked[/]" if token.revoked else "[green]active[/]"
        projects = _escape(", ".join(token.projects))
        table.add_row(token.id, _escape(token.name), projects, _iso(token.created), state)
    console().print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (token list).")],
    *,
    registry: RegistryPath = None,
) -> None:
    """Revoke a token: every upload with it is refused from now on."""
    from pluginctl.cli._output import console
    from pluginctl.registry.tokens import Tokens

    token = Tokens(_store(registry).index).revoke(token_id)
    console().print(f"[red]revoked[/] token {token.id} ({_escape(token.name)})")


@app.command("fsck")
def fsck(
    *,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="Remove files no record names and abandoned uploads (never evidence)."
        ),
    ] = False,
    registry: RegistryPath = None,
    json_output: Json = False,
) -> None:
    """Re-hash every file against the index and re-verify every signature; exit 1 on problems."""
    from pluginctl.cli._output import console, err_console, print_json

    report = _store(registry).fsck(repair=repair)
    if json_output:
        print_json(
            {"clean": report.clean, "checked": report.checked}
            | {"problems": report.problems, "repaired": report.repaired}
        )
    else:
        for problem in report.problems:
            err_console().print(f"[bold red]problem:[/] {_escape(problem)}")
        for repaired in report.repaired:
            console().print(f"[green]removed[/] {_escape(repaired)}")
        verdict = "[green]clean[/]" if report.clean else f"{len(report.problems)} problem(s)"
        console().print(f"checked {report.checked} file(s): {verdict}")
    if not report.clean:
        raise typer.Exit(1)


@app.command("yank")
def yank(
    project: Annotated[str, typer.Argument(help="The project.")],
    version: Annotated[str, typer.Argument(help="The version to yank.")],
    *,
    reason: Annotated[str, typer.Option(help="Why, shown to whoever installs it.")] = "",
    registry: RegistryPath = None,
) -> None:
    """Yank a version (PEP 592): installers skip it unless it is pinned; its files stay."""
    from pluginctl.cli._output import console

    count = _store(registry).yank(project, version, reason=reason)
    console().print(f"[yellow]yanked[/] {_escape(project)} {_escape(version)} ({count} file(s))")


@app.command("unyank")
def unyank(
    project: Annotated[str, typer.Argument(help="The project.")],
    version: Annotated[str, typer.Argument(help="The version to restore.")],
    *,
    registry: RegistryPath = None,
) -> None:
    """Undo a yank: installers may pick the version again."""
    from pluginctl.cli._output import console

    count = _store(registry).yank(project, version, yanked=False)
    console().print(f"[green]unyanked[/] {_escape(project)} {_escape(version)} ({count} file(s))")


@app.command("feature")
def feature(
    project: Annotated[str, typer.Argument(help="The project to feature.")],
    *,
    off: Annotated[bool, typer.Option("--off", help="Stop featuring it.")] = False,
    registry: RegistryPath = None,
) -> None:
    """Feature a project in the marketplace's featured list (the registry owner's pick)."""
    from pluginctl.cli._output import console
    from pluginctl.registry.marketplace import set_featured

    set_featured(_store(registry).index, project, on=not off)
    done = "no longer featured" if off else "featured"
    console().print(f"[green]{done}[/] {_escape(project)}")


def _token_view(token: Token) -> dict[str, object]:
    return {
        "id": token.id,
        "name": token.name,
        "projects": list(token.projects),
        "created": _iso(token.created),
        "revoked": None if token.revoked is None else _iso(token.revoked),
    }


def _iso(moment: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(moment, tz=UTC).isoformat(timespec="seconds")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
