"""triggers: feeds.updated_at kept current, episode guids never change

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TRIGGER feeds_touch_updated_at
        AFTER UPDATE OF url, title, explicit ON feeds
        BEGIN
          UPDATE feeds SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
        END
        """
    )
    op.execute(
        """
        CREATE TRIGGER episodes_guid_fixed
        BEFORE UPDATE OF guid ON episodes
        WHEN NEW.guid IS NOT OLD.guid
        BEGIN
          SELECT RAISE(ABORT, 'an episode keeps its guid');
        END
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER episodes_guid_fixed")
    op.execute("DROP TRIGGER feeds_touch_updated_at")
