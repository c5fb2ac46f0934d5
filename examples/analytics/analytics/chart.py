"""Bar charts as SVG text, drawn on the server: a panel runs no script, so it gets markup.

`bar_chart` draws one horizontal bar per label, longest first, scaled to the largest;
the same SVG goes inline into the admin panel and out as ``GET /chart.svg``. Labels
are escaped (they are plugin names, routes and topics other plugins chose).

Example:
    >>> bars = top({"notes": 12, "hello": 3, "greeter": 3, "cache": 1}, most=3)
    >>> bars
    [('notes', 12), ('greeter', 3), ('2 more', 4)]
    >>> svg = bar_chart(bars, title="Route hits")
    >>> svg.startswith("<svg"), svg.count("<rect")
    (True, 3)
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

WIDTH = 640
_LABEL_WIDTH = 210  # the labels' column, right-aligned against the bars
_VALUE_ROOM = 64  # after the longest bar, for its number
_BAR, _GAP, _TOP = 22, 6, 8
_LABEL_CHARS = 30

_STYLE = (
    "<style>"
    ".bar{fill:#3553d6}.label,.value{font:12px system-ui,sans-serif;fill:#1d1d20}"
    ".value{font-variant-numeric:tabular-nums}"
    "@media (prefers-color-scheme:dark){.bar{fill:#8ea2ff}.label,.value{fill:#e8e8ec}}"
    "</style>"
)


def top(counts: Mapping[str, int], *, most: int) -> list[tuple[str, int]]:
    """The bars to draw, largest first (ties by name): the rest summed when over ``most``."""
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if len(ordered) <= most:
        return ordered
    kept, rest = ordered[: most - 1], ordered[most - 1 :]
    return [*kept, (f"{len(rest)} more", sum(count for _, count in rest))]


def bar_chart(bars: Sequence[tuple[str, int]], *, title: str) -> str:
    """An SVG image of ``bars`` (label, count), titled ``title`` for screen readers."""
    height = _TOP * 2 + len(bars) * (_BAR + _GAP)
    largest = max((count for _, count in bars), default=0) or 1
    room = WIDTH - _LABEL_WIDTH - _VALUE_ROOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}"'
        f' viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        _STYLE,
    ]
    for index, (label, count) in enumerate(bars):
        y = _TOP + index * (_BAR + _GAP)
        length = max(1, round(room * count / largest))
        middle = y + _BAR // 2 + 4
        parts.append(
            f'<text class="label" x="{_LABEL_WIDTH - 8}" y="{middle}" text-anchor="end">'
            f"{escape(_short(label))}</text>"
            f'<rect class="bar" x="{_LABEL_WIDTH}" y="{y}" width="{length}" height="{_BAR}"'
            f' rx="3"><title>{escape(label)}: {count}</title></rect>'
            f'<text class="value" x="{_LABEL_WIDTH + length + 6}" y="{middle}">{count}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _short(label: str) -> str:
    return label if len(label) <= _LABEL_CHARS else label[: _LABEL_CHARS - 1] + "…"
