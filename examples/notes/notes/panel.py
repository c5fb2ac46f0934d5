"""The notes admin panel as HTML: a search form, the counts, and the matching notes.

The admin UI shows a panel in a sandboxed frame that runs no script and loads
nothing, so this is plain HTML with an inline stylesheet, its search a GET form
that reloads the panel with ``?q=``. Everything from the database is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

#: The most notes the panel lists; the counts cover them all.
PANEL_ROWS = 50
_EXCERPT = 120

STYLE = """<style>
:root { --fg: #1d1d20; --muted: #6b6b73; --card: #fff; --line: #e2e2e6; --accent: #3553d6;
        color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e8e8ec; --muted: #9a9aa3; --card: #1f1f24; --line: #32323a; --accent: #8ea2ff; }
}
body { margin: 0; padding: 12px; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); }
form { display: flex; gap: 8px; align-items: center; margin-bottom: 12px; }
input[type=search] { flex: 1; max-width: 320px; padding: 5px 8px; }
.counts { color: var(--muted); margin: 0 0 12px; }
.counts strong { color: var(--fg); }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 550; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.ts { color: var(--muted); white-space: nowrap; }
td.body { color: var(--muted); word-break: break-word; }
a { color: var(--accent); }
</style>"""


@dataclass(frozen=True, slots=True)
class PanelNote:
    """One row of the panel's table."""

    id: int
    title: str
    body: str
    word_count: int
    updated_at: str


@dataclass(frozen=True, slots=True)
class Counts:
    """What the panel counts: every note and word, and the notes the search matches."""

    notes: int
    words: int
    matching: int


def excerpt(text: str, *, limit: int = _EXCERPT) -> str:
    """The start of ``text`` on one line, cut at ``limit`` characters with an ellipsis.

    Example:
        >>> excerpt("milk\\nand  bread")
        'milk and bread'
        >>> excerpt("a" * 10, limit=4)
        'aaa…'
    """
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def render(notes: Sequence[PanelNote], counts: Counts, *, query: str) -> str:
    """The panel's HTML for ``notes`` (those matching ``query``, newest first)."""
    parts = [STYLE, _form(query), _summary(counts, query=query)]
    if notes:
        parts.append(_table(notes))
        if counts.matching > len(notes):
            parts.append(f'<p class="counts">The newest {len(notes)} are shown.</p>')
    elif counts.notes:
        parts.append("<p>No note matches.</p>")
    else:
        parts.append("<p>No notes yet: <code>POST /plugins/notes/notes</code> adds one.</p>")
    return "\n".join(parts)


def _form(query: str) -> str:
    clear = ' <a href="?">Clear</a>' if query else ""
    return (
        '<form method="get">'
        f'<input type="search" name="q" value="{escape(query)}" placeholder="Title or text"'
        ' aria-label="Search the notes">'
        f"<button>Search</button>{clear}</form>"
    )


def _summary(counts: Counts, *, query: str) -> str:
    notes = "note" if counts.notes == 1 else "notes"
    words = "word" if counts.words == 1 else "words"
    text = f"<strong>{counts.notes}</strong> {notes}, <strong>{counts.words}</strong> {words}"
    if query:
        text += f"; <strong>{counts.matching}</strong> match “{escape(query)}”"
    return f'<p class="counts">{text}</p>'


def _table(notes: Sequence[PanelNote]) -> str:
    rows = "\n".join(
        "<tr>"
        f'<td class="num">{note.id}</td>'
        f"<td>{escape(note.title)}</td>"
        f'<td class="body">{escape(excerpt(note.body))}</td>'
        f'<td class="num">{note.word_count}</td>'
        f'<td class="ts">{escape(note.updated_at)}</td>'
        "</tr>"
        for note in notes
    )
    return (
        "<table><thead><tr><th>#</th><th>Title</th><th>Text</th><th>Words</th>"
        f"<th>Changed</th></tr></thead>\n<tbody>\n{rows}\n</tbody></table>"
    )
