"""The host applies a plugin's pending migrations when it starts it, and refuses what is unsafe."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pluginctl.runtime.audit import read
from pluginctl.runtime.discovery import load_source
from pluginctl.runtime.plugin_runtime import PluginState
from tests.data.migration_scripts import FAILS_HALF_WAY, write_script
from tests.runtime.host_harness import FIXTURES, needs_sandbox, running_host

if TYPE_CHECKING:
    from pluginctl.runtime.host import Host
    from pluginctl.runtime.plugin_runtime import PluginRuntime


def plugin_copy(tmp_path: Path) -> Path:
    target = tmp_path / "migrating"
    shutil.copytree(FIXTURES / "migrating", target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def migrations_dir(project: Path) -> Path:
    return project / "migrating" / "migrations"


def the_plugin(host: Host) -> PluginRuntime:
    return next(iter(host.plugins))


def events(data_dir: Path, name: str) -> list[dict[str, object]]:
    return [r for r in read(data_dir / "audit.jsonl") if r["event"] == name]


def test_pending_migrations_run_before_the_plugin_starts(
    tmp_path: Path, database_url: str | None
) -> None:
    async def scenario() -> None:
        data_dir = tmp_path / "data"
        async with running_host(
            plugin_copy(tmp_path), data_dir=data_dir, database_url=database_url
        ) as (host, _):
            plugin = the_plugin(host)
            assert plugin.state is PluginState.ACTIVE, plugin.last_error
            assert await plugin.call("export", "titles", [], {}) == ["first"]
        applied = events(data_dir, "migration.applied")
        assert [(r["revision"], r["message"]) for r in applied] == [
            ("0001", "Create the notes table, with a first note.")
        ]

    asyncio.run(scenario())


def test_a_failing_migration_leaves_the_plugin_failed_and_the_data_as_before(
    tmp_path: Path, database_url: str | None
) -> None:
    project = plugin_copy(tmp_path)
    data_dir = tmp_path / "data"

    async def scenario() -> None:
        async with running_host(project, data_dir=data_dir, database_url=database_url) as (
            host,
            _,
        ):
            assert the_plugin(host).state is PluginState.ACTIVE
        write_script(migrations_dir(project), "0002", "0001", upgrade=FAILS_HALF_WAY)
        async with running_host(project, data_dir=data_dir, database_url=database_url) as (
            host,
            _,
        ):
            plugin = the_plugin(host)
            assert plugin.state is PluginState.FAILED
            assert plugin.last_error is not None
            assert "rolled back, the database stands at 0001" in plugin.last_error
            assert "no_such_table" in plugin.last_error
            assert "pluginctl migrate up" in plugin.last_error
        (failed,) = events(data_dir, "migration.failed")
        assert failed["plugin"] == "migrating"
        (migrations_dir(project) / "0002_step.py").unlink()
        async with running_host(project, data_dir=data_dir, database_url=database_url) as (
            host,
            _,
        ):  # the data is as it was before the failed migration
            assert await the_plugin(host).call("export", "titles", [], {}) == ["first"]

    asyncio.run(scenario())


def test_a_database_ahead_of_the_plugin_refuses_to_start_with_a_hint(
    tmp_path: Path, database_url: str | None
) -> None:
    project = plugin_copy(tmp_path)
    data_dir = tmp_path / "data"
    newer = write_script(migrations_dir(project), "0002", "0001", upgrade="pass")

    async def scenario() -> None:
        async with running_host(project, data_dir=data_dir, database_url=database_url):
            pass
        newer.unlink()  # the plugin downgraded to a version without 0002
        async with running_host(project, data_dir=data_dir, database_url=database_url) as (
            host,
            _,
        ):
            plugin = the_plugin(host)
            assert plugin.state is PluginState.FAILED
            assert plugin.last_error is not None
            assert "at revision '0002'" in plugin.last_error
            assert "pluginctl migrate down --to 0001" in plugin.last_error

    asyncio.run(scenario())


def test_a_reload_applies_the_new_versions_migrations_first(tmp_path: Path) -> None:
    project = plugin_copy(tmp_path)

    async def scenario() -> None:
        async with running_host(project, data_dir=tmp_path / "data") as (host, _):
            write_script(
                migrations_dir(project),
                "0002",
                "0001",
                upgrade="op.execute(\"INSERT INTO notes (title) VALUES ('second')\")",
            )
            result = await host.reload_plugin("migrating", load_source(project))
            assert result.ok, result.error
            assert await the_plugin(host).call("export", "titles", [], {}) == ["first", "second"]
            write_script(migrations_dir(project), "0003", "0002", upgrade=FAILS_HALF_WAY)
            refused = await host.reload_plugin("migrating", load_source(project))
            assert not refused.ok
            assert refused.error is not None
            assert "rolled back" in refused.error
            plugin = the_plugin(host)  # the old version goes on serving, on the data as it was
            assert plugin.state is PluginState.ACTIVE
            assert await plugin.call("export", "titles", [], {}) == ["first", "second"]

    asyncio.run(scenario())


def test_a_migration_edited_after_it_ran_is_audited(tmp_path: Path) -> None:
    project = plugin_copy(tmp_path)
    data_dir = tmp_path / "data"

    async def scenario() -> None:
        async with running_host(project, data_dir=data_dir):
            pass
        script = migrations_dir(project) / "0001_create_notes.py"
        script.write_text(script.read_text().replace("'first'", "'changed'"))
        async with running_host(project, data_dir=data_dir) as (host, _):
            assert the_plugin(host).state is PluginState.ACTIVE
        (edited,) = events(data_dir, "migration.edited")
        assert edited["revision"] == "0001"

    asyncio.run(scenario())


def hostile_script(project: Path, body: str) -> None:
    write_script(migrations_dir(project), "0002", "0001", upgrade=body, message="hostile")


@needs_sandbox
@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("open('/etc/shadow').read()", "PermissionError"),
        ("open('/tmp/written-by-a-migration', 'w').write('x')", "PermissionError"),
        (
            "import socket\nsocket.create_connection(('127.0.0.1', 9))",
            "PermissionError",
        ),
        ("import subprocess\nsubprocess.run(['id'], check=True)", "PermissionError"),
    ],
    ids=["read-shadow", "write-outside", "internet-socket", "exec"],
)
def test_migrations_run_sandboxed_never_in_the_host(tmp_path: Path, body: str, says: str) -> None:
    project = plugin_copy(tmp_path)
    hostile_script(project, body)

    async def scenario() -> None:
        async with running_host(project, data_dir=tmp_path / "data") as (host, _):
            plugin = the_plugin(host)
            assert plugin.state is PluginState.FAILED
            assert plugin.last_error is not None
            assert f"a migration of plugin 'migrating' failed ({says}" in plugin.last_error
            assert "the database stands at 0001" in plugin.last_error

    asyncio.run(scenario())
    assert not Path("/tmp/written-by-a-migration").exists()


def test_the_host_never_imports_a_migration_script(tmp_path: Path) -> None:
    project = plugin_copy(tmp_path)
    data_dir = tmp_path / "data"
    hostile_script(
        project,
        "import os, pathlib\n"
        f"marker = pathlib.Path({str(data_dir / 'plugins' / 'migrating.db' / 'pid')!r})\n"
        "marker.write_text(str(os.getpid()))",
    )

    async def scenario() -> None:
        async with running_host(project, data_dir=data_dir) as (host, _):
            assert the_plugin(host).state is PluginState.ACTIVE, the_plugin(host).last_error

    asyncio.run(scenario())
    ran_in = int((data_dir / "plugins" / "migrating.db" / "pid").read_text())
    assert ran_in != os.getpid()
