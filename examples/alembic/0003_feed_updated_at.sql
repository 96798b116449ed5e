-- Alembic revision 0003 (revises 0002): feed.updated_at, kept by a trigger
--
--     op.add_column("feed", sa.Column("updated_at", sa.DateTime()))
--     op.execute("UPDATE feed SET updated_at = created_at")          # a data migration
--     op.execute(
--         "CREATE TRIGGER feed_touch AFTER UPDATE OF url, title ON feed "
--         "BEGIN UPDATE feed SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id; END"
--     )
--
-- Alembic has no trigger operation: triggers are raw SQL in op.execute, and
-- autogenerate never sees them.

-- Rows the application wrote while revision 0002 was deployed:
INSERT INTO feed (id, url, title, explicit, created_at) VALUES
  (1, 'https://example.com/rust.xml', 'Rust in Production', 'NO', '2024-01-05 09:00:00'),
  (2, 'https://example.com/night.xml', 'Night Shift', 'YES', '2024-02-11 21:30:00');
INSERT INTO episode (id, feed_id, guid, title, status) VALUES
  (1, 1, 'rip-001', 'Zero-copy parsing', 'DONE'),
  (2, 1, 'rip-002', 'Async at scale', 'QUEUED'),
  (3, 2, 'ns-001', 'Pilot', 'DONE');

-- `alembic upgrade 0002:0003` ran:

ALTER TABLE feed ADD COLUMN updated_at DATETIME;

UPDATE feed SET updated_at = created_at;

CREATE TRIGGER feed_touch AFTER UPDATE OF url, title ON feed BEGIN UPDATE feed SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id; END;

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';
