from __future__ import annotations

from analytics.chart import bar_chart, top
from analytics.counts import MAX_KEYS, OTHER, Tally
from analytics.panel import choice, render
from analytics.plugin import plugin


def traffic(plugins: object) -> dict[str, object]:
    return {"interval_s": 10.0, "plugins": plugins}


def test_traffic_adds_route_hits_per_plugin_and_route() -> None:
    tally = Tally(since="2026-01-01T00:00:00+00:00")
    assert tally.add_traffic(traffic({"notes": {"route:GET /notes": 2, "route:POST /notes": 1}}))
    tally.add_traffic(traffic({"notes": {"route:GET /notes": 3}, "hello": {"route:GET /": 1}}))
    assert tally.routes == {"notes": {"GET /notes": 5, "POST /notes": 1}, "hello": {"GET /": 1}}
    assert tally.totals("routes") == {"notes": 6, "hello": 1}
    assert tally.of("routes", "notes") == {"GET /notes": 5, "POST /notes": 1}
    assert tally.of("routes", "nobody") == {}


def test_a_malformed_traffic_payload_counts_nothing_it_cannot_read() -> None:
    tally = Tally(since="")
    for payload in (
        None,
        "x",
        {"plugins": []},
        traffic({"a": 3}),
        traffic({7: {"route:GET /": 1}}),
    ):
        assert tally.add_traffic(payload) == 0
    mixed = {"route:GET /": 2, "export:get": 5, "route:GET /x": -1, "route:GET /y": True}
    assert tally.add_traffic(traffic({"a": mixed})) == 2
    assert tally.routes == {"a": {"GET /": 2}}


def test_counts_stay_bounded_whatever_they_are_sent() -> None:
    tally = Tally(since="")
    for number in range(MAX_KEYS + 5):
        tally.add_event(f"plugin-{number}", "x.y")
        tally.add_event("busy", f"topic.n{number}")
    assert len(tally.events) == MAX_KEYS + 1  # the rest under OTHER
    assert tally.events[OTHER] == {"x.y": 6}  # "busy" took one of the places
    assert len(tally.events["busy"]) == MAX_KEYS + 1
    assert tally.events["busy"][OTHER] == 5


def test_a_tally_crosses_as_plain_data_and_garbage_starts_afresh() -> None:
    tally = Tally(since="2026-01-01T00:00:00+00:00")
    tally.add_event("host", "host.plugin.active")
    tally.add_traffic(traffic({"notes": {"route:GET /notes": 4}}))
    assert Tally.from_dict(tally.to_dict()) == tally
    assert Tally.from_dict(None, since="now") == Tally(since="now")
    assert Tally.from_dict({"since": 3}, since="now") == Tally(since="now")
    kept = Tally.from_dict({"since": "then", "routes": {"a": {"GET /": "many", "GET /b": 2}}})
    assert kept == Tally(since="then", routes={"a": {"GET /b": 2}})


def test_the_largest_bars_are_kept_and_the_rest_summed() -> None:
    counts = {"c": 1, "a": 5, "b": 5, "d": 2}
    assert top(counts, most=4) == [("a", 5), ("b", 5), ("d", 2), ("c", 1)]
    assert top(counts, most=2) == [("a", 5), ("3 more", 8)]


def test_the_bars_are_scaled_to_the_largest_and_their_labels_escaped() -> None:
    svg = bar_chart([("<notes>", 40), ("hello & co", 10)], title='a "chart"')
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert 'aria-label="a &quot;chart&quot;"' in svg
    assert "&lt;notes&gt;" in svg
    assert "<notes>" not in svg
    assert "hello &amp; co: 10" in svg
    assert 'width="366"' in svg  # the largest fills the room
    assert 'width="92"' in svg  # a quarter of it
    assert bar_chart([], title="none").count("<rect") == 0


def test_the_panel_charts_what_its_form_chose() -> None:
    tally = Tally(since="2026-01-01T00:00:00+00:00")
    tally.add_traffic(traffic({"notes": {"route:GET /notes": 3}, "hello": {"route:GET /": 1}}))
    tally.add_event("notes", "notes.created")
    assert choice({}, tally) == ("routes", "")
    assert choice({"of": "routes", "plugin": "notes"}, tally) == ("routes", "notes")
    assert choice({"of": "events", "plugin": "hello"}, tally) == ("events", "")  # none: all
    every = render(tally, kind="routes", plugin="", max_bars=10)
    assert "Route hits, by plugin" in every
    assert every.count("<rect") == 2
    assert '<form method="get">' in every
    assert "<script" not in every
    one = render(tally, kind="routes", plugin="notes", max_bars=10)
    assert "Route hits of notes, by route" in one
    assert '<option value="notes" selected>' in one
    assert "GET /notes" in one
    assert "Nothing counted yet." in render(Tally(since=""), kind="events", plugin="", max_bars=5)


def test_registrations_match_the_manifest() -> None:
    assert plugin.check(plugin.load_manifest()) == []
    assert plugin.registrations().routes == [("GET", "/stats"), ("GET", "/chart.svg")]
    assert plugin.registrations().events == ["**"]
    assert sorted(plugin.hooks) == [
        "dump_state",
        "health",
        "load_state",
        "on_activate",
        "on_deactivate",
    ]
