-- Alembic revision 0002 (revises 0001): create episode
--
--     op.create_table(
--         "episode",
--         sa.Column("id", sa.Integer(), primary_key=True),
--         sa.Column("feed_id", sa.Integer(), sa.ForeignKey("feed.id", ondelete="CASCADE"), nullable=False),
--         sa.Column("guid", sa.String(200), nullable=False),
--         sa.Column("title", sa.String(200)),
--         sa.Column("status", sa.String(16), nullable=False, server_default="QUEUED"),
--         sa.UniqueConstraint("feed_id", "guid", name="uq_episode_feed_guid"),
--     )
--     op.create_index("ix_episode_status", "episode", ["status"])
--
-- `alembic upgrade 0001:0002` ran:

CREATE TABLE episode (
	id INTEGER NOT NULL, 
	feed_id INTEGER NOT NULL, 
	guid VARCHAR(200) NOT NULL, 
	title VARCHAR(200), 
	status VARCHAR(16) DEFAULT 'QUEUED' NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_episode_feed_guid UNIQUE (feed_id, guid), 
	FOREIGN KEY(feed_id) REFERENCES feed (id) ON DELETE CASCADE
);

CREATE INDEX ix_episode_status ON episode (status);

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';
