from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import httpx
import openpyxl
import pytest
import sqlalchemy as sa

from pluginctl.data.migrations import Migrations
from pluginctl.validation import validate_project
from tests.runtime.host_harness import start_host

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

ROOT = Path(__file__).parent.parent / "examples"
EXAMPLES = sorted(p for p in ROOT.iterdir() if p.is_dir())
NOTES = ROOT / "notes"
#: The examples run together: what each shows is in examples/README.md's table.
TOGETHER = ("notes", "audit-log", "analytics", "export")
T = TypeVar("T")


def run_own_tests(example: Path, *pluginctl_test_args: str) -> subprocess.CompletedProcess[str]:
    """``pluginctl test`` in the example, as its author runs it (the example on the path)."""
    env = {**os.environ, "PYTHONPATH": str(example), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PLUGINCTL_DATABASE_URL", None)  # the backend is the test's choice
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pluginctl",
            "test",
            *pluginctl_test_args,
            "--",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            str(example / "tests"),
        ],
        cwd=example,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_validates_strictly(example: Path) -> None:
    report = validate_project(example)
    assert [str(p) for p in report.problems] == []
    assert report.passed(strict=True)


def test_every_example_is_in_the_readmes_table_with_a_readme_and_tests() -> None:
    table = re.findall(r"^\| \[([a-z-]+)\]\(\1/\) \|", (ROOT / "README.md").read_text(), re.M)
    assert sorted(table) == [example.name for example in EXAMPLES]
    for example in EXAMPLES:
        assert list((example / "tests").glob("test_*.py")), f"{example.name} has no tests"
    assert [e.name for e in EXAMPLES if not (e / "README.md").is_file()] == [
        "cache",
        "greeter",
        "hello",
    ]  # examples/README.md says what these three small ones show


@pytest.mark.timeout(300)  # a whole suite of its own, each test in a real host
@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_passes_its_own_tests(example: Path) -> None:
    done = run_own_tests(example)
    assert done.returncode == 0, done.stdout + done.stderr
    assert " passed" in done.stdout.splitlines()[-1]


def test_notes_passes_its_own_tests_on_postgresql(postgres_url: str) -> None:
    done = run_own_tests(NOTES, "--database-url", postgres_url)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.splitlines()[-1]
    assert " passed" in summary
    assert "skipped" not in summary
    tables = sa.create_engine(postgres_url, poolclass=sa.NullPool)
    try:
        with tables.connect() as connection:  # the data was there, not in a SQLite file
            assert "notes" in sa.inspect(connection).get_table_names(schema="plugin_notes")
    finally:
        tables.dispose()


@contextlib.contextmanager
def pluginctl_run(tmp_path: Path, *args: str) -> Iterator[str]:
    """``pluginctl run`` with ``args`` and its data in ``tmp_path/data``; its URL. Ctrl-C after."""
    host, url = start_host(tmp_path, *args)
    try:
        yield url
    finally:
        host.send_signal(signal.SIGINT)
        try:
            _, err = host.communicate(timeout=20)
        finally:
            if host.poll() is None:
                host.kill()
                host.communicate()
    assert host.returncode == 0, err
    assert "Traceback" not in err


def notes_written_at_0001(tmp_path: Path, database_url: str | None) -> Migrations:
    """The notes database migrated to 0001 only, with two notes written then."""
    migrations = Migrations.for_plugin(NOTES, data_dir=tmp_path / "data", database_url=database_url)
    assert [step.revision for step in migrations.upgrade("0001")] == ["0001"]
    engine = migrations.target.engine(writable=True, migration=True)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text(
                    "INSERT INTO notes (title, body, created_at, updated_at)"
                    " VALUES (:title, :body, :stamp, :stamp)"
                ),
                [
                    {"title": "old", "body": "written before 0002 ran", "stamp": "2024-05-01"},
                    {"title": "blank", "body": "", "stamp": "2024-05-02"},
                ],
            )
    finally:
        engine.dispose()
    return migrations


def test_notes_under_pluginctl_run_backfills_word_counts_and_serves_crud(
    tmp_path: Path, database_url: str | None
) -> None:
    migrations = notes_written_at_0001(tmp_path, database_url)
    backend = ["--database-url", database_url] if database_url else []
    with (
        pluginctl_run(tmp_path, "--plugin", str(NOTES), *backend) as url,
        httpx.Client(base_url=f"{url}/plugins/notes", timeout=10) as http,
    ):
        listed = http.get("/notes").json()  # the host applied 0002 on activation
        assert [(n["title"], n["word_count"]) for n in listed["notes"]] == [
            ("blank", 0),
            ("old", 4),
        ]
        created = http.post("/notes", json={"title": "new", "body": "after the migration"})
        assert created.status_code == 201
        new = created.json()
        assert (new["id"], new["word_count"]) == (3, 3)
        changed = http.patch("/notes/1", json={"body": "changed"}).json()
        assert (changed["title"], changed["word_count"]) == ("old", 1)
        assert http.delete("/notes/2").status_code == 204
        assert http.get("/notes/2").json() == {"error": "there is no note 2"}
        page = http.get("/notes", params={"limit": 1}).json()
        assert ([n["title"] for n in page["notes"]], page["total"]) == (["new"], 2)
    status = migrations.status()
    assert (status.current, status.pending) == ("0002", [])
    assert [step.revision for step in migrations.downgrade()] == ["0002"]  # and back: no data lost
    assert rows_of(migrations, "SELECT id, title FROM notes ORDER BY id") == [
        (1, "old"),
        (3, "new"),
    ]


def rows_of(migrations: Migrations, sql: str) -> list[tuple[object, ...]]:
    engine = migrations.target.engine(writable=False)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(sa.text(sql))]
    finally:
        engine.dispose()


def wait_until(check: Callable[[], T], *, timeout_s: float = 20.0) -> T:
    """``check()`` once it is truthy; fails with its last value after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not (found := check()):
        assert time.monotonic() < deadline, f"still {found!r} after {timeout_s} s"
        time.sleep(0.1)
    return found


def test_notes_audit_log_analytics_and_export_work_together_under_pluginctl_run(
    tmp_path: Path,
) -> None:
    (tmp_path / "pluginctl.toml").write_text("[defaults]\ntraffic_every_s = 0.5\n")
    plugins = [arg for name in TOGETHER for arg in ("--plugin", str(ROOT / name))]
    with (
        pluginctl_run(tmp_path, *plugins) as url,
        httpx.Client(base_url=f"{url}/plugins", timeout=10) as http,
    ):
        for title in ("Shopping", "Books"):
            assert http.post("/notes/notes", json={"title": title}).status_code == 201
        listed = http.get("/notes/notes").json()["notes"]
        assert [note["title"] for note in listed] == ["Books", "Shopping"]

        sheet = openpyxl.load_workbook(io.BytesIO(http.get("/export/notes.xlsx").content))["notes"]
        assert [row[1] for row in sheet.iter_rows(values_only=True)] == [
            "title",
            "Shopping",
            "Books",
        ]

        # audit-log hears what the host says once it listens: analytics started before it
        active = http.get("/audit-log/records", params={"q": "plugin.active"}).json()["records"]
        assert {"audit-log", "notes", "export"} <= {record["plugin"] for record in active}

        def notes_events() -> list[dict[str, Any]]:
            found: list[dict[str, Any]] = http.get(
                "/export/audit.json", params={"family": "notes"}
            ).json()
            return found

        created = wait_until(notes_events)
        assert [record["topic"] for record in created] == ["notes.created"] * 2

        def counted() -> dict[str, Any] | None:  # the hits may span several reports
            stats: dict[str, Any] = http.get("/analytics/stats").json()
            hits = stats["routes"]
            done = hits.get("notes") == {"POST /notes": 2, "GET /notes": 1}
            return stats if done and "GET /audit.{format}" in hits.get("export", {}) else None

        stats = wait_until(counted)  # from host.traffic, every half second
        assert stats is not None
        assert stats["routes"]["export"]["GET /notes.{format}"] == 1
        assert stats["events"]["notes"] == {"notes.created": 2}
        assert "<svg" in http.get("/analytics/chart.svg").text
