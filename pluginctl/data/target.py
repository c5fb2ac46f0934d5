"""Where one plugin's database lives, and the engines that reach it.

The same plugin code runs on both backends:

- **SQLite** (the default): the file ``db.sqlite3`` beside the plugin's data
  directory (``plugins/<name>.db/``), where its worker cannot write;
- **PostgreSQL** (``--database-url``): the plugin's own schema in the operator's
  database, reached as the plugin's own role (`pluginctl.data.postgres`).

Example:
    >>> import pathlib, tempfile
    >>> target = DatabaseTarget.for_plugin("notes", data_dir=pathlib.Path(tempfile.mkdtemp()))
    >>> target.backend, target.describe().endswith("db.sqlite3")
    ('sqlite', True)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from pluginctl.data import sqlite
from pluginctl.data.postgres import (
    PluginSchema,
    admin_url,
    drop_schema,
    empty_for_tests,
    provision,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sqlalchemy.engine import URL, Engine

__all__ = ["DatabaseTarget"]


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """One plugin's database: a SQLite file, or a schema on a PostgreSQL server.

    Attributes:
        plugin: The plugin's name.
        path: The SQLite file (SQLite only).
        url: The operator's PostgreSQL URL, driver set (PostgreSQL only).
        names: The plugin's schema and roles there (PostgreSQL only).
    """

    plugin: str
    path: Path | None = None
    url: URL | None = None
    names: PluginSchema | None = None
    login: URL | None = None  # connect as this role, as it is: no provisioning

    @classmethod
    def for_plugin(
        cls, plugin: str, *, data_dir: Path, database_url: str | None = None
    ) -> DatabaseTarget:
        """The database of ``plugin``, whose data directory is ``data_dir``.

        Raises:
            UserError: ``database_url`` is not a usable PostgreSQL URL.
        """
        if database_url is None:
            return cls(plugin, path=sqlite.database_path(data_dir))
        url = admin_url(database_url)
        assert url.database is not None  # admin_url checked it
        return cls(plugin, url=url, names=PluginSchema.of(plugin, database=url.database))

    @classmethod
    def direct(cls, plugin: str, *, path: str | None, url: str | None) -> DatabaseTarget:
        """The database at ``path`` (SQLite), or reached as the role in ``url`` (PostgreSQL).

        For a process that must not provision: the sandboxed migration runner.
        """
        from pathlib import Path

        if path is not None:
            return cls(plugin, path=Path(path))
        from sqlalchemy.engine import make_url

        assert url is not None
        login = make_url(url)
        assert login.database is not None
        names = PluginSchema.of(plugin, database=login.database)
        return cls(plugin, url=login, names=names, login=login)

    @property
    def backend(self) -> Literal["sqlite", "postgresql"]:
        """``sqlite`` or ``postgresql``."""
        return "sqlite" if self.path is not None else "postgresql"

    @property
    def schema(self) -> str | None:
        """The plugin's schema on PostgreSQL; None on SQLite (the file is the plugin's)."""
        return self.names.schema if self.names is not None else None

    def describe(self) -> str:
        """Where the data is, for messages (no password)."""
        if self.path is not None:
            return str(self.path)
        assert self.url is not None
        assert self.names is not None
        return f"{self.url.render_as_string(hide_password=True)} (schema {self.names.schema})"

    def drop(self) -> None:
        """Delete everything the plugin stored here, at once and without asking.

        On SQLite the file goes (with its ``-wal`` and ``-shm``); on PostgreSQL the
        plugin's schema is dropped with every table in it, its migrations' version
        table included, and its roles stay. Either way the plugin's next activation
        starts from an empty database and applies every migration again. Close every
        engine on the database first (stop the plugin).

        Raises:
            UserError: the operator's user may not drop the schema.
        """
        if self.path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            return  # the directory stays: it is the host's, made 0700
        assert self.names is not None
        with self._admin() as admin:
            drop_schema(admin, self.names)

    def empty_for_tests(self) -> None:
        """Give the next test an empty database: as `drop`, but never data a test did not make.

        On SQLite the file goes (each test has a data directory of its own). On
        PostgreSQL the plugin's schema is dropped and made again only when a test made
        it; a schema ``pluginctl run`` filled is refused.

        Raises:
            UserError: the schema holds data no test made, or it cannot be dropped.
        """
        if self.path is not None:
            self.drop()
            return
        assert self.names is not None
        with self._admin() as admin:
            empty_for_tests(admin, self.names, secret=self._secret())

    def engine(self, *, writable: bool, migration: bool = False) -> Engine:
        """An engine on this database: as the plugin's owner role, or its reader role.

        On PostgreSQL the schema and roles are provisioned first (idempotent).

        Raises:
            UserError: the operator's user may not create the schema or roles.
        """
        if self.path is not None:
            return sqlite.open_engine(self.path, writable=writable, migration=migration)
        from sqlalchemy import create_engine

        if self.login is not None:
            return create_engine(self.login, pool_size=4, max_overflow=8, pool_pre_ping=True)
        assert self.url is not None
        assert self.names is not None
        secret = self._secret()
        with self._admin() as admin:
            provision(admin, self.names, secret=secret)
        role = self.names.owner if writable or migration else self.names.reader
        url = self.url.set(username=role, password=self.names.password(role, secret=secret))
        engine = create_engine(url, pool_size=4, max_overflow=8, pool_pre_ping=True)
        if not (writable or migration):
            from sqlalchemy import event

            @event.listens_for(engine, "connect")
            def _read_only(connection: object, _record: object) -> None:
                connection.read_only = True  # type: ignore[attr-defined]  # psycopg's: BEGIN READ ONLY

        return engine

    @contextlib.contextmanager
    def _admin(self) -> Iterator[Engine]:
        """An engine as the operator's URL (no pool: one use), disposed after it."""
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        assert self.url is not None
        admin = create_engine(self.url, poolclass=NullPool)
        try:
            yield admin
        finally:
            admin.dispose()

    def _secret(self) -> str:
        """What the plugin roles' passwords derive from: the operator's whole URL."""
        assert self.url is not None
        return self.url.render_as_string(hide_password=False)

    def owner_url(self) -> URL:
        """How the plugin's owner role logs in (PostgreSQL; provisioned already)."""
        assert self.url is not None
        assert self.names is not None
        if self.login is not None:
            return self.login
        owner = self.names.owner
        return self.url.set(
            username=owner, password=self.names.password(owner, secret=self._secret())
        )

    def single_connection_engine(self) -> Engine:
        """An engine on one connection, opened now and used for everything after.

        The sandboxed migration runner connects before it confines itself: afterwards
        it may open no new socket, so every use must share this one connection.
        """
        from sqlalchemy import create_engine
        from sqlalchemy.pool import StaticPool

        if self.path is not None:
            engine = sqlite.open_engine(self.path, writable=True, migration=True, static=True)
        else:
            engine = create_engine(self.owner_url(), poolclass=StaticPool)
        with engine.connect():
            pass  # opens the one connection
        return engine
