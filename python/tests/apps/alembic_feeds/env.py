"""Alembic's environment for the feeds app: migrations run online, on the database that
``sqlalchemy.url`` names, one transaction per revision (Alembic's default on SQLite)."""

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config

if context.is_offline_mode():
    raise SystemExit("the feeds app runs its migrations online: alembic upgrade head")

engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
