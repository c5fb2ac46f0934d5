"""The host's check of a plugin's statement: one statement, a read or a write, nothing else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pluginctl.data.statements import classify
from pluginctl.errors import StatementRefused


@pytest.mark.parametrize(
    ("sql", "kind", "keyword"),
    [
        ("SELECT * FROM notes WHERE id = :id", "read", "SELECT"),
        ("select 1", "read", "SELECT"),
        ("  \n-- a comment\nSELECT 1", "read", "SELECT"),
        ("/* block; with a semicolon */ SELECT 1", "read", "SELECT"),
        ("SELECT 1;", "read", "SELECT"),
        ("SELECT 1;  -- trailing comment", "read", "SELECT"),
        ("SELECT 'a;b' AS x", "read", "SELECT"),
        ("SELECT 'it''s; fine'", "read", "SELECT"),
        ('SELECT "odd;name" FROM t', "read", "SELECT"),
        ("SELECT $$dollar; quoted$$", "read", "SELECT"),
        ("SELECT $tag$a;b$tag$", "read", "SELECT"),
        ("SELECT E'back\\'slash;'", "read", "SELECT"),
        ("VALUES (1), (2)", "read", "VALUES"),
        ("EXPLAIN SELECT 1", "read", "EXPLAIN"),
        ("PRAGMA table_info(notes)", "read", "PRAGMA"),
        ("WITH a AS (SELECT 1) SELECT * FROM a", "read", "WITH"),
        ("WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", "write", "WITH"),
        ("SELECT 1 AS x INTO TEMP t1", "write", "SELECT"),
        ("EXPLAIN ANALYZE DELETE FROM notes", "write", "EXPLAIN"),
        ("EXPLAIN DELETE FROM notes", "read", "EXPLAIN"),
        ("INSERT INTO notes (title) VALUES (:t)", "write", "INSERT"),
        ("update notes set title = :t", "write", "UPDATE"),
        ("DELETE FROM notes", "write", "DELETE"),
        ("REPLACE INTO notes VALUES (1)", "write", "REPLACE"),
        ("CREATE TABLE t (x)", "write", "CREATE"),
        ("DROP TABLE t", "write", "DROP"),
        ("ALTER TABLE t ADD COLUMN y", "write", "ALTER"),
    ],
)
def test_reads_and_writes_are_told_apart(sql: str, kind: str, keyword: str) -> None:
    statement = classify(sql)
    assert (statement.kind, statement.keyword) == (kind, keyword)


@pytest.mark.parametrize(
    ("sql", "says"),
    [
        ("SELECT 1; DROP TABLE notes", "one statement per call"),
        ("SELECT ARRAY[']'] ; COMMIT ; SELECT '1'", "one statement per call"),
        ("SELECT lo_from_bytea(0, 'x')", "lo_from_bytea()"),
        ("SELECT \"lo_from_bytea\"(0, 'x')", "lo_from_bytea()"),
        ("SELECT set_config('statement_timeout', '0', false)", "set_config()"),
        ("SELECT pg_advisory_lock(1886743911)", "pg_advisory_lock()"),
        (
            "CREATE FUNCTION f() RETURNS oid AS $$ SELECT lo_create(0) $$ LANGUAGE sql",
            "lo_create()",
        ),
        ("SELECT 1;DELETE FROM notes", "one statement per call"),
        ("SELECT 'x'; SELECT 2", "one statement per call"),
        ("BEGIN", "does not run BEGIN"),
        ("commit", "does not run COMMIT"),
        ("ROLLBACK TO SAVEPOINT a", "does not run ROLLBACK"),
        ("SAVEPOINT a", "does not run SAVEPOINT"),
        ("ATTACH DATABASE '/etc/passwd' AS x", "reaches only its own database"),
        ("DETACH x", "reaches only its own database"),
        ("SET ROLE postgres", "does not run SET"),
        ("RESET ROLE", "does not run RESET"),
        ("GRANT ALL ON t TO PUBLIC", "does not run GRANT"),
        ("COPY t FROM PROGRAM 'id'", "does not run COPY"),
        ("LOAD 'evil.so'", "does not run LOAD"),
        ("VACUUM INTO '/tmp/x.db'", "does not run VACUUM"),
        ("", "no SQL statement"),
        ("   -- only a comment", "no SQL statement"),
        (";", "no SQL statement"),
    ],
)
def test_what_the_host_does_not_run_is_refused_with_a_hint(sql: str, says: str) -> None:
    with pytest.raises(StatementRefused, match=says) as refused:
        classify(sql)
    assert refused.value.hint


@given(st.text(max_size=200))
def test_any_text_is_classified_or_refused_never_crashes(sql: str) -> None:
    try:
        statement = classify(sql)
    except StatementRefused as exc:
        refusal = exc.message
        assert refusal.startswith("api.db")
        return
    assert statement.kind in ("read", "write")


@given(st.text(alphabet=st.characters(blacklist_characters="'\\"), max_size=50))
def test_a_string_literal_never_hides_a_second_statement(inside: str) -> None:
    try:
        statement = classify(f"SELECT '{inside}'")
    except StatementRefused as exc:  # only for naming a refused server function, by design
        refusal = exc.message
        assert "that name" in refusal
        return
    assert statement.kind == "read"
