"""A table of rows written as CSV, JSON or XLSX bytes, each safe to open where it is meant.

- **CSV** (RFC 4180, UTF-8, ``\\r\\n``): a text cell that starts with ``=``, ``+``,
  ``-``, ``@``, a tab or a carriage return gets a leading ``'``, so that a
  spreadsheet opening the file shows it instead of running it as a formula (CSV
  injection). Lists and dicts are written as JSON text.
- **JSON**: the rows as they came, a list of objects, UTF-8.
- **XLSX** (openpyxl): a bold, frozen header row, column widths, times as real
  dates (UTC, without a zone: Excel has none); text is always text — a title
  ``=HYPERLINK(...)`` stays a string, never a formula — with the control
  characters XML cannot hold taken out, cut at Excel's 32,767 characters a cell.

Example:
    >>> table = Table("notes", (Column("id", "int"), Column("title")), [{"id": 1, "title": "=1+1"}])
    >>> to_csv(table)
    b"id,title\\r\\n1,'=1+1\\r\\n"
    >>> to_json(table)
    b'[{"id": 1, "title": "=1+1"}]'
"""

from __future__ import annotations

import csv
import datetime
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

#: What a cell holds: a whole number, text, or an ISO 8601 time.
Kind = Literal["int", "text", "time"]
#: The longest text an XLSX cell holds.
MAX_CELL_CHARS = 32_767
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its name (the rows' key and the header), its kind, its XLSX width."""

    name: str
    kind: Kind = "text"
    width: int = 14


@dataclass(frozen=True, slots=True)
class Table:
    """Rows (mappings keyed by column name) under a name: the sheet's and the file's."""

    name: str
    columns: Sequence[Column]
    rows: Sequence[Mapping[str, object]]


def to_csv(table: Table) -> bytes:
    """The table as CSV: a header, then one line per row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([column.name for column in table.columns])
    for row in table.rows:
        writer.writerow([_csv_cell(row.get(column.name)) for column in table.columns])
    return out.getvalue().encode()


def to_json(table: Table) -> bytes:
    """The table as a JSON list of objects, in column order."""
    rows = [{column.name: row.get(column.name) for column in table.columns} for row in table.rows]
    return json.dumps(rows, ensure_ascii=False).encode()


def to_xlsx(table: Table) -> bytes:
    """The table as an XLSX workbook of one sheet, written to memory."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)  # rows stream out as they are appended
    sheet = book.create_sheet(table.name[:31])  # Excel's longest sheet name
    for number, column in enumerate(table.columns, start=1):
        sheet.column_dimensions[get_column_letter(number)].width = column.width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for column in table.columns:
        cell = WriteOnlyCell(sheet, value=column.name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for row in table.rows:
        sheet.append([_xlsx_cell(sheet, column, row.get(column.name)) for column in table.columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


#: Each format: its media type and its writer.
FORMATS: dict[str, tuple[str, Callable[[Table], bytes]]] = {
    "csv": ("text/csv; charset=utf-8", to_csv),
    "json": ("application/json", to_json),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", to_xlsx),
}


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _csv_cell(value: object) -> object:
    if value is None or isinstance(value, int | float):
        return "" if value is None else value
    text = _text(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _xlsx_cell(sheet: WriteOnlyWorksheet, column: Column, value: object) -> object:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if value is None or (column.kind == "int" and isinstance(value, int)):
        return value
    if column.kind == "time" and isinstance(value, str):
        moment = _utc(value)
        if moment is not None:
            cell = WriteOnlyCell(sheet, value=moment)
            cell.number_format = _TIME_FORMAT
            return cell
    text = ILLEGAL_CHARACTERS_RE.sub("", _text(value))[:MAX_CELL_CHARS]
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"  # openpyxl takes a str starting with "=" for a formula
    return cell


def _utc(text: str) -> datetime.datetime | None:
    """An ISO 8601 time as a naive UTC datetime (what Excel can hold), or None."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(datetime.UTC).replace(tzinfo=None)
    return moment
