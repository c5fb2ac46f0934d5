"""Tests of the plugin running in a real host.

The ``plugin``{% if cookiecutter.routes %} and ``client``{% endif %} fixtures come with pluginctl: each test that uses
them starts the plugin in its own worker under a real host, with empty data, so
the host API, permissions and limits behave as in production. The ``pluginctl``
marker changes how it runs: its settings, its permissions, other plugins beside it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

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
    assert response.json() == {"message": "Hello, Ada!"}
{% endif %}
