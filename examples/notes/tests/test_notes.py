from __future__ import annotations

import datetime

import pytest
from notes.panel import Counts, PanelNote, excerpt, render
from notes.plugin import (
    NewNote,
    NoteChanges,
    Refused,
    decode,
    now,
    page_of,
    plugin,
    search_pattern,
    word_count,
)


def test_word_count() -> None:
    assert word_count("") == 0
    assert word_count("  buy\tmilk\n and  bread ") == 4


def test_now_is_utc_iso_8601_to_the_second() -> None:
    stamp = datetime.datetime.fromisoformat(now())
    assert stamp.utcoffset() == datetime.timedelta(0)
    assert stamp.microsecond == 0


def test_a_note_is_decoded_from_json() -> None:
    assert decode(b'{"title": "milk", "body": "two litres"}', NewNote) == NewNote(
        "milk", "two litres"
    )
    assert decode(b'{"title": "milk"}', NewNote).body == ""
    assert decode(b'{"body": "three"}', NoteChanges) == NoteChanges(body="three")


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b"title=milk", 400, "the body is not JSON"),
        (b"", 400, "the body is not JSON"),
        (b"[]", 422, "Expected `object`, got `array`"),
        (b"{}", 422, "Object missing required field `title`"),
        (b'{"title": 7}', 422, "Expected `str`, got `int` - at `$.title`"),
        (b'{"title": ""}', 422, "Expected `str` of length >= 1 - at `$.title`"),
        (b'{"title": "   "}', 422, "the title is blank - at `$.title`"),
        (b'{"title": "x", "colour": "red"}', 422, "unknown field `colour`"),
        (b'{"title": "x", "body": "a\\u0000"}', 422, "the body holds a NUL character"),
        (b'{"title": "' + b"x" * 201 + b'"}', 422, "length <= 200"),
    ],
)
def test_a_body_that_is_not_a_note_is_refused_saying_why(
    body: bytes, status: int, says: str
) -> None:
    with pytest.raises(Refused) as refused:
        decode(body, NewNote)
    assert refused.value.status == status
    assert says in refused.value.reason


def test_paging_takes_whole_numbers_in_range() -> None:
    assert page_of({}) == (20, 0)
    assert page_of({"limit": "5", "offset": "10"}) == (5, 10)
    for query in ({"limit": "0"}, {"limit": "101"}, {"offset": "-1"}, {"limit": "²"}):
        with pytest.raises(Refused, match="takes a whole number from"):
            page_of(query)


def test_registrations_match_the_manifest() -> None:
    assert plugin.check(plugin.load_manifest()) == []
    assert plugin.registrations().routes == [
        ("GET", "/notes"),
        ("POST", "/notes"),
        ("GET", "/notes/{id:int}"),
        ("PATCH", "/notes/{id:int}"),
        ("DELETE", "/notes/{id:int}"),
        ("OPTIONS", "/notes/{id:int}"),
        ("OPTIONS", "/notes"),
    ]
    assert list(plugin.exports) == ["all_notes"]
    assert list(plugin.panels) == ["main"]


def test_a_search_matches_its_text_anywhere_and_wildcards_as_themselves() -> None:
    assert search_pattern("  Milk ") == "%milk%"
    assert search_pattern("") == "%%"  # every note
    assert search_pattern("50%_off") == "%50\\%\\_off%"
    assert search_pattern("a\\b") == "%a\\\\b%"


def test_an_excerpt_is_one_line_cut_with_an_ellipsis() -> None:
    assert excerpt("milk\n\tand  bread") == "milk and bread"
    assert excerpt("abcdef", limit=4) == "abc…"
    assert excerpt("abcd", limit=4) == "abcd"


def test_the_panel_says_how_many_match_and_that_only_the_newest_are_shown() -> None:
    notes = [PanelNote(2, "b", "", 0, "2026-01-02T00:00:00+00:00")]
    html = render(notes, Counts(notes=1, words=1, matching=1), query="")
    assert "<strong>1</strong> note, <strong>1</strong> word" in html
    assert "match" not in html
    assert "Clear" not in html
    many = render(notes, Counts(notes=90, words=400, matching=60), query="x & y")
    assert "<strong>60</strong> match “x &amp; y”" in many
    assert "The newest 1 are shown." in many
    assert '<a href="?">Clear</a>' in many
