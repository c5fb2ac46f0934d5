r"""The page of every command and option, generated from the typer app at build time.

`on_page_markdown` replaces the line ``<!-- cli-reference -->`` with what typer's own
docs generator (``typer ... utils docs``) writes for ``pluginctl``: each command and
sub-command with its usage, arguments and options, from their definitions in
`pluginctl.cli`. So the page is complete and current whenever the site is built.

Example:
    >>> text = on_page_markdown("# All\n\n<!-- cli-reference -->\n")
    >>> "## `pluginctl run`" in text and "--data-dir" in text
    True
"""

from __future__ import annotations

from typing import Any

_MARKER = "<!-- cli-reference -->"


def on_page_markdown(markdown: str, **_: Any) -> str:
    """The page, with the generated reference in place of its marker line."""
    if _MARKER not in markdown:
        return markdown
    return markdown.replace(_MARKER, reference())


def reference() -> str:
    """Markdown for every command of ``pluginctl``, headings from ``##`` down."""
    import typer
    from typer.cli import get_docs_for_click

    from pluginctl.cli._app import app

    command = typer.main.get_command(app)
    context = typer.Context(command, info_name="pluginctl")
    docs = get_docs_for_click(obj=command, ctx=context, name="pluginctl", indent=1)
    return docs.strip() + "\n"
