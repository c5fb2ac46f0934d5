"""What the ``db`` suite's migration figure runs: trivial scripts, and Alembic's classic setup.

- `write_scripts` writes ``count`` Alembic scripts, revisions ``0001``, ``0002``...
  each following the one before and creating one small table, named as ``pluginctl
  migrate new`` names them (``0001_create_t0001.py``).
- `ClassicAlembic` is the anchor: a directory with an ``alembic.ini``
  (``script_location``, ``sqlalchemy.url``), the ``env.py`` that ``alembic init``
  writes (online: ``engine_from_config``, ``context.configure(connection=...,
  target_metadata=None)``, ``run_migrations``) and the same scripts copied into its
  ``versions/``, upgraded in process with ``alembic.command.upgrade(config, "head")``.
  With ``same_pragmas=True`` its ``env.py`` also sets the pragmas pluginctl's
  connections run with (WAL, ``synchronous=NORMAL``), in SQLAlchemy's usual
  ``connect`` listener: the plain setup leaves SQLite's defaults (a rollback journal,
  ``synchronous=FULL``), so its commits wait for the disk and pluginctl's do not.
- `pluginctl_upgrade_ms` times `Migrations.upgrade` on a plugin's fresh SQLite database.

Both sides start from a fresh database each time, made outside the timed span.

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> root = Path(tempfile.mkdtemp())
    >>> write_scripts(root / "scripts", 3)
    >>> sorted(path.name for path in (root / "scripts").glob("*.py"))
    ['0001_create_t0001.py', '0002_create_t0002.py', '0003_create_t0003.py']
    >>> classic = ClassicAlembic(root / "classic", root / "scripts")
    >>> classic.upgrade_ms() > 0, classic.revision()
    (True, '0003')
    >>> pluginctl_upgrade_ms(root / "scripts", root / "data", expected=3) > 0
    True
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from typing import TYPE_CHECKING

from bench._errors import BenchError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["ClassicAlembic", "pluginctl_upgrade_ms", "write_scripts"]

PLUGIN = "bench-migrate"

_SCRIPT = '''"""Create t{number}."""

import sqlalchemy as sa
from alembic import op

revision = "{number}"
down_revision = {down}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "t{number}",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(40), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("t{number}")
'''

_INI = """[alembic]
script_location = %(here)s
sqlalchemy.url = sqlite:///%(here)s/anchor.sqlite3
"""

# The env.py `alembic init` writes, without logging and the model import it leaves to fill in.
_ENV = '''"""Alembic's environment, as `alembic init` writes it."""

from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
target_metadata = None


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
# pragmas
    with connectable.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
'''


# What SQLAlchemy's documentation does to set SQLite pragmas on every connection.
_PRAGMAS = """
    from sqlalchemy import event

    @event.listens_for(connectable, "connect")
    def set_pragmas(dbapi_connection, connection_record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()
"""


def write_scripts(folder: Path, count: int) -> None:
    """Write ``count`` scripts to ``folder``: ``0001`` first, each after the one before."""
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(1, count + 1):
        number = f"{index:04d}"
        down = "None" if index == 1 else f'"{index - 1:04d}"'
        script = _SCRIPT.format(number=number, down=down)
        (folder / f"{number}_create_t{number}.py").write_text(script, encoding="utf-8")


class ClassicAlembic:
    """The anchor: a plain Alembic project around copies of the scripts in ``scripts``.

    Args:
        root: A directory to create, holding ``alembic.ini``, ``env.py``, ``versions/``
            and the database ``anchor.sqlite3``.
        scripts: The folder `write_scripts` wrote.
        same_pragmas: Connect with pluginctl's pragmas (WAL, ``synchronous=NORMAL``).
    """

    def __init__(self, root: Path, scripts: Path, *, same_pragmas: bool = False) -> None:
        root.mkdir(parents=True)
        shutil.copytree(scripts, root / "versions", ignore=shutil.ignore_patterns("__pycache__"))
        (root / "alembic.ini").write_text(_INI, encoding="utf-8")
        env = _ENV.replace("# pragmas\n", _PRAGMAS if same_pragmas else "")
        (root / "env.py").write_text(env, encoding="utf-8")
        self.ini = root / "alembic.ini"
        self.database = root / "anchor.sqlite3"

    def upgrade_ms(self) -> float:
        """``alembic upgrade head`` on a fresh database, in process; milliseconds.

        Raises:
            BenchError: when Alembic fails.
        """
        from alembic import command
        from alembic.config import Config
        from alembic.util import CommandError
        from sqlalchemy.exc import SQLAlchemyError

        _remove_database(self.database)
        start = time.perf_counter_ns()
        try:
            command.upgrade(Config(str(self.ini)), "head")
        except (CommandError, SQLAlchemyError) as exc:
            raise BenchError(f"alembic upgrade head failed: {exc}") from None
        return (time.perf_counter_ns() - start) / 1e6

    def revision(self) -> str | None:
        """The revision the anchor's database is at."""
        return _version(self.database)


def pluginctl_upgrade_ms(scripts: Path, data_dir: Path, *, expected: int) -> float:
    """`Migrations.upgrade` of a plugin's fresh database to the head of ``scripts``; ms.

    The database is the one a host gives the plugin whose data directory is
    ``data_dir`` (`DatabaseTarget.for_plugin`).

    Raises:
        BenchError: when it applied other than ``expected`` migrations.
    """
    from pluginctl.data.migrations import Migrations
    from pluginctl.data.target import DatabaseTarget

    target = DatabaseTarget.for_plugin(PLUGIN, data_dir=data_dir)
    assert target.path is not None
    _remove_database(target.path)
    start = time.perf_counter_ns()
    steps = Migrations(scripts, target).upgrade()
    elapsed_ms = (time.perf_counter_ns() - start) / 1e6
    if len(steps) != expected:
        raise BenchError(f"Migrations.upgrade applied {len(steps)} migrations, not {expected}")
    return elapsed_ms


def _remove_database(path: Path) -> None:
    """Delete the SQLite file ``path`` and its WAL files, so the next run starts afresh."""
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm", f"{path.name}-journal"):
        (path.parent / name).unlink(missing_ok=True)


def _version(database: Path) -> str | None:
    connection = sqlite3.connect(database)
    try:
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    return None if row is None else str(row[0])
