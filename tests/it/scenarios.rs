//! Scenario tests: a real database file with seeded rows, a desired YAML, apply,
//! then the four checks: the schema equals the desired one, a second plan is
//! empty, seeded rows survive in every kept column, and integrity and
//! foreign-key checks are clean; then the fifth: the stored rollback brings
//! back the schema and every row of before, and applying again gives the same
//! result as the first time. The harness doing this is `crate::harness`; the
//! scenarios that are only data are files of `tests/it/scenarios/`, run by
//! `data_files`, and the functions here assert something more.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rusqlite::types::Value;
use rusqlite::Connection;
use sqlite_reconcile::apply::{ApplyError, ApplyOptions, Refusal};
use sqlite_reconcile::execute::{self, Run};
use sqlite_reconcile::{migration, Error, InspectOptions};

use crate::harness::{load_yaml, Scenario, ScenarioFile};

// ---------------------------------------------------------------------------
// Scenarios that are only data.

/// Every file of `tests/it/scenarios/` is a scenario that is only data: a database, a desired
/// schema, apply, then the four checks and the rollback check (`Scenario::check_all`), and no
/// other assertion. A scenario that asserts anything more (an error, the plan, given rows) is a
/// Rust function below. A file, `<name>.txtar`, looks like this:
///
/// ```text
/// What the scenario is about (free text up to the first section; for a regression, what went
/// wrong).
/// -- before.sql --
/// CREATE TABLE t(id INT PRIMARY KEY, x) WITHOUT ROWID; INSERT INTO t VALUES (1, 'a');
/// -- desired.yaml --
/// tables:
///   t:
///     columns:
///       - { name: key, type: INT, primary_key: true, renamed_from: id }
///     without_rowid: true
/// -- renames --
/// t key id
/// ```
///
/// A section runs from its `-- name --` line to the next one and is taken as written.
/// `before.sql` builds the database, rows included; `desired.yaml` is applied to it with
/// destructive steps allowed. Both are required and not blank. `renames` is optional: one
/// renamed column a line, `table new old` (a name with spaces in double quotes), which the row
/// comparison follows as `check_all`'s list does. Every file runs, and each failing one is named.
#[test]
fn data_files() {
    crate::harness::run_scenario_files(ScenarioFile::run);
}

const FEED: &str = "CREATE TABLE feed(id TEXT PRIMARY KEY, url TEXT, title TEXT, n INTEGER);
INSERT INTO feed VALUES ('a', 'http://a', 'A', 1), ('b', NULL, 'B', 2), ('c', 'http://c', NULL, 3);";

#[test]
fn add_column_native() {
    let mut s = Scenario::new(FEED);
    let p = s.apply(
        "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: title, type: TEXT }
      - { name: n, type: INTEGER }
      - { name: enabled, type: BOOLEAN, not_null: true, default: 1 }
",
    );
    assert!(p.steps.iter().all(|st| st.sql.iter().all(|q| q.starts_with("ALTER TABLE feed ADD COLUMN"))), "{p:#?}");
    s.check_all(&[]);
}

#[test]
fn add_column_with_expression_default_rebuilds() {
    let mut s = Scenario::new(FEED);
    let p = s.apply(
        "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: title, type: TEXT }
      - { name: n, type: INTEGER }
      - { name: created_at, type: TEXT, not_null: true, default: CURRENT_TIMESTAMP }
",
    );
    assert!(p.steps.iter().any(|st| st.kind == sqlite_reconcile::plan::StepKind::RebuildTable), "{p:#?}");
    s.check_all(&[]);
}

const NOT_NULL_TITLE: &str = "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: title, type: TEXT, not_null: true, backfill: \"'untitled'\" }
      - { name: n, type: INTEGER }
";

#[test]
fn not_null_tightening_with_backfill() {
    let mut s = Scenario::new(FEED);
    let p = s.apply(NOT_NULL_TITLE);
    assert!(p.steps.iter().any(|st| st.hints.iter().any(|h| h.contains("backfill"))), "{p:#?}");
    s.check_all(&[]);
    let t: String = s.conn().query_row("SELECT title FROM feed WHERE id = 'c'", [], |r| r.get(0)).unwrap();
    assert_eq!(t, "untitled");
}

/// The rows of every table of the one backup file beside `db`, by table (`b1`, `b2`, ...).
fn kept_in_backup(db: &std::path::Path) -> BTreeMap<String, Vec<Vec<Value>>> {
    let dir = sqlite_reconcile::backup::backup_dir(db);
    let files: Vec<PathBuf> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "one backup file, no leftovers: {files:?}");
    let conn = Connection::open(&files[0]).unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name GLOB 'b[0-9]*' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = BTreeMap::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {t} ORDER BY 1, 2")).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect::<Result<Vec<_>, _>>())
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        out.insert(t, rows);
    }
    out
}

const TWO_FILLS_BEFORE: &str =
    "CREATE TABLE t(a INT, b TEXT, x TEXT, y INT DEFAULT 5, PRIMARY KEY (a, b)) WITHOUT ROWID;
     INSERT INTO t VALUES (1, 'p', NULL, 1), (1, 'q', 'v', NULL), (2, 'p', NULL, NULL), (3, 'r', 'w', 2);";

/// What the backup must hold for `TWO_FILLS_BEFORE`: the keys of the rows each column had NULL.
fn two_fills_kept() -> BTreeMap<String, Vec<Vec<Value>>> {
    let row = |a: i64, b: &str| vec![Value::Integer(a), Value::Text(b.into()), Value::Null];
    BTreeMap::from([
        ("b1".to_string(), vec![row(1, "p"), row(2, "p")]),
        ("b2".to_string(), vec![row(1, "q"), row(2, "p")]),
    ])
}

/// NULLs a rebuild fills (a backfill, a default) are kept as the rebuild copies the rows, not by a
/// scan before it: the backup holds exactly the rows that were NULL, by a composite key, for two
/// columns at once, and the rollback puts them back.
#[test]
fn nulls_a_rebuild_fills_are_kept_as_it_copies_the_rows() {
    let mut s = Scenario::new(TWO_FILLS_BEFORE);
    let p = s.apply(
        "tables:\n  t:\n    columns:\n      - { name: a, type: INT }\n      - { name: b, type: TEXT }\n      \
         - { name: x, type: TEXT, not_null: true, backfill: \"'filled'\" }\n      \
         - { name: y, type: INT, not_null: true, default: 7 }\n    primary_key: [a, b]\n    without_rowid: true\n",
    );
    assert!(p.steps.iter().any(|st| st.comment.starts_with("rebuild table `t`")), "{p:#?}");
    assert_eq!(kept_in_backup(&s.db), two_fills_kept());
    s.check_all(&[]);
}

/// A column renamed in the same change: its NULLs are kept by a scan before the plan, under the
/// names the table has then, and come back the same.
#[test]
fn nulls_filled_beside_a_rename_are_kept_by_a_scan() {
    let mut s = Scenario::new(TWO_FILLS_BEFORE);
    s.apply(
        "tables:\n  t:\n    columns:\n      - { name: a, type: INT }\n      - { name: b, type: TEXT }\n      \
         - { name: ex, type: TEXT, not_null: true, backfill: \"'filled'\", renamed_from: x }\n      \
         - { name: y, type: INT, not_null: true, default: 7 }\n    primary_key: [a, b]\n    without_rowid: true\n",
    );
    assert_eq!(kept_in_backup(&s.db), two_fills_kept());
    s.check_all(&[("t", "ex", "x")]);
}

/// The native form (UPDATE ... WHERE c IS NULL, then SET NOT NULL) keeps the NULLs it fills as
/// its UPDATE finds them, for each column on its own.
#[test]
fn nulls_a_native_backfill_fills_are_kept_as_it_updates_them() {
    let mut s = Scenario::new(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b INT);
         INSERT INTO t VALUES (1, NULL, 1), (2, 'x', NULL), (3, NULL, NULL), (4, 'y', 2);",
    );
    let p = s.apply(
        "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      \
         - { name: a, type: TEXT, not_null: true, backfill: \"'filled'\" }\n      \
         - { name: b, type: INT, not_null: true, backfill: 0 }\n",
    );
    assert!(p.steps.iter().all(|st| !st.comment.starts_with("rebuild")), "{p:#?}");
    assert!(p.steps.iter().any(|st| st.sql.iter().any(|q| q.contains("SET NOT NULL"))), "{p:#?}");
    let row = |id: i64| vec![Value::Integer(id), Value::Null];
    let kept = BTreeMap::from([("b1".to_string(), vec![row(1), row(3)]), ("b2".to_string(), vec![row(2), row(3)])]);
    assert_eq!(kept_in_backup(&s.db), kept);
    s.check_all(&[]);
}

/// An observer that asks for a progress bar on every copy.
struct EveryCopy;
impl sqlite_reconcile::Observer for EveryCopy {
    fn copy_threshold(&self) -> Option<u64> {
        Some(0)
    }
}

/// With a progress bar on the copy, the values are kept all the same.
#[test]
fn nulls_a_rebuild_fills_are_kept_under_a_progress_bar() {
    let mut s = Scenario::new(TWO_FILLS_BEFORE);
    let desired = load_yaml(
        "tables:\n  t:\n    columns:\n      - { name: a, type: INT }\n      - { name: b, type: TEXT }\n      \
         - { name: x, type: TEXT, not_null: true, backfill: \"'filled'\" }\n      \
         - { name: y, type: INT, not_null: true, default: 7 }\n    primary_key: [a, b]\n    without_rowid: true\n",
    );
    s.desired = Some(desired.clone());
    let mut c = s.conn();
    let prepared = migration::prepare(&mut c, &desired, &InspectOptions::default()).unwrap();
    let observer: std::sync::Arc<dyn sqlite_reconcile::Observer> = std::sync::Arc::new(EveryCopy);
    let options = ApplyOptions { allow_destructive: true, observer: Some(observer), ..ApplyOptions::default() };
    execute::execute(&mut c, &prepared, &Run { kind: "apply", options, ..Run::default() }).unwrap();
    drop(c);
    assert_eq!(kept_in_backup(&s.db), two_fills_kept());
    s.check_all(&[]);
}

#[test]
fn not_null_over_nulls_fails_and_changes_nothing() {
    let mut s = Scenario::new(FEED);
    let e = s
        .try_apply(
            "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT, not_null: true }
      - { name: title, type: TEXT }
      - { name: n, type: INTEGER }
",
            true,
        )
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, Error::Apply(ApplyError::Step { .. })), "{msg}");
    assert!(msg.contains("1 rows") && msg.contains("url") && msg.contains("backfill"), "{msg}");
    s.assert_unchanged();
}

#[test]
fn check_added_over_good_and_bad_data() {
    let yaml = |expr: &str| {
        format!(
            "tables:
  feed:
    columns:
      - {{ name: id, type: TEXT, primary_key: true }}
      - {{ name: url, type: TEXT }}
      - {{ name: title, type: TEXT }}
      - {{ name: n, type: INTEGER }}
    checks:
      - {{ name: n_positive, expr: \"{expr}\" }}
"
        )
    };
    let mut good = Scenario::new(FEED);
    good.apply(&yaml("n > 0"));
    good.check_all(&[]);
    let mut bad = Scenario::new(FEED);
    let e = bad.try_apply(&yaml("n > 1"), false).unwrap_err().to_string();
    assert!(e.contains("n_positive") || e.contains("CHECK"), "{e}");
    bad.assert_unchanged();
}

#[test]
fn unique_index_over_duplicates_fails() {
    let mut s = Scenario::new(
        "CREATE TABLE u(id INTEGER PRIMARY KEY, email TEXT); INSERT INTO u VALUES (1,'a'),(2,'a'),(3,'b');",
    );
    let e = s
        .try_apply(
            "tables:\n  u:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: email, type: TEXT }\n    indexes:\n      u_email: { columns: [email], unique: true }\n",
            false,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("UNIQUE"), "{e}");
    s.assert_unchanged();
}

#[test]
fn foreign_key_added_over_bad_data_fails() {
    let mut s = Scenario::new(
        "CREATE TABLE p(id INTEGER PRIMARY KEY); CREATE TABLE c(id INTEGER PRIMARY KEY, p_id INTEGER);
         INSERT INTO p VALUES (1); INSERT INTO c VALUES (1, 1), (2, 9);",
    );
    let e = s
        .try_apply(
            "tables:\n  p:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n  c:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: p_id, type: INTEGER, references: { table: p } }\n",
            false,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("`c`: 1 rows reference missing `p`"), "{e}");
    s.assert_unchanged();
}

#[test]
fn generated_columns() {
    let mut s = Scenario::new(FEED);
    s.apply(
        "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: title, type: TEXT }
      - { name: n, type: INTEGER }
      - { name: n2, type: INTEGER, generated: { expr: n * 2, stored: true } }
      - { name: t_upper, type: TEXT, generated: { expr: upper(title) } }
",
    );
    s.check_all(&[]);
    let v: i64 = s.conn().query_row("SELECT n2 FROM feed WHERE id = 'c'", [], |r| r.get(0)).unwrap();
    assert_eq!(v, 6);
}

#[test]
fn parent_rebuild_keeps_cascade_children() {
    let mut s = Scenario::new(
        "CREATE TABLE parent(id INTEGER PRIMARY KEY, name TEXT);
         CREATE TABLE child(id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id) ON DELETE CASCADE);
         INSERT INTO parent VALUES (1,'a'),(2,'b'); INSERT INTO child VALUES (10,1),(11,2),(12,2);",
    );
    s.apply(
        "tables:
  parent:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: name, type: TEXT, not_null: true, default: \"''\" }
  child:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: parent_id, type: INTEGER, references: { table: parent, column: id, on_delete: cascade } }
",
    );
    s.check_all(&[]);
    let n: i64 = s.conn().query_row("SELECT count(*) FROM child", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 3);
}

#[test]
fn rebuild_under_view_own_triggers_and_other_tables_trigger() {
    let mut s = Scenario::new(
        "CREATE TABLE feed(id TEXT PRIMARY KEY, updated_at TEXT, n INT);
         CREATE TABLE download(id INTEGER PRIMARY KEY, feed_id TEXT, status TEXT);
         CREATE INDEX download_feed ON download(feed_id);
         CREATE VIEW v_feed AS SELECT id, n FROM feed;
         CREATE VIEW v_feed2 AS SELECT id FROM v_feed;
         CREATE TRIGGER feed_touch AFTER UPDATE OF n ON feed BEGIN UPDATE feed SET updated_at = 'x' WHERE id = NEW.id; END;
         CREATE TRIGGER dl_touch AFTER UPDATE OF status ON download BEGIN UPDATE feed SET updated_at = 'y' WHERE id = NEW.feed_id; END;
         INSERT INTO feed VALUES ('a', NULL, 1); INSERT INTO download VALUES (1, 'a', 'Q');",
    );
    s.apply(
        "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: updated_at, type: TEXT }
      - { name: n, type: REAL }
  download:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: feed_id, type: TEXT }
      - { name: status, type: TEXT }
    indexes:
      download_feed: { columns: [feed_id] }
views:
  v_feed: { sql: 'SELECT id, n FROM feed' }
  v_feed2: { sql: 'SELECT id FROM v_feed' }
triggers:
  feed_touch:
    sql: CREATE TRIGGER feed_touch AFTER UPDATE OF n ON feed BEGIN UPDATE feed SET updated_at = 'x' WHERE id = NEW.id; END
  dl_touch:
    sql: CREATE TRIGGER dl_touch AFTER UPDATE OF status ON download BEGIN UPDATE feed SET updated_at = 'y' WHERE id = NEW.feed_id; END
",
    );
    s.check_all(&[]);
    // The other table's trigger still fires.
    let c = s.conn();
    c.execute("UPDATE download SET status = 'D'", []).unwrap();
    let u: String = c.query_row("SELECT updated_at FROM feed", [], |r| r.get(0)).unwrap();
    assert_eq!(u, "y");
}

#[test]
fn autoincrement_high_water_mark_kept() {
    let mut s = Scenario::new(
        "CREATE TABLE j(id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT);
         INSERT INTO j(v) VALUES ('a'),('b'),('c'); DELETE FROM j WHERE id = 3;",
    );
    s.apply("tables:\n  j:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true, autoincrement: true }\n      - { name: v, type: TEXT, not_null: true, default: \"''\" }\n");
    s.check_all(&[]);
    let c = s.conn();
    c.execute("INSERT INTO j(v) VALUES ('d')", []).unwrap();
    let id: i64 = c.query_row("SELECT max(id) FROM j", [], |r| r.get(0)).unwrap();
    assert_eq!(id, 4, "the deleted top id 3 must not be reused");
}

#[test]
fn rowids_with_gaps_kept_without_integer_primary_key() {
    let mut s = Scenario::new(
        "CREATE TABLE r(name TEXT, v INT); INSERT INTO r VALUES ('a',1),('b',2),('c',3),('d',4);
         DELETE FROM r WHERE name IN ('a','c');",
    );
    s.apply("tables:\n  r:\n    columns:\n      - { name: name, type: TEXT }\n      - { name: v, type: REAL }\n");
    s.check_all(&[]);
    let ids: Vec<i64> = s
        .conn()
        .prepare("SELECT rowid FROM r ORDER BY rowid")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(ids, vec![2, 4]);
}

#[test]
fn renames_keep_data() {
    let mut s = Scenario::new(FEED);
    let p = s.apply(
        "tables:
  feeds:
    renamed_from: feed
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: source_url, type: TEXT, renamed_from: url }
      - { name: title, type: TEXT }
      - { name: n, type: INTEGER }
",
    );
    assert!(p.steps.iter().all(|st| st.kind != sqlite_reconcile::plan::StepKind::RebuildTable), "{p:#?}");
    s.check_all(&[("feeds", "source_url", "url")]);
}

#[test]
fn rename_with_type_change_uses_convert() {
    let mut s = Scenario::new(
        "CREATE TABLE f(id INTEGER PRIMARY KEY, explicit TEXT); INSERT INTO f VALUES (1,'YES'),(2,'NO');",
    );
    let p = s.apply(
        "tables:
  f:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: is_explicit, type: BOOLEAN, not_null: true, default: 0, renamed_from: explicit, convert: \"CASE explicit WHEN 'YES' THEN 1 ELSE 0 END\" }
",
    );
    assert!(p.steps.iter().any(|st| st.hints.iter().any(|h| h.contains("convert"))));
    s.check_all(&[]);
    let v: Vec<i64> = s
        .conn()
        .prepare("SELECT is_explicit FROM f ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(v, vec![1, 0]);
}

#[test]
fn fts5_left_untouched() {
    let mut s = Scenario::new(&format!(
        "{FEED} CREATE VIRTUAL TABLE docs USING fts5(body); INSERT INTO docs VALUES ('hello');"
    ));
    s.apply(
        "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: title, type: TEXT }
      - { name: n, type: REAL }
virtual_tables:
  docs: { sql: CREATE VIRTUAL TABLE docs USING fts5(body) }
",
    );
    s.check_all(&[]);
    let n: i64 = s.conn().query_row("SELECT count(*) FROM docs WHERE docs MATCH 'hello'", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 1);
}

#[test]
fn destructive_refused_without_permission() {
    let mut s = Scenario::new(FEED);
    let e = s
        .try_apply("tables:\n  feed:\n    columns:\n      - { name: id, type: TEXT, primary_key: true }\n", false)
        .unwrap_err();
    assert!(matches!(e, Error::Refused(Refusal::Destructive(_))), "{e}");
    s.assert_unchanged();
}

#[test]
fn error_in_fifth_step_changes_nothing() {
    let mut s = Scenario::new(
        "CREATE TABLE a(id INTEGER PRIMARY KEY); CREATE TABLE b(id INTEGER PRIMARY KEY); CREATE TABLE c(id INTEGER PRIMARY KEY);
         CREATE TABLE d(id INTEGER PRIMARY KEY, v INT); INSERT INTO d VALUES (1, -1);",
    );
    let e = s
        .try_apply(
            "tables:
  a: { columns: [ { name: id, type: INTEGER, primary_key: true }, { name: x, type: TEXT } ] }
  b: { columns: [ { name: id, type: INTEGER, primary_key: true }, { name: x, type: TEXT } ] }
  c: { columns: [ { name: id, type: INTEGER, primary_key: true }, { name: x, type: TEXT } ] }
  d:
    columns: [ { name: id, type: INTEGER, primary_key: true }, { name: v, type: INT } ]
    checks: [ { expr: v > 0 } ]
  e: { columns: [ { name: id, type: INTEGER, primary_key: true } ] }
",
            false,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("CHECK"), "{e}");
    s.assert_unchanged();
}

#[test]
fn plans_are_byte_identical() {
    let s = Scenario::new(FEED);
    let d = load_yaml(NOT_NULL_TITLE);
    let a = sqlite_reconcile::render::sql(&s.plan(&d));
    let b = sqlite_reconcile::render::sql(&s.plan(&d));
    assert_eq!(a, b);
}

#[test]
fn failure_in_a_renamed_and_rebuilt_table_is_diagnosed() {
    let mut s = Scenario::new(FEED);
    let e = s
        .try_apply(
            "tables:
  feeds:
    renamed_from: feed
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT, not_null: true, collate: NOCASE }
      - { name: title, type: TEXT }
      - { name: n, type: INTEGER }
",
            true,
        )
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("1 rows") && msg.contains("url") && msg.contains("backfill"), "{msg}");
    s.assert_unchanged();
}

// ---------------------------------------------------------------------------
// Regressions found by the property tests (`props.rs`), each reduced to its
// smallest form.

#[test]
fn r5_a_generated_column_made_plain_keeps_its_values() {
    // The rebuild left the column out of the copy as if it were still generated.
    let mut s = Scenario::new(
        "CREATE TABLE t(a INTEGER, g INTEGER GENERATED ALWAYS AS (a * 2) VIRTUAL); INSERT INTO t(a) VALUES (1), (5);",
    );
    s.apply("tables:\n  t:\n    columns:\n      - { name: a, type: INTEGER }\n      - { name: g, type: INTEGER }\n");
    s.check_all(&[]);
    let g: i64 = s.conn().query_row("SELECT g FROM t WHERE a = 5", [], |r| r.get(0)).unwrap();
    assert_eq!(g, 10);
}

#[test]
fn r5_backfill_fires_no_trigger() {
    // The native backfill (UPDATE ... WHERE c IS NULL, then SET NOT NULL)
    // fired the table's UPDATE triggers: a migration wrote rows into `audit`.
    let mut s = Scenario::new(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT); CREATE TABLE audit(msg TEXT);
         CREATE TRIGGER t_audit AFTER UPDATE ON t BEGIN INSERT INTO audit VALUES ('updated'); END;
         INSERT INTO t VALUES (1, NULL), (2, 'x');",
    );
    s.apply(
        "tables:
  t:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: a, type: TEXT, not_null: true, backfill: \"'filled'\" }
  audit:
    columns:
      - { name: msg, type: TEXT }
triggers:
  t_audit:
    sql: CREATE TRIGGER t_audit AFTER UPDATE ON t BEGIN INSERT INTO audit VALUES ('updated'); END
",
    );
    let n: i64 = s.conn().query_row("SELECT count(*) FROM audit", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 0, "a trigger fired during the migration");
    s.check_all(&[]);
}

#[test]
fn r5_a_new_unique_on_conflict_replace_does_not_delete_duplicates() {
    // The rebuild's INSERT ... SELECT obeyed the new column's ON CONFLICT
    // REPLACE and silently dropped all but one of the duplicate rows.
    let mut s =
        Scenario::new("CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'x');");
    let e = s
        .try_apply(
            "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: a, type: TEXT, unique: true, unique_on_conflict: replace }\n",
            false,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("UNIQUE"), "{e}");
    s.assert_unchanged();
}

#[test]
fn r5_a_new_not_null_on_conflict_ignore_does_not_skip_rows() {
    // Under NOT NULL ON CONFLICT IGNORE the rebuild's copy silently left out
    // the rows holding NULL.
    let mut s =
        Scenario::new("CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t VALUES (1, 'x'), (2, NULL);");
    let e = s
        .try_apply(
            "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: a, type: TEXT, not_null: true, not_null_on_conflict: ignore }\n",
            false,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("NOT NULL"), "{e}");
    s.assert_unchanged();
}

#[test]
fn r5_a_stored_column_made_generated_is_destructive() {
    // Its values were replaced by computed ones with the change classed
    // safe, so an application's default policy lost them without being asked.
    let mut s = Scenario::new("CREATE TABLE t(a INTEGER, b INTEGER); INSERT INTO t VALUES (1, 5), (2, 7);");
    let yaml =
        "tables:\n  t:\n    columns:\n      - { name: a, type: INTEGER }\n      - { name: b, type: INTEGER, generated: { expr: a * 2 } }\n";
    let e = s.try_apply(yaml, false).unwrap_err();
    assert!(matches!(e, Error::Refused(Refusal::Destructive(_))), "{e}");
    s.assert_unchanged();
    s.apply(yaml);
    s.check_all(&[]);
}

#[test]
fn r5_rollback_of_a_converted_without_rowid_key_brings_the_old_keys_back() {
    // The rollback found kept values by the old key, which the change itself had rewritten:
    // the integer key 0, converted to the blob x'30', stayed x'30' after the rollback.
    let mut s = Scenario::new(
        "CREATE TABLE t(c3 INTEGER PRIMARY KEY, v TEXT) WITHOUT ROWID;
         INSERT INTO t VALUES (0, 'zero'), (x'31', 'blob'), ('two', 'text');",
    );
    s.apply(
        "tables:\n  t:\n    columns:\n      - { name: k, type: BLOB, primary_key: true, renamed_from: c3, \
         convert: \"CAST(c3 AS BLOB)\" }\n      - { name: v, type: TEXT }\n    without_rowid: true\n",
    );
    // The harness finds rows again by their old keys, which `convert` rewrote here: the rows are
    // checked by hand, each with its converted key and its value.
    s.try_check_schema().unwrap();
    let rows: Vec<(Value, String)> = s
        .conn()
        .prepare("SELECT k, v FROM t ORDER BY v")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let blob = |b: &[u8]| Value::Blob(b.to_vec());
    assert_eq!(
        rows,
        [(blob(b"1"), "blob".to_string()), (blob(b"two"), "text".to_string()), (blob(b"0"), "zero".to_string())]
    );
    s.try_check_rollback().unwrap();
}
