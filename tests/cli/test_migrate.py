"""``pluginctl migrate``: a plugin's migrations from the command line, on both backends."""

from __future__ import annotations

import shutil
from typing import TYPE_CHECKING

from tests.conftest import FIXTURE_PLUGINS
from tests.data.migration_scripts import ADD_DONE, FAILS_HALF_WAY, write_script

if TYPE_CHECKING:
    from pathlib import Path

    from tests.conftest import CliRunner


def project(tmp_path: Path) -> Path:
    target = tmp_path / "migrating"
    shutil.copytree(
        FIXTURE_PLUGINS / "migrating", target, ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


def database_args(tmp_path: Path, database_url: str | None) -> list[str]:
    args = ["--data-dir", str(tmp_path / "data")]
    return [*args, "--database-url", database_url] if database_url else args


def test_status_up_history_and_down(
    cli: CliRunner, tmp_path: Path, database_url: str | None
) -> None:
    plugin = project(tmp_path)
    write_script(
        plugin / "migrating" / "migrations", "0002", "0001", upgrade=ADD_DONE, message="add done"
    )
    where = ["--plugin", str(plugin), *database_args(tmp_path, database_url)]

    status = cli("migrate", "status", *where, "--json")
    assert status.exit_code == 0, status.stderr
    view = status.json()
    assert isinstance(view, dict)
    assert (view["current"], view["head"], view["up_to_date"]) == (None, "0002", False)
    assert view["backend"] == ("postgresql" if database_url else "sqlite")
    assert [r["revision"] for r in view["pending"]] == ["0001", "0002"]

    dry = cli("migrate", "up", *where, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "CREATE TABLE notes" in dry.stdout
    assert cli("migrate", "status", *where, "--json").json()["current"] is None  # type: ignore[index]

    up = cli("migrate", "up", *where)
    assert up.exit_code == 0, up.stderr
    assert "↑ up 0001" in up.stdout
    assert "done: at 0002; up to date" in up.stdout
    again = cli("migrate", "up", *where)
    assert "nothing to do: at 0002; up to date" in again.stdout

    history = cli("migrate", "history", *where, "--json").json()
    assert isinstance(history, list)
    assert [(r["revision"], r["applied"]) for r in history] == [("0001", True), ("0002", True)]

    down = cli("migrate", "down", *where, "--json")
    assert down.exit_code == 0, down.stderr
    result = down.json()
    assert isinstance(result, dict)
    assert result["steps"] == [{"revision": "0002", "direction": "down", "message": "add done"}]
    assert result["current"] == "0001"


def test_new_writes_the_next_migration_in_the_plugins_folder(
    cli: CliRunner, tmp_path: Path
) -> None:
    plugin = project(tmp_path)
    created = cli("migrate", "new", "add a done column", "--plugin", str(plugin), "--json")
    assert created.exit_code == 0, created.stderr
    view = created.json()
    assert isinstance(view, dict)
    assert view["revision"] == "0002"
    assert view["down_revision"] == "0001"
    assert str(view["path"]).endswith("migrating/migrations/0002_add_a_done_column.py")
    assert created.stderr == ""  # alembic's own messages stay quiet


def test_a_failing_migration_is_reported_and_the_database_stays_where_it_was(
    cli: CliRunner, tmp_path: Path, database_url: str | None
) -> None:
    plugin = project(tmp_path)
    write_script(plugin / "migrating" / "migrations", "0002", "0001", upgrade=FAILS_HALF_WAY)
    where = ["--plugin", str(plugin), *database_args(tmp_path, database_url)]
    failed = cli("migrate", "up", *where)
    assert failed.exit_code == 1
    assert "error: a migration of plugin 'migrating' failed" in failed.stderr
    assert "the database stands at 0001" in failed.stderr
    assert "hint: fix the script and run it again: pluginctl migrate up" in failed.stderr
    assert cli("migrate", "status", *where, "--json").json()["current"] == "0001"  # type: ignore[index]


def test_mistakes_get_an_error_and_a_hint(cli: CliRunner, tmp_path: Path) -> None:
    plugin = project(tmp_path)
    where = ["--plugin", str(plugin), "--data-dir", str(tmp_path / "data")]
    nothing = cli("migrate", "down", *where)
    assert nothing.exit_code == 1
    assert "nothing to undo" in nothing.stderr
    both = cli("migrate", "down", *where, "--to", "base", "--steps", "1")
    assert both.exit_code == 1
    assert "--to or --steps, not both" in both.stderr
    no_folder = cli("migrate", "status", "--plugin", str(FIXTURE_PLUGINS / "peeker"))
    assert no_folder.exit_code == 1
    assert "declares no migrations folder" in no_folder.stderr
    assert "hint:" in no_folder.stderr
    bad_url = cli("migrate", "status", *where, "--database-url", "mysql://x@y/z")
    assert bad_url.exit_code == 1
    assert "SQLite files (the default) or PostgreSQL" in bad_url.stderr
