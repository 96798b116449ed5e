"""`sqlite_reconcile.sqlalchemy`: SQLAlchemy models → reconcile's YAML, checked on real SQLite
files with the real `reconcile` binary.

The main property: for a model app, `reconcile apply` of the generated YAML and SQLAlchemy's
own `metadata.create_all()` build databases that `reconcile inspect` describes with the same
text (inspect normalizes, so equal text is an equal schema), and `reconcile drift` finds the
`create_all` database in sync with the YAML.
"""

from __future__ import annotations

import datetime
import enum
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apps import feeds, jobs
from sqlalchemy.dialects import postgresql
from sqlite_reconcile.errors import SchemaError
from sqlite_reconcile.sqlalchemy import main, to_yaml

TESTS_DIR = Path(__file__).resolve().parent
FEEDS_TRIGGERS = TESTS_DIR / "apps" / "feeds_triggers.yaml"

FEEDS_TRIGGER_SQL = """\
CREATE TRIGGER feeds_touch_updated_at
AFTER UPDATE OF url, title, explicit ON feeds
BEGIN
  UPDATE feeds SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;
END"""
"""The trigger of feeds_triggers.yaml, as the feeds app would create it beside create_all."""


class Kind(enum.Enum):
    personal = "personal"
    business = "business"


def features_metadata() -> sa.MetaData:
    """Every construct `to_yaml` supports that the two apps leave out, on three tables."""
    metadata = sa.MetaData(
        naming_convention={
            "ix": "ix_%(table_name)s_%(column_0_name)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    accounts = sa.Table(
        "accounts",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "email",
            sa.String(320, collation="NOCASE"),
            nullable=False,
            unique=True,
            sqlite_on_conflict_unique="IGNORE",
            sqlite_on_conflict_not_null="FAIL",
        ),
        sa.Column("kind", sa.Enum(Kind, name="kind", create_constraint=True), nullable=False),
        sa.Column("active", sa.Boolean(create_constraint=True, name="active"), server_default=sa.true()),
        sa.Column("balance", sa.Numeric(12, 2), server_default=sa.text("0"), nullable=False),
        sa.Column("note", sa.Text, server_default="it's new"),
        sa.Column("score", sa.Float, sa.CheckConstraint("score >= 0", name="score_nonneg")),
        sa.Column("joined", sa.Date, server_default=sa.text("(date('now'))")),
        sa.Column("ratio", sa.Float, server_default=sa.text("0.5")),
        sa.Column("token", sa.Uuid),
        sa.Column("payload", sa.JSON),
        sqlite_autoincrement=True,
    )
    entries = sa.Table(
        "entries",
        metadata,
        sa.Column("account_id", sa.Integer, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("memo", sa.String(200)),
        sa.Column("amount_cents", sa.Integer, nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False, server_default=sa.text("1")),
        sa.Column("total_cents", sa.Integer, sa.Computed("amount_cents * quantity", persisted=True)),
        sa.Column("half_cents", sa.Integer, sa.Computed("amount_cents / 2")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            ondelete="RESTRICT",
            onupdate="CASCADE",
            deferrable=True,
            initially="DEFERRED",
        ),
        sa.CheckConstraint("quantity > 0", name="quantity_positive"),
        sa.UniqueConstraint("account_id", "memo", sqlite_on_conflict="REPLACE"),
        sqlite_with_rowid=False,
    )
    sa.Index(
        "ix_entries_memo_lower",
        sa.func.lower(entries.c.memo),
        unique=True,
        sqlite_where=entries.c.memo.isnot(None),
    )
    sa.Index("ix_entries_recent", entries.c.account_id, entries.c.seq.desc())
    sa.Index(None, accounts.c.kind)
    sa.Table(
        "settings",
        metadata,
        sa.Column("id", sa.Integer, sa.Identity(), primary_key=True),
        sa.Column("key", sa.Text, nullable=False, unique=True),
        sa.Column("value", sa.Text, default="python-side, never in the database"),
        sa.Column("size", sa.Integer, onupdate=sa.func.length("value")),
        sa.Column("raw", sa.LargeBinary),
        sa.Column("weight", sa.REAL),
        sa.Column(
            "owner_id",
            sa.Integer,
            sa.ForeignKey("accounts.id", name="fk_settings_owner", ondelete="SET NULL"),
        ),
        sqlite_strict=True,
    )
    return metadata


APPS = {
    "jobs": (lambda: jobs.metadata, []),
    "feeds": (lambda: feeds.metadata, [FEEDS_TRIGGER_SQL]),
    "features": (features_metadata, []),
}
"""Model app → (its MetaData, the SQL the app runs beside create_all)."""


def write_schema(directory: Path, metadata: sa.MetaData, *, triggers: bool = False) -> Path:
    """A schema directory: the generated YAML, plus the hand-written triggers of feeds."""
    directory.mkdir(exist_ok=True)
    (directory / "models.yaml").write_text(to_yaml(metadata), encoding="utf-8")
    if triggers:
        (directory / FEEDS_TRIGGERS.name).write_text(
            FEEDS_TRIGGERS.read_text(encoding="utf-8"), encoding="utf-8"
        )
    return directory


def create_all(path: Path, metadata: sa.MetaData, extra_sql: list[str]) -> None:
    """The database SQLAlchemy itself builds, plus the app's own SQL (its triggers)."""
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        metadata.create_all(engine)
        with engine.begin() as connection:
            for statement in extra_sql:
                connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


def rows(path: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of every ordinary table, by table, in primary-key order."""
    connection = sqlite3.connect(path)
    try:
        names = [
            name
            for (name,) in connection.execute(
                "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
                "AND name NOT LIKE '_reconcile_%' ORDER BY name"
            )
        ]
        out = {}
        for name in names:
            cursor = connection.execute(f'SELECT * FROM "{name}" ORDER BY 1, 2')
            columns = [d[0] for d in cursor.description]
            out[name] = [dict(zip(columns, row)) for row in cursor]
        return out
    finally:
        connection.close()


# The generated schema is the schema create_all builds.


@pytest.mark.parametrize("app", list(APPS))
def test_applied_schema_matches_create_all(app: str, tmp_path: Path, reconcile_cli) -> None:
    load, extra_sql = APPS[app]
    metadata = load()
    schema = write_schema(tmp_path / "schema", metadata, triggers=bool(extra_sql))
    reconcile_cli("check", "--schema", schema)
    reconcile_cli("apply", "--yes", "--db", "a.db", "--schema", schema, "--plans", "plans")
    create_all(tmp_path / "b.db", metadata, extra_sql)

    applied = reconcile_cli("inspect", "--db", "a.db").stdout
    created = reconcile_cli("inspect", "--db", "b.db").stdout
    assert applied == created
    assert "tables:" in applied and "columns:" in applied
    reconcile_cli("drift", "--db", "b.db", "--schema", schema)


def test_feeds_trigger_file_matches_the_app(tmp_path: Path, reconcile_cli) -> None:
    """The trigger the test creates beside create_all is the one in feeds_triggers.yaml."""
    schema = write_schema(tmp_path / "schema", feeds.metadata, triggers=True)
    reconcile_cli("apply", "--yes", "--db", "a.db", "--schema", schema, "--plans", "plans")
    connection = sqlite3.connect(tmp_path / "a.db")
    (sql,) = connection.execute(
        "SELECT sql FROM sqlite_schema WHERE name = 'feeds_touch_updated_at'"
    ).fetchone()
    connection.close()
    assert " ".join(sql.split()) == " ".join(FEEDS_TRIGGER_SQL.split())


# A model change keeps the rows, and rolls back.


def feeds_v2() -> sa.MetaData:
    """The feeds app one release later: a new column, a new index, `feeds.title` tightened to
    NOT NULL with a server default, and `downloads.path` from VARCHAR(1000) to TEXT."""
    metadata = sa.MetaData()
    for table in feeds.metadata.sorted_tables:
        table.to_metadata(metadata)
    sa.Table(
        "feeds",
        metadata,
        sa.Column("title", sa.String(200), nullable=False, server_default="untitled"),
        extend_existing=True,
    )
    sa.Table("downloads", metadata, sa.Column("path", sa.Text, nullable=False), extend_existing=True)
    episodes = metadata.tables["episodes"]
    episodes.append_column(sa.Column("rating", sa.Integer))
    sa.Index("ix_episodes_published_at", episodes.c.published_at)
    return metadata


SEED = """
INSERT INTO feeds (id, url, title, explicit) VALUES
  (1, 'https://example.com/a.xml', 'Feed A', 0),
  (2, 'https://example.com/b.xml', NULL, 1),
  (3, 'https://example.com/c.xml', 'Feed ''C''', 0);
INSERT INTO episodes (id, feed_id, guid, title, status, duration_seconds, published_at) VALUES
  (1, 1, 'a-1', 'Pilot', 'done', 1800, '2024-01-01 10:00:00'),
  (2, 1, 'a-2', NULL, 'queued', NULL, NULL),
  (3, 2, 'b-1', 'Only one', 'queued', 60, '2024-02-01 08:30:00');
INSERT INTO downloads (id, episode_id, path, bytes_done, finished_at) VALUES
  (1, 1, '/media/a-1.mp3', 1048576, '2024-01-02 00:00:00'),
  (2, 3, '/media/b-1.mp3', 0, NULL);
"""


def test_model_change_keeps_rows_and_rolls_back(tmp_path: Path, reconcile_cli) -> None:
    schema = write_schema(tmp_path / "schema", feeds.metadata, triggers=True)
    reconcile_cli("apply", "--yes", "--db", "a.db", "--schema", schema, "--plans", "plans")
    connection = sqlite3.connect(tmp_path / "a.db")
    connection.executescript(SEED)
    connection.close()
    seeded = rows(tmp_path / "a.db")
    inspected_before = reconcile_cli("inspect", "--db", "a.db").stdout

    write_schema(schema, feeds_v2())
    reconcile_cli("apply", "--yes", "--db", "a.db", "--schema", schema, "--plans", "plans")
    reconcile_cli("drift", "--db", "a.db", "--schema", schema)

    # The same schema as create_all of the new models: the change is what the models say.
    create_all(tmp_path / "b.db", feeds_v2(), [FEEDS_TRIGGER_SQL])
    assert reconcile_cli("inspect", "--db", "a.db").stdout == reconcile_cli("inspect", "--db", "b.db").stdout

    # Every row, every kept column; the NULL title took the new server default.
    changed = rows(tmp_path / "a.db")
    assert {t: len(r) for t, r in changed.items()} == {t: len(r) for t, r in seeded.items()}
    for table, old_rows in seeded.items():
        for old, new in zip(old_rows, changed[table]):
            expected = dict(old)
            if table == "feeds" and old["title"] is None:
                expected["title"] = "untitled"
            assert {k: new[k] for k in old} == expected
            if table == "episodes":
                assert new["rating"] is None

    reconcile_cli("rollback", "--yes", "--allow-destructive", "--db", "a.db")
    assert reconcile_cli("inspect", "--db", "a.db").stdout == inspected_before
    assert rows(tmp_path / "a.db") == seeded


# The YAML itself.


def test_yaml_is_deterministic_with_a_header() -> None:
    text = to_yaml(jobs.metadata)
    assert text == to_yaml(jobs.metadata)
    lines = text.splitlines()
    assert lines[0] == "# yaml-language-server: $schema=reconcile.schema.json"
    assert any(
        "Generated from SQLAlchemy models" in line and "python -m sqlite_reconcile.sqlalchemy" in line
        for line in lines
    )
    tables = [line.strip(" :") for line in lines if line.startswith("  ") and not line.startswith("   ")]
    assert tables == sorted(tables) == ["job_tags", "jobs", "projects", "users"]


def test_yaml_forms_of_the_jobs_app() -> None:
    text = to_yaml(jobs.metadata)
    expected = [
        "  jobs:",
        "    columns:",
        "      - { name: id, type: INTEGER, primary_key: true, autoincrement: true, not_null: true }",
        "      - { name: project_id, type: INTEGER, not_null: true }",
        "      - { name: assignee_id, type: INTEGER }",
        "      - { name: title, type: VARCHAR(200), not_null: true }",
        """      - { name: status, type: VARCHAR(9), not_null: true, default: "'queued'" }""",
    ]
    assert "\n".join(expected) + "\n" in text
    assert "    primary_key: [job_id, tag]\n" in text
    assert "      - { name: uq_projects_owner_name, columns: [owner_id, name] }\n" in text
    assert (
        "      - { columns: [assignee_id], references: users, referenced_columns: [id], on_delete: set_null }\n"
        in text
    )
    assert "      ix_jobs_project_status: { columns: [project_id, status] }\n" in text
    assert "created_at, type: DATETIME, not_null: true }" in text  # default_factory stays in Python


def test_yaml_forms_of_the_features() -> None:
    text = to_yaml(features_metadata())
    for line in [
        "      - { name: email, type: VARCHAR(320), not_null: true, not_null_on_conflict: fail, collate: NOCASE }",
        "      - { name: id, type: INTEGER, primary_key: true, autoincrement: true, not_null: true }",
        "      - { name: note, type: TEXT, default: \"'it''s new'\" }",
        '      - { name: score, type: FLOAT, checks: [{ name: ck_accounts_score_nonneg, expr: "score >= 0" }] }',
        "      - { name: uq_accounts_email, columns: [email], on_conflict: ignore }",
        "      - { name: ck_accounts_kind, expr: \"kind IN ('personal', 'business')\" }",
        '      - { name: total_cents, type: INTEGER, generated: { expr: "amount_cents * quantity", stored: true } }',
        '      - { name: half_cents, type: INTEGER, generated: { expr: "amount_cents / 2" } }',
        "    primary_key: { name: pk_entries, columns: [account_id, seq] }",
        "    without_rowid: true",
        "    strict: true",
        '      ix_entries_memo_lower: { columns: ["lower(memo)"], unique: true, where: memo IS NOT NULL }',
        "      ix_entries_recent: { columns: [account_id, seq DESC] }",
        "      ix_accounts_kind: { columns: [kind] }",
        "      - { name: fk_settings_owner, columns: [owner_id], references: accounts, referenced_columns: [id], on_delete: set_null }",
    ]:
        assert line + "\n" in text, line
    assert "deferred: true" in text
    assert "python-side" not in text and "length" not in text


def test_exclude_leaves_tables_out() -> None:
    text = to_yaml(jobs.metadata, exclude=["job_tags"])
    assert "job_tags" not in text and "\n  jobs:\n" in text
    text = to_yaml(feeds.metadata, exclude=["DOWN*"])
    assert "downloads" not in text and "\n  episodes:\n" in text and "\n  feeds:\n" in text
    assert "tables: {}" in to_yaml(jobs.metadata, exclude=["*"])


def test_exclude_applies_to_the_database(tmp_path: Path, reconcile_cli) -> None:
    """A table excluded from the YAML is neither created nor expected."""
    schema = tmp_path / "schema"
    schema.mkdir()
    (schema / "models.yaml").write_text(to_yaml(jobs.metadata, exclude=["job_*"]), encoding="utf-8")
    reconcile_cli("apply", "--yes", "--db", "a.db", "--schema", schema, "--plans", "plans")
    assert set(rows(tmp_path / "a.db")) == {"jobs", "projects", "users"}


def test_exclude_of_a_referenced_table_is_refused() -> None:
    with pytest.raises(SchemaError) as raised:
        to_yaml(jobs.metadata, exclude=["users"])
    err = raised.value
    assert err.message.startswith(
        "table `jobs`, column `assignee_id`: references table `users`, which is excluded"
    )
    assert err.path == "tables.jobs.columns.assignee_id"


# What cannot be expressed is refused, naming the table and the column.


def one_table(*columns: Any, metadata: sa.MetaData | None = None, **options: Any) -> sa.MetaData:
    """A MetaData with one table, `events`, of an id and `columns`."""
    metadata = sa.MetaData() if metadata is None else metadata
    sa.Table("events", metadata, sa.Column("id", sa.Integer, primary_key=True), *columns, **options)
    return metadata


@pytest.mark.parametrize(
    ("column", "words"),
    [
        (sa.Column("tags", sa.ARRAY(sa.String)), ["ARRAY", "no SQLite form"]),
        (sa.Column("peer", postgresql.INET), ["INET", "no SQLite form"]),
        (sa.Column("search", postgresql.TSVECTOR), ["TSVECTOR", "no SQLite form"]),
        (sa.Column("untyped", sa.types.NullType()), ["no SQLite form"]),
        (sa.Column("seq", sa.Integer, sa.Identity()), ["Identity"]),
        (sa.Column("counter", sa.Integer, sa.Sequence("events_counter")), ["Sequence"]),
        (
            sa.Column("at", sa.DateTime, server_default=sa.literal(datetime.timedelta(days=1))),
            ["server default"],
        ),
        (sa.Column("ids", sa.Text, server_default=postgresql.array([1, 2])), ["server default", "array"]),
    ],
    ids=[
        "array",
        "inet",
        "tsvector",
        "nulltype",
        "identity",
        "sequence",
        "interval-default",
        "array-default",
    ],
)
def test_inexpressible_column_is_refused(column: sa.Column, words: list[str]) -> None:
    with pytest.raises(SchemaError) as raised:
        to_yaml(one_table(column))
    err = raised.value
    assert "`events`" in err.message and f"`{column.name}`" in err.message, err.message
    for word in words:
        assert word in err.message
    assert err.path == f"tables.events.columns.{column.name}"
    assert "sqlalche.me" not in err.message


@pytest.mark.parametrize(
    ("metadata", "path", "words"),
    [
        (lambda: one_table(schema="archive"), "tables.events", ["schema `archive`"]),
        (lambda: one_table(prefixes=["TEMPORARY"]), "tables.events", ["TEMPORARY"]),
        (
            lambda: one_table(
                sa.Column("code", sa.String, unique=True), sa.UniqueConstraint("code", deferrable=True)
            ),
            "tables.events",
            ["DEFERRABLE"],
        ),
        (
            lambda: one_table(
                sa.Column("n", sa.Integer),
                sa.Index(None, "n"),
                metadata=sa.MetaData(naming_convention={"ix": None}),
            ),
            "tables.events.indexes",
            ["no name"],
        ),
        (
            lambda: one_table(
                sa.Column("n", sa.Integer), sa.CheckConstraint("n > 0", sqlite_on_conflict="IGNORE")
            ),
            "tables.events",
            ["sqlite_on_conflict", "ignores"],
        ),
    ],
    ids=["other-schema", "temporary", "deferrable-unique", "unnamed-index", "check-on-conflict"],
)
def test_inexpressible_table_is_refused(metadata, path: str, words: list[str]) -> None:
    with pytest.raises(SchemaError) as raised:
        to_yaml(metadata())
    assert "`events`" in raised.value.message
    for word in words:
        assert word in raised.value.message
    assert raised.value.path == path


def test_autoincrement_on_a_composite_key_is_refused() -> None:
    metadata = sa.MetaData()
    sa.Table(
        "pairs",
        metadata,
        sa.Column("a", sa.Integer, primary_key=True),
        sa.Column("b", sa.Integer, primary_key=True),
        sqlite_autoincrement=True,
    )
    with pytest.raises(SchemaError, match="sqlite_autoincrement") as raised:
        to_yaml(metadata)
    assert raised.value.path == "tables.pairs"


def test_identity_is_accepted_only_on_the_rowid() -> None:
    """SQLite numbers rows through a key declared exactly INTEGER; BIGINT is no rowid alias."""
    metadata = sa.MetaData()
    sa.Table("small", metadata, sa.Column("id", sa.Integer, sa.Identity(), primary_key=True))
    assert "      - { name: id, type: INTEGER, not_null: true }\n" in to_yaml(metadata)
    sa.Table("big", metadata, sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True))
    with pytest.raises(SchemaError, match="Identity") as raised:
        to_yaml(metadata)
    assert raised.value.path == "tables.big.columns.id"


def test_foreign_key_to_an_unknown_table_is_refused() -> None:
    with pytest.raises(SchemaError) as raised:
        to_yaml(one_table(sa.Column("owner_id", sa.Integer, sa.ForeignKey("owners.id"))))
    assert "`events`" in raised.value.message and "`owner_id`" in raised.value.message
    assert raised.value.path == "tables.events.columns.owner_id"


# The command.


def run_command(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m sqlite_reconcile.sqlalchemy ARGS...` in `cwd`, with the package this Python has
    installed."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "sqlite_reconcile.sqlalchemy", *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


MODELS_V1 = """\
from sqlalchemy import Column, Integer, MetaData, String, Table

metadata = MetaData()
notes = Table("notes", metadata, Column("id", Integer, primary_key=True), Column("body", String(500)))
"""


def test_command_writes_checks_and_reports_stale(tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(MODELS_V1, encoding="utf-8")
    (tmp_path / "schema").mkdir()
    out = "schema/models.yaml"

    done = run_command("models:metadata", "-o", out, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    written = (tmp_path / out).read_text(encoding="utf-8")
    assert "python -m sqlite_reconcile.sqlalchemy models:metadata -o schema/models.yaml" in written
    assert written.endswith(
        "\n  notes:\n    columns:\n      - { name: id, type: INTEGER, not_null: true }\n"
        "      - { name: body, type: VARCHAR(500) }\n    primary_key: [id]\n"
    )

    printed = run_command("models:metadata", cwd=tmp_path)
    assert printed.returncode == 0 and printed.stdout.split("tables:")[1] == written.split("tables:")[1]

    fresh = run_command("models:metadata", "-o", out, "--check", cwd=tmp_path)
    assert (fresh.returncode, fresh.stdout, fresh.stderr) == (0, "", "")

    (tmp_path / "models.py").write_text(MODELS_V1.replace("String(500)", "String(2000)"), encoding="utf-8")
    stale = run_command("models:metadata", "-o", out, "--check", cwd=tmp_path)
    assert stale.returncode == 2
    assert stale.stderr.count("\n") == 1 and "stale" in stale.stderr
    assert "python -m sqlite_reconcile.sqlalchemy models:metadata -o schema/models.yaml" in stale.stderr
    assert (tmp_path / out).read_text(encoding="utf-8") == written  # --check writes nothing

    missing = run_command("models:metadata", "-o", "schema/other.yaml", "--check", cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_command_accepts_an_object_with_metadata(tmp_path: Path) -> None:
    """`apps.jobs:SQLModel` names the SQLModel class, whose `.metadata` holds the tables."""
    done = run_command("apps.jobs:SQLModel", "--exclude", "job_tags", cwd=TESTS_DIR)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("tables:")[1] == to_yaml(jobs.metadata, exclude=["job_tags"]).split("tables:")[1]
    assert "--exclude job_tags" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuchmodule:metadata"], "error: `nosuchmodule`: no such module"),
        (["models:nothing"], "error: `models:nothing`: module `models` has no attribute `nothing`"),
        (["models"], "error: `models`: expected MODULE:ATTR"),
        (
            ["models:notes"],
            "error: `models:notes`: Table is neither a MetaData nor an object with a .metadata",
        ),
        (["broken:metadata"], "error: `broken`: importing it failed: RuntimeError: no configuration"),
        (["bad:metadata"], "error: table `events`, column `tags`: type ARRAY(String()) has no SQLite form"),
        (["models:metadata", "--check"], "error: --check needs -o FILE"),
        (["models:metadata", "--no-such-flag"], "error: unrecognized arguments: --no-such-flag"),
    ],
    ids=[
        "no-module",
        "no-attribute",
        "no-colon",
        "not-metadata",
        "import-fails",
        "schema-error",
        "check-no-o",
        "bad-flag",
    ],
)
def test_command_errors_are_one_clear_line(args: list[str], message: str, tmp_path: Path) -> None:
    (tmp_path / "models.py").write_text(MODELS_V1, encoding="utf-8")
    (tmp_path / "broken.py").write_text('raise RuntimeError("no configuration")\n', encoding="utf-8")
    (tmp_path / "bad.py").write_text(
        "import sqlalchemy as sa\nmetadata = sa.MetaData()\n"
        'sa.Table("events", metadata, sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("tags", sa.ARRAY(sa.String)))\n',
        encoding="utf-8",
    )
    done = run_command(*args, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(message), done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1


def test_main_returns_the_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """`main(argv)` is callable in-process and returns the code instead of exiting."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models.py").write_text(MODELS_V1.replace("notes", "memos"), encoding="utf-8")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "models", raising=False)
    assert main(["models:metadata", "-o", "out.yaml"]) == 0
    assert main(["models:metadata", "-o", "out.yaml", "--check"]) == 0
    assert main(["nosuchmodule:metadata"]) == 1
    assert "no such module" in capsys.readouterr().err
    monkeypatch.delitem(sys.modules, "models", raising=False)
