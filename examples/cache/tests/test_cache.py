from __future__ import annotations

from cache.plugin import plugin, ttl_for


def test_ttl_defaults_to_the_configured_one() -> None:
    assert ttl_for(None, 60.0) == 60.0
    assert ttl_for(5.0, 60.0) == 5.0
    assert ttl_for(0.0, 60.0) == 0.001


def test_exports_match_the_manifest() -> None:
    assert plugin.check(plugin.load_manifest()) == []
    assert sorted(plugin.exports) == ["get", "set"]
