"""Tests of the plugin running in a real host.

The ``plugin``{% if cookiecutter.routes %} and ``client``{% endif %} fixtures come with pluginctl: each test that uses
them starts the plugin in its own worker under a real host, with empty data, so
the host API, permissions and limits behave as in production. The ``pluginctl``
marker changes how it runs: its settings, its permissions, other plugins beside it.
{% if cookiecutter.db %}

Each test starts with an empty database, its migrations applied by the host: a
SQLite file by default, or the plugin's own schema in PostgreSQL under
``pluginctl test --database-url URL``. The same tests pass on both.
{% endif %}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
{% if cookiecutter.db %}
from pluginctl import PermissionDenied
{% endif %}

if TYPE_CHECKING:
{% if cookiecutter.routes %}
    import httpx
{% endif %}
    from pluginctl.testing import TestedPlugin


def test_greet_through_the_host(plugin: TestedPlugin) -> None:
    assert plugin.state == "active"
    assert plugin.call("greet", "Ada") == "Hello, Ada!"


@pytest.mark.pluginctl(config={"salutation": "Hi"})
def test_the_host_passes_the_configured_salutation(plugin: TestedPlugin) -> None:
    assert plugin.call("greet", "Ada") == "Hi, Ada!"
{% if cookiecutter.routes %}


def test_hello_route_over_http(client: httpx.Client) -> None:
    response = client.get("/hello/Ada")
    assert response.status_code == 200
{% if cookiecutter.db %}
    assert response.json() == {"message": "Hello, Ada!", "greeted": 1}
    assert client.get("/hello/Ada").json()["greeted"] == 2
{% else %}
    assert response.json() == {"message": "Hello, Ada!"}
{% endif %}
{% endif %}
{% if cookiecutter.db %}


def test_each_greeting_is_recorded_in_the_database(plugin: TestedPlugin) -> None:
    plugin.call("greet", "Ada")
    plugin.call("greet", "Ada")
    plugin.call("greet", "Grace")
    assert plugin.call("greeted", "Ada") == 2
    assert plugin.call("greeted", "Grace") == 1
    assert plugin.call("greeted", "Alan") == 0


def test_every_test_starts_with_an_empty_database(plugin: TestedPlugin) -> None:
    assert plugin.call("greeted", "Ada") == 0


def test_a_name_is_stored_as_given_never_as_sql(plugin: TestedPlugin) -> None:
    name = "Robert'); DROP TABLE greetings; --"
    plugin.call("greet", name)
    assert plugin.call("greeted", name) == 1


@pytest.mark.pluginctl(revoke=["db:write"])
def test_without_db_write_greet_is_denied(plugin: TestedPlugin) -> None:
    with pytest.raises(PermissionDenied, match="db:write"):
        plugin.call("greet", "Ada")
    assert plugin.call("greeted", "Ada") == 0  # reading needs db:read only
{% endif %}
