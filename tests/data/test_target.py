"""`DatabaseTarget.drop`: a plugin's database emptied, on SQLite and on PostgreSQL."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from pluginctl.data.target import DatabaseTarget
from pluginctl.errors import UserError
from tests.data.migration_scripts import CREATE_NOTES, write_script
from tests.data.test_migrations import migrations_of, rows, tables

if TYPE_CHECKING:
    from pathlib import Path


def test_drop_empties_one_plugins_database_and_its_migrations_run_again(
    tmp_path: Path, database_url: str | None
) -> None:
    notes = migrations_of(tmp_path, database_url, "notes")
    tasks = migrations_of(tmp_path, database_url, "tasks")
    for each in (notes, tasks):
        write_script(each.folder, "0001", None, upgrade=CREATE_NOTES)
        each.upgrade()

    notes.target.drop()

    assert tables(notes) == set()  # the version table went too
    assert notes.status().current is None
    assert [step.revision for step in notes.upgrade()] == ["0001"]
    assert rows(notes, "SELECT title FROM notes") == [("first",)]
    assert tasks.status().current == "0001"  # another plugin's data is untouched
    assert rows(tasks, "SELECT title FROM notes") == [("first",)]


def test_drop_of_a_database_never_created_does_nothing(
    tmp_path: Path, database_url: str | None
) -> None:
    target = DatabaseTarget.for_plugin(
        "notes", data_dir=tmp_path / "notes", database_url=database_url
    )
    target.drop()
    target.drop()
    assert target.path is None or not target.path.exists()


def test_a_user_who_may_not_drop_the_schema_is_told_why(tmp_path: Path, postgres_url: str) -> None:
    target = DatabaseTarget.for_plugin("notes", data_dir=tmp_path, database_url=postgres_url)
    target.engine(writable=True).dispose()  # the schema exists, owned by the plugin's role
    bystander = f"bystander_{secrets.token_hex(4)}"  # roles belong to the whole server
    password = secrets.token_hex(8)
    admin = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    with admin.begin() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {bystander} LOGIN PASSWORD '{password}'")
    admin.dispose()
    url = sa.make_url(postgres_url).set(username=bystander, password=password)
    outsider = DatabaseTarget.for_plugin(
        "notes", data_dir=tmp_path, database_url=url.render_as_string(hide_password=False)
    )
    with pytest.raises(UserError, match="cannot drop the schema of plugin 'notes'") as refused:
        outsider.drop()
    assert "own the plugin's schema" in str(refused.value.hint)
    assert tables_of(postgres_url, "plugin_notes") == set()  # still there, empty as it was


def tables_of(url: str, schema: str) -> set[str]:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            assert sa.inspect(connection).has_schema(schema)
            return set(sa.inspect(connection).get_table_names(schema=schema))
    finally:
        engine.dispose()


def test_tests_empty_only_a_schema_a_test_made(tmp_path: Path, postgres_url: str) -> None:
    notes = migrations_of(tmp_path, postgres_url, "notes")
    write_script(notes.folder, "0001", None, upgrade=CREATE_NOTES)
    notes.upgrade()  # as pluginctl run would have: real data, no test made it
    with pytest.raises(UserError, match="already holds plugin 'notes'") as refused:
        notes.target.empty_for_tests()
    assert "a database kept for tests" in str(refused.value.hint)
    assert rows(notes, "SELECT title FROM notes") == [("first",)]  # nothing lost

    fresh = migrations_of(tmp_path, postgres_url, "tasks")
    write_script(fresh.folder, "0001", None, upgrade=CREATE_NOTES)
    fresh.target.empty_for_tests()  # no schema yet: made, and marked as a test's
    fresh.upgrade()
    fresh.target.empty_for_tests()  # a test's own: emptied again
    assert tables(fresh) == set()


def test_a_server_that_does_not_answer_is_named_with_the_fix(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = DatabaseTarget.for_plugin(
        "notes", data_dir=tmp_path, database_url=f"postgresql://u:p@127.0.0.1:{port}/app"
    )
    with pytest.raises(UserError, match="cannot set up the schema of plugin 'notes'") as failed:
        target.engine(writable=True)
    assert failed.value.hint == "check that the database server runs and that the URL is right"
