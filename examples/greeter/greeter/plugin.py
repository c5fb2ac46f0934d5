"""Greets people: a route, a call to the cache plugin, an export, an event and a counter."""

from __future__ import annotations

from typing import Any

from pluginctl import Plugin

plugin = Plugin()


def greeting_text(name: str, *, greeting: str = "Hello", punctuation: str = "!") -> str:
    """Build the greeting; pure, so tests call it directly."""
    return f"{greeting}, {name.strip() or 'stranger'}{punctuation}"


@plugin.export("greeting_for")
async def greeting_for(name: str, *, api: Any) -> str:
    """Let other plugins greet in the operator's configured style."""
    config = api.config
    return greeting_text(name, greeting=config["greeting"], punctuation=config["punctuation"])


@plugin.route("GET", "/hello/{name}")
async def hello(request: Any, api: Any) -> dict[str, object]:
    """Greet ``name`` (remembered in the cache plugin), count it, tell whoever listens."""
    name = request.path_params["name"]
    text = await api.plugins.call("cache", "get", f"greeting:{name}")
    cached = text is not None
    if not cached:
        text = await greeting_for(name, api=api)
        await api.plugins.call("cache", "set", f"greeting:{name}", text, 30.0)
    count = int(await api.kv.get(f"count:{name}", default=0)) + 1
    await api.kv.set(f"count:{name}", count)
    await api.events.publish("greeter.greeted", {"name": name, "count": count})
    return {"greeting": text, "count": count, "cached": cached}
