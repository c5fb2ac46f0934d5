"""A plugin's database as the host prepares it: opened, and migrated, before the worker starts.

`database_for` decides whether a plugin has a database at all (it holds a ``db``
permission or has migrations) and where; `prepare_database` connects to it (on
PostgreSQL, setting up the plugin's schema and roles) and applies the plugin's
pending migrations in a sandboxed process, recording what it did in the audit log.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from pluginctl.errors import MigrationError, UserError

if TYPE_CHECKING:
    from pathlib import Path

    from pluginctl.runtime.audit import AuditLog
    from pluginctl.runtime.discovery import PluginSource
    from pluginctl.runtime.policy import Policy
    from pluginctl.services.db import PluginDatabase

__all__ = ["database_for", "prepare_database"]

logger = logging.getLogger(__name__)


def database_for(
    source: PluginSource,
    policy: Policy,
    *,
    data_dir: Path,
    database_url: str | None,
    transaction_timeout_s: float,
) -> PluginDatabase | None:
    """The plugin's database (not yet opened), or None when it needs none.

    ``data_dir`` is the plugin's own data directory.
    """
    if not policy.grants("db:read") and source.manifest.migrations is None:
        return None
    from pluginctl.data.target import DatabaseTarget
    from pluginctl.services.db import PluginDatabase

    target = DatabaseTarget.for_plugin(source.name, data_dir=data_dir, database_url=database_url)
    return PluginDatabase(
        target, writable=policy.grants("db:write"), transaction_timeout_s=transaction_timeout_s
    )


async def prepare_database(
    database: PluginDatabase, source: PluginSource, *, audit: AuditLog, sandbox: bool
) -> str | None:
    """Open ``database`` and apply ``source``'s pending migrations; why it cannot start, or None."""
    try:
        await asyncio.to_thread(database.open)
    except UserError as exc:
        return _failure_text(exc)
    if source.manifest.migrations is None:
        return None
    # The manifest declares the migrations and, for them, db:write (validation checks it);
    # a test that revokes db:write takes it from the plugin's statements, not its schema.
    from pluginctl.data.sandboxed import apply_pending

    name = source.name
    try:
        outcome = await apply_pending(
            source.package_dir / source.manifest.migrations,
            database.target,
            code_dir=source.import_root or source.package_dir,
            sandbox=sandbox,
            engine=database.engine(),  # opened above: reading the revision costs no connect
        )
    except MigrationError as exc:
        audit.record("migration.failed", plugin=name, error=str(exc))
        return _failure_text(exc)
    for revision in outcome.edited:
        logger.warning(
            "plugin %s: migration %s changed after it was applied; the change will not run"
            " where it already ran: put it in a new migration (pluginctl migrate new)",
            name,
            revision,
        )
        audit.record("migration.edited", plugin=name, revision=revision)
    for step in outcome.steps:
        audit.record("migration.applied", plugin=name, revision=step.revision, message=step.message)
    return None


def _failure_text(exc: UserError) -> str:
    return f"{exc}\nhint: {exc.hint}" if exc.hint else str(exc)
