-- Alembic revision 0006 (revises 0005): episode.published_at, a queue index
--
--     op.add_column("episode", sa.Column("published_at", sa.DateTime()))
--     op.drop_index("ix_episode_status", table_name="episode")
--     op.create_index("ix_episode_queue", "episode", ["feed_id", "status"])

-- Rows the application wrote while revision 0005 was deployed (its code
-- leaves updated_at to the trigger, which revision 0005 lost):
INSERT INTO feed (id, source_url, title, created_at) VALUES
  (3, 'https://example.com/garden.xml', 'Garden Notes', '2024-04-02 07:15:00');
INSERT INTO episode (id, feed_id, guid, title, duration) VALUES
  (6, 3, 'gn-001', 'Tomatoes', '00:28:12');

-- `alembic upgrade 0005:0006` ran:

ALTER TABLE episode ADD COLUMN published_at DATETIME;

DROP INDEX ix_episode_status;

CREATE INDEX ix_episode_queue ON episode (feed_id, status);

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005';
