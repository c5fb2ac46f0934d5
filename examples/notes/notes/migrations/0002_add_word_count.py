"""Count each note's words: a word_count column, filled in for the notes already there.

Revision ID: 0002
Revises: 0001

Three steps, in one transaction: add the column (nullable, since the rows there
have no count yet), count the words of every existing note with the rule the plugin
uses (``len(body.split())``) and UPDATE each row, then make the column NOT NULL.
SQLite cannot change a column's nullability with ALTER TABLE, so the last step goes
through ``batch_alter_table``, which copies the table there (on PostgreSQL it is a
plain ALTER). The table is given to it (``copy_from``) rather than read from the
database, so that ``pluginctl migrate up --dry-run`` can print the SQL too.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BATCH_ROWS = 500


def notes_table(*, counted: bool) -> sa.Table:
    """The notes table as 0001 made it, with word_count (NOT NULL once ``counted``)."""
    return sa.Table(
        "notes",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
        sa.Column("word_count", sa.Integer, nullable=not counted),
    )


def upgrade() -> None:
    op.add_column("notes", sa.Column("word_count", sa.Integer, nullable=True))
    notes = notes_table(counted=False)
    if op.get_context().as_sql:  # --dry-run prints the SQL: there are no rows to read
        op.execute("-- here each existing note gets its word_count, counted in Python")
    else:
        count_words(op.get_bind(), notes)
    with op.batch_alter_table("notes", copy_from=notes) as batch:
        batch.alter_column("word_count", existing_type=sa.Integer, nullable=False)


def count_words(connection: sa.Connection, notes: sa.Table) -> None:
    """Fill in word_count for every note, a batch of rows at a time (never all in memory)."""
    update = (
        notes.update()
        .where(notes.c.id == sa.bindparam("note_id"))
        .values(word_count=sa.bindparam("words"))
    )
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(notes.c.id, notes.c.body)
            .where(notes.c.id > last_id)
            .order_by(notes.c.id)
            .limit(_BATCH_ROWS)
        ).all()
        if not rows:
            return
        connection.execute(
            update, [{"note_id": note_id, "words": len(body.split())} for note_id, body in rows]
        )
        last_id = rows[-1].id


def downgrade() -> None:
    with op.batch_alter_table("notes", copy_from=notes_table(counted=True)) as batch:
        batch.drop_column("word_count")
