"""A plugin's migrations: Alembic scripts in its ``migrations/`` folder, run by pluginctl.

Plugin authors write only the scripts (``pluginctl migrate new "add notes"`` starts
one); pluginctl is their ``env.py``. Each plugin has its own version table: in its
SQLite file, or in its own schema on PostgreSQL, next to its tables. Every migration
runs in a transaction of its own, so one that fails is rolled back whole and leaves
the database at the revision before it; SQLite and PostgreSQL both roll back schema
changes.

pluginctl also records a checksum of every script it applies, in the table
``pluginctl_migrations``: a script edited after it was applied is reported (its change
will never run where it already ran), and a database at a revision the folder does not
have was migrated by a newer version of the plugin, which is refused.

Revisions are numbered ``0001``, ``0002``... and files are named
``0001_create_notes.py``, so the folder lists in the order the migrations run.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pluginctl.errors import MigrationError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from alembic.runtime.migration import MigrationContext, MigrationInfo
    from alembic.script import Script, ScriptDirectory
    from sqlalchemy.engine import Connection, Engine

    from pluginctl.data.target import DatabaseTarget

__all__ = ["MigrationStatus", "Migrations", "Revision", "Step", "read_checksums"]

_TEMPLATE_DIR = Path(__file__).parent / "alembic"
_VERSION_TABLE = "alembic_version"
_CHECKSUMS = "pluginctl_migrations"
_NUMBERED = re.compile(r"^\d{4,}$")


@dataclass(frozen=True, slots=True)
class Revision:
    """One migration script.

    Attributes:
        revision: Its id (``0001``).
        down_revision: The one it follows (None for the first).
        message: The first line of its docstring.
        path: The script's file.
    """

    revision: str
    down_revision: str | None
    message: str
    path: Path


@dataclass(frozen=True, slots=True)
class Step:
    """One migration applied (``up``) or undone (``down``)."""

    revision: str
    direction: str
    message: str


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """Where a plugin's database stands against its migrations folder.

    Attributes:
        current: The revision the database is at (None: none applied).
        head: The folder's newest revision (None: the folder is empty).
        pending: What ``up`` would apply, in order.
        applied: What has been applied, oldest first.
        edited: Applied scripts whose file changed since.
    """

    current: str | None
    head: str | None
    pending: list[Revision] = field(default_factory=list)
    applied: list[Revision] = field(default_factory=list)
    edited: list[Revision] = field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        """Nothing is pending."""
        return not self.pending


class Migrations:
    """The migrations of one plugin, on its database.

    Args:
        folder: The plugin's migrations folder (``migrations`` in plugin.toml).
        target: The plugin's database.
    """

    def __init__(self, folder: Path, target: DatabaseTarget) -> None:
        self.folder = folder
        self.target = target
        self._script: ScriptDirectory | None = None

    @classmethod
    def for_plugin(
        cls, project: Path, *, data_dir: Path, database_url: str | None = None
    ) -> Migrations:
        """The migrations of the plugin project (or package) at ``project``.

        ``data_dir`` is the host's: the plugin's own is ``<data_dir>/plugins/<name>``.

        Raises:
            MigrationError: the plugin declares no migrations folder.
            UserError: the project cannot be read, or ``database_url`` is not usable.
        """
        from pluginctl.data.target import DatabaseTarget
        from pluginctl.runtime.discovery import load_source

        source = load_source(project)
        if source.manifest.migrations is None:
            raise MigrationError(
                f"plugin {source.name!r} declares no migrations folder",
                hint='add migrations = "migrations" and the permission "db:write" to its'
                " plugin.toml (pluginctl create --with db starts a plugin with both)",
            )
        target = DatabaseTarget.for_plugin(
            source.name, data_dir=data_dir / "plugins" / source.name, database_url=database_url
        )
        return cls(source.package_dir / source.manifest.migrations, target)

    # -- the folder ----------------------------------------------------------------

    def revisions(self) -> list[Revision]:
        """Every script, oldest first.

        Raises:
            MigrationError: the folder has two heads, or a script cannot be read.
        """
        script = self._scripts()
        head = self.head()
        if head is None:
            return []
        found = [_revision(entry) for entry in script.walk_revisions("base", head)]
        return list(reversed(found))

    def head(self) -> str | None:
        """The newest revision, None for an empty folder.

        Raises:
            MigrationError: the folder has more than one head.
        """
        heads = self._scripts().get_heads()
        if len(heads) > 1:
            raise self._two_heads(heads)
        return heads[0] if heads else None

    def new(self, message: str) -> Revision:
        """Write a new, empty migration after the head; its `Revision`.

        Raises:
            MigrationError: the message is empty, or the folder has two heads.
        """
        if not message.strip():
            raise MigrationError(
                "a migration needs a message", hint='pluginctl migrate new "create notes"'
            )
        head = self.head()
        self.folder.mkdir(parents=True, exist_ok=True)
        script = self._scripts()
        created = script.generate_revision(
            self._next_id(), message.strip(), head=head or "base", version_path=str(self.folder)
        )
        self._script = None  # the folder changed
        assert created is not None
        return _revision(created)

    # -- the database --------------------------------------------------------------

    def status(self, engine: Engine | None = None) -> MigrationStatus:
        """Where the database stands: current, pending, applied, edited.

        Raises:
            MigrationError: two heads, or the database is at a revision the folder lacks.
        """
        with self._engine(engine) as own, own.connect() as connection:
            return self._status(connection)

    def apply_pending(self) -> tuple[MigrationStatus, list[Step]]:
        """What a host does on activation: check the database, apply what is pending.

        Returns the status before and the steps applied.

        Raises:
            MigrationError: as `upgrade` and `status`.
        """
        from sqlalchemy.exc import DBAPIError

        engine = self.target.engine(writable=True, migration=True)
        try:
            status = self.status(engine)
            return status, self.upgrade(engine=engine) if status.pending else []
        except DBAPIError as exc:
            raise MigrationError(
                f"cannot migrate the database of plugin {self.target.plugin!r}: {exc.orig}",
                hint="check that the database server runs and that the URL is right",
            ) from None
        finally:
            engine.dispose()

    def upgrade(
        self,
        to: str = "head",
        *,
        engine: Engine | None = None,
        on_step: Callable[[Step], None] | None = None,
    ) -> list[Step]:
        """Apply the pending migrations up to ``to``, each in its own transaction.

        Raises:
            MigrationError: a migration failed (it was rolled back; the ones before it
                stay applied), or the folder and database disagree (see `status`).
        """
        return self._run("up", to, engine=engine, on_step=on_step)

    def downgrade(
        self,
        *,
        to: str | None = None,
        steps: int | None = None,
        engine: Engine | None = None,
        on_step: Callable[[Step], None] | None = None,
    ) -> list[Step]:
        """Undo migrations down to revision ``to`` (``base``: all) or ``steps`` of them (1)."""
        return self._run(
            "down", self._down_target(to, steps, engine), engine=engine, on_step=on_step
        )

    def sql(self, direction: str, to: str, *, engine: Engine | None = None) -> str:
        """The SQL ``upgrade``/``downgrade`` would run, without running it (``--dry-run``)."""
        from alembic.config import Config
        from alembic.runtime.environment import EnvironmentContext

        with self._engine(engine) as own, own.connect() as connection:
            status = self._status(connection)
            dialect = own.dialect.name
        script = self._scripts()
        if direction == "down":
            to = self._resolve_down(to, status)
        buffer = io.StringIO()
        start = status.current or "base"
        with EnvironmentContext(
            Config(),
            script,
            fn=self._planner(direction, to),
            as_sql=True,
            starting_rev=start,
            destination_rev=to,
        ) as env:
            env.configure(
                dialect_name=dialect,
                output_buffer=buffer,
                transaction_per_migration=True,
                version_table=_VERSION_TABLE,
                version_table_schema=self.target.schema,
            )
            try:
                with env.begin_transaction():
                    env.run_migrations()
            except MigrationError:
                raise
            except Exception as exc:  # the plugin's script cannot run without a database
                raise MigrationError(
                    f"a migration of plugin {self.target.plugin!r} cannot be shown as SQL"
                    f" ({type(exc).__name__}: {_first_line(exc)}); --dry-run runs the"
                    " scripts without a database, so one that reads rows cannot",
                    hint="run it for real on a copy of the data, or read the script",
                ) from exc
        return buffer.getvalue()

    # -- inside ----------------------------------------------------------------------

    def _run(
        self,
        direction: str,
        to: str,
        *,
        engine: Engine | None,
        on_step: Callable[[Step], None] | None,
    ) -> list[Step]:
        from alembic.config import Config
        from alembic.runtime.environment import EnvironmentContext

        done: list[Step] = []
        with self._engine(engine) as own, own.connect() as connection:
            status = self._status(connection)
            if direction == "up" and to == "head" and status.up_to_date:
                return done
            connection.commit()
            _create_checksum_table(connection, self.target.schema)
            connection.commit()
            recorder = _Recorder(self, done, on_step, status=status)
            with EnvironmentContext(
                Config(), self._scripts(), fn=self._planner(direction, to)
            ) as env:
                env.configure(
                    connection=connection,
                    transaction_per_migration=True,
                    on_version_apply=recorder,  # type: ignore[arg-type]  # alembic calls it with keywords
                    version_table=_VERSION_TABLE,
                    version_table_schema=self.target.schema,
                )
                try:
                    with env.begin_transaction():
                        env.run_migrations()
                except MigrationError:
                    raise
                except Exception as exc:  # the plugin's script failed: say which, keep going
                    raise recorder.failed(exc) from exc
        return done

    def _planner(self, direction: str, to: str) -> Callable[[object, MigrationContext], object]:
        script = self._scripts()

        def plan(revision: object, _context: MigrationContext) -> object:
            if direction == "up":
                return script._upgrade_revs(to, revision)  # type: ignore[arg-type]  # alembic's own planner, as alembic.command uses it
            return script._downgrade_revs(to, revision)  # type: ignore[arg-type]  # as above

        return plan

    def _status(self, connection: Connection) -> MigrationStatus:
        from alembic.runtime.migration import MigrationContext

        context = MigrationContext.configure(connection, opts=self._version_options())
        current = context.get_current_revision()
        revisions = self.revisions()
        known = {entry.revision: index for index, entry in enumerate(revisions)}
        head = revisions[-1].revision if revisions else None
        if current is not None and current not in known:
            raise self._ahead(current, head)
        done = known[current] + 1 if current is not None else 0
        applied, pending = revisions[:done], revisions[done:]
        sums = read_checksums(connection, self.target.schema)
        edited = [
            entry
            for entry in applied
            if entry.revision in sums and sums[entry.revision] != _checksum(entry.path)
        ]
        return MigrationStatus(current, head, pending, applied, edited)

    def _down_target(self, to: str | None, steps: int | None, engine: Engine | None) -> str:
        if to is not None and steps is not None:
            raise MigrationError(
                "migrate down takes --to or --steps, not both", hint="pick one of them"
            )
        if to is not None:
            return to
        with self._engine(engine) as own, own.connect() as connection:
            status = self._status(connection)
        return self._resolve_down(f"-{steps or 1}", status)

    def _resolve_down(self, to: str, status: MigrationStatus) -> str:
        """``-N`` as the revision it lands on; anything else as it is."""
        if not to.startswith("-"):
            return to
        count = int(to[1:])
        if not status.applied:
            raise MigrationError(
                f"no migration is applied to the database of plugin {self.target.plugin!r}:"
                " nothing to undo",
                hint="pluginctl migrate status shows where it stands",
            )
        if count > len(status.applied):
            raise MigrationError(
                f"cannot undo {count} migrations: {len(status.applied)} are applied",
                hint="pluginctl migrate down --to base undoes them all",
            )
        landing = len(status.applied) - count
        return status.applied[landing - 1].revision if landing else "base"

    def _version_options(self) -> dict[str, str | None]:
        return {"version_table": _VERSION_TABLE, "version_table_schema": self.target.schema}

    def preload(self) -> None:
        """Import what running migrations needs, without reading (running) any script."""
        import alembic.ddl.postgresql
        import alembic.ddl.sqlite
        import alembic.operations.ops
        import alembic.runtime.environment
        import alembic.runtime.migration
        import alembic.script  # noqa: F401  # all for their side effect: imported now

    def _scripts(self) -> ScriptDirectory:
        if self._script is None:
            from alembic.script import ScriptDirectory
            from alembic.util import CommandError

            try:
                self._script = ScriptDirectory(
                    _TEMPLATE_DIR,
                    version_locations=[str(self.folder)],
                    messaging_opts={"quiet": True},  # the library never prints
                )
                self._script.revision_map.heads  # noqa: B018  # reads every script now
            except CommandError as exc:
                raise MigrationError(
                    f"the migrations in {self.folder} cannot be read: {exc}",
                    hint="each script needs revision and down_revision naming scripts that exist",
                ) from None
        return self._script

    def _next_id(self) -> str:
        numbers = [
            int(entry.revision) for entry in self.revisions() if _NUMBERED.match(entry.revision)
        ]
        return f"{max(numbers, default=0) + 1:04d}"

    def _engine(self, engine: Engine | None) -> _Borrowed:
        return _Borrowed(engine, self.target)

    def _two_heads(self, heads: Sequence[str]) -> MigrationError:
        script = self._scripts()
        files = [f"{head} ({Path(script.get_revision(head).path).name})" for head in heads]
        return MigrationError(
            f"the migrations in {self.folder} have {len(heads)} heads: {', '.join(files)};"
            " pluginctl runs one line of migrations",
            hint=f"make one follow the other: set down_revision = {heads[0]!r} in the"
            f" script of {heads[1]}",
        )

    def _ahead(self, current: str, head: str | None) -> MigrationError:
        return MigrationError(
            f"the database of plugin {self.target.plugin!r} is at revision {current!r}, which"
            f" {self.folder} does not have: a newer version of the plugin migrated it",
            hint=f"with the newer version, run: pluginctl migrate down --to {head or 'base'};"
            " or run the newer version again",
        )


class _Borrowed:
    """The engine given, or one opened (with migration rights) and closed around a use."""

    def __init__(self, engine: Engine | None, target: DatabaseTarget) -> None:
        self._given = engine
        self._target = target
        self._own: Engine | None = None

    def __enter__(self) -> Engine:
        if self._given is not None:
            return self._given
        self._own = self._target.engine(writable=True, migration=True)
        return self._own

    def __exit__(self, *_exc: object) -> None:
        if self._own is not None:
            self._own.dispose()


class _Recorder:
    """Alembic's ``on_version_apply``: checksums in the same transaction, and the steps."""

    def __init__(
        self,
        migrations: Migrations,
        done: list[Step],
        on_step: Callable[[Step], None] | None,
        *,
        status: MigrationStatus,
    ) -> None:
        self._migrations = migrations
        self._done = done
        self._on_step = on_step
        self._at = status.current
        self._sql = _ChecksumSql(migrations.target.schema)
        self._by_id = {entry.revision: entry for entry in [*status.applied, *status.pending]}

    def __call__(
        self, *, ctx: MigrationContext, step: MigrationInfo, heads: set[str], run_args: object
    ) -> None:
        ident = step.up_revision_id  # the revision applied, or undone
        assert ident is not None
        entry = self._by_id.get(ident)
        self._sql.record(ctx, entry, upgrade=step.is_upgrade, ident=ident)
        message = entry.message if entry is not None else ""
        applied = Step(ident, "up" if step.is_upgrade else "down", message)
        self._done.append(applied)
        self._at = ident if step.is_upgrade else _landing(step)
        if self._on_step is not None:
            self._on_step(applied)

    def failed(self, exc: Exception) -> MigrationError:
        where = f"at {self._at}" if self._at else "at base (no migration applied)"
        message = _first_line(exc)
        return MigrationError(
            f"a migration of plugin {self._migrations.target.plugin!r} failed"
            f" ({type(exc).__name__}: {message}); it was rolled back, the database stands {where}",
            hint="fix the script and run it again: pluginctl migrate up",
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _landing(step: MigrationInfo) -> str | None:
    """Where a downgrade step lands: the revision before the one undone."""
    landed = step.down_revision_ids
    return landed[0] if landed else None


def _revision(entry: Script) -> Revision:
    down = entry.down_revision
    return Revision(
        revision=entry.revision,
        down_revision=down if isinstance(down, str) else None,
        message=(entry.doc or "").strip().splitlines()[0] if entry.doc else "",
        path=Path(entry.path),
    )


def _checksum(path: Path) -> str:
    try:
        text = path.read_bytes().replace(b"\r\n", b"\n")
    except OSError:
        return ""
    return hashlib.sha256(text).hexdigest()


def _table(schema: str | None) -> str:
    return f'"{schema}".{_CHECKSUMS}' if schema else _CHECKSUMS


def read_checksums(connection: Connection, schema: str | None) -> dict[str, str]:
    """The checksum of each applied script, by revision (empty before the first)."""
    from sqlalchemy import inspect

    if not inspect(connection).has_table(_CHECKSUMS, schema=schema):
        return {}
    query = f"SELECT revision, sha256 FROM {_table(schema)}"  # noqa: S608  # our own table name
    rows = connection.exec_driver_sql(query)
    return {str(revision): str(digest) for revision, digest in rows}


def _create_checksum_table(connection: Connection, schema: str | None) -> None:
    connection.exec_driver_sql(
        f"CREATE TABLE IF NOT EXISTS {_table(schema)} (revision VARCHAR(64) PRIMARY KEY,"
        " sha256 VARCHAR(64) NOT NULL, applied_at VARCHAR(40) NOT NULL)"
    )


class _ChecksumSql:
    """The statements that keep one plugin's checksums, made once per run."""

    def __init__(self, schema: str | None) -> None:
        from sqlalchemy import text

        table = _table(schema)
        self._upsert = text(
            f"INSERT INTO {table} (revision, sha256, applied_at) VALUES (:r, :s, :t)"  # noqa: S608  # our own table name
            " ON CONFLICT (revision) DO UPDATE SET sha256 = excluded.sha256,"
            " applied_at = excluded.applied_at"
        )
        self._delete = text(f"DELETE FROM {table} WHERE revision = :r")  # noqa: S608  # ours

    def record(
        self, context: MigrationContext, entry: Revision | None, *, upgrade: bool, ident: str
    ) -> None:
        """In the step's transaction: the applied script's checksum, or its removal."""
        connection = context.connection
        assert connection is not None
        if not upgrade or entry is None:
            connection.execute(self._delete, {"r": ident})
            return
        now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        connection.execute(self._upsert, {"r": ident, "s": _checksum(entry.path), "t": now})
