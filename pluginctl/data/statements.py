r"""What a plugin's SQL statement is: a read, a write, or something the host refuses to run.

The host checks every statement a plugin sends through ``api.db`` before the database
sees it: one statement per call (no ``;``-joined scripts), no transaction control (the
host owns transactions), nothing that reaches another database (``ATTACH``) or the
server's configuration (``SET``, ``GRANT``, ``COPY``, ``LOAD``...). What is left is a
read or a write, and a write needs the ``db:write`` permission.

This check gives a plugin a clear error early; it is not the only guard. SQLite's
authorizer and PostgreSQL's roles and read-only transactions enforce the same rules
inside the database, where no clever spelling gets past them.

Example:
    >>> classify("SELECT * FROM notes WHERE id = :id").kind
    'read'
    >>> classify("  -- add one\n insert into notes (title) values (:t)").kind
    'write'
    >>> classify("SELECT 1; DROP TABLE notes")
    Traceback (most recent call last):
    ...
    pluginctl.errors.StatementRefused: api.db runs one statement per call, and this one holds two
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pluginctl.errors import StatementRefused

__all__ = ["Statement", "classify"]

_READS = frozenset({"SELECT", "VALUES", "TABLE", "EXPLAIN", "SHOW", "PRAGMA"})
_WRITES = frozenset(
    {
        "INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "UPSERT", "CREATE", "DROP", "ALTER",
        "TRUNCATE", "COMMENT", "REINDEX", "ANALYZE", "REFRESH", "LOCK", "DO", "CALL",
    }
)  # fmt: skip
_DML = frozenset({"INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE"})
_TRANSACTION = frozenset(
    {"BEGIN", "START", "COMMIT", "END", "ROLLBACK", "ABORT", "SAVEPOINT", "RELEASE"}
)
_OUTSIDE = frozenset({"ATTACH", "DETACH"})
#: Server functions no plugin statement may name, even in a string or a function body:
#: large objects outlive the plugin's schema, advisory locks and settings outlive the
#: statement on a pooled connection, and the rest reach other sessions or the server.
_REFUSED_NAMES = frozenset(
    {
        "SET_CONFIG", "PG_TERMINATE_BACKEND", "PG_CANCEL_BACKEND", "PG_RELOAD_CONF",
        "PG_ROTATE_LOGFILE", "PG_READ_FILE", "PG_READ_BINARY_FILE", "PG_LS_DIR",
        "PG_STAT_FILE", "PG_NOTIFY", "LOAD_EXTENSION",
        # large objects
        "LO_FROM_BYTEA", "LO_CREATE", "LO_CREAT", "LO_IMPORT", "LO_EXPORT", "LO_PUT",
        "LO_GET", "LO_OPEN", "LO_CLOSE", "LO_UNLINK", "LO_TRUNCATE", "LO_TRUNCATE64",
        "LO_LSEEK", "LO_LSEEK64", "LO_TELL", "LO_TELL64", "LOREAD", "LOWRITE",
        # advisory locks
        "PG_ADVISORY_LOCK", "PG_ADVISORY_LOCK_SHARED", "PG_ADVISORY_UNLOCK",
        "PG_ADVISORY_UNLOCK_SHARED", "PG_ADVISORY_UNLOCK_ALL", "PG_ADVISORY_XACT_LOCK",
        "PG_ADVISORY_XACT_LOCK_SHARED", "PG_TRY_ADVISORY_LOCK", "PG_TRY_ADVISORY_LOCK_SHARED",
        "PG_TRY_ADVISORY_XACT_LOCK", "PG_TRY_ADVISORY_XACT_LOCK_SHARED",
        # other servers
        "DBLINK", "DBLINK_EXEC", "DBLINK_CONNECT", "DBLINK_CONNECT_U", "DBLINK_OPEN",
        "DBLINK_SEND_QUERY",
    }
)  # fmt: skip
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_HINT_TRANSACTION = (
    "the host owns transactions: group statements in 'async with api.db.transaction():'"
)

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
# Only the quotes both backends share. SQLite's [name] and `name` are not quotes to
# PostgreSQL ("ARRAY[']']"): read as words, a ";" inside them refuses the statement, which
# is the safe way to be wrong.
_QUOTES = {"'": "'", '"': '"'}


@dataclass(frozen=True, slots=True)
class Statement:
    """One checked statement.

    Attributes:
        kind: ``read`` or ``write`` (a write needs ``db:write``).
        keyword: Its first keyword, upper case (``SELECT``, ``INSERT``...).
    """

    kind: Literal["read", "write"]
    keyword: str


def classify(sql: str) -> Statement:
    """Check ``sql`` and say whether it reads or writes.

    Raises:
        StatementRefused: it holds more than one statement, controls transactions,
            reaches outside the plugin's own database, or is not a statement
            ``api.db`` runs; the hint says what to do instead.
    """
    words = _words(sql)
    _refuse_names(sql)
    if not words:
        raise StatementRefused(
            "api.db was given no SQL statement", hint="pass one statement, such as 'SELECT 1'"
        )
    keyword = words[0]
    if keyword in _TRANSACTION:
        raise StatementRefused(f"api.db does not run {keyword} statements", hint=_HINT_TRANSACTION)
    if keyword in _OUTSIDE:
        raise StatementRefused(
            f"api.db does not run {keyword}: a plugin reaches only its own database",
            hint="keep the plugin's data in its own tables",
        )
    if keyword in _WRITES:
        return Statement("write", keyword)
    if keyword in ("WITH", "SELECT", "EXPLAIN") and _writes_within(keyword, words):
        return Statement("write", keyword)
    if keyword == "WITH":
        return Statement("read", keyword)
    if keyword in _READS:
        return Statement("read", keyword)
    raise StatementRefused(
        f"api.db does not run {keyword} statements",
        hint="plugins read and write their tables (SELECT, INSERT, UPDATE, DELETE) and change"
        " their schema in migrations; the host runs everything else",
    )


def _writes_within(keyword: str, words: list[str]) -> bool:
    """A read that writes: ``WITH ... INSERT``, ``SELECT ... INTO``, ``EXPLAIN ANALYZE ...``."""
    if keyword == "WITH":
        return bool(_DML.intersection(words))
    if keyword == "SELECT":
        return "INTO" in words  # SELECT ... INTO makes a table
    return "ANALYZE" in words and bool(_DML.intersection(words))  # EXPLAIN ANALYZE runs it


def _refuse_names(sql: str) -> None:
    """Refuse ``sql`` when any name in it, quoted or not, is a refused server function."""
    for match in _NAME.finditer(sql):
        name = match.group().upper()
        if name in _REFUSED_NAMES:
            raise StatementRefused(
                f"api.db does not run statements that name {match.group()}(): it reaches past"
                " the plugin's own tables",
                hint="keep data in tables (bytes in a BYTEA or BLOB column); the host owns"
                " settings, locks and sessions",
            )


def _words(sql: str) -> list[str]:
    """The upper-cased words of ``sql`` outside strings, quoted names and comments.

    Raises `StatementRefused` when a ``;`` is followed by another statement.
    """
    words: list[str] = []
    index, length, ended = 0, len(sql), False
    while index < length:
        char = sql[index]
        if char.isspace():
            index += 1
            continue
        skipped = _skip(sql, index)
        if skipped != index:
            index = skipped
            continue
        if ended:
            raise StatementRefused(
                "api.db runs one statement per call, and this one holds two",
                hint="send each statement in its own call, inside api.db.transaction() to"
                " apply them together",
            )
        if char == ";":
            ended = True
            index += 1
            continue
        word = _WORD.match(sql, index)
        if word is None:
            index += 1
            continue
        words.append(word.group().upper())
        index = word.end()
    return words


def _skip(sql: str, index: int) -> int:
    """The index after the comment, string or quoted name starting at ``index`` (or index)."""
    char, pair = sql[index], sql[index : index + 2]
    if pair == "--":
        end = sql.find("\n", index)
        return len(sql) if end < 0 else end + 1
    if pair == "/*":
        end = sql.find("*/", index + 2)
        return len(sql) if end < 0 else end + 2
    if char in "eE" and sql[index + 1 : index + 2] == "'":
        return _string_end(sql, index + 2, "'", backslash=True)
    if char in _QUOTES:
        return _string_end(sql, index + 1, _QUOTES[char], backslash=False)
    if char == "$":
        tag = _DOLLAR_TAG.match(sql, index)
        if tag is not None:
            end = sql.find(tag.group(), tag.end())
            return len(sql) if end < 0 else end + len(tag.group())
    return index


def _string_end(sql: str, index: int, close: str, *, backslash: bool) -> int:
    while index < len(sql):
        char = sql[index]
        if backslash and char == "\\":
            index += 2
            continue
        if char == close:
            if sql[index + 1 : index + 2] == close:  # a doubled quote stands for itself
                index += 2
                continue
            return index + 1
        index += 1
    return len(sql)
