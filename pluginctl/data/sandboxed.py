"""Migrations as a host runs them: plugin scripts in a sandboxed process, never in the host.

A migration script is plugin code. The host must not import it, so when a plugin
starts, the host first looks at its migrations folder **without running it**: each
script's ``revision`` and ``down_revision`` are read from its syntax tree, and the
database's revision from its version table. When they agree, nothing is pending and
nothing is spawned; scripts edited since they were applied are found by checksum.

Otherwise a fresh interpreter (``python -m pluginctl.data.sandboxed``) does the work:
it connects to the plugin's database first, then sandboxes itself as a worker is
(Landlock: the plugin's code read-only, its data directory read-write; seccomp: no new
internet sockets, no fork, no exec; no_new_privs), and only then imports the scripts
and runs them with Alembic. What it did, or why it failed, comes back as JSON.
"""

from __future__ import annotations

import ast
import asyncio
import hashlib
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import msgspec

from pluginctl.errors import MigrationError

if TYPE_CHECKING:
    from pathlib import Path

    from sqlalchemy.engine import Engine

    from pluginctl.data.migrations import Step
    from pluginctl.data.target import DatabaseTarget

__all__ = ["Outcome", "apply_pending"]

_MAX_SCRIPT_BYTES = 1024 * 1024
_MIGRATION_TIMEOUT_S = 600.0  # a long backfill is fine; a process stuck forever is not


class _Spec(msgspec.Struct, frozen=True, kw_only=True):
    """What the sandboxed process is told: the folder, the database, the sandbox."""

    plugin: str
    folder: str
    sqlite_path: str | None = None
    url: str | None = None
    read: list[str] = []
    write: list[str] = []
    sandbox: bool = True


class _Step(msgspec.Struct, frozen=True):
    revision: str
    direction: str
    message: str


class _Answer(msgspec.Struct, frozen=True, kw_only=True):
    ok: bool
    steps: list[_Step] = []
    edited: list[str] = []
    error: str = ""
    hint: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What activation did to a plugin's database.

    Attributes:
        steps: The migrations applied, in order.
        edited: Revisions whose script changed after it was applied.
        spawned: Whether a sandboxed process ran them (False: nothing was pending).
    """

    steps: list[Step]
    edited: list[str]
    spawned: bool


async def apply_pending(
    folder: Path,
    target: DatabaseTarget,
    *,
    code_dir: Path,
    sandbox: bool = True,
    engine: Engine | None = None,
) -> Outcome:
    """Apply ``folder``'s pending migrations to ``target``, sandboxed.

    ``code_dir`` is the plugin's code (read-only to the scripts). ``engine``, when
    given, is used to read the database's revision (the host's own, already open).

    Raises:
        MigrationError: a migration failed (it was rolled back), the folder has two
            heads, or the database is ahead of the folder.
    """
    from pluginctl.data.migrations import Step

    known = await asyncio.to_thread(_up_to_date, folder, target, engine)
    if known is not None:
        return Outcome([], known, spawned=False)
    answer = await _spawn(_spec(folder, target, code_dir=code_dir, sandbox=sandbox))
    if not answer.ok:
        raise MigrationError(answer.error, hint=answer.hint)
    steps = [Step(s.revision, s.direction, s.message) for s in answer.steps]
    return Outcome(steps, list(answer.edited), spawned=True)


# -- the host's side: a look without running anything --------------------------------


def _up_to_date(folder: Path, target: DatabaseTarget, engine: Engine | None) -> list[str] | None:
    """The edited revisions when nothing is pending; None when a process must decide."""
    scripts = _read_scripts(folder)
    if scripts is None:
        return None
    heads = set(scripts) - {down for down, _ in scripts.values() if down is not None}
    own = engine or target.engine(writable=True, migration=True)
    try:
        current, sums = _version_and_sums(own, target.schema)
    finally:
        if engine is None:
            own.dispose()
    if len(heads) != 1 or current not in heads:
        return None  # pending, ahead, two heads, or empty: let Alembic say which
    return sorted(
        rev for rev, digest in sums.items() if rev in scripts and digest != scripts[rev][1]
    )


def _read_scripts(folder: Path) -> dict[str, tuple[str | None, str]] | None:
    """Each script's revision → (down_revision, checksum), read from source; None if unsure."""
    found: dict[str, tuple[str | None, str]] = {}
    for path in sorted(folder.glob("*.py")):
        if path.name.startswith("_"):
            continue
        data = _plain_file(path)
        if data is None:
            return None  # a link, a pipe, a device, a huge file: the sandboxed process decides
        names = _literals(data)
        revision, down = names.get("revision"), names.get("down_revision", ...)
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            return None  # computed ids or a merge: Alembic, sandboxed, reads it
        found[revision] = (down, hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest())
    return found or None


def _plain_file(path: Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file of at most 1 MiB (no link followed)."""
    import os
    import stat

    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as file:
        found = os.fstat(file.fileno())
        if not stat.S_ISREG(found.st_mode) or found.st_size > _MAX_SCRIPT_BYTES:
            return None
        return file.read(_MAX_SCRIPT_BYTES + 1)


def _literals(source: bytes) -> dict[str, object]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    values: dict[str, object] = {}
    for node in tree.body:
        target = (
            node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        )
        if isinstance(node, ast.AnnAssign):
            target = node.target
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and value is not None:
            try:
                values[target.id] = ast.literal_eval(value)
            except ValueError:
                values[target.id] = ...
    return values


def _version_and_sums(engine: Engine, schema: str | None) -> tuple[str | None, dict[str, str]]:
    from sqlalchemy import inspect

    from pluginctl.data.migrations import read_checksums

    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version", schema=schema):
            return None, {}
        table = f'"{schema}".alembic_version' if schema else "alembic_version"
        rows = connection.exec_driver_sql(f"SELECT version_num FROM {table}").all()  # noqa: S608  # our own table
        current = str(rows[0][0]) if len(rows) == 1 else None
        return current, read_checksums(connection, schema)


# -- the process -------------------------------------------------------------------


def _spec(folder: Path, target: DatabaseTarget, *, code_dir: Path, sandbox: bool) -> _Spec:
    from pluginctl.runtime.sandbox import default_read_paths

    if target.path is not None:
        data_dir, url = target.path.parent, None
    else:
        assert target.url is not None
        assert target.names is not None
        data_dir = None
        url = target.owner_url().render_as_string(hide_password=False)
    return _Spec(
        plugin=target.plugin,
        folder=str(folder),
        sqlite_path=str(target.path) if target.path is not None else None,
        url=url,
        read=default_read_paths([str(code_dir), str(folder)]),
        write=[str(data_dir)] if data_dir is not None else [],
        sandbox=sandbox,
    )


async def _spawn(spec: _Spec) -> _Answer:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pluginctl.data.sandboxed",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(
            process.communicate(msgspec.json.encode(spec)), _MIGRATION_TIMEOUT_S
        )
    except TimeoutError:
        process.kill()
        await process.wait()
        return _Answer(
            ok=False,
            error=f"the migrations of plugin {spec.plugin!r} ran past"
            f" {_MIGRATION_TIMEOUT_S:g} s and were stopped; the migration running then was"
            " rolled back",
            hint="run a long migration by hand first: pluginctl migrate up",
        )
    try:
        return msgspec.json.decode(out.strip().splitlines()[-1], type=_Answer)
    except (msgspec.DecodeError, msgspec.ValidationError, IndexError):
        why = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return _Answer(
            ok=False,
            error=f"the migrations of plugin {spec.plugin!r} could not run: the migration"
            f" process exited with code {process.returncode} ({why[0]})",
            hint="run them by hand to see the whole error: pluginctl migrate up",
        )


def _child() -> int:
    """The sandboxed process: connect, confine, migrate, answer on stdout."""
    spec = msgspec.json.decode(sys.stdin.buffer.read(), type=_Spec)
    try:
        answer = _migrate(spec)
    except MigrationError as exc:
        answer = _Answer(ok=False, error=exc.message, hint=exc.hint)
    sys.stdout.buffer.write(msgspec.json.encode(answer) + b"\n")
    return 0


def _migrate(spec: _Spec) -> _Answer:
    from pathlib import Path

    from pluginctl.data.migrations import Migrations
    from pluginctl.data.target import DatabaseTarget
    from pluginctl.runtime.sandbox import SandboxPolicy, apply_sandbox

    for path in sorted(Path(spec.folder).glob("*.py")):
        if _plain_file(path) is None:
            raise MigrationError(
                f"the migration script {path} is not a plain file of at most 1 MiB (a link, a"
                " pipe, a device?)",
                hint="keep each migration a regular .py file in the migrations folder",
            )
    target = DatabaseTarget.direct(spec.plugin, path=spec.sqlite_path, url=spec.url)
    engine = target.single_connection_engine()
    migrations = Migrations(Path(spec.folder), target)
    migrations.preload()  # alembic's own modules, before the sandbox closes in
    apply_sandbox(SandboxPolicy(read=spec.read, write=spec.write, enabled=spec.sandbox))
    try:
        status = migrations.status(engine)
        steps = migrations.upgrade(engine=engine) if status.pending else []
    finally:
        engine.dispose()
    return _Answer(
        ok=True,
        steps=[_Step(s.revision, s.direction, s.message) for s in steps],
        edited=[entry.revision for entry in status.edited],
    )


if __name__ == "__main__":
    sys.exit(_child())
