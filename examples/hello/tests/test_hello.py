from __future__ import annotations

from hello.plugin import message, plugin


def test_message_counts_visits() -> None:
    assert message("Ada", 1) == "Hello, Ada! You have been greeted once."
    assert message("Ada", 3) == "Hello, Ada! You have been greeted 3 times."


def test_registrations_match_the_manifest() -> None:
    assert plugin.check(plugin.load_manifest()) == []
    assert plugin.registrations().routes == [("GET", "/"), ("GET", "/hello/{name}")]
