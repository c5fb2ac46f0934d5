"""analytics in a real host: it counts the host's traffic reports and every event.

The host publishes ``host.traffic`` every ``traffic_every_s`` seconds (10 by
default), so these tests publish the reports themselves, as the host would, from
``host``; the main suite's tests see the host's own.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import httpx

    from pluginctl.testing import TestedPlugin, TestHost


def report(host: TestHost, plugins: dict[str, dict[str, int]]) -> None:
    host.publish("host.traffic", {"interval_s": 10.0, "plugins": plugins}, publisher="host")


def test_the_hosts_traffic_reports_are_counted_per_plugin_and_route(
    client: httpx.Client, host: TestHost
) -> None:
    report(host, {"notes": {"route:GET /notes": 3, "route:POST /notes": 1}})
    report(host, {"notes": {"route:GET /notes": 2}, "hello": {"route:GET /hello/{name}": 4}})
    stats = client.get("/stats").json()
    assert stats["routes"] == {
        "notes": {"GET /notes": 5, "POST /notes": 1},
        "hello": {"GET /hello/{name}": 4},
    }
    assert stats["totals"]["routes"] == {"notes": 6, "hello": 4}


def test_every_event_is_counted_by_publisher_and_topic(
    client: httpx.Client, host: TestHost
) -> None:
    host.publish("notes.created", {"id": 1}, publisher="notes")
    host.publish("notes.created", {"id": 2}, publisher="notes")
    host.publish("greeter.greeted", {"name": "ada"}, publisher="greeter")
    events = client.get("/stats").json()["events"]
    assert events["notes"] == {"notes.created": 2}
    assert events["greeter"] == {"greeter.greeted": 1}
    deadline = time.monotonic() + 5  # the host's own events are published as they happen
    while "host.plugin.active" not in client.get("/stats").json()["events"].get("host", {}):
        assert time.monotonic() < deadline, "analytics never counted its own host.plugin.active"
        time.sleep(0.05)


def test_the_counts_survive_a_restart(
    client: httpx.Client, host: TestHost, plugin: TestedPlugin
) -> None:
    report(host, {"notes": {"route:GET /notes": 7}})
    before = client.get("/stats").json()
    host.remove(plugin.name)  # on_deactivate saves them
    host.add(plugin.runtime.source, fresh_data=False)
    after = client.get("/stats").json()  # on_activate read them back
    assert after["since"] == before["since"]
    assert after["routes"] == {"notes": {"GET /notes": 7}}


def test_a_hot_reload_hands_the_counts_over(
    client: httpx.Client, host: TestHost, plugin: TestedPlugin
) -> None:
    for count in (1, 2, 3):  # the first saves; the others, within 5 s, are only in memory
        report(host, {"notes": {"route:GET /notes": count}})
    plugin.reload()
    assert client.get("/stats").json()["routes"] == {"notes": {"GET /notes": 6}}


@pytest.mark.pluginctl(revoke=["kv"])
def test_without_its_store_it_counts_but_reports_itself_unhealthy(
    client: httpx.Client, host: TestHost, plugin: TestedPlugin
) -> None:
    report(host, {"notes": {"route:GET /notes": 1}})
    assert client.get("/stats").json()["routes"] == {"notes": {"GET /notes": 1}}
    verdict = plugin.health()
    assert isinstance(verdict, dict)
    assert verdict["ok"] is False
    assert "lacks the permission 'kv'" in verdict["reason"]


def test_the_panel_charts_route_hits_and_escapes_what_it_was_sent(
    host: TestHost, plugin: TestedPlugin
) -> None:
    report(host, {"notes": {"route:GET /notes": 3}, "hello": {"route:GET /<script>": 1}})
    html = plugin.panel("main")
    assert html.count("<rect") == 2  # one bar per plugin
    assert "<svg" in html
    assert "<script" not in html
    one = plugin.panel("main", {"of": "routes", "plugin": "hello"})
    assert "GET /&lt;script&gt;" in one
    events = plugin.panel("main", {"of": "events"})
    assert "Events, by plugin" in events


@pytest.mark.pluginctl(config={"max_bars": 2})
def test_the_chart_is_an_svg_image_of_at_most_max_bars(
    client: httpx.Client, host: TestHost
) -> None:
    report(host, {"a": {"route:GET /": 3}, "b": {"route:GET /": 2}, "c": {"route:GET /": 1}})
    chart = client.get("/chart.svg")
    assert chart.headers["content-type"] == "image/svg+xml"
    assert chart.text.count("<rect") == 2
    assert "2 more" in chart.text
