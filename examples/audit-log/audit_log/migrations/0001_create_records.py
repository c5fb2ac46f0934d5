"""Create the records table, with indexes for the panel's filters.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("id", sa.Integer, primary_key=True),
        # ISO 8601 text in UTC: the host's own time for host events, else when it came
        sa.Column("ts", sa.String(40), nullable=False),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("family", sa.String(200), nullable=False),  # the topic less its last word
        sa.Column("plugin", sa.String(100), nullable=False),  # whom it is about
        sa.Column("publisher", sa.String(100), nullable=False),  # who sent it
        sa.Column("payload", sa.Text, nullable=False),  # JSON
    )
    op.create_index("ix_records_plugin", "records", ["plugin", "id"])
    op.create_index("ix_records_family", "records", ["family", "id"])


def downgrade() -> None:
    op.drop_index("ix_records_family", "records")
    op.drop_index("ix_records_plugin", "records")
    op.drop_table("records")
