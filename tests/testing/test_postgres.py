"""The throwaway PostgreSQL server (`TemporaryPostgres`) and its two pytest fixtures."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

import psutil
import psycopg
import pytest
import sqlalchemy as sa
from psycopg.conninfo import make_conninfo

from pluginctl.errors import UserError
from pluginctl.testing import (
    PostgresStartFailed,
    PostgresUnavailable,
    TemporaryPostgres,
    pytest_plugin,
)
from pluginctl.testing.postgres_install import PostgresInstall

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_until(predicate: Callable[[], bool], *, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def scalar(url: str, query: str) -> object:
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(query)).scalar_one()
    finally:
        engine.dispose()


@pytest.fixture
def world_readable_dir() -> Iterator[Path]:
    """A directory the server's system user can read when the tests run as root."""
    path = Path(tempfile.mkdtemp(prefix="pluginctl-pg-test-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


# -- the server ----------------------------------------------------------------------


def test_the_server_answers_on_127_0_0_1_with_durability_off(
    pluginctl_postgres: TemporaryPostgres,
) -> None:
    url = pluginctl_postgres.admin_url
    assert url.startswith(f"postgresql+psycopg://postgres:{sa.make_url(url).password}@127.0.0.1:")
    assert scalar(url, "SELECT 1 + 1") == 2
    assert scalar(url, "SELECT host(inet_server_addr())") == "127.0.0.1"
    assert scalar(url, "SHOW listen_addresses") == "127.0.0.1"
    assert scalar(url, "SHOW fsync") == "off"
    assert scalar(url, "SHOW server_encoding") == "UTF8"


def test_a_tcp_login_without_the_password_is_refused(
    pluginctl_postgres: TemporaryPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", os.devnull)
    password = sa.make_url(pluginctl_postgres.admin_url).password
    login = make_conninfo(
        host="127.0.0.1",
        port=pluginctl_postgres.port,
        user="postgres",
        dbname="postgres",
        sslmode="disable",
    )
    with pytest.raises(psycopg.OperationalError, match="no password supplied"):
        psycopg.connect(login)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(make_conninfo(login, password=f"not-{password}"))
    assert scalar(pluginctl_postgres.admin_url, "SELECT current_user") == "postgres"


def test_the_server_uses_scram(pluginctl_postgres: TemporaryPostgres) -> None:
    stored = scalar(
        pluginctl_postgres.admin_url, "SELECT rolpassword FROM pg_authid WHERE rolname = 'postgres'"
    )
    assert isinstance(stored, str)
    assert stored.startswith("SCRAM-SHA-256$")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to a system user")
def test_under_root_the_server_runs_as_a_system_user(pluginctl_postgres: TemporaryPostgres) -> None:
    assert psutil.Process(pluginctl_postgres.pid).username() in {"postgres", "nobody"}
    assert pluginctl_postgres.directory.stat().st_uid != 0


def test_stop_ends_the_server_and_removes_its_directory() -> None:
    server = TemporaryPostgres()
    server.start()
    pid, directory = server.pid, server.directory
    assert (directory / "data" / "PG_VERSION").is_file()
    server.stop()
    assert gone(pid)
    assert not directory.exists()
    with pytest.raises(UserError, match="not running"):
        server.admin_url  # noqa: B018  # reading it is the point
    server.stop()  # a second stop has nothing left to do


def test_a_port_taken_before_the_server_binds_it_is_traded_for_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pluginctl.testing import postgres

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = iter([taken.getsockname()[1]])
        free_port = postgres._free_port
        monkeypatch.setattr(postgres, "_free_port", lambda: next(ports, None) or free_port())
        with TemporaryPostgres() as server:
            assert server.port != taken.getsockname()[1]
            assert scalar(server.admin_url, "SELECT 1") == 1


CHILD = """
import json, sys
from pluginctl.testing import TemporaryPostgres

server = TemporaryPostgres()
server.start()
print(json.dumps({"pid": server.pid, "directory": str(server.directory)}), flush=True)
sys.stdin.read()  # until the test kills this process
"""


def test_the_server_dies_when_the_process_that_started_it_is_killed() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    started: dict[str, object] = {}
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line, child.communicate(timeout=10)[1]
        started = json.loads(line)
        server_pid = started["pid"]
        assert isinstance(server_pid, int)
        assert not gone(server_pid)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert wait_until(lambda: gone(server_pid), timeout_s=30)
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate(timeout=10)
        leftover = started.get("pid")
        if isinstance(leftover, int) and not gone(leftover):  # the test failed: clean up
            os.kill(leftover, signal.SIGKILL)
        if "directory" in started:
            shutil.rmtree(str(started["directory"]), ignore_errors=True)


# -- databases -----------------------------------------------------------------------


def test_create_database_makes_an_empty_database_of_its_own(
    pluginctl_postgres: TemporaryPostgres,
) -> None:
    first, second = pluginctl_postgres.create_database(), pluginctl_postgres.create_database()
    try:
        assert sa.make_url(first).database != sa.make_url(second).database
        engine = sa.create_engine(first, poolclass=sa.NullPool)
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE mine (n int)"))
        engine.dispose()
        assert scalar(first, "SELECT count(*) FROM mine") == 0
        with pytest.raises(sa.exc.ProgrammingError, match="mine"):
            scalar(second, "SELECT count(*) FROM mine")
    finally:
        for url in (first, second):
            pluginctl_postgres.drop_database(str(sa.make_url(url).database))


def test_drop_database_ends_the_sessions_still_connected(
    pluginctl_postgres: TemporaryPostgres,
) -> None:
    url = pluginctl_postgres.create_database("a_named_one")
    assert sa.make_url(url).database == "a_named_one"
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    connection = engine.connect()
    try:
        connection.execute(sa.text("SELECT 1"))
        pluginctl_postgres.drop_database("a_named_one")
        with pytest.raises(sa.exc.OperationalError):
            connection.execute(sa.text("SELECT 1"))
    finally:
        connection.close()
        engine.dispose()
    exists = "SELECT count(*) FROM pg_database WHERE datname = 'a_named_one'"
    assert scalar(pluginctl_postgres.admin_url, exists) == 0
    pluginctl_postgres.drop_database("a_named_one")  # gone already: nothing to do


@pytest.mark.parametrize("name", ["Upper", "1st", "semi;colon", "x" * 64])
def test_a_database_name_must_be_a_plain_identifier(
    pluginctl_postgres: TemporaryPostgres, name: str
) -> None:
    with pytest.raises(UserError, match="not a plain lower-case identifier") as raised:
        pluginctl_postgres.create_database(name)
    assert raised.value.hint is not None
    assert "at most 63 characters" in raised.value.hint


def test_the_servers_own_database_is_not_dropped(pluginctl_postgres: TemporaryPostgres) -> None:
    with pytest.raises(UserError, match="the server's own"):
        pluginctl_postgres.drop_database("postgres")
    assert scalar(pluginctl_postgres.admin_url, "SELECT current_database()") == "postgres"


def test_postgres_url_is_a_database_for_this_test_only(postgres_url: str) -> None:
    assert scalar(postgres_url, "SELECT current_database()") == sa.make_url(postgres_url).database
    name = str(sa.make_url(postgres_url).database)
    assert re.fullmatch("test_postgres_url_is_a_database_for_this_test_only_[0-9a-f]{8}", name)
    assert scalar(postgres_url, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0


WRITTEN = """
import sqlalchemy as sa
from psycopg.conninfo import make_conninfo

seen = []
engines = []


def test_one(postgres_url, pluginctl_postgres):
    seen.append(sa.make_url(postgres_url).database)
    engine = sa.create_engine(postgres_url)
    engines.append(engine)
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE left_behind (n int)"))
    # the connection stays open in the pool: the fixture must end it to drop the database


def test_two(postgres_url, pluginctl_postgres):
    name = sa.make_url(postgres_url).database
    assert name not in seen
    engine = sa.create_engine(pluginctl_postgres.admin_url)
    with engine.connect() as connection:
        names = connection.execute(sa.text("SELECT datname FROM pg_database")).scalars().all()
        assert name in names
        assert seen[0] not in names  # test_one's database was dropped after it
    engine.dispose()
    engines[0].dispose()  # its connection, ended by the drop
    engine = sa.create_engine(postgres_url)
    with engine.connect() as connection:
        tables = connection.execute(sa.text("SELECT count(*) FROM pg_tables"
                                            " WHERE schemaname = 'public'")).scalar_one()
        assert tables == 0
    engine.dispose()
"""


def test_each_test_gets_its_own_database_dropped_after_it(tmp_path: Path) -> None:
    (tmp_path / "test_written.py").write_text(textwrap.dedent(WRITTEN))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n0", "-q", "-W", "error"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


# -- when PostgreSQL cannot run --------------------------------------------------------


def test_missing_server_programs_name_the_directory_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(PostgresUnavailable, match=str(tmp_path)) as raised:
        TemporaryPostgres(tmp_path).start()
    assert raised.value.hint is not None
    assert "apt-get install postgresql" in raised.value.hint


def test_without_server_programs_the_fixture_skips_the_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGINCTL_PG_BINDIR", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        pytest_plugin._started_postgres()


def test_under_ci_missing_server_programs_fail_the_test(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLUGINCTL_PG_BINDIR", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"apt-get install postgresql.*CI=true"):
        pytest_plugin._started_postgres()


def test_without_psycopg_the_fixture_skips_the_test(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg raises ImportError
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"pip install 'pluginctl\[postgres\]'"):
        pytest_plugin._started_postgres()


def test_a_failing_initdb_is_reported_with_its_output(world_readable_dir: Path) -> None:
    for program in ("initdb", "postgres"):
        fake = world_readable_dir / program
        fake.write_text("#!/bin/sh\necho 'it broke here' >&2\nexit 3\n")
        fake.chmod(0o755)
    with pytest.raises(PostgresStartFailed, match=r"initdb failed \(exit code 3\)") as raised:
        TemporaryPostgres(world_readable_dir).start()
    assert "it broke here" in raised.value.message


def test_a_server_that_exits_at_start_is_reported_with_its_log(world_readable_dir: Path) -> None:
    (world_readable_dir / "initdb").symlink_to(PostgresInstall.find().initdb)
    fake = world_readable_dir / "postgres"
    fake.write_text("#!/bin/sh\necho 'FATAL:  no such luck'\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(PostgresStartFailed, match=r"postgres exited \(code 1\)") as raised:
        TemporaryPostgres(world_readable_dir).start()
    assert "FATAL:  no such luck" in raised.value.message
