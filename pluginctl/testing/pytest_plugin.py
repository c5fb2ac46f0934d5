"""pluginctl's pytest plugin: run the plugin under test in a real host.

Installed with pluginctl (entry point ``pytest11``), so plain ``pytest`` and
``pluginctl test`` both have it. Nothing starts unless a test asks for a fixture.

Fixtures:
    plugin: The plugin under test, started in its own worker under a real host with
        an empty data directory and an empty database (a
        `pluginctl.testing.TestedPlugin`): ``.call(export, *args)``, ``.state``,
        ``.url``, ``.panel(panel_id, query)``, ``.health()``, ``.reload()``. Stopped
        after the test.
    client: An ``httpx.Client`` on the plugin's routes over real HTTP:
        ``client.get("/hello/ada")`` requests ``/plugins/<name>/hello/ada``.
    host: The host (a `pluginctl.testing.TestHost`) with the plugin running:
        ``.publish(topic, payload)``, ``.audit()``, ``.url``.
    events: The events published during the test (a
        `pluginctl.testing.EventRecorder`): ``.topics()``, ``.of(topic)``,
        ``.wait_for(topic)``.
    postgres_url: A fresh, empty PostgreSQL database for the test, dropped after it
        (sessions still connected are ended): its SQLAlchemy URL,
        ``postgresql+psycopg://postgres:<password>@127.0.0.1:<port>/<name>``.
    pluginctl_postgres: The throwaway PostgreSQL server those databases are on (a
        `pluginctl.testing.TemporaryPostgres`), started on first use, one per pytest
        process (each xdist worker has its own): ``.admin_url``,
        ``.create_database()``, ``.drop_database(name)``. When its server programs or
        psycopg are missing, the tests that use it are skipped, saying what to
        install; under ``CI=true`` they fail instead.

The host starts once per session (its zygote warm); each test's plugin starts from
it in milliseconds. The plugin under test is the project at pytest's root directory
(``--pluginctl-project PATH`` or the ``pluginctl_project`` ini option to choose).

Plugins keep their ``api.db`` data in a SQLite file in their data directory, or, with
``--pluginctl-database-url URL`` (what ``pluginctl test --database-url`` passes), in
their own schema of that PostgreSQL database. Either way each test starts with an
empty database: on PostgreSQL the plugin's schema is dropped before its plugin starts,
so the database must be one for tests (and pytest-xdist is refused: its workers would
empty the schema under each other's tests).

The ``pluginctl`` marker changes how the plugin runs in one test::

    @pytest.mark.pluginctl(
        plugins=["../cache"],        # other plugins to run alongside (project paths)
        revoke=["kv"],               # take a permission away: test the denial
        grant=["events:publish:x"],  # or grant one the manifest lacks
        config={"salutation": "Hi"}, # the plugin's settings, as in pluginctl.toml
    )
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    import httpx

    from pluginctl.runtime.discovery import PluginSource
    from pluginctl.testing.harness import EventRecorder, TestedPlugin, TestHost
    from pluginctl.testing.postgres import TemporaryPostgres

__all__ = [
    "client",
    "events",
    "host",
    "plugin",
    "pluginctl_host",
    "pluginctl_postgres",
    "pluginctl_project",
    "postgres_url",
]

_MARKER_KEYS = frozenset({"plugins", "grant", "revoke", "config"})
_JSON_ENV = "PLUGINCTL_TEST_JSON"  # as pluginctl.suite.JSON_SUMMARY_ENV
_DATABASE_URL_ENV = "PLUGINCTL_TEST_DATABASE_URL"  # as pluginctl.suite.DATABASE_URL_ENV


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("pluginctl", "pluginctl: run the plugin under test in a real host")
    group.addoption(
        "--pluginctl-project",
        metavar="PATH",
        help="the plugin project under test (default: pytest's root directory)",
    )
    group.addoption(
        "--pluginctl-json",
        metavar="PATH",
        help="write a JSON summary of the run (counts, failures, duration) to PATH",
    )
    group.addoption(
        "--pluginctl-database-url",
        metavar="URL",
        help="keep the plugins' api.db data in this PostgreSQL database (a schema each,"
        " dropped before each test) instead of a SQLite file each",
    )
    parser.addini("pluginctl_project", "the plugin project under test, relative to the rootdir")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pluginctl(plugins=[], grant=[], revoke=[], config={}): how the `plugin` fixture"
        " runs the plugin under test (other plugins, permissions, settings)",
    )
    if _database_url(config) is not None:
        _check_database_url(config)


def pytest_report_header(config: pytest.Config) -> str | None:
    url = _database_url(config)
    if url is None:
        return None
    from sqlalchemy.engine import make_url

    shown = make_url(url).render_as_string(hide_password=True)
    return f"pluginctl: api.db on PostgreSQL, {shown} (each test drops the plugin's schema first)"


def _database_url(config: pytest.Config) -> str | None:
    """The PostgreSQL URL the plugins' databases are on, None for SQLite."""
    given = config.getoption("--pluginctl-database-url") or os.environ.get(_DATABASE_URL_ENV)
    return str(given) if given else None


def _check_database_url(config: pytest.Config) -> None:
    """Refuse, before any test runs, a URL the host could not use, and xdist beside one."""
    from pluginctl.data.postgres import admin_url
    from pluginctl.errors import UserError

    url = _database_url(config)
    assert url is not None
    try:
        admin_url(url)
    except UserError as exc:
        raise pytest.UsageError(
            f"--pluginctl-database-url: {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else "")
        ) from None
    workers = config.getoption("numprocesses", default=None)
    if workers not in (None, 0) or hasattr(config, "workerinput"):
        raise pytest.UsageError(
            "--pluginctl-database-url runs each plugin in one schema of one database, which"
            " every test empties; pytest-xdist workers would empty it under each other's tests"
            "\nhint: run the tests in one process: -n0 (or -p no:xdist)"
        )


@pytest.fixture(scope="session")
def pluginctl_project(pytestconfig: pytest.Config) -> Path:
    """The root of the plugin project under test."""
    from pluginctl.project import PluginProject

    given = pytestconfig.getoption("--pluginctl-project") or pytestconfig.getini(
        "pluginctl_project"
    )
    path = Path(given) if given else pytestconfig.rootpath
    if not path.is_absolute():
        path = pytestconfig.rootpath / path
    return PluginProject.from_path(path).root


@pytest.fixture(scope="session")
def pluginctl_host(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestHost]:
    """One host (zygote, gateway) for the whole session; tests add their plugins to it."""
    from pluginctl.testing.harness import TestHost

    started = TestHost(
        tmp_path_factory.mktemp("pluginctl-host"), database_url=_database_url(pytestconfig)
    )
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def events(pluginctl_host: TestHost) -> Iterator[EventRecorder]:
    """The events published while the test runs (its plugin's activation included).

    The host's own ``host.*`` events are among them, such as ``host.plugin.active``
    for the plugin under test.
    """
    recorder = pluginctl_host.record_events()
    try:
        yield recorder
    finally:
        recorder.close()


@pytest.fixture
def plugin(
    request: pytest.FixtureRequest,
    pluginctl_host: TestHost,
    pluginctl_project: Path,
    events: EventRecorder,
) -> Iterator[TestedPlugin]:
    """The plugin under test, running in its own worker with empty data."""
    from pluginctl.runtime.discovery import load_source
    from pluginctl.runtime.resolution import resolve

    options = _marker_options(request)
    source = _with_permissions(
        load_source(pluginctl_project), grant=options.grant, revoke=options.revoke
    )
    others = [load_source(pluginctl_project / path) for path in options.plugins]
    started: list[str] = []
    tested = None
    try:
        for each in resolve([*others, source]):
            settings = options.config if each.name == source.name else None
            running = _started(pluginctl_host, each, settings)
            started.append(each.name)
            if each.name == source.name:
                tested = running
        assert tested is not None
        yield tested
    finally:
        for name in reversed(started):
            pluginctl_host.remove(name)


def _started(
    host: TestHost, source: PluginSource, settings: Mapping[str, object] | None
) -> TestedPlugin:
    """``source`` started in ``host``; a plugin that cannot start fails the test, saying why."""
    from pluginctl.errors import PluginctlError

    try:
        return host.add(source, settings=settings)
    except PluginctlError as exc:
        failure = f"{exc}\nhint: {exc.hint}" if exc.hint else str(exc)
    pytest.fail(failure, pytrace=False)  # outside the except: no chained traceback


@pytest.fixture
def host(pluginctl_host: TestHost, plugin: TestedPlugin) -> TestHost:
    """The host, with the plugin under test running in it."""
    return pluginctl_host


@pytest.fixture
def client(plugin: TestedPlugin) -> Iterator[httpx.Client]:
    """An HTTP client on the plugin's routes: paths are relative to ``/plugins/<name>/``."""
    import httpx

    with httpx.Client(base_url=plugin.url + "/", timeout=30.0) as http:
        yield http


@pytest.fixture(scope="session")
def pluginctl_postgres() -> Iterator[TemporaryPostgres]:
    """A throwaway PostgreSQL server for the session (one per xdist worker)."""
    server = _started_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(
    request: pytest.FixtureRequest, pluginctl_postgres: TemporaryPostgres
) -> Iterator[str]:
    """A fresh database for this test, dropped after it: its SQLAlchemy URL."""
    name = _database_name(request.node.name)
    url = pluginctl_postgres.create_database(name)
    try:
        yield url
    finally:
        pluginctl_postgres.drop_database(name)


def _started_postgres() -> TemporaryPostgres:
    """A started server; when PostgreSQL cannot run here, skip the test (fail it under CI=true)."""
    from pluginctl.testing.postgres import PostgresUnavailable, TemporaryPostgres

    server = TemporaryPostgres()
    try:
        server.start()
    except PostgresUnavailable as exc:
        missing = exc
    else:
        return server
    reason = f"{missing.message}; {missing.hint}" if missing.hint else missing.message
    if os.environ.get("CI", "").lower() == "true":  # outside the except: no chained report
        _refuse(f"{reason} (CI=true: the PostgreSQL tests must run there, not be skipped)")
    pytest.skip(f"{reason} (under CI=true this fails)")


def _database_name(test_name: str) -> str:
    """A unique database name that says whose it is: ``test_it_1_3f9a0c2e`` for ``test_it[1]``."""
    readable = re.sub(r"[^a-z0-9_]+", "_", test_name.lower()).strip("_")
    if not re.match(r"[a-z_]", readable):
        readable = f"db_{readable}"
    return f"{readable[:50]}_{secrets.token_hex(4)}"  # PostgreSQL keeps 63 characters


@dataclasses.dataclass(frozen=True)
class _Options:
    """What the ``pluginctl`` marker asks for."""

    plugins: tuple[str, ...] = ()
    grant: tuple[str, ...] = ()
    revoke: tuple[str, ...] = ()
    config: dict[str, object] = dataclasses.field(default_factory=dict)


def _marker_options(request: pytest.FixtureRequest) -> _Options:
    given: dict[str, object] = {}
    for marker in reversed(list(request.node.iter_markers("pluginctl"))):  # nearest wins
        unknown = sorted(set(marker.kwargs) - _MARKER_KEYS)
        if marker.args or unknown:
            _refuse(
                f"@pytest.mark.pluginctl takes only the keywords {', '.join(sorted(_MARKER_KEYS))};"
                f" got {', '.join(unknown) or 'positional arguments'} in {request.node.nodeid}"
            )
        given.update(marker.kwargs)
    lists = {}
    for key in ("plugins", "grant", "revoke"):
        value = given.get(key, ())
        if isinstance(value, str) or not isinstance(value, list | tuple):
            _refuse(f"@pytest.mark.pluginctl({key}=...) takes a list of strings, not {value!r}")
        lists[key] = tuple(str(item) for item in value)
    config = given.get("config", {})
    if not isinstance(config, dict):
        _refuse(f"@pytest.mark.pluginctl(config=...) takes a dict, not {config!r}")
    return _Options(lists["plugins"], lists["grant"], lists["revoke"], config)


def _with_permissions(
    source: PluginSource, *, grant: tuple[str, ...], revoke: tuple[str, ...]
) -> PluginSource:
    """``source`` with permissions granted or revoked for one test."""
    import msgspec

    from pluginctl.permissions import PermissionSet, PermissionSyntaxError

    if not grant and not revoke:
        return source
    granted, revoked = list(grant), set(revoke)
    manifest = source.manifest
    missing = sorted(revoked - set(manifest.permissions))
    if missing:
        _refuse(
            f"revoke={missing} names permissions {source.name!r} does not declare;"
            f" it declares {manifest.permissions}"
        )
    permissions = [p for p in manifest.permissions if p not in revoked]
    permissions += [p for p in granted if p not in permissions]
    try:
        PermissionSet.parse(permissions)
    except PermissionSyntaxError as exc:
        _refuse(f"grant={granted}: {exc}")
    changed = msgspec.structs.replace(manifest, permissions=permissions)
    return dataclasses.replace(source, manifest=changed)


# -- the JSON summary of ``pluginctl test --json`` ---------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_STARTED] = time.monotonic()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    target = session.config.getoption("--pluginctl-json") or os.environ.get(_JSON_ENV)
    if not target:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    stats: dict[str, list[pytest.TestReport]] = getattr(reporter, "stats", {}) if reporter else {}
    counts = {
        kind: len(stats.get(kind, []))
        for kind in ("passed", "failed", "skipped", "error", "xfailed", "xpassed")
    }
    failures = [
        {
            "test": report.nodeid,
            "when": report.when,
            "message": _short(report.longreprtext),
        }
        for kind in ("failed", "error")
        for report in stats.get(kind, [])
        if hasattr(report, "nodeid")
    ]
    started = session.config.stash.get(_STARTED, time.monotonic())
    summary = {
        "exit_code": int(exitstatus),
        "tests": session.testscollected,
        **counts,
        "duration_s": round(time.monotonic() - started, 3),
        "failures": failures,
    }
    Path(target).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


_STARTED = pytest.StashKey[float]()


def _refuse(message: str) -> NoReturn:
    """Fail the test that asked for a wrong setup, with just the message."""
    pytest.fail(message, pytrace=False)


def _short(text: str, limit: int = 2000) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
