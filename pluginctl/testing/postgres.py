"""A real, throwaway PostgreSQL server for tests: `TemporaryPostgres`.

The server lives in a fresh temporary directory: ``initdb`` makes its cluster
(superuser ``postgres`` with a random password, password logins over TCP with
SCRAM), ``postgres`` serves it on 127.0.0.1 at a free port, with durability
switched off for speed (``fsync``, ``synchronous_commit``, ``full_page_writes``).
It ends with the process that started it, even one killed with SIGKILL (the
parent-death signal), and `TemporaryPostgres.stop` removes the directory.

initdb and postgres refuse to run as root, so under root both run as the system
user ``postgres`` (or ``nobody``), which then owns the directory (see
`pluginctl.testing.postgres_install`, which also says where the programs are looked for).

The pytest plugin's ``pluginctl_postgres`` and ``postgres_url`` fixtures are
built on it.
"""

from __future__ import annotations

import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pluginctl.errors import RuntimeFault, UserError
from pluginctl.testing.postgres_install import PostgresInstall, PostgresUnavailable

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Self

    from psycopg import sql

    from pluginctl.testing.postgres_install import ServerAccount

__all__ = ["PostgresStartFailed", "PostgresUnavailable", "TemporaryPostgres"]

_SUPERUSER = "postgres"
_HOST = "127.0.0.1"
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_SETTINGS = {  # a throwaway server: speed over durability
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "100",
}
_PORT_ATTEMPTS = 3  # a free port can be taken between our probe and the server's bind
_LOG_TAIL_CHARS = 4000


class PostgresStartFailed(RuntimeFault):
    """initdb or postgres ran but failed, or the server did not start in time."""


class TemporaryPostgres:
    """A PostgreSQL server of its own, in a temporary directory, until `stop`.

    Args:
        bindir: The directory holding ``initdb`` and ``postgres``. By default
            ``$PLUGINCTL_PG_BINDIR``, else ``pg_config --bindir``, else the newest
            ``/usr/lib/postgresql/*/bin``, else the ``PATH``.
        start_timeout_s: How long initdb and the server's start may take together.
        stop_timeout_s: How long a fast shutdown may take before SIGKILL.

    Use it as a context manager (or call `start` and `stop`)::

        with TemporaryPostgres() as server:
            url = server.create_database()  # postgresql+psycopg://postgres:...@127.0.0.1:...
            engine = sqlalchemy.create_engine(url)

    Start it from a thread that outlives it: the parent-death signal that stops the
    server with the test process follows the thread that started it. (Not a
    doctest: the suite's doctests must not need a PostgreSQL server.)
    """

    def __init__(
        self,
        bindir: str | Path | None = None,
        *,
        start_timeout_s: float = 60.0,
        stop_timeout_s: float = 10.0,
    ) -> None:
        self._bindir = bindir
        self._start_timeout_s = start_timeout_s
        self._stop_timeout_s = stop_timeout_s
        self._password = secrets.token_hex(16)
        self._directory: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._port = 0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def admin_url(self) -> str:
        """The SQLAlchemy URL of the ``postgres`` database, as the superuser."""
        return self._url(_SUPERUSER)

    @property
    def port(self) -> int:
        """The TCP port on 127.0.0.1."""
        self._running()
        return self._port

    @property
    def pid(self) -> int:
        """The server's (postmaster's) process id."""
        return self._running().pid

    @property
    def directory(self) -> Path:
        """The temporary directory: the cluster (``data/``), the socket, ``server.log``."""
        self._running()
        assert self._directory is not None
        return self._directory

    def start(self) -> None:
        """Make the cluster and start the server; return once it accepts connections.

        Raises:
            PostgresUnavailable: The server programs or psycopg are missing.
            PostgresStartFailed: initdb or postgres failed, or the server did not
                accept connections within ``start_timeout_s`` (with their output or log).
        """
        if self._process is not None:
            return
        deadline = time.monotonic() + self._start_timeout_s
        install = PostgresInstall.find(self._bindir)
        _require_psycopg()
        self._directory = Path(tempfile.mkdtemp(prefix="pluginctl-pg-"))
        try:
            install.account.take(self._directory)
            self._initdb(install.initdb, install.account, deadline=deadline)
            self._serve(install.postgres, install.account, deadline=deadline)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (fast shutdown, SIGKILL after the grace) and remove its directory."""
        process, self._process = self._process, None
        if process is not None:
            _shut_down(process, grace_s=self._stop_timeout_s)
        directory, self._directory = self._directory, None
        if directory is not None:
            shutil.rmtree(directory)

    def create_database(self, name: str | None = None) -> str:
        """Create a database (by default with a fresh unique name); return its SQLAlchemy URL.

        Args:
            name: A plain lower-case identifier: letters, digits and ``_``, at most
                63 characters.
        """
        from psycopg import sql

        name = _checked_name(name or f"test_{secrets.token_hex(8)}")
        self._execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self._url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database if it exists, ending the sessions still connected to it."""
        from psycopg import sql

        if _checked_name(name) == _SUPERUSER:
            raise UserError(
                "the 'postgres' database is the server's own; it cannot be dropped",
                hint="drop the databases create_database() made",
            )
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        self._execute(query)

    # -- starting --------------------------------------------------------------

    def _initdb(self, initdb: Path, account: ServerAccount, *, deadline: float) -> None:
        directory = self._directory_or_fail()
        pwfile = directory / "pwfile"
        pwfile.write_text(self._password + "\n", encoding="utf-8")
        pwfile.chmod(0o600)
        account.take(pwfile)
        command = [
            str(initdb),
            f"--pgdata={directory / 'data'}",
            f"--username={_SUPERUSER}",
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        try:
            done = subprocess.run(
                command,
                cwd=directory,
                capture_output=True,
                text=True,
                check=False,
                timeout=max(deadline - time.monotonic(), 1.0),
                **account.popen_options(),
            )
        except subprocess.TimeoutExpired as exc:
            raise PostgresStartFailed(
                f"initdb did not finish within {self._start_timeout_s:g} s",
                hint="raise start_timeout_s",
            ) from exc
        finally:
            pwfile.unlink()
        if done.returncode != 0:
            raise PostgresStartFailed(
                f"initdb failed (exit code {done.returncode}):\n{done.stdout}{done.stderr}",
                hint=account.access_hint(directory),
            )

    def _serve(self, postgres: Path, account: ServerAccount, *, deadline: float) -> None:
        for _ in range(_PORT_ATTEMPTS):
            self._port = _free_port()
            self._process = self._launch(postgres, account)
            if self._ready(deadline=deadline):
                return
            self._process = None  # it has exited: the port was taken after we found it free
        raise PostgresStartFailed(
            f"postgres found each of the {_PORT_ATTEMPTS} free ports it was given taken",
            hint="retry; something on this machine is taking ports fast",
        )

    def _launch(self, postgres: Path, account: ServerAccount) -> subprocess.Popen[bytes]:
        from pluginctl.runtime.prctl import die_with_parent_preexec

        directory = self._directory_or_fail()
        command = [str(postgres), "-D", str(directory / "data"), "-h", _HOST]
        command += ["-p", str(self._port), "-k", str(directory)]
        for key, value in _SETTINGS.items():
            command += ["-c", f"{key}={value}"]
        # The parent-death signal is set in preexec_fn, after Popen's setreuid (which clears it).
        # SIGQUIT is an immediate shutdown: nothing is worth keeping once the test process is gone.
        die_with_us = die_with_parent_preexec(sig=signal.SIGQUIT)
        with (directory / "server.log").open("wb") as log:  # this attempt's log only
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=directory,
                process_group=0,  # a Ctrl-C at the terminal is for pytest, not the server
                preexec_fn=die_with_us,  # noqa: PLW1509  # it only calls prctl: no locks, no imports
                **account.popen_options(),
            )

    def _ready(self, *, deadline: float) -> bool:
        """Wait until the server accepts connections: True, or False when its port was taken.

        The probe goes through the server's unix socket in its own directory: no other
        server can answer there (a TCP probe could reach whatever took the port), and
        postgres makes it only once its TCP socket listens.
        """
        import psycopg

        process = self._running()
        probe = self._conninfo(_SUPERUSER, host=str(self._directory_or_fail()))
        while process.poll() is None:
            try:
                with psycopg.connect(probe):
                    return True
            except psycopg.OperationalError as exc:
                if time.monotonic() >= deadline:
                    raise PostgresStartFailed(
                        f"postgres did not accept connections on {_HOST}:{self._port} within"
                        f" {self._start_timeout_s:g} s ({exc}); its log:\n{self._log_tail()}",
                        hint="raise start_timeout_s, or read the log above",
                    ) from exc
            time.sleep(0.02)
        log = self._log_tail()
        if "could not bind" in log and "already in use" in log:
            return False
        raise PostgresStartFailed(
            f"postgres exited (code {process.returncode}) before accepting connections;"
            f" its log:\n{log}",
            hint="read the log above",
        )

    def _log_tail(self) -> str:
        log = self._directory_or_fail() / "server.log"
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        return text[-_LOG_TAIL_CHARS:]

    # -- running ---------------------------------------------------------------

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise UserError(
                "the temporary PostgreSQL server is not running",
                hint="call start() first, or use it as a context manager",
            )
        return self._process

    def _directory_or_fail(self) -> Path:
        if self._directory is None:
            raise UserError("the temporary PostgreSQL server has no directory", hint="start()")
        return self._directory

    def _conninfo(self, database: str, *, host: str = _HOST) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=host,
            port=self._port,
            user=_SUPERUSER,
            password=self._password,
            dbname=database,
            sslmode="disable",
            connect_timeout=5,
        )

    def _url(self, database: str) -> str:
        self._running()
        return f"postgresql+psycopg://{_SUPERUSER}:{self._password}@{_HOST}:{self._port}/{database}"

    def _execute(self, query: sql.Composed) -> None:
        import psycopg

        self._running()
        with psycopg.connect(self._conninfo(_SUPERUSER), autocommit=True) as connection:
            connection.execute(query)


def _require_psycopg() -> None:
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise PostgresUnavailable(
            f"psycopg (3) is not installed: {exc}",
            hint="pip install 'pluginctl[postgres]' (or 'psycopg[binary]')",
        ) from exc


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise UserError(
            f"database name {name!r} is not a plain lower-case identifier",
            hint="use letters a-z, digits and _, not starting with a digit, at most 63 characters",
        )
    return name


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((_HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _shut_down(process: subprocess.Popen[bytes], *, grace_s: float) -> None:
    """End the server we started, by its pid: SIGINT (a fast shutdown), SIGKILL after the grace.

    SIGINT, not SIGTERM: to postgres SIGTERM is a smart shutdown, which waits for
    every client to disconnect.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
