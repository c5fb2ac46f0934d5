"""hello running in a real host: its routes over HTTP, its counter, its static page."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import httpx

    from pluginctl.testing import TestHost


def test_visits_are_counted_per_name(client: httpx.Client) -> None:
    assert client.get("/hello/ada").json()["visits"] == 1
    assert client.get("/hello/ada").json() == {
        "message": "Hello, ada! You have been greeted 2 times.",
        "visits": 2,
    }
    assert client.get("/hello/bob").json()["visits"] == 1


def test_the_static_page_is_served(client: httpx.Client) -> None:
    response = client.get("/static/index.html")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")


@pytest.mark.pluginctl(revoke=["kv"])
def test_without_kv_the_counter_is_refused(client: httpx.Client, host: TestHost) -> None:
    assert client.get("/hello/ada").status_code == 500
    assert host.audit()[-1]["event"] == "permission.denied"
