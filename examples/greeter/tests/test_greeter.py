from __future__ import annotations

from pathlib import Path

from greeter.plugin import greeting_text, plugin

from pluginctl import Manifest


def test_greeting_text() -> None:
    assert greeting_text("Ada") == "Hello, Ada!"
    assert greeting_text("  ", greeting="Hi", punctuation=".") == "Hi, stranger."


def test_registrations_match_the_manifest() -> None:
    manifest = Manifest.from_path(Path(plugin.manifest_path))
    assert plugin.check(manifest) == []
    assert plugin.registrations().routes == [("GET", "/hello/{name}")]
    assert list(plugin.exports) == ["greeting_for"]
