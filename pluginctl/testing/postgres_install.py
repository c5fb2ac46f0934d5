"""Where the PostgreSQL server programs are, and who may run them: `PostgresInstall`.

`PostgresInstall.find` looks for ``initdb`` and ``postgres`` in
``$PLUGINCTL_PG_BINDIR`` when it is set (there only), else in ``pg_config
--bindir``, the newest ``/usr/lib/postgresql/<version>/bin`` (Debian's layout),
and the ``PATH``. PostgreSQL refuses to run as root, so under root the programs
run as the system user ``postgres`` (``nobody`` when there is none).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from pluginctl.errors import RuntimeFault

__all__ = ["BINDIR_ENV", "PostgresInstall", "PostgresUnavailable", "ServerAccount"]

BINDIR_ENV = "PLUGINCTL_PG_BINDIR"
"""The environment variable that names the directory holding initdb and postgres."""

_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_INSTALL_HINT = (
    "install the PostgreSQL server: apt-get install postgresql (Debian/Ubuntu);"
    f" or set {BINDIR_ENV} to the directory holding initdb and postgres"
)


class PostgresUnavailable(RuntimeFault):
    """PostgreSQL cannot run here: its server programs (or psycopg) are missing."""


class Credentials(TypedDict, total=False):
    """The options of `subprocess.Popen` that run the child as another user."""

    user: int
    group: int
    extra_groups: list[int]


@dataclass(frozen=True)
class ServerAccount:
    """Who runs initdb and postgres: this process's own user, or a system user under root.

    Attributes:
        name: The system user's name, or None for this process's user.
        uid: Its user id (-1 for this process's user).
        gid: Its primary group id (-1 for this process's user).
    """

    name: str | None = None
    uid: int = -1
    gid: int = -1

    @classmethod
    def for_this_process(cls) -> ServerAccount:
        """This process's user, or under root the ``postgres`` (else ``nobody``) user."""
        if os.geteuid() != 0:
            return cls()
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                entry = pwd.getpwnam(name)
                return cls(name, entry.pw_uid, entry.pw_gid)
        raise PostgresUnavailable(
            "PostgreSQL refuses to run as root, and there is no 'postgres' or 'nobody' user"
            " to run it as",
            hint="create one (useradd --system postgres), or run the tests as another user",
        )

    def take(self, path: Path) -> None:
        """Give ``path`` to the account (a no-op for this process's own user)."""
        if self.name is not None:
            os.chown(path, self.uid, self.gid)

    def popen_options(self) -> Credentials:
        """``user=``, ``group=`` and no supplementary groups, or nothing for our own user."""
        if self.name is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def access_hint(self, directory: Path) -> str | None:
        """What to check when the account could not use ``directory``."""
        if self.name is None:
            return None
        return (
            f"initdb ran as the user {self.name!r} (PostgreSQL refuses root): every directory"
            f" above {directory} must be searchable by it; set TMPDIR to one that is"
        )


@dataclass(frozen=True)
class PostgresInstall:
    """The PostgreSQL server programs found on this machine, and the account to run them as.

    Attributes:
        initdb: The ``initdb`` program.
        postgres: The ``postgres`` server program.
        account: Who runs them.
    """

    initdb: Path
    postgres: Path
    account: ServerAccount

    @classmethod
    def find(cls, bindir: str | Path | None = None) -> PostgresInstall:
        """Find initdb and postgres: in ``bindir`` or ``$PLUGINCTL_PG_BINDIR`` only, else anywhere.

        Raises:
            PostgresUnavailable: They are not there (or, under root, nobody can run them).
        """
        chosen = bindir if bindir is not None else os.environ.get(BINDIR_ENV) or None
        if chosen is not None:
            found = _in_directory(Path(chosen))
            if found is None:
                where = "bindir" if bindir is not None else f"${BINDIR_ENV}"
                raise PostgresUnavailable(
                    f"no PostgreSQL server programs (initdb and postgres) in {chosen} ({where})",
                    hint=_INSTALL_HINT,
                )
        else:
            found = _searched()
        return cls(*found, ServerAccount.for_this_process())


def _searched() -> tuple[Path, Path]:
    for bindir in (_pg_config_bindir(), *_debian_bindirs()):
        if bindir is not None and (found := _in_directory(bindir)):
            return found
    initdb, postgres = shutil.which("initdb"), shutil.which("postgres")
    if initdb and postgres:
        return Path(initdb), Path(postgres)
    raise PostgresUnavailable(
        "no PostgreSQL server programs (initdb and postgres) found: not in `pg_config --bindir`,"
        f" {_DEBIAN_ROOT}/*/bin or on PATH",
        hint=_INSTALL_HINT,
    )


def _in_directory(bindir: Path) -> tuple[Path, Path] | None:
    initdb, postgres = bindir / "initdb", bindir / "postgres"
    if all(path.is_file() and os.access(path, os.X_OK) for path in (initdb, postgres)):
        return initdb, postgres
    return None


def _pg_config_bindir() -> Path | None:
    """What ``pg_config --bindir`` says (on Debian it can name a directory without a server)."""
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
        )
        said = done.stdout.strip()
        return Path(said) if said else None
    return None


def _debian_bindirs() -> list[Path]:
    """``/usr/lib/postgresql/<version>/bin``, newest version first."""

    def version(bindir: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", bindir.parent.name))

    return sorted(_DEBIAN_ROOT.glob("*/bin"), key=version, reverse=True)
