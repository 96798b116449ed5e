-- Alembic revision 0005 (revises 0004): feed.explicit becomes a boolean, feed.url becomes source_url
--
--     op.execute("UPDATE feed SET explicit = CASE explicit WHEN 'YES' THEN 1 ELSE 0 END")  # a data migration
--     # The batch rebuild renames a table, and SQLite then checks every view:
--     # feed_stats reads feed, so the rename would fail with
--     # "error in view feed_stats: no such table: main.feed". Drop it first.
--     op.execute("DROP VIEW feed_stats")
--     with op.batch_alter_table("feed") as batch_op:
--         batch_op.alter_column("explicit", existing_type=sa.String(3), type_=sa.Boolean(),
--                               nullable=False, server_default=sa.text("0"))
--         batch_op.alter_column("url", new_column_name="source_url",
--                               existing_type=sa.String(500), existing_nullable=False)
--     op.execute("CREATE VIEW feed_stats AS SELECT ...")
--
-- SQLite cannot change a column's type, so batch mode "moves and copies": it
-- creates `_alembic_tmp_feed`, copies the rows, drops `feed` and renames the
-- copy. Dropping `feed` also drops the triggers on it: the `feed_touch`
-- trigger of revision 0003 is gone after this revision, and nothing says so.
-- Batch mode recreates the table's indexes, not its triggers.

-- Rows the application wrote while revision 0004 was deployed:
UPDATE episode SET duration = '00:41:07' WHERE id = 1;
UPDATE episode SET duration = '01:02:45' WHERE id = 2;
INSERT INTO episode (id, feed_id, guid, title, status, duration) VALUES
  (5, 1, 'rip-003', 'Unsafe, carefully', 'QUEUED', '00:55:30');
UPDATE feed SET title = 'Rust in Production (weekly)' WHERE id = 1;

-- `alembic upgrade 0004:0005` ran:

UPDATE feed SET explicit = CASE explicit WHEN 'YES' THEN 1 ELSE 0 END;

DROP VIEW feed_stats;

CREATE TABLE _alembic_tmp_feed (
	id INTEGER NOT NULL, 
	source_url VARCHAR(500) NOT NULL, 
	title VARCHAR(200), 
	explicit BOOLEAN DEFAULT 0 NOT NULL, 
	created_at DATETIME DEFAULT (CURRENT_TIMESTAMP) NOT NULL, 
	updated_at DATETIME, 
	PRIMARY KEY (id)
);

INSERT INTO _alembic_tmp_feed (id, source_url, title, explicit, created_at, updated_at) SELECT feed.id, feed.url, feed.title, CAST(feed.explicit AS BOOLEAN) AS explicit, feed.created_at, feed.updated_at 
FROM feed;

DROP TABLE feed;

ALTER TABLE _alembic_tmp_feed RENAME TO feed;

CREATE UNIQUE INDEX ix_feed_url ON feed (source_url);

CREATE VIEW feed_stats AS SELECT f.id AS feed_id, f.title, count(e.id) AS episodes, sum(e.status = 'DONE') AS downloaded FROM feed AS f LEFT JOIN episode AS e ON e.feed_id = f.id GROUP BY f.id;

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';
