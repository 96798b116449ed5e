"""feeds.updated_at NOT NULL, defaulting to the time of the insert

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Feeds added since 0002 have no updated_at yet.
    op.execute("UPDATE feeds SET updated_at = created_at WHERE updated_at IS NULL")
    # SQLite alters no column: batch mode copies feeds into a new table and renames it.
    with op.batch_alter_table("feeds") as batch_op:
        batch_op.alter_column(
            "updated_at",
            existing_type=sa.DateTime(),
            nullable=False,
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
        )


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch_op:
        batch_op.alter_column("updated_at", existing_type=sa.DateTime(), nullable=True, server_default=None)
