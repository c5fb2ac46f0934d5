"""Counts every plugin's route hits and events, and charts them.

A plugin never sees the requests other plugins serve, so analytics listens to the
host: every ``[defaults] traffic_every_s`` seconds (10 by default) that some route
was called, the host publishes ``host.traffic`` with the hits per plugin and route.
Analytics subscribes to every topic (``**``), so it counts those and every event any
plugin publishes, by publisher and topic.

The counts live in memory (`analytics.counts.Tally`) and are kept in ``api.kv``:

- ``on_activate`` reads them back, so they survive restarts;
- every event saves them, at most once every `SAVE_EVERY_S` seconds, and
  ``on_deactivate`` saves them when the plugin stops (a crash loses what came in
  since the last save);
- on a hot reload, ``dump_state`` hands them to the new version's ``load_state``;
- ``health`` reports the plugin unhealthy while they cannot be saved.

Routes, under ``/plugins/analytics``: ``GET /stats`` (the counts as JSON) and
``GET /chart.svg?of=routes|events&plugin=NAME`` (a bar chart). The admin panel
``main`` shows the chart with a form to choose it.
"""

from __future__ import annotations

import asyncio
import datetime
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from analytics.chart import bar_chart, top
from analytics.counts import Tally
from analytics.panel import choice, counts_for, render
from pluginctl import Plugin, PluginctlError, Response

if TYPE_CHECKING:
    from pluginctl import Request

plugin = Plugin()

#: The key-value entry the counts are kept under.
KEY = "tally"
#: Events save the counts at most this often.
SAVE_EVERY_S = 5.0


@dataclass
class State:
    """The worker's counts, and how saving them went."""

    tally: Tally | None = None
    saved_at: float | None = None  # time.monotonic() of the last save
    save_error: str | None = None
    saving: asyncio.Lock = field(default_factory=asyncio.Lock)


state = State()


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def tally() -> Tally:
    """The counts (a fresh tally before activation, which never serves: for type checks)."""
    if state.tally is None:
        state.tally = Tally(since=now())
    return state.tally


async def save(api: Any) -> None:
    """Write the counts to the key-value store; a failure is kept for `health`."""
    async with state.saving:  # one write at a time, each with the newest counts
        try:
            await api.kv.set(KEY, tally().to_dict())
        except PluginctlError as exc:
            if state.save_error is None:
                api.log.warning("the counts could not be saved", error=str(exc))
            state.save_error = str(exc)
        else:
            state.save_error = None
        state.saved_at = time.monotonic()


# -- lifecycle ----------------------------------------------------------------------------


@plugin.load_state
async def take_over(previous: object, api: Any) -> None:
    """A hot reload: go on with the counts of the version this one replaces."""
    state.tally = Tally.from_dict(previous, since=now())


@plugin.on_activate
async def activate(api: Any) -> None:
    """Read the saved counts back, unless a reload handed them over."""
    if state.tally is None:
        try:
            saved = await api.kv.get(KEY)
        except PluginctlError as exc:  # start afresh; health says so until a save works
            api.log.warning("the saved counts could not be read", error=str(exc))
            state.save_error, saved = str(exc), None
        state.tally = Tally.from_dict(saved, since=now())
    counted = tally()
    api.log.info("counting", since=counted.since, plugins=len(counted.totals("routes")))


@plugin.dump_state
async def hand_over(api: Any) -> dict[str, object]:
    """What the next version's `take_over` gets."""
    return tally().to_dict()


@plugin.on_deactivate
async def deactivate(api: Any) -> None:
    """Save the counts before the worker ends."""
    await save(api)


@plugin.health
async def health(api: Any) -> dict[str, object]:
    """Unhealthy while the counts cannot be saved (the key-value store refuses them)."""
    if state.save_error is not None:
        return {"ok": False, "reason": f"the counts cannot be saved: {state.save_error}"}
    return {"ok": True}


# -- counting -----------------------------------------------------------------------------


@plugin.on("**")
async def count(event: Any, api: Any) -> None:
    """Count every event; ``host.traffic`` (only the host can publish it) brings route hits."""
    counted = tally()
    counted.add_event(event.publisher, event.topic)
    if event.topic == "host.traffic":
        counted.add_traffic(event.payload)
    if state.saved_at is None or time.monotonic() - state.saved_at >= SAVE_EVERY_S:
        await save(api)


# -- reading ------------------------------------------------------------------------------


@plugin.route("GET", "/stats")
async def stats(request: Request, api: Any) -> dict[str, object]:
    """The counts: ``{"since", "routes": {plugin: {route: n}}, "events": {...}, "totals"}``."""
    counted = tally()
    totals = {"routes": counted.totals("routes"), "events": counted.totals("events")}
    return {**counted.to_dict(), "totals": totals}


@plugin.route("GET", "/chart.svg")
async def chart(request: Request, api: Any) -> Response:
    """The panel's chart as an SVG image: ``?of=routes|events``, ``&plugin=NAME``."""
    counted = tally()
    kind, name = choice(request.query, counted)
    title = f"{kind} of {name}" if name else f"{kind} by plugin"
    bars = top(counts_for(counted, kind, name), most=int(api.config["max_bars"]))
    return Response(bar_chart(bars, title=title), media_type="image/svg+xml")


@plugin.admin_panel("main")
async def panel(request: Request, api: Any) -> str:
    """The chart chosen with the panel's form, and its numbers."""
    counted = tally()
    kind, name = choice(request.query, counted)
    return render(counted, kind=kind, plugin=name, max_bars=int(api.config["max_bars"]))
