"""Adopting a database that Alembic built: the feeds app (apps/feeds.py) after the four
revisions of apps/alembic_feeds/, run by Alembic itself on a real SQLite file.

Revision 0003 creates two triggers with raw SQL; revision 0004 makes `feeds.updated_at` NOT NULL
through `op.batch_alter_table`, which copies `feeds` into a new table and renames it, and so drops
the trigger on `feeds` without a word. The schema the app declares (the YAML `to_yaml` writes from
its models, plus its hand-written triggers) planned against that database must show that one
trigger and nothing else: no table, column, index or constraint that Alembic built differently
from `create_all`, and not the trigger that survived.

`alembic_version` is Alembic's: while other environments may still run `alembic upgrade`, the
schema declares it as Alembic creates it (apps/alembic_feeds/alembic_version.yaml), since the
Python functions take no exclude list; the command line can exclude it in `reconcile.toml`.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlite_reconcile
from alembic import command
from alembic.config import Config
from apps import feeds
from sqlite_reconcile.sqlalchemy import to_yaml

TESTS_DIR = Path(__file__).resolve().parent
APPS_DIR = TESTS_DIR / "apps"
ALEMBIC_DIR = APPS_DIR / "alembic_feeds"
RECONCILE = Path(sys.executable).parent / "reconcile"
"""The `reconcile` command installed with the package, in the same environment as this Python."""

TRIGGER_CREATED = {"kind": "trigger", "object": "feeds_touch_updated_at", "what": "create", "risk": "safe"}
"""The one difference Alembic left: the trigger batch mode dropped."""

SEED_AT_0003 = """
INSERT INTO feeds (id, url, title, explicit, created_at, updated_at) VALUES
  (1, 'https://example.com/a.xml', 'Feed A', 0, '2024-01-01 09:00:00', '2024-01-01 09:00:00'),
  (3, 'https://example.com/c.xml', 'Feed ''C''', 0, '2024-03-01 00:00:00', '2024-03-01 00:00:00');
-- Added while 0003 was deployed, without updated_at: revision 0004 fills it from created_at.
INSERT INTO feeds (id, url, title, explicit, created_at) VALUES
  (2, 'https://example.com/b.xml', NULL, 1, '2024-02-01 12:30:00');
INSERT INTO episodes (id, feed_id, guid, title, status, duration_seconds, published_at, created_at) VALUES
  (1, 1, 'a-1', 'Pilot', 'done', 1800, '2024-01-01 10:00:00', '2024-01-01 10:00:00'),
  (2, 1, 'a-2', NULL, 'queued', NULL, NULL, '2024-01-02 10:00:00'),
  (3, 2, 'b-1', 'Épisode « un »', 'queued', 60, '2024-02-01 08:30:00', '2024-02-01 08:30:00');
INSERT INTO downloads (id, episode_id, path, bytes_done, started_at) VALUES
  (1, 1, '/media/a-1.mp3', 1048576, '2024-01-02 00:00:00');
"""
"""Rows the app wrote while revision 0003 was the newest: they go through batch mode's copy."""

SEED_AT_HEAD = """
INSERT INTO feeds (id, url, title) VALUES (4, 'https://example.com/d.xml', 'Feed D');
INSERT INTO episodes (id, feed_id, guid, title, status, duration_seconds, published_at) VALUES
  (4, 4, 'd-1', 'New', 'queued', 0, '2024-05-01 00:00:00');
INSERT INTO downloads (id, episode_id, path, bytes_done, started_at, finished_at) VALUES
  (2, 3, '/media/b-1.mp3', 0, '2024-02-02 00:00:00', NULL),
  (3, 4, '/media/d-1.mp3', 4096, '2024-05-01 00:00:01', '2024-05-01 00:00:02');
"""
"""Rows written at the head revision, the server defaults filling the columns left out."""


def alembic_upgrade(db: Path, revision: str) -> None:
    """`alembic upgrade REVISION` for the feeds app's project, on `db`."""
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{db}")
    command.upgrade(cfg, revision)


def run_sql(db: Path, script: str) -> None:
    connection = sqlite3.connect(db)
    try:
        connection.executescript(script)
    finally:
        connection.close()


def schema_objects(db: Path) -> dict[tuple[str, str], str]:
    """(type, name) → stored SQL of every object in `db` but SQLite's and reconcile's own."""
    connection = sqlite3.connect(db)
    try:
        return {
            (kind, name): sql
            for kind, name, sql in connection.execute(
                "SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%' "
                "AND name NOT LIKE '_reconcile_%'"
            )
        }
    finally:
        connection.close()


def rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row, every column, of every table but reconcile's own, in rowid order."""
    connection = sqlite3.connect(db)
    try:
        names = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name NOT LIKE '_reconcile_%' ORDER BY name"
            )
        ]
        return {
            name: connection.execute(f'SELECT * FROM "{name}" ORDER BY rowid').fetchall() for name in names
        }
    finally:
        connection.close()


def words(sql: str) -> str:
    """SQL with its whitespace runs made one space: how a trigger's text is compared here."""
    return " ".join(sql.split())


def write_schema(directory: Path, *, alembic_version: bool = True) -> Path:
    """The app's schema directory: the YAML of its models (the head revision's), its two
    hand-written trigger files and, unless told otherwise, Alembic's table."""
    directory.mkdir()
    (directory / "models.yaml").write_text(to_yaml(feeds.metadata), encoding="utf-8")
    shutil.copy(APPS_DIR / "feeds_triggers.yaml", directory)
    shutil.copy(ALEMBIC_DIR / "episodes_triggers.yaml", directory)
    if alembic_version:
        shutil.copy(ALEMBIC_DIR / "alembic_version.yaml", directory)
    return directory


def reconcile(*args: object, cwd: Path, expect: int = 0) -> subprocess.CompletedProcess:
    """`reconcile ARGS...` in `cwd`, without RECONCILE_* settings from the environment; fails
    the test with its output when it exits with another code than `expect`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECONCILE_")}
    env["NO_COLOR"] = "1"
    done = subprocess.run(
        [str(RECONCILE), *map(str, args)],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == expect, (
        f"`reconcile {' '.join(map(str, args))}` exited {done.returncode}, expected {expect}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    return done


class Built:
    """The database Alembic built once for the module, and what revision 0003 had created."""

    def __init__(self, db: Path, triggers_at_0003: dict[str, str]) -> None:
        self.db = db
        self.triggers_at_0003 = triggers_at_0003

    def copy(self, directory: Path) -> Path:
        """A fresh copy of the database in `directory`, as `app.db`."""
        directory.mkdir(exist_ok=True)
        db = directory / "app.db"
        shutil.copy(self.db, db)
        return db


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    db = tmp_path_factory.mktemp("alembic") / "app.db"
    alembic_upgrade(db, "0003")
    triggers = {name: sql for (kind, name), sql in schema_objects(db).items() if kind == "trigger"}
    run_sql(db, SEED_AT_0003)
    alembic_upgrade(db, "head")
    run_sql(db, SEED_AT_HEAD)
    return Built(db, triggers)


def test_alembic_batch_mode_dropped_the_feeds_trigger(built: Built) -> None:
    """The premise: revision 0003 created two triggers, and after 0004 only the one on
    `episodes` is left; `feeds` itself is the table batch mode rebuilt."""
    assert sorted(built.triggers_at_0003) == ["episodes_guid_fixed", "feeds_touch_updated_at"]
    objects = schema_objects(built.db)
    assert [name for kind, name in objects if kind == "trigger"] == ["episodes_guid_fixed"]
    assert objects[("table", "feeds")].startswith('CREATE TABLE "feeds"')  # renamed from _alembic_tmp_feeds
    assert "updated_at DATETIME DEFAULT (CURRENT_TIMESTAMP) NOT NULL" in objects[("table", "feeds")]
    assert rows(built.db)["alembic_version"] == [("0004",)]
    # The feed added without updated_at got its created_at in 0004.
    feed_2 = rows(built.db)["feeds"][1]
    assert feed_2 == (2, "https://example.com/b.xml", None, 1, "2024-02-01 12:30:00", "2024-02-01 12:30:00")


def test_plan_shows_only_what_alembic_left_behind(built: Built, tmp_path: Path) -> None:
    db = built.copy(tmp_path)
    schema = write_schema(tmp_path / "schema")
    plan = sqlite_reconcile.plan(db, schema)

    assert plan.changes == [TRIGGER_CREATED]
    assert [(s.kind, s.object, s.risk) for s in plan.steps] == [
        ("create_trigger", "feeds_touch_updated_at", "safe")
    ]
    assert (plan.in_sync, plan.risk) == (False, "safe")
    # The trigger it creates is the one revision 0003 created, word for word.
    (sql,) = plan.steps[0].sql
    assert words(sql) == words(built.triggers_at_0003["feeds_touch_updated_at"])
    assert sqlite_reconcile.drift(db, schema).differences == [TRIGGER_CREATED]


def test_an_undeclared_alembic_version_is_a_table_to_drop(built: Built, tmp_path: Path) -> None:
    """Without alembic_version.yaml the schema does not have Alembic's table: the plan drops it,
    and `apply` refuses that (destructive) without writing anything."""
    db = built.copy(tmp_path)
    schema = write_schema(tmp_path / "schema", alembic_version=False)
    before = reconcile("inspect", "--db", db, cwd=tmp_path).stdout

    plan = sqlite_reconcile.plan(db, schema)
    assert plan.changes == [
        {
            "kind": "table",
            "object": "alembic_version",
            "what": "drop (its rows are lost)",
            "risk": "destructive",
        },
        TRIGGER_CREATED,
    ]
    assert plan.risk == "destructive"
    with pytest.raises(sqlite_reconcile.Refused) as refused:
        sqlite_reconcile.apply(db, schema)
    assert "alembic_version" in refused.value.reason
    assert reconcile("inspect", "--db", db, cwd=tmp_path).stdout == before
    assert sqlite_reconcile.history(db) == []


def test_cli_excluding_alembic_version_plans_the_same(built: Built, tmp_path: Path) -> None:
    """The command line's way (MIGRATING_FROM_ALEMBIC.md): `exclude` in reconcile.toml leaves
    Alembic's table out of the comparison; the plan is the same one trigger."""
    built.copy(tmp_path)
    write_schema(tmp_path / "schema", alembic_version=False)
    (tmp_path / "reconcile.toml").write_text(
        'db = "app.db"\nschema = "schema"\nexclude = ["alembic_version"]\n', encoding="utf-8"
    )
    plan = json.loads(reconcile("plan", "--format", "json", cwd=tmp_path).stdout)
    assert plan["changes"] == [TRIGGER_CREATED]
    assert [(s["kind"], s["object"]) for s in plan["steps"]] == [("create_trigger", "feeds_touch_updated_at")]
    assert reconcile("drift", cwd=tmp_path, expect=2).stderr == (
        "app.db: 1 difference from schema:\n  trigger `feeds_touch_updated_at`: create [safe]\n"
    )
    reconcile("apply", "--yes", cwd=tmp_path)
    reconcile("drift", cwd=tmp_path)
    assert rows(tmp_path / "app.db")["alembic_version"] == [("0004",)]


def test_apply_restores_the_trigger_and_rollback_undoes_it(built: Built, tmp_path: Path) -> None:
    db = built.copy(tmp_path)
    schema = write_schema(tmp_path / "schema")
    seeded = rows(db)
    inspected_before = reconcile("inspect", "--db", db, cwd=tmp_path).stdout
    objects_before = schema_objects(db)

    result = sqlite_reconcile.apply(db, schema)
    assert (result.applied, result.steps) == (True, 1)
    assert sqlite_reconcile.plan(db, schema).changes == []
    assert sqlite_reconcile.plan(db, schema).in_sync
    assert sqlite_reconcile.drift(db, schema).in_sync
    assert sqlite_reconcile.apply(db, schema).applied is False

    # The trigger is back, as revision 0003 wrote it; nothing else in the schema moved.
    objects = schema_objects(db)
    added = {key: sql for key, sql in objects.items() if key not in objects_before}
    assert list(added) == [("trigger", "feeds_touch_updated_at")]
    assert words(added["trigger", "feeds_touch_updated_at"]) == words(
        built.triggers_at_0003["feeds_touch_updated_at"]
    )
    assert {key: sql for key, sql in objects.items() if key in objects_before} == objects_before
    assert rows(db) == seeded

    (entry,) = sqlite_reconcile.history(db)
    assert (entry.id, entry.kind, entry.steps, entry.destructive) == (result.change_id, "apply", 1, 0)

    # updated_at moves again on an update; on Alembic's database it did not.
    for path, moves in [(built.copy(tmp_path / "alembic"), False), (db, True)]:
        copy = path.with_name("touched.db")
        shutil.copy(path, copy)
        connection = sqlite3.connect(copy)
        connection.execute("UPDATE feeds SET title = 'Feed C' WHERE id = 3")
        connection.commit()
        (updated_at,) = connection.execute("SELECT updated_at FROM feeds WHERE id = 3").fetchone()
        connection.close()
        assert (updated_at != "2024-03-01 00:00:00") is moves, path

    undone = sqlite_reconcile.rollback(db, allow_destructive=True)
    assert undone.rolled_back == [result.change_id]
    assert reconcile("inspect", "--db", db, cwd=tmp_path).stdout == inspected_before
    assert schema_objects(db) == objects_before
    assert rows(db) == seeded
    newest = sqlite_reconcile.history(db)[0]
    assert (newest.id, newest.kind, newest.rolls_back) == (undone.change_id, "rollback", result.change_id)
    assert sqlite_reconcile.drift(db, schema).differences == [TRIGGER_CREATED]


def test_retiring_alembic_version_drops_it_with_a_rollback(built: Built, tmp_path: Path) -> None:
    """Once no environment runs Alembic: delete alembic_version.yaml and apply with
    `allow_destructive=True`; the table's rows are kept for the rollback."""
    db = built.copy(tmp_path)
    schema = write_schema(tmp_path / "schema")
    sqlite_reconcile.apply(db, schema)
    seeded = rows(db)

    (schema / "alembic_version.yaml").unlink()
    with pytest.raises(sqlite_reconcile.Refused):
        sqlite_reconcile.apply(db, schema)
    dropped = sqlite_reconcile.apply(db, schema, allow_destructive=True)
    assert dropped.applied
    assert "alembic_version" not in rows(db)
    assert sqlite_reconcile.drift(db, schema).in_sync
    assert sqlite_reconcile.history(db)[0].destructive == 1

    sqlite_reconcile.rollback(db)
    assert rows(db) == seeded
    assert rows(db)["alembic_version"] == [("0004",)]
