"""The Python API on real SQLite files: apply, plan, drift, history and rollback with the four
checks (schema equal, a second plan empty, rows kept, rollback restores), the typed exceptions
with their fields, eight processes applying at once, and the GIL released while a database is
worked on."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlite_reconcile as rec

V1 = """tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: email, type: TEXT, not_null: true }
      - { name: nickname, type: TEXT }
  notes:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - name: user_id
        type: INTEGER
        references: { table: users, column: id, on_delete: cascade }
      - { name: body, type: TEXT }
"""

# `nickname` dropped (destructive), `body` NOT NULL with a backfill (data-dependent), an index.
V2 = """tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: email, type: TEXT, not_null: true, collate: NOCASE }
  notes:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - name: user_id
        type: INTEGER
        references: { table: users, column: id, on_delete: cascade }
      - { name: body, type: TEXT, not_null: true, default: "''", backfill: "''" }
    indexes:
      notes_user: { columns: [user_id] }
"""


def rows(db: Path, table: str) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall()


def schema_sql(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute(
            "SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE '\\_reconcile%' ESCAPE '\\' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY type, name"
        ).fetchall()


def seed(db: Path) -> None:
    with sqlite3.connect(db) as c:
        c.executescript(
            "INSERT INTO users VALUES (1, 'a@x', 'ann'), (2, 'b@x', NULL);"
            "INSERT INTO notes VALUES (1, 1, 'hello'), (2, 1, NULL), (3, 2, 'bye');"
        )


def test_apply_plan_drift_history_and_rollback_keep_every_row(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    first = rec.apply(db, {"app.yaml": V1})
    assert first.applied and first.change_id and first.steps == 2
    assert rec.apply(db, {"app.yaml": V1}).applied is False, "a second apply finds it in sync"
    seed(db)
    before_schema, users, notes = schema_sql(db), rows(db, "users"), rows(db, "notes")

    # Planning changes nothing and says what would run.
    plan = rec.plan(db, {"app.yaml": V2})
    assert not plan.in_sync and plan.risk == "destructive"
    assert any(s.risk == "destructive" and s.object == "users" for s in plan.steps), plan.steps
    assert all(isinstance(sql, str) for s in plan.steps for sql in s.sql)
    assert schema_sql(db) == before_schema
    assert rec.drift(db, {"app.yaml": V2}).in_sync is False

    # Destructive without permission: refused, nothing written.
    with pytest.raises(rec.Refused) as refused:
        rec.apply(db, {"app.yaml": V2})
    assert "destructive" in refused.value.reason and "users" in refused.value.reason
    assert schema_sql(db) == before_schema and rows(db, "users") == users

    # Allowed: the schema as desired, a second plan empty, every kept value kept.
    done = rec.apply(db, {"app.yaml": V2}, allow_destructive=True)
    assert done.applied and done.change_id != first.change_id
    assert rec.drift(db, {"app.yaml": V2}).in_sync
    assert rec.plan(db, {"app.yaml": V2}).in_sync
    assert rows(db, "users") == [(1, "a@x"), (2, "b@x")]
    assert rows(db, "notes") == [(1, 1, "hello"), (2, 1, ""), (3, 2, "bye")]
    assert [h.id for h in rec.history(db)] == [done.change_id, first.change_id]

    # The rollback brings the dropped column and the NULL the backfill filled back.
    back = rec.rollback(db, allow_destructive=True)
    assert back.rolled_back == [done.change_id]
    # The schema as it was (compared as schemas: a rebuilt table's stored SQL quotes its name).
    assert rec.drift(db, {"app.yaml": V1}).in_sync
    assert rec.plan(db, {"app.yaml": V1}).in_sync
    assert rows(db, "users") == users and rows(db, "notes") == notes


def test_a_schema_directory_and_a_mapping_are_the_same_schema(tmp_path: Path) -> None:
    (tmp_path / "schema").mkdir()
    (tmp_path / "schema" / "app.yaml").write_text(V1)
    db = tmp_path / "app.db"
    rec.apply(str(db), tmp_path / "schema")
    assert rec.drift(db, {"app.yaml": V1}).in_sync
    assert rec.plan(db, str(tmp_path / "schema")).in_sync


def test_bad_input_raises_the_typed_exception_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    # Invalid YAML in a mapping: where and what.
    with pytest.raises(rec.SchemaError) as bad:
        rec.apply(db, {"broken.yaml": "tables:\n  users: [\n"})
    assert bad.value.file == "broken.yaml" and bad.value.line is not None, vars(bad.value)
    assert "broken.yaml" in str(bad.value)
    assert not db.exists(), "an invalid schema creates no database"
    # A valid YAML file whose content is wrong names the path.
    with pytest.raises(rec.SchemaError) as invalid:
        rec.apply(
            db, {"app.yaml": "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, bogus: 1 }\n"}
        )
    assert "bogus" in str(invalid.value), str(invalid.value)
    assert (invalid.value.file, invalid.value.line, invalid.value.path) == (
        "app.yaml",
        4,
        "tables.t.columns[0]",
    )
    assert not db.exists()
    # A database in a directory that does not exist.
    missing = tmp_path / "no" / "such" / "dir" / "app.db"
    with pytest.raises(rec.DatabaseError) as nowhere:
        rec.apply(missing, {"app.yaml": V1})
    assert str(missing) in str(nowhere.value)
    assert not (tmp_path / "no").exists()
    # A file that is not a database.
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    with pytest.raises(rec.DatabaseError):
        rec.apply(junk, {"app.yaml": V1})
    assert junk.read_text() == "not a database"
    # Not a mapping of str to str.
    with pytest.raises(rec.SchemaError):
        rec.apply(db, {"app.yaml": 42})  # type: ignore[dict-item]
    # Nothing to roll back.
    rec.apply(db, {"app.yaml": V1})
    rec.rollback(db, allow_destructive=True)
    with pytest.raises(rec.Refused):
        rec.rollback(db)
    # Every exception is a ReconcileError.
    assert issubclass(rec.DataError, rec.ReconcileError) and issubclass(rec.LockTimeout, rec.ReconcileError)


def test_a_step_that_fails_on_the_rows_raises_data_error_naming_them(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    rec.apply(db, {"app.yaml": V1})
    seed(db)
    tightened = V1.replace("- { name: body, type: TEXT }", "- { name: body, type: TEXT, not_null: true }")
    before = schema_sql(db), rows(db, "notes")
    with pytest.raises(rec.DataError) as failed:
        rec.apply(db, {"app.yaml": tightened})
    e = failed.value
    assert (e.table, e.count, e.sample_keys) == ("notes", 1, ["2"]), vars(e)
    assert "NOT NULL" in e.constraint and "body" in e.constraint
    assert (schema_sql(db), rows(db, "notes")) == before


def test_a_held_write_lock_raises_lock_timeout_and_the_gil_is_free_meanwhile(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    rec.apply(db, {"app.yaml": V1})
    # Another process holds the write lock (another copy of SQLite in this process would not see
    # it: POSIX locks are per process; see docs/PYTHON.md).
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import sqlite3, sys, time\n"
                f"c = sqlite3.connect({str(db)!r}, isolation_level=None)\n"
                "c.execute('BEGIN IMMEDIATE')\n"
                "print('locked', flush=True)\n"
                "time.sleep(4)\n"
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    result: list[BaseException] = []

    def apply_while_locked() -> None:
        try:
            rec.apply(db, {"app.yaml": V2}, allow_destructive=True, busy_timeout_ms=1500)
        except BaseException as e:  # noqa: BLE001 - handed to the test thread
            result.append(e)

    worker = threading.Thread(target=apply_while_locked)
    start = time.monotonic()
    worker.start()
    # Python keeps running while the worker waits for the lock inside the native code.
    ticks = 0
    while worker.is_alive():
        ticks += 1
        time.sleep(0.01)
    waited = time.monotonic() - start
    holder.kill()
    holder.wait()
    assert waited >= 1.4, waited
    assert ticks >= 50, f"the main thread ran only {ticks} times while the worker waited {waited:.2f} s"
    assert len(result) == 1 and isinstance(result[0], rec.LockTimeout), result
    assert rec.drift(db, {"app.yaml": V1}).in_sync, "nothing was changed"


def _apply_in_process(db: str, yaml: str, start: multiprocessing.synchronize.Event, out) -> None:  # type: ignore[name-defined]
    start.wait()
    try:
        r = rec.apply(db, {"app.yaml": yaml}, busy_timeout_ms=60000)
        out.put(("ok", r.applied, r.change_id))
    except Exception as e:  # noqa: BLE001 - reported to the parent
        out.put(("error", type(e).__name__, str(e)))


def test_eight_processes_applying_at_once_all_succeed_and_one_change_is_recorded(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_apply_in_process, args=(str(db), V2, start, out)) for _ in range(8)]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert all(r[0] == "ok" for r in results), results
    applied = [r for r in results if r[1]]
    assert len(applied) == 1, results
    history = rec.history(db)
    assert [h.id for h in history] == [applied[0][2]]
    assert rec.drift(db, {"app.yaml": V2}).in_sync


def test_exclude_leaves_an_unmanaged_table_alone(tmp_path: Path) -> None:
    db = tmp_path / "app.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)")
        c.execute("INSERT INTO alembic_version VALUES ('0004')")
    with pytest.raises(rec.Refused):
        rec.apply(db, {"app.yaml": V1})
    assert not rec.drift(db, {"app.yaml": V1}).in_sync
    assert rec.drift(db, {"app.yaml": V1}, exclude=["alembic_*"]).differences[0]["kind"] == "table"
    assert rec.apply(db, {"app.yaml": V1}, exclude=["alembic_version"]).applied
    assert rec.plan(db, {"app.yaml": V1}, exclude=["alembic_version"]).in_sync
    assert rec.drift(db, {"app.yaml": V1}, exclude=["alembic_version"]).in_sync
    assert rows(db, "alembic_version") == [("0004",)]
