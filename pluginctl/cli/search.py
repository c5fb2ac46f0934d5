"""``pluginctl search``: find plugins in a registry, or show one project's page.

By default the local registry directory (``$PLUGINCTL_REGISTRY`` or the user's) is
searched in process, no server needed; ``--index-url`` asks a running registry's
JSON API instead. Only plugins whose latest release supports this pluginctl are
listed, unless ``--all-hosts``. ``--show NAME`` prints a project's page (``pluginctl
info`` is about installed plugins).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from pluginctl.registry.marketplace import ProjectPage, SearchPage
    from pluginctl.registry.store import RegistryStore

__all__ = ["search"]

_SORTS = "relevance (the default), downloads or recent"


def search(
    query: Annotated[
        str, typer.Argument(metavar="QUERY", help="Words to find; the last may be a prefix.")
    ] = "",
    *,
    category: Annotated[str | None, typer.Option(help="Only plugins of this category.")] = None,
    tag: Annotated[str | None, typer.Option(help="Only plugins with this tag.")] = None,
    sort: Annotated[str, typer.Option(help=f"Order: {_SORTS}.")] = "relevance",
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many.")] = 20,
    show: Annotated[
        str | None,
        typer.Option(
            "--show", metavar="NAME", help="Show one project: releases, permissions, signers."
        ),
    ] = None,
    registry: Annotated[
        Path | None,
        typer.Option(help="A registry directory (default: $PLUGINCTL_REGISTRY or the user's)."),
    ] = None,
    index_url: Annotated[
        str | None,
        typer.Option("--index-url", "--registry-url", help="A running registry's URL instead."),
    ] = None,
    all_hosts: Annotated[
        bool, typer.Option("--all-hosts", help="Also list plugins for other pluginctl versions.")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search a registry's plugins by words, category and tag, or --show one of them."""
    from pluginctl._version import __version__
    from pluginctl.cli._output import print_json

    if registry is not None and index_url is not None:
        raise typer.BadParameter("give --registry or --index-url, not both")
    if show is not None:
        page = _project(show, registry, index_url)
        if json_output:
            print_json(page.to_dict())
        else:
            _render_project(page)
        return
    host = None if all_hosts else __version__
    wanted = _Query(query, category=category, tag=tag, host=host, sort=sort, limit=limit)
    found = _search(wanted, registry, index_url)
    if json_output:
        print_json(found.to_dict())
    else:
        _render_page(found, filtered=not all_hosts)


@dataclass(frozen=True, slots=True)
class _Query:
    text: str
    category: str | None
    tag: str | None
    host: str | None
    sort: str
    limit: int


def _search(wanted: _Query, registry: Path | None, index_url: str | None) -> SearchPage:
    if index_url is not None:
        from pluginctl.registry.marketplace_client import remote_search as find_remote

        return find_remote(
            index_url,
            wanted.text,
            category=wanted.category,
            tag=wanted.tag,
            host_version=wanted.host,
            sort=wanted.sort,
            limit=wanted.limit,
        )
    from pluginctl.registry.marketplace import search as find

    return find(
        _store(registry).index,
        wanted.text,
        category=wanted.category,
        tag=wanted.tag,
        host_version=wanted.host,
        sort=wanted.sort,
        limit=wanted.limit,
    )


def _project(name: str, registry: Path | None, index_url: str | None) -> ProjectPage:
    from pluginctl.errors import RegistryError

    if index_url is not None:
        from pluginctl.registry.marketplace_client import remote_project

        page = remote_project(index_url, name)
        where = index_url
    else:
        from pluginctl.registry.marketplace import project_page

        store = _store(registry)
        page = project_page(store.index, name)
        where = str(store.root)
    if page is None:
        raise RegistryError(
            f"{name} is not in the registry at {where}",
            hint=f"pluginctl search {name} lists plugins with similar names",
        )
    return page


def _store(registry: Path | None) -> RegistryStore:
    from pluginctl.errors import RegistryError
    from pluginctl.registry.store import RegistryStore

    root = registry or RegistryStore.default_root()
    if not (root / "index.sqlite3").is_file():
        raise RegistryError(
            f"no registry at {root}",
            hint="publish into it first (pluginctl publish), or give --registry or --index-url",
        )
    return RegistryStore(root)


# ---------------------------------------------------------------- rendering


def _render_page(page: SearchPage, *, filtered: bool) -> None:
    from rich.markup import escape
    from rich.table import Table

    from pluginctl.cli._output import console

    out = console()
    if not page.hits:
        extra = " (--all-hosts also lists plugins for other pluginctl versions)" if filtered else ""
        out.print(f"no plugins match{extra}")
        return
    table = Table("plugin", "version", "category", "downloads", "rating", "summary", box=None)
    for hit in page.hits:
        star = " [yellow]★[/]" if hit.featured else ""
        table.add_row(
            f"[bold]{escape(hit.name)}[/]{star}",
            escape(hit.version),
            escape(hit.category),
            str(hit.downloads),
            _stars(hit.rating.average, hit.rating.count),
            escape(hit.summary),
        )
    out.print(table)
    if page.total > len(page.hits):
        out.print(f"[dim]{len(page.hits)} of {page.total}: --limit shows more[/]")


def _stars(average: float | None, count: int) -> str:
    return "-" if average is None else f"{average:.1f} ({count})"


def _render_project(page: ProjectPage) -> None:
    from rich.markup import escape
    from rich.table import Table

    from pluginctl.cli._output import console

    out = console()
    star = "  [yellow]★ featured[/]" if page.featured else ""
    out.print(f"[bold]{escape(page.name)}[/] {escape(page.latest or '(all yanked)')}{star}")
    for label, value in _facts(page):
        if value:
            out.print(f"  {label:<12} {escape(value)}")
    table = Table("version", "uploaded", "downloads", "status", "permissions", box=None)
    for release in page.versions:
        status = f"yanked: {release.yank_reason or 'no reason given'}" if release.yanked else ""
        table.add_row(
            escape(release.version),
            _date(release.uploaded),
            str(release.downloads),
            f"[red]{escape(status)}[/]" if status else "",
            escape(", ".join(release.permissions) or "-"),
        )
    out.print(table)


def _facts(page: ProjectPage) -> list[tuple[str, str]]:
    return [
        ("summary", page.summary),
        ("description", page.description),
        ("category", page.category),
        ("tags", ", ".join(page.tags)),
        ("pluginctl", page.host or "any"),
        ("permissions", ", ".join(page.permissions) or "(none)"),
        ("signed by", ", ".join(signer[:16] for signer in page.signers)),
        ("downloads", str(page.downloads)),
        ("rating", _stars(page.rating.average, page.rating.count)),
    ]


def _date(timestamp: float) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(timestamp, tz=datetime.UTC).strftime("%Y-%m-%d")
