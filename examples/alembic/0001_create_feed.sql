-- Alembic revision 0001: create feed
--
--     op.create_table(
--         "feed",
--         sa.Column("id", sa.Integer(), primary_key=True),
--         sa.Column("url", sa.String(500), nullable=False),
--         sa.Column("title", sa.String(200)),
--         sa.Column("explicit", sa.String(3)),              # 'YES' or 'NO', as the feeds publish it
--         sa.Column("created_at", sa.DateTime(), nullable=False, server_default=sa.func.current_timestamp()),
--     )
--     op.create_index("ix_feed_url", "feed", ["url"], unique=True)
--
-- `alembic upgrade 0001` on SQLite ran these statements (Alembic 1.20, SQLAlchemy 2.1;
-- the reflection queries it runs first are left out). Alembic creates its own
-- `alembic_version` table on the first upgrade and records each revision in it.

CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

CREATE TABLE feed (
	id INTEGER NOT NULL, 
	url VARCHAR(500) NOT NULL, 
	title VARCHAR(200), 
	explicit VARCHAR(3), 
	created_at DATETIME DEFAULT CURRENT_TIMESTAMP NOT NULL, 
	PRIMARY KEY (id)
);

CREATE UNIQUE INDEX ix_feed_url ON feed (url);

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING version_num;
