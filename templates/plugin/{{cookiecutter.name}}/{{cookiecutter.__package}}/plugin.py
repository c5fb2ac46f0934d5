"""The plugin's handlers, registered on ``plugin``.

``plugin.toml`` next to this file declares what the plugin offers and may do, and
``pluginctl validate`` checks that the two agree. Handlers receive ``api``, the host
API (key-value store, database, events, config, logging), when the host calls them.
"""

from __future__ import annotations

from typing import Any

from pluginctl import Plugin

plugin = Plugin()


def greeting(name: str, *, salutation: str = "Hello") -> str:
    """The message the plugin greets ``name`` with (a pure function: easy to test)."""
    return f"{salutation}, {name}!"


def salutation_of(api: Any) -> str:
    """The salutation the host configured (``[config.salutation]`` in plugin.toml)."""
    return "Hello" if api is None else str(api.config["salutation"])


@plugin.on_activate
def activate(api: Any) -> None:
    """Run once when the host starts the plugin, before it receives traffic."""
    api.log.info("activated")


@plugin.export("greet")
def greet(name: str, *, api: Any = None) -> str:
    """Greet ``name``; other plugins call this with ``api.plugins.call``."""
    return greeting(name, salutation=salutation_of(api))
{% if cookiecutter.routes %}


@plugin.route("GET", "/hello/{name}")
async def hello(request: Any, api: Any) -> dict[str, str]:
    """``GET /plugins/{{ cookiecutter.name }}/hello/<name>``: a greeting as JSON."""
    name = request.path_params["name"]
    return {"message": greeting(name, salutation=salutation_of(api))}
{% endif %}
{% if cookiecutter.admin %}


@plugin.admin_panel("overview")
def overview(api: Any = None) -> str:
    """The HTML of the plugin's admin panel (the host shows it in a sandboxed frame)."""
    return f"<h2>Overview</h2><p>{greeting('admin')}</p>"
{% endif %}
