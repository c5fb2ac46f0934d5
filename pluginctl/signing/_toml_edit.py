"""Editing a trust file's ``[[key]]`` tables with tomlkit, keeping its comments and order."""

from __future__ import annotations

from typing import TYPE_CHECKING

import tomlkit
from tomlkit.items import AoT, Table, Whitespace

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import date
    from pathlib import Path

    from tomlkit import TOMLDocument

__all__ = ["key_tables", "read_document", "remove_table", "upsert_table"]

_HEADER = (
    "Keys trusted to sign plugins: each [[key]] names the projects it may sign",
    "(fnmatch patterns over normalised names), its validity dates and its status",
    "(active, retired, revoked). `pluginctl keys trust|untrust|revoke` edit this file.",
)


def read_document(path: Path, *, purpose: str) -> TOMLDocument:
    """The file as a tomlkit document, or a new one with a header saying what it is."""
    if path.exists():
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    document = tomlkit.document()
    for line in (purpose, *_HEADER):
        document.add(tomlkit.comment(line))
    document.add(tomlkit.nl())
    return document


def key_tables(document: TOMLDocument) -> AoT:
    """The document's ``[[key]]`` array of tables, added if it has none."""
    if "key" not in document:
        document.append("key", tomlkit.aot())
    tables = document["key"]
    assert isinstance(tables, AoT)  # the caller checked the file against the schema first
    return tables


def upsert_table(
    tables: AoT, key_id: str, fields: Mapping[str, object | None], *, added: date | None
) -> None:
    """Update the table of ``key_id`` with ``fields``, or add one (with ``added``) at the end."""
    index = _find_table(tables, key_id)
    if index is None:
        _append_table(tables, {**fields, "added": added})
    else:
        _set_fields(tables[index], fields)


def remove_table(tables: AoT, key_id: str) -> None:
    """Remove the table of ``key_id``."""
    index = _find_table(tables, key_id)
    if index is not None:
        del tables[index]


def _find_table(tables: AoT, key_id: str) -> int | None:
    for index, table in enumerate(tables):
        if table.get("id") == key_id:
            return index
    return None


def _append_table(tables: AoT, fields: Mapping[str, object | None]) -> None:
    if len(tables):
        _end_with_blank_line(tables[-1])
    table = tomlkit.table()
    for key, value in fields.items():
        if value is not None:
            table.add(key, value)
    tables.append(table)


def _set_fields(table: Table, fields: Mapping[str, object | None]) -> None:
    # Existing keys keep their place and comments; a new key goes after the last key,
    # not after the comments that tomlkit counts as the table's tail (the next one's).
    for key, value in fields.items():
        if value is None:
            if key in table:
                del table[key]
        elif key in table:
            table[key] = value
        else:
            last = _last_key(table)
            if last is None:
                table.add(key, value)
            else:  # no public tomlkit call places a key after another one
                table.value._insert_after(last, key, value)


def _last_key(table: Table) -> str | None:
    for key, _ in reversed(table.value.body):
        if key is not None:
            return key.key
    return None


def _end_with_blank_line(table: Table) -> None:
    body = table.value.body
    if not body or not isinstance(body[-1][1], Whitespace):
        table.add(tomlkit.nl())
