-- Alembic revision 0004 (revises 0003): episode.duration, feed_stats view
--
--     op.add_column("episode", sa.Column("duration", sa.String(8)))   # 'HH:MM:SS', as the feeds publish it
--     op.execute("CREATE VIEW feed_stats AS SELECT ...")
--
-- Like triggers, views are raw SQL in op.execute.

-- Rows the application wrote while revision 0003 was deployed:
INSERT INTO episode (id, feed_id, guid, title, status) VALUES
  (4, 2, 'ns-002', 'Graveyard shift', 'QUEUED');

-- `alembic upgrade 0003:0004` ran:

ALTER TABLE episode ADD COLUMN duration VARCHAR(8);

CREATE VIEW feed_stats AS SELECT f.id AS feed_id, f.title, count(e.id) AS episodes, sum(e.status = 'DONE') AS downloaded FROM feed AS f LEFT JOIN episode AS e ON e.feed_id = f.id GROUP BY f.id;

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';
