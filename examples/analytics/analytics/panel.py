"""The analytics admin panel: a GET form to choose the chart, the chart, its numbers.

``?of=routes`` (the default) charts route hits per plugin, ``?of=events`` events
per publisher; ``&plugin=notes`` charts that one plugin's routes or topics instead.
The panel's frame runs no script, so the form reloads it, and the chart is inline
SVG (`analytics.chart`).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, get_args

from analytics.chart import bar_chart, top
from analytics.counts import Kind

if TYPE_CHECKING:
    from collections.abc import Mapping

    from analytics.counts import Tally

KINDS: tuple[Kind, ...] = get_args(Kind)
_NAMES = {"routes": ("Route hits", "route", "hits"), "events": ("Events", "topic", "events")}

STYLE = """<style>
:root { --fg: #1d1d20; --muted: #6b6b73; --line: #e2e2e6; color-scheme: light dark; }
@media (prefers-color-scheme: dark) { :root { --fg: #e8e8ec; --muted: #9a9aa3; --line: #32323a; } }
body { margin: 0; padding: 12px; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); }
form { display: flex; gap: 8px; align-items: center; margin-bottom: 12px; flex-wrap: wrap; }
.muted { color: var(--muted); }
table { border-collapse: collapse; min-width: 320px; margin-top: 12px; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid var(--line); }
th { font-size: 12px; color: var(--muted); font-weight: 550; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
</style>"""


def choice(query: Mapping[str, str], tally: Tally) -> tuple[Kind, str]:
    """What ``query`` asks to chart: the kind, and one plugin (``""`` for all).

    A kind it does not know charts routes; a plugin without counts of that kind,
    every plugin.

    Example:
        >>> from analytics.counts import Tally
        >>> tally = Tally(since="", events={"notes": {"notes.created": 1}})
        >>> choice({"of": "events", "plugin": "notes"}, tally)
        ('events', 'notes')
        >>> choice({"of": "<b>", "plugin": "notes"}, tally)
        ('routes', '')
    """
    kind: Kind = "events" if query.get("of") == "events" else "routes"
    plugin = query.get("plugin", "")
    return kind, plugin if plugin in tally.totals(kind) else ""


def counts_for(tally: Tally, kind: Kind, plugin: str) -> dict[str, int]:
    """The counts one chart shows: per plugin, or per route or topic of ``plugin``."""
    return tally.of(kind, plugin) if plugin else tally.totals(kind)


def render(tally: Tally, *, kind: Kind, plugin: str, max_bars: int) -> str:
    """The panel's HTML."""
    title, per, unit = _NAMES[kind]
    known = sorted(tally.totals(kind))
    counts = counts_for(tally, kind, plugin)
    heading = f"{title} of {plugin}, by {per}" if plugin else f"{title}, by plugin"
    parts = [
        STYLE,
        _form(kind, plugin, known),
        f"<h3>{escape(heading)}</h3>",
        f'<p class="muted">Counted since {escape(tally.since)}:'
        f" {sum(counts.values())} {unit} in all.</p>",
    ]
    if counts:
        parts.append(bar_chart(top(counts, most=max_bars), title=heading))
        parts.append(_table(counts, first=per if plugin else "plugin", unit=unit))
    else:
        parts.append("<p>Nothing counted yet.</p>")
    return "\n".join(parts)


def _form(kind: Kind, plugin: str, known: list[str]) -> str:
    kinds = "".join(
        f'<option value="{name}"{" selected" if name == kind else ""}>{_NAMES[name][0]}</option>'
        for name in KINDS
    )
    plugins = '<option value="">every plugin</option>' + "".join(
        f'<option value="{escape(name)}"{" selected" if name == plugin else ""}>'
        f"{escape(name)}</option>"
        for name in known
    )
    return (
        '<form method="get">'
        f'<label>Chart <select name="of">{kinds}</select></label>'
        f'<label>of <select name="plugin">{plugins}</select></label>'
        "<button>Show</button></form>"
    )


def _table(counts: Mapping[str, int], *, first: str, unit: str) -> str:
    rows = "".join(
        f'<tr><td>{escape(name)}</td><td class="num">{count}</td></tr>'
        for name, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    )
    return f"<table><thead><tr><th>{first}</th><th>{unit}</th></tr></thead>{rows}</table>"
