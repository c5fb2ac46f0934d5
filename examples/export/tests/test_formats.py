from __future__ import annotations

import datetime
import doctest
import io
import json

import export.formats
import openpyxl
from export.formats import MAX_CELL_CHARS, Column, Table, to_csv, to_json, to_xlsx
from export.plugin import plugin

TABLE = Table(
    "notes",
    (Column("id", "int"), Column("title"), Column("created_at", "time"), Column("tags")),
    [
        {"id": 1, "title": "Shopping", "created_at": "2026-05-01T10:00:00+02:00", "tags": ["a"]},
        {"id": 2, "title": '=HYPERLINK("http://x")', "created_at": "not a time", "tags": None},
        {"id": 3, "title": "bell \x07 and tab\t", "created_at": None, "tags": {"k": "v"}},
    ],
)


def test_the_docstring_examples_run() -> None:
    assert doctest.testmod(export.formats).failed == 0


def test_csv_has_a_header_and_keeps_formulas_from_running() -> None:
    lines = to_csv(TABLE).decode().split("\r\n")
    assert lines[0] == "id,title,created_at,tags"
    assert lines[1] == '1,Shopping,2026-05-01T10:00:00+02:00,"[""a""]"'
    assert lines[2] == '2,"\'=HYPERLINK(""http://x"")",not a time,'
    for start in ("+1", "-1", "@SUM(A1)", "\tx"):
        one = Table("t", (Column("v"),), [{"v": start}])
        assert to_csv(one).decode().split("\r\n")[1].lstrip('"').startswith("'")
    assert to_csv(Table("t", (Column("n", "int"),), [{"n": -5}])) == b"n\r\n-5\r\n"  # a number


def test_json_is_the_rows_in_column_order() -> None:
    rows = json.loads(to_json(TABLE))
    assert [list(row) for row in rows] == [["id", "title", "created_at", "tags"]] * 3
    assert rows[2]["title"] == "bell \x07 and tab\t"
    assert rows[0]["tags"] == ["a"]


def test_xlsx_opens_with_a_bold_frozen_header_and_typed_cells() -> None:
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(TABLE)))
    sheet = book["notes"]
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.b is True
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("id", "title", "created_at", "tags")
    assert rows[1] == (1, "Shopping", datetime.datetime(2026, 5, 1, 8, 0), '["a"]')  # in UTC
    assert sheet["C2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet["B3"].data_type == "s"  # text, not a formula
    assert rows[2] == (2, '=HYPERLINK("http://x")', "not a time", None)
    assert rows[3] == (3, "bell  and tab\t", None, '{"k": "v"}')  # XML cannot hold \x07


def test_xlsx_cuts_text_at_what_a_cell_holds() -> None:
    long = Table("t", (Column("v"),), [{"v": "x" * (MAX_CELL_CHARS + 10)}])
    sheet = openpyxl.load_workbook(io.BytesIO(to_xlsx(long)))["t"]
    assert len(sheet["A2"].value) == MAX_CELL_CHARS


def test_registrations_match_the_manifest() -> None:
    assert plugin.check(plugin.load_manifest()) == []
    assert plugin.registrations().routes == [
        ("GET", "/"),
        ("GET", "/notes.{format}"),
        ("GET", "/audit.{format}"),
    ]
