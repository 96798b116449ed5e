"""feeds.updated_at, filled from created_at; downloads.finished_at

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite adds no column with a CURRENT_TIMESTAMP default: nullable for now, filled here.
    op.add_column("feeds", sa.Column("updated_at", sa.DateTime(), nullable=True))
    op.execute("UPDATE feeds SET updated_at = created_at")
    op.add_column("downloads", sa.Column("finished_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("downloads", "finished_at")
    op.drop_column("feeds", "updated_at")
