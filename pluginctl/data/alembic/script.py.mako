"""${message}

Revision ${up_revision}, after ${down_revision or "none (the first)"}; written ${create_date.strftime("%Y-%m-%d %H:%M")}.
Run with `pluginctl migrate up`; undo with `pluginctl migrate down`.
"""

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}
revision = ${repr(up_revision).replace("'", '"')}
down_revision = ${repr(down_revision).replace("'", '"')}
branch_labels = ${repr(branch_labels)}
depends_on = ${repr(depends_on)}


def upgrade() -> None:
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    ${downgrades if downgrades else "pass"}
