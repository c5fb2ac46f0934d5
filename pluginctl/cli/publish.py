"""``pluginctl publish``: check wheels and sdists, then publish them locally or to an index."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager

    from pluginctl.registry.preflight import Distribution
    from pluginctl.registry.upload import Progress, Published
    from pluginctl.signing.trust import TrustStore

__all__ = ["publish"]


def publish(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[FILE]...",
            help="Wheels and sdists, or directories of them (default: dist/).",
            show_default=False,
        ),
    ] = None,
    *,
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            "-r",
            metavar="NAME",
            help="A repository named in ~/.pypirc.",
            show_default=False,
        ),
    ] = None,
    repository_url: Annotated[
        str | None,
        typer.Option(metavar="URL", help="The upload URL of an index.", show_default=False),
    ] = None,
    index_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="The index's simple API, if not derived from the upload URL.",
            show_default=False,
        ),
    ] = None,
    username: Annotated[
        str | None,
        typer.Option(
            "--username", "-u", metavar="USER", help="Default: $TWINE_USERNAME, .pypirc, keyring."
        ),
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            "-p",
            metavar="PASSWORD",
            help="Default: $TWINE_PASSWORD, .pypirc, keyring.",
        ),
    ] = None,
    config_file: Annotated[
        Path | None, typer.Option(help="The .pypirc to read (default: ~/.pypirc).")
    ] = None,
    trust_file: Annotated[
        Path | None,
        typer.Option(help="The project trust store (default: pluginctl.trust.toml here or above)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Publish plugins: into the local registry, or to an index (--to, --repository-url).

    Every file is checked before anything is sent: a plugin wheel must verify, the
    metadata must be valid, and the index must not have the file yet.
    """
    from pluginctl.signing.trust import TrustStore as Store

    if to is not None and repository_url is not None:
        raise typer.BadParameter("give --to or --repository-url, not both", param_hint="--to")
    trust = Store.load(project_file=trust_file)
    paths = files or [Path("dist")]
    if to is None and repository_url is None:
        _render_local(_publish_local(paths, trust), json_output=json_output)
        return
    from pluginctl.registry.upload import publish_remote

    with _progress(enabled=not json_output) as on_progress:
        published = publish_remote(
            paths,
            trust=trust,
            repository=to,
            repository_url=repository_url,
            index_url=index_url,
            username=username,
            password=password,
            config_file=config_file,
            on_progress=on_progress,
            prompt=_ask if sys.stdin.isatty() else None,
        )
    _render_remote(published, json_output=json_output)


def _publish_local(paths: list[Path], trust: TrustStore) -> list[Distribution]:
    """Check every file, then write each into the local registry directory."""
    from pluginctl.registry.preflight import check_distribution, find_distributions
    from pluginctl.registry.store import RegistryStore

    checked = [check_distribution(path, trust=trust) for path in find_distributions(paths)]
    store = RegistryStore.default()
    for dist in checked:
        store.publish(dist.path, uploader="local")  # its .sig beside it goes along
    return checked


def _ask(what: str, secret: bool) -> str:
    return str(typer.prompt(f"Enter your {what}", hide_input=secret, err=True))


def _progress(*, enabled: bool) -> AbstractContextManager[Callable[[Progress], None]]:
    """Rich progress bars on stderr, one per file, fed by the uploader's callback.

    Only on a terminal: elsewhere (CI logs, scripts) there are no bars to draw, and
    rich's progress machinery is not even imported.
    """
    from contextlib import contextmanager, nullcontext

    from pluginctl.cli._output import err_console

    if not enabled or not err_console().is_terminal:
        return nullcontext(lambda _event: None)

    from rich.progress import BarColumn, DownloadColumn, TaskID, TextColumn, TransferSpeedColumn
    from rich.progress import Progress as Bars

    @contextmanager
    def bars() -> Iterator[Callable[[Progress], None]]:
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
        bar = Bars(*columns, TransferSpeedColumn(), console=err_console())
        tasks: dict[str, TaskID] = {}

        def update(event: Progress) -> None:
            if not tasks:
                bar.start()  # on the first upload: the pre-flight's errors print as they are
            if event.filename not in tasks:
                tasks[event.filename] = bar.add_task(event.filename, total=event.total_bytes)
            bar.update(tasks[event.filename], completed=event.sent_bytes)

        try:
            yield update
        finally:
            if tasks:
                bar.stop()

    return bars()


def _render_local(checked: list[Distribution], *, json_output: bool) -> None:
    if json_output:
        from pluginctl.cli._output import print_json

        print_json([_view(dist, "local", None) for dist in checked])
        return
    for dist in checked:
        _say(dist, "into the local registry")


def _render_remote(published: list[Published], *, json_output: bool) -> None:
    if json_output:
        from pluginctl.cli._output import print_json

        print_json([_view(p.distribution, p.repository_url, p.signature) for p in published])
        return
    for item in published:
        _say(item.distribution, f"to {item.repository_url}")
        if item.signature is not None:
            from rich.markup import escape

            from pluginctl.cli._output import console

            console().print(f"  signature kept in {escape(item.signature)}")


def _say(dist: Distribution, where: str) -> None:
    from rich.markup import escape

    from pluginctl.cli._output import console

    signed = f", signed by {', '.join(dist.signers)}" if dist.signers else ""
    console().print(f"[green]published[/] {escape(dist.filename)} {escape(where)}{escape(signed)}")


def _view(dist: Distribution, where: str, signature: str | None) -> dict[str, object]:
    return {
        "file": str(dist.path),
        "filename": dist.filename,
        "kind": dist.kind,
        "project": dist.project,
        "version": dist.version,
        "sha256": dist.sha256,
        "repository": where,
        "signed_by": list(dist.signers),
        "signature": signature,
    }
