"""The plugin's handlers, registered on ``plugin``.

``plugin.toml`` next to this file declares what the plugin offers and may do, and
``pluginctl validate`` checks that the two agree. Handlers receive ``api``, the host
API (key-value store, database, events, config, logging), when the host calls them.
"""

from __future__ import annotations

{% if cookiecutter.admin %}
import html
{% endif %}
from typing import Any

from pluginctl import Plugin

plugin = Plugin()
{% if cookiecutter.db %}

# The plugin's SQL, with named :parameters that the database binds (never pasted in).
# The greetings table comes from migrations/0001_initial.py, which the host applies
# before the plugin starts.
RECORD = "INSERT INTO greetings (name) VALUES (:name)"
COUNT = "SELECT count(*) FROM greetings WHERE name = :name"
{% endif %}


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


{% if cookiecutter.db %}
@plugin.export("greet")
def greet(name: str, *, api: Any = None) -> str:
    """Greet ``name`` and record the greeting; other plugins call this with ``api.plugins.call``.

    A plain ``def`` handler runs in a thread of its own, where ``api.db`` calls block.
    """
    if api is not None:
        api.db.execute(RECORD, {"name": name})
    return greeting(name, salutation=salutation_of(api))


@plugin.export("greeted")
async def greeted(name: str, *, api: Any) -> int:
    """How many times ``name`` has been greeted (an ``async def`` handler awaits ``api.db``)."""
    return int(await api.db.fetch_value(COUNT, {"name": name}))
{% else %}
@plugin.export("greet")
def greet(name: str, *, api: Any = None) -> str:
    """Greet ``name``; other plugins call this with ``api.plugins.call``."""
    return greeting(name, salutation=salutation_of(api))
{% endif %}
{% if cookiecutter.routes and cookiecutter.db %}


@plugin.route("GET", "/hello/{name}")
async def hello(request: Any, api: Any) -> dict[str, object]:
    """``GET /plugins/{{ cookiecutter.name }}/hello/<name>``: a greeting as JSON, recorded."""
    name = request.path_params["name"]
    async with api.db.transaction():  # insert and count commit together, or neither
        await api.db.execute(RECORD, {"name": name})
        count = int(await api.db.fetch_value(COUNT, {"name": name}))
    return {"message": greeting(name, salutation=salutation_of(api)), "greeted": count}
{% elif cookiecutter.routes %}


@plugin.route("GET", "/hello/{name}")
async def hello(request: Any, api: Any) -> dict[str, str]:
    """``GET /plugins/{{ cookiecutter.name }}/hello/<name>``: a greeting as JSON."""
    name = request.path_params["name"]
    return {"message": greeting(name, salutation=salutation_of(api))}
{% endif %}
{% if cookiecutter.admin %}


@plugin.admin_panel("overview")
def overview(request: Any, api: Any) -> str:
    """The HTML of the plugin's admin panel, at ``/admin`` in the host.

    It is shown in a sandboxed frame: no script runs there and nothing loads from
    the network, so use plain HTML, inline styles and GET forms (``request.query``
    holds what they send). Escape what you put in it.
    """
    return f"<h2>Overview</h2><p>{html.escape(greeting('admin'))}</p>"
{% endif %}
