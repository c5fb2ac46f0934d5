"""A plugin's tests with its database on PostgreSQL: ``pluginctl test --database-url``.

As in test_pytest_plugin.py, each test writes a test file into a copy of a plugin
project and runs pytest (or ``pluginctl test``) on it in a subprocess, so the fixtures
load through the ``pytest11`` entry point as in a plugin project. The plugin is the
``ledger`` fixture, whose migration creates an ``entries`` table.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from pluginctl.data.postgres import PluginSchema
from tests.conftest import FIXTURE_PLUGINS
from tests.runtime.host_harness import EXAMPLES

if TYPE_CHECKING:
    from pathlib import Path

EACH_TEST_STARTS_EMPTY = """
import pytest


@pytest.mark.parametrize("title", ["first", "second"])
def test_each_test_starts_with_an_empty_database(plugin, title):
    assert plugin.call("count") == 0
    assert plugin.call("add", title) == 1  # a new table: its ids start again
    assert plugin.call("entries") == [[1, title]]
"""

PYTEST_ARGS = ("-p", "no:cacheprovider", "-n0", "tests/test_written.py")


def ledger_project(tmp_path: Path, test_code: str = EACH_TEST_STARTS_EMPTY) -> Path:
    project = shutil.copytree(
        FIXTURE_PLUGINS / "ledger",
        tmp_path / "ledger",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (project / "tests").mkdir()
    (project / "tests" / "test_written.py").write_text(test_code)
    return project


def run(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PLUGINCTL_")}
    return subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def entries_on_postgres(url: str, plugin: str = "ledger") -> list[tuple[object, ...]]:
    """The rows of the plugin's ``entries`` table, read in its schema as the server's admin."""
    database = sa.make_url(url).database
    assert database is not None
    schema = PluginSchema.of(plugin, database=database).schema
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            query = f'SELECT id, title FROM "{schema}".entries ORDER BY id'  # noqa: S608  # our names
            return [tuple(row) for row in connection.execute(sa.text(query))]
    finally:
        engine.dispose()


def test_each_test_starts_with_an_empty_database_on_both_backends(
    tmp_path: Path, database_url: str | None
) -> None:
    project = ledger_project(tmp_path)
    option = ["--pluginctl-database-url", database_url] if database_url else []
    done = run(project, "-m", "pytest", *PYTEST_ARGS, *option)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    header = "pluginctl: api.db on PostgreSQL"
    if database_url is None:
        assert header not in done.stdout
    else:  # the plugin wrote to PostgreSQL, not to a SQLite file
        assert f"{header}, postgresql+psycopg://postgres:***@127.0.0.1:" in done.stdout
        (row,) = entries_on_postgres(database_url)
        assert row[0] == 1
        assert row[1] in {"first", "second"}


@pytest.mark.parametrize("given", ["option", "environment"])
def test_pluginctl_test_runs_the_plugin_on_the_database_given(
    tmp_path: Path, postgres_url: str, given: str
) -> None:
    project = ledger_project(tmp_path)
    if given == "option":
        done = run(
            project, "-m", "pluginctl", "test", "--database-url", postgres_url, "--", *PYTEST_ARGS
        )
    else:
        env = {"PLUGINCTL_DATABASE_URL": postgres_url}
        done = run(project, "-m", "pluginctl", "test", "--", *PYTEST_ARGS, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert len(entries_on_postgres(postgres_url)) == 1
    password = sa.make_url(postgres_url).password
    assert password
    assert password not in done.stdout + done.stderr


def test_pluginctl_test_refuses_a_url_it_cannot_use_before_pytest_starts(tmp_path: Path) -> None:
    project = ledger_project(tmp_path)
    done = run(project, "-m", "pluginctl", "test", "--database-url", "sqlite:///data.db")
    assert done.returncode == 1
    assert "error: the database URL names 'sqlite'" in done.stderr
    assert "hint:" in done.stderr
    assert "passed" not in done.stdout


def test_the_pytest_option_refuses_a_url_it_cannot_use(tmp_path: Path) -> None:
    project = ledger_project(tmp_path)
    done = run(project, "-m", "pytest", *PYTEST_ARGS, "--pluginctl-database-url", "mysql://x/y")
    assert done.returncode == 4  # a usage error: no test ran
    assert "--pluginctl-database-url: the database URL names 'mysql'" in done.stderr


def test_xdist_beside_a_database_url_is_refused(tmp_path: Path) -> None:
    project = ledger_project(tmp_path)
    url = "postgresql://tester:secret@127.0.0.1:1/tests"  # never reached: refused first
    done = run(
        project,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-n",
        "2",
        "tests/test_written.py",
        "--pluginctl-database-url",
        url,
    )
    assert done.returncode == 4
    assert "pytest-xdist workers would empty it under each other's tests" in done.stderr
    assert "-n0" in done.stderr


def test_a_server_that_does_not_answer_fails_the_test_saying_so(tmp_path: Path) -> None:
    project = ledger_project(tmp_path)
    url = "postgresql://tester:secret@127.0.0.1:1/tests"  # nothing listens on port 1
    done = run(project, "-m", "pytest", *PYTEST_ARGS, "--pluginctl-database-url", url)
    assert done.returncode == 1
    assert "cannot empty the schema of plugin 'ledger' for a test" in done.stdout
    assert "check that the database server runs and that the URL is right" in done.stdout
    assert "secret" not in done.stdout + done.stderr


def test_a_plugin_without_a_database_never_reaches_the_server(tmp_path: Path) -> None:
    project = shutil.copytree(
        EXAMPLES / "hello", tmp_path / "hello", ignore=shutil.ignore_patterns("__pycache__")
    )
    (project / "tests" / "test_written.py").write_text(
        "def test_it(client):\n    assert client.get('/hello/ada').json()['visits'] == 1\n"
    )
    url = "postgresql://tester:secret@127.0.0.1:1/tests"  # nothing listens on port 1
    done = run(project, "-m", "pytest", *PYTEST_ARGS, "--pluginctl-database-url", url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
