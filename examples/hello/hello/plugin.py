"""The smallest useful plugin: a route, a counter in the key-value store, a static page."""

from __future__ import annotations

from typing import Any

from pluginctl import Plugin

plugin = Plugin()


def message(name: str, visits: int) -> str:
    """What the plugin says; pure, so tests call it directly."""
    times = "once" if visits == 1 else f"{visits} times"
    return f"Hello, {name}! You have been greeted {times}."


@plugin.route("GET", "/")
async def index(request: Any, api: Any) -> dict[str, object]:
    """The plugin's front door: where to go next."""
    return {"plugin": api.plugin, "try": f"/plugins/{api.plugin}/hello/world"}


@plugin.route("GET", "/hello/{name}")
async def hello(request: Any, api: Any) -> dict[str, object]:
    """Greet ``name`` and count how often they came by."""
    name = request.path_params["name"]
    visits = await api.kv.incr(f"visits:{name}")
    return {"message": message(name, visits), "visits": visits}
