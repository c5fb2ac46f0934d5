from __future__ import annotations

import datetime
import doctest
import re

import audit_log.records
import pytest
from audit_log.panel import refused, render
from audit_log.plugin import now, plugin
from audit_log.records import Entry, Filters, Record, entry_of, family_of, record_of


def test_the_docstring_examples_run() -> None:
    assert doctest.testmod(audit_log.records).failed == 0


def test_a_host_event_is_about_the_plugin_its_record_names_at_the_hosts_time() -> None:
    record = {"ts": "2026-05-01T10:00:00.000Z", "event": "breaker.opened", "plugin": "notes"}
    entry = entry_of("host.breaker.opened", "host", record, now="2026-05-01T10:00:01Z")
    assert entry == Entry(
        ts="2026-05-01T10:00:00.000Z",
        topic="host.breaker.opened",
        family="host.breaker",
        plugin="notes",
        publisher="host",
        payload='{"event": "breaker.opened", "plugin": "notes", "ts": "2026-05-01T10:00:00.000Z"}',
    )


def test_another_plugins_event_is_about_its_publisher_when_it_came() -> None:
    entry = entry_of("notes.created", "notes", {"id": 3, "title": "Café"}, now="then")
    assert (entry.ts, entry.family, entry.plugin) == ("then", "notes", "notes")
    assert entry.payload == '{"id": 3, "title": "Café"}'  # searchable as written
    assert entry_of("greeter.greeted", "greeter", None, now="then").payload == "null"


def test_a_huge_payload_is_kept_cut_as_text() -> None:
    entry = entry_of("notes.created", "notes", {"body": "x" * 50_000}, now="then")
    row = {**{f: getattr(entry, f) for f in Entry.__struct_fields__}, "id": 1}
    kept = record_of(row)
    assert isinstance(kept.payload, str)
    assert kept.payload.endswith("…")
    assert len(kept.payload) == 20_000


def test_records_are_stamped_as_the_host_stamps_its_own() -> None:
    stamp = now()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", stamp)
    assert datetime.datetime.fromisoformat(stamp).utcoffset() == datetime.timedelta(0)


def test_families_are_topics_less_their_last_word() -> None:
    assert family_of("host.plugin.failed") == "host.plugin"
    assert family_of("notes.created") == "notes"
    assert family_of("solo") == "solo"


def test_filters_come_from_a_query_string_or_a_payload() -> None:
    assert Filters.parse({}) == Filters()
    assert Filters.parse(None) == Filters()
    given = Filters.parse({"plugin": "notes", "limit": "10", "before": "99"})
    assert (given.plugin, given.limit, given.before) == ("notes", 10, 99)
    assert given.query() == {"plugin": "notes"}
    assert Filters(q="50%").params()["pattern"] == "%50\\%%"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"limit": "0"}, "Expected `int` >= 1 - at `$.limit`"),
        ({"limit": "5000"}, "Expected `int` <= 1000 - at `$.limit`"),
        ({"before": "-1"}, "Expected `int` >= 0 - at `$.before`"),
        ({"plugn": "notes"}, "unknown field `plugn`"),
        ({"q": "x" * 201}, "length <= 200"),
        (["notes"], "Expected `object`, got `array`"),
    ],
)
def test_filters_that_are_not_filters_are_refused_saying_why(given: object, says: str) -> None:
    with pytest.raises(ValueError, match="not a filter") as refusal:
        Filters.parse(given)
    assert says in str(refusal.value)


def test_the_panel_escapes_everything_it_shows() -> None:
    record = Record(1, "<ts>", "notes.created", "notes", "<b>x</b>", "x", {"t": "</td><script>"})
    html = render(
        [record],
        filters=Filters(q='"><script>'),
        matching=1,
        plugins={"<b>x</b>": 1},
        families={"notes": 1},
        next_before=None,
    )
    assert "<script>" not in html
    assert "<b>" not in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert 'value="&quot;&gt;&lt;script&gt;"' in html
    assert "&lt;/td&gt;&lt;script&gt;" in html
    assert "<script" not in refused("bad <script>")


def test_the_panel_links_the_next_page_with_the_filters_kept() -> None:
    record = Record(7, "t", "host.plugin.failed", "host.plugin", "notes", "host", {})
    html = render(
        [record],
        filters=Filters(plugin="notes", q="a b"),
        matching=40,
        plugins={"notes": 40},
        families={"host.plugin": 40},
        next_before=7,
    )
    assert '<a href="?plugin=notes&amp;q=a+b&amp;before=7">Older records</a>' in html
    assert '<tr class="bad">' in html  # a failure stands out
    assert "<strong>40</strong> of <strong>40</strong> records match." in html


def test_registrations_match_the_manifest() -> None:
    assert plugin.check(plugin.load_manifest()) == []
    assert plugin.registrations().events == [
        "host.**",
        "greeter.*",
        "notes.*",
        "audit-log.query",
    ]
    assert plugin.registrations().routes == [("GET", "/records")]
    assert list(plugin.panels) == ["main"]
