"""Line charts as inline SVG, drawn on the server: no script, no style attribute.

The admin UI's Content-Security-Policy allows no inline styles, so the charts use
SVG presentation attributes only (``stroke``, ``fill``), which it does not govern;
colours come from ``currentColor`` and the page's CSS classes. Every label is
escaped.

Example:
    >>> svg = line_chart([(0.0, 1.0), (60.0, 3.0)], unit="req/s", span_s=60.0)
    >>> svg.startswith("<svg") and "5 req/s" in svg and "polyline" in svg  # 3 rounds up to 5
    True
    >>> "polyline" in line_chart([], unit="ms", span_s=60.0)  # no data: axes only
    False
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["line_chart", "sparkline"]

_WIDTH, _HEIGHT, _LEFT, _BOTTOM, _TOP = 480, 140, 56, 18, 8


def line_chart(
    points: Sequence[tuple[float, float | None]],
    *,
    unit: str,
    span_s: float,
    label: str = "",
) -> Markup:
    """A chart of ``(seconds, value)`` points over the last ``span_s`` seconds.

    ``seconds`` is on any clock; the last point is drawn at "now". None values
    (no calls in that interval) break the line.
    """
    known = [value for _, value in points if value is not None]
    top = _nice_ceiling(max(known, default=0.0))
    end = points[-1][0] if points else 0.0
    plot_w, plot_h = _WIDTH - _LEFT - 4, _HEIGHT - _BOTTOM - _TOP

    def x(at: float) -> float:
        return _LEFT + plot_w * (1 - min(span_s, max(0.0, end - at)) / span_s)

    def y(value: float) -> float:
        return _TOP + plot_h * (1 - (value / top if top else 0.0))

    lines: list[list[str]] = []
    run: list[str] = []
    for at, value in points:
        if value is None:
            lines.append(run)
            run = []
        else:
            run.append(f"{x(at):.1f},{y(value):.1f}")
    lines.append(run)
    title = f"{label} ({unit})" if label else unit
    parts = [
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP + plot_h}" x2="{_WIDTH - 4}" '
        f'y2="{_TOP + plot_h}" stroke="currentColor" stroke-opacity="0.3"/>',
        f'<line class="axis" x1="{_LEFT}" y1="{_TOP}" x2="{_WIDTH - 4}" y2="{_TOP}" '
        f'stroke="currentColor" stroke-opacity="0.15" stroke-dasharray="3 3"/>',
        _text(_LEFT - 6, _TOP + 4, f"{_number(top)} {unit}", anchor="end"),
        _text(_LEFT - 6, _TOP + plot_h + 4, f"0 {unit}", anchor="end"),
        _text(_LEFT, _HEIGHT - 3, f"-{_duration(span_s)}", anchor="start"),
        _text(_WIDTH - 4, _HEIGHT - 3, "now", anchor="end"),
    ]
    parts += [
        f'<polyline class="series" points="{" ".join(run)}" fill="none" '
        f'stroke="currentColor" stroke-width="1.75" stroke-linejoin="round"/>'
        for run in lines
        if len(run) > 1
    ]
    parts += [
        f'<circle class="series" cx="{run[0].split(",")[0]}" cy="{run[0].split(",")[1]}" '
        f'r="1.75" fill="currentColor"/>'
        for run in lines
        if len(run) == 1
    ]
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  # every piece above is a number or escaped


def sparkline(values: Sequence[float], *, width: int = 120, height: int = 24) -> Markup:
    """A small line of ``values`` (oldest first), scaled to their maximum."""
    if len(values) < 2:
        return Markup(f'<svg class="spark" width="{width}" height="{height}"></svg>')  # noqa: S704
    top = max(values) or 1.0
    step = width / (len(values) - 1)
    points = " ".join(
        f"{i * step:.1f},{height - 2 - (height - 4) * v / top:.1f}" for i, v in enumerate(values)
    )
    return Markup(  # noqa: S704  # numbers only
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-hidden="true" xmlns="http://www.w3.org/2000/svg"><polyline points="{points}" '
        f'fill="none" stroke="currentColor" stroke-width="1.5"/></svg>'
    )


def _text(x: float, y: float, text: str, *, anchor: str) -> str:
    return (
        f'<text x="{x}" y="{y}" text-anchor="{anchor}" font-size="10" fill="currentColor" '
        f'fill-opacity="0.7">{escape(text)}</text>'
    )


def _nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1.0
    scale = 10.0 ** len(str(int(value))) / 10 if value >= 1 else 1.0
    while scale > value:
        scale /= 10
    for step in (1, 2, 2.5, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def _number(value: float) -> str:
    return f"{value:g}" if value >= 0.01 else f"{value:.3g}"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
