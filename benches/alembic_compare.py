"""Alembic's autogenerate comparison on the plan benchmark's databases.

Usage: python3 alembic_compare.py TARGET_DB DESIRED_DB

The desired schema stands in for an application's SQLAlchemy models: it is
reflected from DESIRED_DB (a database built from the same YAML) before the
clock starts. What is timed is `compare_metadata`, the comparison behind
`alembic revision --autogenerate`, against TARGET_DB. Prints one JSON line:
seconds, the number of differences, and the tables they touch.
"""

import json
import sys
import time

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, create_engine


def table_of(diff):
    """The table name a difference is about, whatever its shape."""
    if isinstance(diff, list):  # column modifications come grouped
        return table_of(diff[0])
    for part in diff[1:]:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return table.name
        if isinstance(part, str) and part.startswith("t"):
            return part
        if name and hasattr(part, "columns"):
            return name
    return "?"


def main():
    target, desired = sys.argv[1], sys.argv[2]
    models = MetaData()
    managed = lambda name, _meta: not name.startswith(("sqlite_", "_reconcile_"))
    models.reflect(bind=create_engine(f"sqlite:///{desired}"), only=managed)
    engine = create_engine(f"sqlite:///{target}")
    with engine.connect() as conn:
        start = time.perf_counter()
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(ctx, models)
        seconds = time.perf_counter() - start
    tables = sorted({table_of(d) for d in diffs})
    print(json.dumps({"seconds": seconds, "differences": len(diffs), "tables": tables}))


if __name__ == "__main__":
    main()
