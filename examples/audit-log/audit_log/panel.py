"""The audit log's admin panel: filters as a GET form, the counts, the matching records.

The panel's frame runs no script and loads nothing: the filters are a plain
``<form method="get">`` that reloads the panel with ``?plugin=&family=&q=``, and
"older" is a link with ``before=``. Everything shown is escaped: plugin names,
topics and payloads come from other plugins.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlencode

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from audit_log.records import Filters, Record

_PAYLOAD_CHARS = 300

STYLE = """<style>
:root { --fg: #1d1d20; --muted: #6b6b73; --card: #fff; --line: #e2e2e6; --accent: #3553d6;
        --bad: #b3261e; color-scheme: light dark; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e8e8ec; --muted: #9a9aa3; --card: #1f1f24; --line: #32323a; --accent: #8ea2ff;
          --bad: #ff7a70; }
}
body { margin: 0; padding: 12px; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); }
form { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin-bottom: 12px; }
.muted, .counts { color: var(--muted); }
.counts strong { color: var(--fg); }
.families span { display: inline-block; margin: 0 10px 6px 0; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid var(--line);
         vertical-align: top; }
th { font-size: 12px; color: var(--muted); font-weight: 550; }
td.ts { color: var(--muted); white-space: nowrap; font-variant-numeric: tabular-nums; }
td.payload { font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
tr.bad td.topic { color: var(--bad); }
.error { color: var(--bad); }
a { color: var(--accent); }
</style>"""

#: Topics shown as trouble.
_BAD = ("failed", "opened", "unhealthy", "disabled", "reload_failed")


def render(
    records: Sequence[Record],
    *,
    filters: Filters,
    matching: int,
    plugins: Mapping[str, int],
    families: Mapping[str, int],
    next_before: int | None,
) -> str:
    """The panel's HTML: the form, the families with their counts, a page of records."""
    parts = [STYLE, _form(filters, plugins, families), _summary(matching, sum(plugins.values()))]
    parts.append(_families(families, filters))
    if records:
        parts.append(_table(records))
        if next_before is not None:
            older = urlencode({**filters.query(), "before": next_before})
            parts.append(f'<p><a href="?{escape(older)}">Older records</a></p>')
    else:
        parts.append("<p>No record matches.</p>" if plugins else "<p>Nothing recorded yet.</p>")
    return "\n".join(parts)


def refused(reason: str) -> str:
    """The panel when its query is not one it understands."""
    every = '<p><a href="?">Show every record</a></p>'
    return f'{STYLE}\n<p class="error">{escape(reason)}</p>\n{every}'


def _form(filters: Filters, plugins: Mapping[str, int], families: Mapping[str, int]) -> str:
    return (
        '<form method="get">'
        f"<label>Plugin {_select('plugin', plugins, filters.plugin, 'every plugin')}</label>"
        f"<label>Family {_select('family', families, filters.family, 'every family')}</label>"
        f'<input type="search" name="q" value="{escape(filters.q)}" placeholder="Text"'
        ' aria-label="Text in the topic or the payload">'
        '<button>Filter</button> <a href="?">Clear</a></form>'
    )


def _select(name: str, counts: Mapping[str, int], chosen: str, every: str) -> str:
    options = [f'<option value="">{every}</option>']
    for value in sorted(counts):
        selected = " selected" if value == chosen else ""
        options.append(f'<option value="{escape(value)}"{selected}>{escape(value)}</option>')
    return f'<select name="{name}">{"".join(options)}</select>'


def _summary(matching: int, total: int) -> str:
    records = "record" if total == 1 else "records"
    return (
        f'<p class="counts"><strong>{matching}</strong> of <strong>{total}</strong>'
        f" {records} match.</p>"
    )


def _families(families: Mapping[str, int], filters: Filters) -> str:
    links = " ".join(
        f'<span><a href="?{escape(urlencode({**filters.query(), "family": name}))}">'
        f"{escape(name)}</a> {count}</span>"
        for name, count in sorted(families.items(), key=lambda item: (-item[1], item[0]))
    )
    return f'<p class="families muted">{links}</p>' if links else ""


def _table(records: Sequence[Record]) -> str:
    rows = "\n".join(
        f'<tr class="{"bad" if record.topic.endswith(_BAD) else ""}">'
        f'<td class="ts">{escape(record.ts)}</td>'
        f'<td class="topic">{escape(record.topic)}</td>'
        f"<td>{escape(record.plugin)}</td>"
        f'<td class="payload">{escape(_short(record.payload))}</td>'
        "</tr>"
        for record in records
    )
    return (
        "<table><thead><tr><th>Time</th><th>Topic</th><th>Plugin</th><th>Details</th>"
        f"</tr></thead>\n<tbody>\n{rows}\n</tbody></table>"
    )


def _short(payload: object) -> str:
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= _PAYLOAD_CHARS else text[: _PAYLOAD_CHARS - 1] + "…"
