//! Scenario tests: a real database file with seeded rows, a desired YAML, apply,
//! then the four checks: the schema equals the desired one, a second plan is
//! empty, seeded rows survive in every kept column, and integrity and
//! foreign-key checks are clean; then the fifth: the stored rollback brings
//! back the schema and every row of before, and applying again gives the same
//! result as the first time.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rusqlite::types::Value;
use rusqlite::Connection;
use sqlite_reconcile::apply::{ApplyError, ApplyOptions};
use sqlite_reconcile::reconciler::{self, Run};
use sqlite_reconcile::sql::quote_ident;
use sqlite_reconcile::{diff, inspect, load, plan_for, Error, InspectOptions, Plan, Schema};

use crate::util::Dir;

pub type Rows = BTreeMap<String, BTreeMap<String, Value>>;

pub struct Scenario {
    _dir: Dir,
    pub db: PathBuf,
    pub before: Schema,
    pub rows: BTreeMap<String, Rows>,
    /// `sqlite_sequence` before, row for row.
    pub sequence: Vec<(String, Value)>,
    pub desired: Option<Schema>,
}

/// The AUTOINCREMENT counters, row for row (by name): `sqlite_sequence` is no table of the
/// schema, so `all_rows` leaves it out.
pub fn sequence_rows(conn: &Connection) -> Vec<(String, Value)> {
    let exists: bool = conn
        .query_row("SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'sqlite_sequence'", [], |r| r.get(0))
        .unwrap();
    if !exists {
        return Vec::new();
    }
    let mut stmt = conn.prepare("SELECT name, seq FROM sqlite_sequence ORDER BY name, seq").unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Value>(1)?))).unwrap();
    rows.map(Result::unwrap).collect()
}

/// Rows of a table keyed by rowid (or the primary key for WITHOUT ROWID tables), by column name.
pub fn table_rows(conn: &Connection, schema: &Schema, table: &str) -> Rows {
    let by_rowid = !schema.tables[table].without_rowid;
    keyed_rows(conn, schema, table, by_rowid)
}

/// Rows keyed by rowid, or by primary key (for WITHOUT ROWID tables or a toggle between the two).
pub fn keyed_rows(conn: &Connection, schema: &Schema, table: &str, by_rowid: bool) -> Rows {
    let t = &schema.tables[table];
    let pk = t.primary_key_columns();
    let key_expr = if by_rowid || pk.is_empty() {
        "rowid".to_string()
    } else {
        pk.iter().map(|c| format!("quote({})", quote_ident(c))).collect::<Vec<_>>().join(" || '/' || ")
    };
    let mut stmt = conn.prepare(&format!("SELECT {key_expr} AS __key, * FROM {}", quote_ident(table))).unwrap();
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let mut out = Rows::new();
    let mut q = stmt.query([]).unwrap();
    while let Some(r) = q.next().unwrap() {
        let key = match cell(r, 0) {
            Value::Integer(i) => format!("{i:012}"),
            Value::Text(s) => s,
            other => format!("{other:?}"),
        };
        let mut m = BTreeMap::new();
        for (i, n) in names.iter().enumerate().skip(1) {
            m.insert(n.to_ascii_lowercase(), cell(r, i));
        }
        out.insert(key, m);
    }
    out
}

/// A value as stored; text that is not UTF-8 (SQLite allows it) is shown by its bytes.
fn cell(r: &rusqlite::Row<'_>, i: usize) -> Value {
    match r.get_ref(i).unwrap() {
        rusqlite::types::ValueRef::Text(b) => {
            Value::Text(String::from_utf8(b.to_vec()).unwrap_or_else(|_| format!("<text bytes {b:?}>")))
        }
        rusqlite::types::ValueRef::Null => Value::Null,
        rusqlite::types::ValueRef::Integer(i) => Value::Integer(i),
        rusqlite::types::ValueRef::Real(f) => Value::Real(f),
        rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Re-keys rows by the values of `cols` (names as in the rows).
fn rekey(rows: &Rows, cols: &[String]) -> Rows {
    if cols.is_empty() {
        return rows.clone();
    }
    rows.values()
        .map(|r| {
            let key = cols
                .iter()
                .map(|c| match r.get(&c.to_ascii_lowercase()) {
                    Some(Value::Integer(i)) => i.to_string(),
                    Some(Value::Text(t)) => format!("'{}'", t.replace('\'', "''")),
                    Some(Value::Real(f)) => f.to_string(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join("/");
            (key, r.clone())
        })
        .collect()
}

/// An integer stored again under REAL or NUMERIC affinity is the same value.
fn same_number(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Integer(i), Value::Real(f)) | (Value::Real(f), Value::Integer(i)) => *i as f64 == *f,
        _ => false,
    }
}

pub fn all_rows(conn: &Connection, schema: &Schema) -> BTreeMap<String, Rows> {
    schema.tables.keys().map(|t| (t.clone(), table_rows(conn, schema, t))).collect()
}

pub fn load_yaml(yaml: &str) -> Schema {
    let loaded = load::load_sources(&[("schema.yaml", yaml)]).unwrap_or_else(|e| panic!("desired YAML: {e}"));
    load::desired(&loaded).unwrap_or_else(|e| panic!("desired YAML: {e}"))
}

impl Scenario {
    pub fn new(sql: &str) -> Scenario {
        let dir = Dir::new();
        let db = dir.db("app.db", sql);
        Scenario::open(dir, db)
    }

    /// A scenario over an existing database file in `dir`: its schema and rows now are "before".
    pub fn open(dir: Dir, db: PathBuf) -> Scenario {
        let conn = Connection::open(&db).unwrap();
        let before = inspect(&conn, &InspectOptions::default()).unwrap();
        let rows = all_rows(&conn, &before);
        let sequence = sequence_rows(&conn);
        Scenario { _dir: dir, db, before, rows, sequence, desired: None }
    }

    pub fn conn(&self) -> Connection {
        Connection::open(&self.db).unwrap()
    }

    pub fn plan(&self, desired: &Schema) -> Plan {
        let mut c = self.conn();
        plan_for(&mut c, desired, &InspectOptions::default()).unwrap().1
    }

    /// Plans and applies `yaml`; returns the plan or the error.
    pub fn try_apply(&mut self, yaml: &str, allow_destructive: bool) -> Result<Plan, Error> {
        let desired = load_yaml(yaml);
        self.desired = Some(desired.clone());
        self.try_apply_desired(&desired, allow_destructive)
    }

    /// Applies `desired` the way `reconcile apply` does: recorded in the history, with a rollback
    /// plan and backups, and plan files under `plans/` beside the database.
    pub fn try_apply_desired(&self, desired: &Schema, allow_destructive: bool) -> Result<Plan, Error> {
        let mut c = self.conn();
        let prepared = reconciler::prepare(&mut c, desired, &InspectOptions::default())?;
        let options = ApplyOptions { allow_destructive, ..ApplyOptions::default() };
        let plans = self.db.with_file_name("plans");
        reconciler::execute(&mut c, &prepared, &Run { kind: "apply", options, plans: Some(plans), ..Run::default() })?;
        Ok(prepared.forward)
    }

    #[track_caller]
    pub fn apply(&mut self, yaml: &str) -> Plan {
        self.try_apply(yaml, true).unwrap_or_else(|e| panic!("apply failed: {e}"))
    }

    /// The four checks; `renames` maps (table, new column) → old column for row comparison.
    #[track_caller]
    pub fn check_all(&self, renames: &[(&str, &str, &str)]) {
        if let Err(e) = self.try_check_all(renames) {
            panic!("{e}");
        }
    }

    /// The four checks and the rollback check, the first failure as an error.
    pub fn try_check_all(&self, renames: &[(&str, &str, &str)]) -> Result<(), String> {
        self.try_check_four(renames)?;
        self.try_check_rollback()
    }

    /// The fifth check: the rollback restores the schema and every row of before; applying again
    /// then gives exactly the schema and rows of the first apply.
    pub fn try_check_rollback(&self) -> Result<(), String> {
        let desired = self.desired.as_ref().ok_or("apply first")?;
        if diff::diff(&self.before, desired).is_empty() {
            // Nothing was applied, so nothing is recorded to roll back.
            return self.check_unchanged();
        }
        let conn = self.conn();
        let applied = inspect(&conn, &InspectOptions::default()).map_err(|e| e.to_string())?;
        let applied_rows = all_rows(&conn, &applied);
        drop(conn);
        let options = ApplyOptions { allow_destructive: true, ..ApplyOptions::default() };
        let mut c = self.conn();
        reconciler::rollback(&mut c, None, options).map_err(|e| format!("rollback: {e}"))?;
        drop(c);
        self.check_unchanged().map_err(|e| format!("after rollback: {e}"))?;
        self.try_apply_desired(desired, true).map_err(|e| format!("apply again after rollback: {e}"))?;
        let conn = self.conn();
        let again = inspect(&conn, &InspectOptions::default()).map_err(|e| e.to_string())?;
        if again != applied {
            return Err(format!("apply after rollback gives another schema: {:?}", diff::diff(&again, &applied)));
        }
        if all_rows(&conn, &again) != applied_rows {
            return Err("apply after rollback gives other rows".to_string());
        }
        Ok(())
    }

    /// The four checks, the first failure as an error.
    pub fn try_check_four(&self, renames: &[(&str, &str, &str)]) -> Result<(), String> {
        let after = self.try_check_schema()?;
        self.rows_kept(&self.conn(), &after, renames)
    }

    /// The checks of the four that are about the schema: it equals the desired one, a second
    /// plan is empty, `integrity_check` and `foreign_key_check` are clean. Returns the schema.
    pub fn try_check_schema(&self) -> Result<Schema, String> {
        let desired = self.desired.as_ref().ok_or("apply first")?;
        let conn = self.conn();
        let after = inspect(&conn, &InspectOptions::default()).map_err(|e| format!("inspect after apply: {e}"))?;
        let left = diff::diff(&after, &desired.without_hints());
        if !left.is_empty() {
            return Err(format!("schema differs from desired: {left:?}"));
        }
        let mut c = self.conn();
        let again = plan_for(&mut c, desired, &InspectOptions::default()).map_err(|e| format!("second plan: {e}"))?.1;
        if !again.is_empty() {
            return Err(format!("second plan not empty: {:#?}", again.steps));
        }
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).map_err(|e| e.to_string())?;
        if ok != "ok" {
            return Err(format!("integrity_check: {ok}"));
        }
        // A reference to a table the database does not have (which SQLite accepts) makes every
        // row with a key a violation: the database's own, which no plan can mend.
        let fk: i64 = conn
            .query_row(
                "SELECT count(*) FROM pragma_foreign_key_check \
                 WHERE lower(parent) IN (SELECT lower(name) FROM sqlite_schema WHERE type = 'table')",
                [],
                |r| r.get(0),
            )
            .map_err(|e| e.to_string())?;
        if fk != 0 {
            return Err(format!("{fk} foreign key violations"));
        }
        Ok(after)
    }

    fn rows_kept(&self, conn: &Connection, after: &Schema, renames: &[(&str, &str, &str)]) -> Result<(), String> {
        for (table, old_rows) in &self.rows {
            // Kept under the same name (SQLite names are case-blind), or renamed by a hint.
            let new_table = after.table(table).map(|(n, _)| n.clone()).or_else(|| {
                self.desired
                    .as_ref()
                    .and_then(|d| {
                        d.tables
                            .iter()
                            .find(|(_, t)| t.renamed_from.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(table)))
                    })
                    .and_then(|(n, _)| after.table(n))
                    .map(|(n, _)| n.clone())
            });
            let Some(new_table) = new_table else { continue };
            let new_t = &after.tables[&new_table];
            let old_t = &self.before.tables[table];
            let by_rowid = !new_t.without_rowid && !old_t.without_rowid;
            let (old_rows, new_rows) = if by_rowid {
                (old_rows.clone(), keyed_rows(conn, after, &new_table, true))
            } else {
                // A row is found again by the key it had before, under its columns' new names
                // (the key itself may change, e.g. when a table becomes WITHOUT ROWID).
                let old_key = old_t.primary_key_columns();
                let new_key: Vec<String> = old_key
                    .iter()
                    .map(|o| {
                        renames
                            .iter()
                            .find(|(t, _, old)| t.eq_ignore_ascii_case(&new_table) && old.eq_ignore_ascii_case(o))
                            .map(|(_, n, _)| n.to_string())
                            .unwrap_or_else(|| o.clone())
                    })
                    .collect();
                (rekey(old_rows, &old_key), rekey(&keyed_rows(conn, after, &new_table, false), &new_key))
            };
            let old_rows = &old_rows;
            for (key, old) in old_rows {
                let new = new_rows.get(key).ok_or_else(|| format!("`{table}` lost row {key}"))?;
                for c in &new_t.columns {
                    let new_name = c.name.to_ascii_lowercase();
                    let old_name = renames
                        .iter()
                        .find(|(t, n, _)| t.eq_ignore_ascii_case(&new_table) && n.eq_ignore_ascii_case(&new_name))
                        .map(|(_, _, o)| o.to_ascii_lowercase())
                        .unwrap_or(new_name.clone());
                    let (Some(ov), Some(nv)) = (old.get(&old_name), new.get(&new_name)) else { continue };
                    let hints =
                        self.desired.as_ref().and_then(|d| d.table(&new_table)).and_then(|(_, t)| t.column(&c.name));
                    if c.generated.is_some() || hints.is_some_and(|h| h.convert.is_some()) {
                        continue;
                    }
                    let was_null_now_filled = *ov == Value::Null && *nv != Value::Null && c.not_null;
                    if !(ov == nv || was_null_now_filled || same_number(ov, nv)) {
                        return Err(format!("`{new_table}`.{new_name} row {key}: {ov:?} became {nv:?}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The database's schema and rows are exactly what they were before.
    #[track_caller]
    pub fn assert_unchanged(&self) {
        if let Err(e) = self.check_unchanged() {
            panic!("{e}");
        }
    }

    /// Whether the database's schema and rows are exactly what they were before.
    pub fn check_unchanged(&self) -> Result<(), String> {
        let conn = self.conn();
        let now = inspect(&conn, &InspectOptions::default()).map_err(|e| e.to_string())?;
        if now != self.before {
            return Err(format!("schema changed: {now:#?}"));
        }
        let rows = all_rows(&conn, &now);
        if rows != self.rows {
            let which: Vec<&String> =
                self.rows.keys().chain(rows.keys()).filter(|t| rows.get(*t) != self.rows.get(*t)).collect();
            return Err(format!("rows changed in {which:?}: {:?} became {:?}", self.rows, rows));
        }
        let sequence = sequence_rows(&conn);
        if sequence != self.sequence {
            return Err(format!("sqlite_sequence changed: {:?} became {sequence:?}", self.sequence));
        }
        Ok(())
    }
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

#[test]
fn add_unique_column_rebuilds() {
    let mut s = Scenario::new(FEED);
    s.apply(
        "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: title, type: TEXT }
      - { name: n, type: INTEGER }
      - { name: slug, type: TEXT, unique: true }
",
    );
    s.check_all(&[]);
}

#[test]
fn drop_column_native_and_indexed() {
    let mut s = Scenario::new(&format!("{FEED} CREATE INDEX feed_title ON feed(title);"));
    s.apply(
        "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: n, type: INTEGER }
",
    );
    s.check_all(&[]);
}

#[test]
fn drop_column_used_in_view_and_trigger() {
    let mut s = Scenario::new(&format!(
        "{FEED} CREATE TABLE log(msg TEXT);
         CREATE VIEW titled AS SELECT id, title FROM feed;
         CREATE TRIGGER feed_log AFTER UPDATE OF title ON feed BEGIN INSERT INTO log VALUES (NEW.title); END;"
    ));
    s.apply(
        "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: n, type: INTEGER }
  log:
    columns:
      - { name: msg, type: TEXT }
views:
  titled:
    sql: SELECT id, url FROM feed
triggers:
  feed_log:
    sql: CREATE TRIGGER feed_log AFTER UPDATE OF url ON feed BEGIN INSERT INTO log VALUES (NEW.url); END
",
    );
    s.check_all(&[]);
}

#[test]
fn type_change_rebuilds_and_keeps_rows() {
    let mut s = Scenario::new(FEED);
    s.apply(
        "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: title, type: TEXT }
      - { name: n, type: REAL }
",
    );
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
    let dir = sqlite_reconcile::store::backup_dir(db);
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
    let prepared = reconciler::prepare(&mut c, &desired, &InspectOptions::default()).unwrap();
    let observer: std::sync::Arc<dyn sqlite_reconcile::Observer> = std::sync::Arc::new(EveryCopy);
    let options = ApplyOptions { allow_destructive: true, observer: Some(observer), ..ApplyOptions::default() };
    reconciler::execute(&mut c, &prepared, &Run { kind: "apply", options, ..Run::default() }).unwrap();
    drop(c);
    assert_eq!(kept_in_backup(&s.db), two_fills_kept());
    s.check_all(&[]);
}

#[test]
fn not_null_tightening_without_nulls() {
    let mut s =
        Scenario::new("CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t VALUES (1, 'x'), (2, 'y');");
    s.apply("tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: a, type: TEXT, not_null: true }\n");
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
fn column_reorder() {
    let mut s = Scenario::new(FEED);
    s.apply(
        "tables:
  feed:
    columns:
      - { name: title, type: TEXT }
      - { name: id, type: TEXT, primary_key: true }
      - { name: n, type: INTEGER }
      - { name: url, type: TEXT }
",
    );
    s.check_all(&[]);
}

#[test]
fn strict_and_without_rowid_toggles() {
    let mut s = Scenario::new("CREATE TABLE k(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO k VALUES (1,'a'),(5,'b');");
    s.apply("tables:\n  k:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: v, type: TEXT }\n    strict: true\n    without_rowid: true\n");
    s.check_all(&[]);
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
fn composite_key_gains_a_middle_column() {
    let mut s = Scenario::new(
        "CREATE TABLE m(a TEXT NOT NULL, b TEXT NOT NULL, v INT, PRIMARY KEY (a, b));
         INSERT INTO m VALUES ('x','1',1),('x','2',2);",
    );
    s.apply(
        "tables:
  m:
    columns:
      - { name: a, type: TEXT, not_null: true }
      - { name: k, type: TEXT, not_null: true, default: \"'-'\" }
      - { name: b, type: TEXT, not_null: true }
      - { name: v, type: INT }
    primary_key: [a, k, b]
",
    );
    s.check_all(&[]);
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
    assert!(matches!(e, Error::Apply(ApplyError::Destructive(_))), "{e}");
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
fn index_rename_hint_is_inert_once_applied() {
    // An index's `renamed_from` is a hint, not part of its definition: after the
    // rename the second plan must be empty although the hint is still in the YAML.
    let mut s = Scenario::new(&format!("{FEED} CREATE INDEX feed_old_title ON feed(title);"));
    s.apply(
        "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: title, type: TEXT }
      - { name: n, type: INTEGER }
    indexes:
      feed_title: { columns: [title], renamed_from: feed_old_title }
",
    );
    s.check_all(&[]);
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
fn r5_rollback_brings_back_a_dropped_not_null_column() {
    // The rollback re-added the column empty and meant to fill it
    // afterwards, which NOT NULL refuses.
    let mut s = Scenario::new("CREATE TABLE t(a PRIMARY KEY, b NOT NULL); INSERT INTO t VALUES (1, 'x'), (2, 'y');");
    s.apply("tables:\n  t:\n    columns:\n      - { name: a, primary_key: true }\n");
    s.check_all(&[]);
}

#[test]
fn r5_rollback_brings_back_a_dropped_unique_column_with_a_default() {
    // Re-added with its default in every row, the column broke its own UNIQUE.
    let mut s = Scenario::new(
        "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT NOT NULL DEFAULT 'd' UNIQUE); INSERT INTO t VALUES (1, 'x'), (2, 'y');",
    );
    s.apply("tables:\n  t:\n    columns:\n      - { name: a, type: INTEGER, primary_key: true }\n");
    s.check_all(&[]);
}

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
fn r5_a_rebuilt_parent_renames_the_column_its_children_reference() {
    // The rebuild renamed the parent's key column in its new CREATE, leaving
    // the child's REFERENCES on the old name: "foreign key mismatch" at the check.
    let mut s = Scenario::new(
        "CREATE TABLE p(id PRIMARY KEY); CREATE TABLE c(p_id REFERENCES p(id));
         INSERT INTO p VALUES (1), (2); INSERT INTO c VALUES (1), (2), (NULL);",
    );
    s.apply(
        "tables:
  p:
    columns:
      - { name: key, primary_key: true, unique: true, renamed_from: id }
  c:
    columns:
      - { name: p_id, references: { table: p, column: key } }
",
    );
    s.check_all(&[("p", "key", "id")]);
}

#[test]
fn r5_rollback_of_a_strict_retype_puts_the_old_values_back_first() {
    // The rollback copied the converted values back into the old STRICT
    // type before restoring the kept ones, and SQLite refused them.
    let mut s = Scenario::new("CREATE TABLE t(a INTEGER) STRICT; INSERT INTO t VALUES (0), (7);");
    s.apply(
        "tables:\n  t:\n    columns:\n      - { name: a, type: BLOB, convert: CAST(a AS BLOB) }\n    strict: true\n",
    );
    s.check_all(&[]);
}

#[test]
fn r5_rollback_restores_kept_values_into_a_table_named_b() {
    // The restore read the backup under the alias `b`, which a table named
    // `b` shadowed.
    let mut s = Scenario::new(
        "CREATE TABLE b(id INTEGER PRIMARY KEY, x TEXT, y TEXT); INSERT INTO b VALUES (5, 'p', 'q'), (9, 'r', 's');",
    );
    s.apply("tables:\n  b:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: x, type: TEXT }\n");
    s.check_all(&[]);
}

#[test]
fn r5_renaming_the_key_of_a_without_rowid_table_with_a_redundant_unique() {
    // SQLite's RENAME COLUMN fails on this table ("error in table t after
    // rename: no such column: id"): the UNIQUE (id) is not rewritten. The table is
    // rebuilt instead, and so is the child that references the column.
    let mut s = Scenario::new(
        "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, UNIQUE (id)) WITHOUT ROWID;
         CREATE TABLE c(t_id INTEGER REFERENCES t(id));
         INSERT INTO t VALUES (1, 'a'), (2, 'b'); INSERT INTO c VALUES (1), (2);",
    );
    s.apply(
        "tables:
  t:
    columns:
      - { name: key, type: INTEGER, primary_key: true, renamed_from: id }
      - { name: v, type: TEXT }
    unique: [[key]]
    without_rowid: true
  c:
    columns:
      - { name: t_id, type: INTEGER, references: { table: t, column: key } }
",
    );
    s.check_all(&[("t", "key", "id")]);
}

#[test]
fn r5_renaming_the_table_level_integer_key_of_a_without_rowid_table_in_a_unique() {
    // The same SQLite failure with the key declared at table level and a
    // UNIQUE over more than that column.
    let mut s = Scenario::new(
        "CREATE TABLE t(id INTEGER, v TEXT, PRIMARY KEY (id), UNIQUE (v, id)) WITHOUT ROWID;
         INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    );
    s.apply(
        "tables:
  t:
    columns:
      - { name: key, type: INTEGER, renamed_from: id }
      - { name: v, type: TEXT }
    primary_key: [key]
    unique: [[v, key]]
    without_rowid: true
",
    );
    s.check_all(&[("t", "key", "id")]);
}

#[test]
fn r5_rollback_of_a_key_rename_and_a_dropped_column() {
    // The rollback renamed the key back first, then refilled the dropped
    // column by looking rows up under the key's other name.
    let mut s = Scenario::new(
        "CREATE TABLE t(id INT PRIMARY KEY, x, UNIQUE (x)) WITHOUT ROWID; INSERT INTO t VALUES (1, 'a'), (2, 'b');",
    );
    s.apply(
        "tables:\n  t:\n    columns:\n      - { name: key, type: INT, primary_key: true, renamed_from: id }\n    without_rowid: true\n",
    );
    s.check_all(&[("t", "key", "id")]);
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
fn r5_replacing_the_only_column_adds_before_it_drops() {
    // DROP COLUMN ran before ADD COLUMN, and SQLite refuses to drop a
    // table's last column.
    let mut s = Scenario::new("CREATE TABLE t(a); INSERT INTO t VALUES (1), (2);");
    s.apply("tables:\n  t:\n    columns:\n      - { name: b }\n");
    s.check_all(&[]);
}

#[test]
fn r5_rollback_restores_kept_nulls_of_a_dropped_column_with_a_default() {
    // The rollback read a kept NULL as "no kept value" and put the default
    // there instead, which broke the column's UNIQUE.
    let mut s = Scenario::new("CREATE TABLE t(a DEFAULT 0, b, UNIQUE (a)); INSERT INTO t VALUES (NULL, 1), (NULL, 2);");
    s.apply("tables:\n  t:\n    columns:\n      - { name: b }\n");
    s.check_all(&[]);
}

#[test]
fn r5_a_stored_column_made_generated_is_destructive() {
    // Its values were replaced by computed ones with the change classed
    // safe, so an application's default policy lost them without being asked.
    let mut s = Scenario::new("CREATE TABLE t(a INTEGER, b INTEGER); INSERT INTO t VALUES (1, 5), (2, 7);");
    let yaml =
        "tables:\n  t:\n    columns:\n      - { name: a, type: INTEGER }\n      - { name: b, type: INTEGER, generated: { expr: a * 2 } }\n";
    let e = s.try_apply(yaml, false).unwrap_err();
    assert!(matches!(e, Error::Apply(ApplyError::Destructive(_))), "{e}");
    s.assert_unchanged();
    s.apply(yaml);
    s.check_all(&[]);
}

#[test]
fn r5_rollback_of_a_rename_to_a_keyword_keeps_its_own_sql() {
    // Rewriting the refill for the column's rename back also rewrote the
    // SELECT keyword of the refill's subquery, since the column was named `select`.
    let mut s = Scenario::new("CREATE TABLE t(a, \"Col 4\" TEXT); INSERT INTO t VALUES (1, 'x'), (2, NULL);");
    s.apply("tables:\n  t:\n    columns:\n      - { name: select, renamed_from: Col 4 }\n      - { name: a }\n");
    s.check_all(&[("t", "select", "Col 4")]);
}

#[test]
fn r5_rollback_puts_backfilled_nulls_back_before_a_unique_returns() {
    // The forward plan dropped a UNIQUE and backfilled NULLs with one value;
    // the rollback's rebuild brought the UNIQUE back over those equal values before
    // its restore step could put the NULLs back.
    let mut s = Scenario::new("CREATE TABLE t(a, b UNIQUE); INSERT INTO t VALUES (1, NULL), (2, NULL), (3, 'x');");
    s.apply("tables:\n  t:\n    columns:\n      - { name: a }\n      - { name: b, not_null: true, backfill: 0 }\n");
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
