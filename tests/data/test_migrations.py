"""A plugin's migrations with Alembic, on SQLite and PostgreSQL, through `Migrations`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from sqlalchemy import inspect, text

from pluginctl.data.migrations import Migrations
from pluginctl.data.target import DatabaseTarget
from pluginctl.errors import MigrationError
from tests.data.migration_scripts import ADD_DONE, CREATE_NOTES, FAILS_HALF_WAY, write_script

if TYPE_CHECKING:
    from pathlib import Path


def migrations_of(tmp_path: Path, database_url: str | None, plugin: str = "notes") -> Migrations:
    target = DatabaseTarget.for_plugin(
        plugin, data_dir=tmp_path / "data" / plugin, database_url=database_url
    )
    return Migrations(tmp_path / plugin / "migrations", target)


def two_steps(migrations: Migrations) -> None:
    write_script(
        migrations.folder, "0001", None, upgrade=CREATE_NOTES, downgrade='op.drop_table("notes")'
    )
    write_script(
        migrations.folder,
        "0002",
        "0001",
        upgrade=ADD_DONE,
        downgrade='op.drop_column("notes", "done")',
    )


def rows(migrations: Migrations, sql: str) -> list[tuple[object, ...]]:
    engine = migrations.target.engine(writable=False)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql))]
    finally:
        engine.dispose()


def tables(migrations: Migrations) -> set[str]:
    engine = migrations.target.engine(writable=False)
    try:
        with engine.connect() as connection:
            return set(inspect(connection).get_table_names(schema=migrations.target.schema))
    finally:
        engine.dispose()


def test_up_applies_each_migration_and_down_undoes_them(
    tmp_path: Path, database_url: str | None
) -> None:
    migrations = migrations_of(tmp_path, database_url)
    two_steps(migrations)
    before = migrations.status()
    assert (before.current, before.head, [r.revision for r in before.pending]) == (
        None,
        "0002",
        ["0001", "0002"],
    )
    steps = migrations.upgrade()
    assert [(s.revision, s.direction) for s in steps] == [("0001", "up"), ("0002", "up")]
    assert rows(migrations, "SELECT title, done FROM notes") == [("first", True)]
    assert migrations.status().up_to_date
    assert migrations.upgrade() == []  # nothing pending: nothing done
    undone = migrations.downgrade()
    assert [(s.revision, s.direction) for s in undone] == [("0002", "down")]
    assert migrations.status().current == "0001"
    migrations.downgrade(to="base")
    assert migrations.status().current is None
    assert "notes" not in tables(migrations)


def test_up_stops_at_the_revision_asked_and_down_counts_steps(
    tmp_path: Path, database_url: str | None
) -> None:
    migrations = migrations_of(tmp_path, database_url)
    two_steps(migrations)
    migrations.upgrade("0001")
    assert migrations.status().current == "0001"
    migrations.upgrade()
    migrations.downgrade(steps=2)
    assert migrations.status().current is None
    with pytest.raises(MigrationError, match="nothing to undo"):
        migrations.downgrade()
    migrations.upgrade("0001")
    with pytest.raises(MigrationError, match="cannot undo 2 migrations: 1 are applied") as refused:
        migrations.downgrade(steps=2)
    assert refused.value.hint == "pluginctl migrate down --to base undoes them all"
    with pytest.raises(MigrationError, match="--to or --steps, not both"):
        migrations.downgrade(to="base", steps=1)


def test_a_migration_that_fails_half_way_is_rolled_back_and_the_data_is_as_before(
    tmp_path: Path, database_url: str | None
) -> None:
    migrations = migrations_of(tmp_path, database_url)
    write_script(migrations.folder, "0001", None, upgrade=CREATE_NOTES)
    migrations.upgrade()
    write_script(migrations.folder, "0002", "0001", upgrade=FAILS_HALF_WAY)
    migrations = migrations_of(tmp_path, database_url)  # a fresh look at the folder
    with pytest.raises(MigrationError, match="failed") as failed:
        migrations.upgrade()
    assert "it was rolled back, the database stands at 0001" in failed.value.message
    assert "no_such_table" in failed.value.message
    assert failed.value.hint == "fix the script and run it again: pluginctl migrate up"
    assert migrations.status().current == "0001"
    assert "half" not in tables(migrations)
    assert rows(migrations, "SELECT title FROM notes") == [("first",)]


def test_dry_run_prints_the_sql_and_changes_nothing(
    tmp_path: Path, database_url: str | None
) -> None:
    migrations = migrations_of(tmp_path, database_url)
    two_steps(migrations)
    sql = migrations.sql("up", "head")
    assert "CREATE TABLE" in sql
    assert "ALTER TABLE" in sql
    assert migrations.status().current is None
    assert "notes" not in tables(migrations)
    migrations.upgrade()
    down = migrations.sql("down", "-1")
    assert "DROP COLUMN" in down.upper() or "done" in down
    assert migrations.status().current == "0002"


def test_two_heads_are_refused_with_the_fix(tmp_path: Path) -> None:
    migrations = migrations_of(tmp_path, None)
    write_script(migrations.folder, "0001", None, upgrade=CREATE_NOTES)
    write_script(migrations.folder, "0002", "0001", upgrade="pass", message="mine")
    write_script(migrations.folder, "0003", "0001", upgrade="pass", message="theirs")
    with pytest.raises(MigrationError, match="have 2 heads") as refused:
        migrations.status()
    assert "0002_mine.py" in refused.value.message
    assert "0003_theirs.py" in refused.value.message
    assert refused.value.hint is not None
    assert "down_revision" in refused.value.hint
    with pytest.raises(MigrationError, match="heads"):
        migrations.new("one more")


def test_a_database_ahead_of_the_code_is_refused_with_a_hint(
    tmp_path: Path, database_url: str | None
) -> None:
    migrations = migrations_of(tmp_path, database_url)
    two_steps(migrations)
    migrations.upgrade()
    (migrations.folder / "0002_step.py").unlink()  # the plugin, downgraded to 0001's code
    older = migrations_of(tmp_path, database_url)
    with pytest.raises(MigrationError, match="at revision '0002', which") as refused:
        older.status()
    assert "a newer version of the plugin migrated it" in refused.value.message
    assert refused.value.hint is not None
    assert "pluginctl migrate down --to 0001" in refused.value.hint


def test_a_migration_edited_after_it_was_applied_is_reported(
    tmp_path: Path, database_url: str | None
) -> None:
    migrations = migrations_of(tmp_path, database_url)
    two_steps(migrations)
    migrations.upgrade()
    assert migrations.status().edited == []
    script = migrations.folder / "0001_step.py"
    script.write_text(script.read_text().replace("'first'", "'changed'"))
    edited = migrations_of(tmp_path, database_url).status().edited
    assert [entry.revision for entry in edited] == ["0001"]


def test_new_numbers_migrations_and_writes_a_script_that_runs(tmp_path: Path) -> None:
    migrations = migrations_of(tmp_path, None)
    first = migrations.new("create notes")
    second = migrations.new("add done")
    assert (first.revision, second.revision) == ("0001", "0002")
    assert first.path.name == "0001_create_notes.py"
    assert second.down_revision == "0001"
    assert 'revision = "0002"' in second.path.read_text()
    assert [step.revision for step in migrations.upgrade()] == ["0001", "0002"]
    with pytest.raises(MigrationError, match="needs a message"):
        migrations.new("  ")


def test_each_plugin_has_its_own_version_table(tmp_path: Path, database_url: str | None) -> None:
    notes = migrations_of(tmp_path, database_url, "notes")
    tasks = migrations_of(tmp_path, database_url, "tasks")
    write_script(notes.folder, "0001", None, upgrade=CREATE_NOTES)
    write_script(tasks.folder, "0001", None, upgrade=CREATE_NOTES)
    write_script(tasks.folder, "0002", "0001", upgrade=ADD_DONE)
    notes.upgrade()
    tasks.upgrade("0001")
    assert (notes.status().current, tasks.status().current) == ("0001", "0001")
    tasks.upgrade()
    assert (notes.status().current, tasks.status().current) == ("0001", "0002")
    assert rows(notes, "SELECT title FROM notes") == [("first",)]


def test_dry_run_of_a_script_that_reads_rows_says_why_it_cannot(tmp_path: Path) -> None:
    migrations = migrations_of(tmp_path, None)
    write_script(migrations.folder, "0001", None, upgrade=CREATE_NOTES)
    write_script(
        migrations.folder,
        "0002",
        "0001",
        upgrade='count = op.get_bind().execute(sa.text("SELECT count(*) FROM notes")).scalar()\n'
        'op.execute(f"UPDATE notes SET title = title || {count}")',
    )
    with pytest.raises(MigrationError, match="cannot be shown as SQL") as refused:
        migrations.sql("up", "head")
    assert refused.value.hint == "run it for real on a copy of the data, or read the script"
