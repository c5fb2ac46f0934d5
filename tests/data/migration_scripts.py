"""Migration scripts written for a test, as an author would write them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

_SCRIPT = '''"""{message}"""

import sqlalchemy as sa
from alembic import op

revision = {revision!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''


def write_script(
    folder: Path,
    revision: str,
    down: str | None,
    *,
    upgrade: str,
    downgrade: str = "pass",
    message: str = "",
) -> Path:
    """Write the migration ``revision`` (after ``down``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{revision}_{(message or 'step').replace(' ', '_')}.py"
    path.write_text(
        _SCRIPT.format(
            message=message or f"step {revision}",
            revision=revision,
            down=down,
            upgrade=_indent(upgrade),
            downgrade=_indent(downgrade),
        )
    )
    return path


def _indent(code: str) -> str:
    return "\n".join("    " + line for line in code.strip().splitlines())


CREATE_NOTES = """
op.create_table(
    "notes",
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("title", sa.Text, nullable=False),
)
op.execute("INSERT INTO notes (title) VALUES ('first')")
"""
ADD_DONE = """
op.add_column("notes", sa.Column("done", sa.Boolean, nullable=False, server_default=sa.false()))
op.execute("UPDATE notes SET done = (title = 'first')")
"""
FAILS_HALF_WAY = """
op.create_table("half", sa.Column("id", sa.Integer, primary_key=True))
op.execute("INSERT INTO notes (title) VALUES ('written by the failing migration')")
op.execute("INSERT INTO no_such_table VALUES (1)")
"""
