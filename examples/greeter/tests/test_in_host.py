"""greeter running in a real host beside cache: its greeting crosses two workers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import httpx

    from pluginctl.testing import EventRecorder

pytestmark = pytest.mark.pluginctl(plugins=["../cache"])


def test_the_second_greeting_comes_from_the_cache(client: httpx.Client) -> None:
    first = client.get("/hello/ada").json()
    assert first == {"greeting": "Hello, ada!", "count": 1, "cached": False}
    assert client.get("/hello/ada").json()["cached"] is True


def test_each_greeting_is_published(client: httpx.Client, events: EventRecorder) -> None:
    client.get("/hello/ada")
    assert events.wait_for("greeter.greeted").payload == {"name": "ada", "count": 1}


@pytest.mark.pluginctl(config={"greeting": "Howdy", "punctuation": "?"})
def test_settings_change_the_greeting(client: httpx.Client) -> None:
    assert client.get("/hello/ada").json()["greeting"] == "Howdy, ada?"
