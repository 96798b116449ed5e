//! Hostile input: names and expressions crafted to break out of the SQL they
//! are put in, reserved names, and an environment that refuses to be written.
//!
//! Names with quotes of every kind, brackets, newlines, spaces, keywords and
//! unicode go through create, rebuild, rename, a dropped column and rollback,
//! each with the full checks of a scenario (schema equals the desired one, a
//! second plan is empty, rows kept, rollback restores), and the plan files
//! `apply` writes run as they are. Expressions and types that are not what
//! they claim to be are refused when the YAML is loaded, naming where and
//! what, before anything runs. A read-only file, directory or filesystem and
//! a full disk give a clear error and leave the database, the plan store and
//! the backup directory exactly as they were.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::Connection;
use serde_json::json;
use sqlite_reconcile::sql::quote_ident as qi;

use crate::harness::{command, reconcile, stderr, Dir, Scenario};

/// Names that must reach SQLite as exactly one identifier each.
const NAMES: &[&str] = &[
    r#"x"; DROP TABLE users; --"#,
    "we`ird",
    "[br]acket",
    "o'neil",
    "new\nline",
    "tab\there",
    "has space",
    "naïve 表",
    "select",
    "x]; DROP TABLE users; --",
    "`; DROP TABLE users; --",
    "'; DROP TABLE users; --",
    "\"",
    "a%b_c*?",
    "1starts_with_a_digit",
];

/// Bystanders: a table the injections aim at, and the log a trigger writes to.
const BYSTANDERS: &str = "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE log(id INTEGER PRIMARY KEY, what TEXT);
INSERT INTO users(name) VALUES ('ann'), ('bob');";

/// The objects named after `n`: a table, three columns, an index, a trigger and a view.
struct Named {
    table: String,
    col: String,
    other: String,
    index: String,
    trigger: String,
    view: String,
}

impl Named {
    fn new(n: &str) -> Named {
        Named {
            table: n.to_string(),
            col: n.to_string(),
            other: format!("{n} 2"),
            index: format!("{n}_ix"),
            trigger: format!("{n}_tr"),
            view: format!("{n}_v"),
        }
    }

    fn trigger_sql(&self, table: &str) -> String {
        format!(
            "CREATE TRIGGER {} AFTER UPDATE OF {} ON {} BEGIN INSERT INTO log(what) VALUES (NEW.{}); END",
            qi(&self.trigger),
            qi(&self.col),
            qi(table),
            qi(&self.col)
        )
    }

    fn view_sql(&self, table: &str) -> String {
        format!("SELECT id, {} FROM {}", qi(&self.col), qi(table))
    }

    /// The database with every named object and a few rows.
    fn before_sql(&self) -> String {
        format!(
            "{BYSTANDERS}
CREATE TABLE {t}(id INTEGER PRIMARY KEY, {c} TEXT, plain TEXT, {o} INTEGER);
CREATE INDEX {i} ON {t}({c});
{tr};
CREATE VIEW {v} AS {vs};
INSERT INTO {t}({c}, plain, {o}) VALUES ('a', 'p1', 1), (NULL, 'p2', 2), ('c''q', NULL, 3);",
            t = qi(&self.table),
            c = qi(&self.col),
            o = qi(&self.other),
            i = qi(&self.index),
            tr = self.trigger_sql(&self.table),
            v = qi(&self.view),
            vs = self.view_sql(&self.table),
        )
    }

    /// The desired schema as YAML (JSON is YAML): the bystanders, then the named table with
    /// `columns`, its index, trigger and view, under `table`.
    fn yaml(&self, table: &str, renamed_from: Option<&str>, columns: serde_json::Value) -> String {
        let mut t = json!({
            "columns": columns,
            "indexes": { (self.index.clone()): { "columns": [qi(&self.col)] } },
        });
        if let Some(old) = renamed_from {
            t["renamed_from"] = json!(old);
        }
        let schema = json!({
            "tables": {
                "users": { "columns": [
                    { "name": "id", "type": "INTEGER", "primary_key": true },
                    { "name": "name", "type": "TEXT" },
                ]},
                "log": { "columns": [
                    { "name": "id", "type": "INTEGER", "primary_key": true },
                    { "name": "what", "type": "TEXT" },
                ]},
                (table.to_string()): t,
            },
            "triggers": { (self.trigger.clone()): { "sql": self.trigger_sql(table) } },
            "views": { (self.view.clone()): { "sql": self.view_sql(table) } },
        });
        serde_json::to_string_pretty(&schema).unwrap()
    }

    fn columns(&self, plain_collate: Option<&str>, other: Option<(&str, Option<&str>)>) -> serde_json::Value {
        let mut plain = json!({ "name": "plain", "type": "TEXT" });
        if let Some(c) = plain_collate {
            plain["collate"] = json!(c);
        }
        let mut cols = vec![
            json!({ "name": "id", "type": "INTEGER", "primary_key": true }),
            json!({ "name": self.col, "type": "TEXT" }),
            plain,
        ];
        if let Some((name, from)) = other {
            let mut o = json!({ "name": name, "type": "INTEGER" });
            if let Some(from) = from {
                o["renamed_from"] = json!(from);
            }
            cols.push(o);
        }
        json!(cols)
    }
}

/// Runs one change on the named objects through the full scenario checks.
#[track_caller]
fn check(label: &str, before: &str, yaml: &str, renames: &[(&str, &str, &str)]) {
    let mut s = Scenario::new(before);
    if let Err(e) = s.try_apply(yaml, true) {
        panic!("{label}: apply failed: {e}");
    }
    if let Err(e) = s.try_check_all(renames) {
        panic!("{label}: {e}");
    }
    let users: i64 = s.conn().query_row("SELECT count(*) FROM users", [], |r| r.get(0)).unwrap();
    assert_eq!(users, 2, "{label}: the bystander table lost rows");
}

#[test]
fn hostile_names_are_created_with_every_object() {
    for n in NAMES {
        let o = Named::new(n);
        let yaml = o.yaml(&o.table, None, o.columns(None, Some((&o.other, None))));
        check(&format!("create {n:?}"), BYSTANDERS, &yaml, &[]);
    }
}

#[test]
fn hostile_names_survive_a_rebuild() {
    for n in NAMES {
        let o = Named::new(n);
        let yaml = o.yaml(&o.table, None, o.columns(Some("NOCASE"), Some((&o.other, None))));
        check(&format!("rebuild {n:?}"), &o.before_sql(), &yaml, &[]);
    }
}

#[test]
fn hostile_names_are_renamed_to_hostile_names() {
    for n in NAMES {
        let o = Named::new(n);
        let table = format!("{n} renamed");
        let column = format!("{n} r");
        let yaml = o.yaml(&table, Some(&o.table), o.columns(None, Some((&column, Some(&o.other)))));
        check(&format!("rename {n:?}"), &o.before_sql(), &yaml, &[(&table, &column, &o.other)]);
    }
}

#[test]
fn hostile_column_is_dropped_and_restored() {
    for n in NAMES {
        let o = Named::new(n);
        // Dropping the column and changing a collation: a rebuild that keeps the dropped values in a backup.
        let yaml = o.yaml(&o.table, None, o.columns(Some("NOCASE"), None));
        check(&format!("drop column {n:?}"), &o.before_sql(), &yaml, &[]);
    }
}

/// The plan files `apply` writes are runnable as they are: `forward.sql` on a copy of the database
/// before gives the same schema and rows as the apply; `rollback.sql` undoes it.
#[test]
fn plan_files_run_as_written_with_hostile_names() {
    for n in [NAMES[0], NAMES[1], NAMES[4], NAMES[7]] {
        let o = Named::new(n);
        let dir = Dir::new();
        let db = dir.db("app.db", &o.before_sql());
        std::fs::copy(&db, dir.join("copy.db")).unwrap();
        dir.write("schema/app.yaml", &o.yaml(&o.table, None, o.columns(Some("NOCASE"), None)));
        let out = reconcile(dir.path(), &["apply", "--yes", "--allow-destructive"]);
        assert_eq!(out.status.code(), Some(0), "{n:?}: {}", stderr(&out));
        let plan_dir = std::fs::read_dir(dir.join("plans"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
            .unwrap();
        let forward = std::fs::read_to_string(plan_dir.join("forward.sql")).unwrap();
        let copy = Connection::open(dir.join("copy.db")).unwrap();
        run_script(&copy, &forward).unwrap_or_else(|e| panic!("{n:?}: forward.sql: {e}\n{forward}"));
        let applied = Connection::open(&db).unwrap();
        assert_eq!(dump(&copy), dump(&applied), "{n:?}: forward.sql differs from the apply");

        let rollback = std::fs::read_to_string(plan_dir.join("rollback.sql")).unwrap();
        run_script(&copy, &rollback).unwrap_or_else(|e| panic!("{n:?}: rollback.sql: {e}\n{rollback}"));
        let original = Dir::new();
        let fresh = Connection::open(original.db("app.db", &o.before_sql())).unwrap();
        assert_eq!(rows(&copy), rows(&fresh), "{n:?}: rollback.sql did not restore every row");
    }
}

/// Runs a plan file the way a person would paste it into `sqlite3`: statement by statement.
fn run_script(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    let mut rest = sql;
    while !rest.trim().is_empty() {
        let (stmt, tail) = split_first_statement(rest);
        let mut s = conn.prepare(stmt)?;
        let mut q = s.raw_query();
        while q.next()?.is_some() {}
        rest = tail;
    }
    Ok(())
}

/// The first complete statement of `sql` and the text after it.
fn split_first_statement(sql: &str) -> (&str, &str) {
    let mut end = 0;
    for (i, c) in sql.char_indices() {
        if c == ';' && complete(&sql[..=i]) {
            end = i + 1;
            break;
        }
    }
    if end == 0 {
        (sql, "")
    } else {
        (&sql[..end], &sql[end..])
    }
}

/// Whether text ends a complete SQL statement (`sqlite3_complete`, as the `sqlite3` shell uses).
fn complete(sql: &str) -> bool {
    let c = std::ffi::CString::new(sql).unwrap();
    unsafe { rusqlite::ffi::sqlite3_complete(c.as_ptr()) != 0 }
}

/// Every schema object's SQL and every row, for comparing two databases.
fn dump(conn: &Connection) -> (Vec<String>, Vec<String>) {
    let mut stmt = conn
        .prepare("SELECT type || ' ' || name || ': ' || coalesce(sql, '') FROM sqlite_schema WHERE name NOT LIKE '\\_reconcile\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_autoindex\\_\\_reconcile%' ESCAPE '\\' ORDER BY name")
        .unwrap();
    let schema = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    (schema, rows(conn))
}

fn rows(conn: &Connection) -> Vec<String> {
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\\_reconcile\\_%' ESCAPE '\\' ORDER BY name")
        .unwrap();
    let tables: Vec<String> = stmt.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
    let mut out = Vec::new();
    for t in tables {
        let order = if t == "sqlite_sequence" { "name" } else { "rowid" };
        let mut stmt = conn.prepare(&format!("SELECT * FROM {} ORDER BY {order}", qi(&t))).unwrap();
        let width = stmt.column_count();
        let mut q = stmt.query([]).unwrap();
        while let Some(r) = q.next().unwrap() {
            let values: Vec<String> =
                (0..width).map(|i| format!("{:?}", r.get::<_, rusqlite::types::Value>(i).unwrap())).collect();
            out.push(format!("{t}: {}", values.join(", ")));
        }
    }
    out
}

// ---- reserved names ----

/// Everything `reconcile` could leave in `dir`: the schema and rows of `app.db`, and every file and
/// directory beside it, hidden ones included (SQLite's own `-wal` and `-shm` aside).
fn footprint(dir: &Path) -> (Vec<String>, Vec<String>) {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries {
            let e = e.unwrap();
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            if rel.ends_with("-wal") || rel.ends_with("-shm") {
                continue;
            }
            out.push(rel);
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
            }
        }
    }
    let conn = Connection::open_with_flags(dir.join("app.db"), rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let (schema, rows) = dump(&conn);
    let mut files = Vec::new();
    walk(dir, dir, &mut files);
    files.sort();
    (schema.into_iter().chain(rows).collect(), files)
}

/// A directory with `app.db` (the bystanders) and `schema/app.yaml`.
fn project(yaml: &str) -> Dir {
    let dir = Dir::new();
    dir.db("app.db", BYSTANDERS);
    dir.write("schema/app.yaml", yaml);
    dir
}

/// `reconcile apply` must fail with exit 1 and every one of `parts` in its message, and change nothing.
#[track_caller]
fn refused_at_load(yaml: &str, parts: &[&str]) {
    let dir = project(yaml);
    let before = footprint(dir.path());
    let out = reconcile(dir.path(), &["apply", "--yes", "--allow-destructive"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "expected a failure for:\n{yaml}\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(err.starts_with("error: schema/app.yaml"), "the error must name the file:\n{err}");
    for p in parts {
        assert!(err.contains(p), "expected {p:?} in:\n{err}");
    }
    assert_eq!(footprint(dir.path()), before, "a refused schema changed something:\n{yaml}");
}

const USERS_YAML: &str = "tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: name, type: TEXT }
  log:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: what, type: TEXT }
";

#[test]
fn reserved_names_are_refused_where_they_are_declared() {
    let table = |name: &str| format!("{USERS_YAML}  {name}:\n    columns:\n      - {{ name: a, type: TEXT }}\n");
    let index = |name: &str| {
        format!("{USERS_YAML}  t:\n    columns:\n      - {{ name: a, type: TEXT }}\n    indexes:\n      {name}: {{ columns: [a] }}\n")
    };
    let cases = [
        (table("sqlite_sequence"), "`tables.sqlite_sequence`"),
        (table("sqlite_anything"), "`tables.sqlite_anything`"),
        (table("SQLITE_MASTER"), "`tables.SQLITE_MASTER`"),
        (table("_reconcile_history"), "`tables._reconcile_history`"),
        (table("_Reconcile_new_users"), "`tables._Reconcile_new_users`"),
        (index("_reconcile_ix"), "`tables.t.indexes._reconcile_ix`"),
        (index("sqlite_autoindex_t_1"), "`tables.t.indexes.sqlite_autoindex_t_1`"),
        (format!("{USERS_YAML}views:\n  sqlite_v:\n    sql: SELECT 1\n"), "`views.sqlite_v`"),
        (
            format!("{USERS_YAML}triggers:\n  _reconcile_t:\n    sql: CREATE TRIGGER _reconcile_t AFTER INSERT ON users BEGIN SELECT 1; END\n"),
            "`triggers._reconcile_t`",
        ),
        (
            format!("{USERS_YAML}virtual_tables:\n  sqlite_fts:\n    sql: CREATE VIRTUAL TABLE sqlite_fts USING fts5(a)\n"),
            "`virtual_tables.sqlite_fts`",
        ),
    ];
    for (yaml, path) in &cases {
        refused_at_load(yaml, &[path, "is reserved"]);
    }
}

// ---- expressions, types and statements that try to be more ----

#[test]
fn injections_through_expressions_and_types_are_refused_at_load() {
    let column = |extra: &str| {
        format!("{USERS_YAML}  t:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: a, {extra} }}\n")
    };
    let table = |extra: &str| {
        format!("{USERS_YAML}  t:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: a, type: TEXT }}\n{extra}")
    };
    let drop = "DROP TABLE users";
    let cases: Vec<(String, Vec<&str>)> = vec![
        (column(&format!("type: TEXT, default: \"1); {drop}; --\"")), vec!["`tables.t.columns[1].default`", "not a single SQL expression"]),
        (
            column("type: TEXT, default: \"0 UNION SELECT name FROM sqlite_schema\""),
            vec!["`tables.t.columns[1].default`", "not a single SQL expression"],
        ),
        (column(&format!("type: TEXT, checks: [{{ expr: \"1) OR (1); {drop}; --\" }}]")), vec!["`tables.t.columns[1].checks[0].expr`"]),
        (
            column(&format!("type: TEXT, generated: {{ expr: \"1) STORED, b INT); {drop}; --\" }}")),
            vec!["`tables.t.columns[1].generated.expr`"],
        ),
        (column(&format!("type: TEXT, convert: \"a); {drop}; --\"")), vec!["`tables.t.columns[1].convert`"]),
        (column(&format!("type: TEXT, not_null: true, backfill: \"'x'); {drop}; --\"")), vec!["`tables.t.columns[1].backfill`"]),
        (
            column(&format!("type: \"TEXT); {drop}; CREATE TABLE x(y\"")),
            vec!["`tables.t.columns[1].type`", "is not a column type"],
        ),
        (column("type: \"TEXT, evil INTEGER\""), vec!["`tables.t.columns[1].type`", "is not a column type"]),
        (column("type: \"TEXT CHECK (0)\""), vec!["`tables.t.columns[1].type`", "`CHECK` starts a constraint"]),
        (column("type: \"INTEGER PRIMARY KEY\""), vec!["`tables.t.columns[1].type`", "`PRIMARY` starts a constraint"]),
        (column(&format!("type: TEXT, collate: \"NOCASE); {drop}; --\"")), vec!["`tables.t`", "no such collation sequence"]),
        (table(&format!("    checks:\n      - {{ expr: \"a <> ''); {drop}; --\" }}\n")), vec!["`tables.t.checks[0].expr`"]),
        (table(&format!("    indexes:\n      ix: {{ columns: [a], where: \"1); {drop}; --\" }}\n")), vec!["`tables.t.indexes.ix.where`"]),
        (
            table("    indexes:\n      ix: { columns: [a], where: \"a IN (SELECT name FROM users)\" }\n"),
            vec!["`tables.t.indexes.ix`", "subqueries prohibited in partial index WHERE clauses"],
        ),
        (table(&format!("    indexes:\n      ix: {{ columns: [\"a); {drop}; --\"] }}\n")), vec!["tables.t.indexes.ix.columns", "unbalanced"]),
        (table(&format!("    unique: [[\"a); {drop}; --\"]]\n")), vec!["tables.t.unique"]),
        (format!("{USERS_YAML}views:\n  v:\n    sql: \"SELECT 1; {drop}\"\n"), vec!["`views.v`", "not one SELECT"]),
        (format!("{USERS_YAML}views:\n  v:\n    sql: \"DELETE FROM users\"\n"), vec!["`views.v`", "not one SELECT"]),
        (
            format!("{USERS_YAML}triggers:\n  tr:\n    sql: \"CREATE TRIGGER tr AFTER INSERT ON users BEGIN SELECT 1; END; {drop}\"\n"),
            vec!["`triggers.tr`", "not one CREATE TRIGGER statement"],
        ),
        (
            format!("{USERS_YAML}triggers:\n  tr:\n    sql: \"{drop}\"\n"),
            vec!["`triggers.tr`", "not one CREATE TRIGGER statement"],
        ),
        (
            format!("{USERS_YAML}virtual_tables:\n  ft:\n    sql: \"CREATE VIRTUAL TABLE ft USING fts5(a); {drop}\"\n"),
            vec!["`virtual_tables.ft`", "not one CREATE VIRTUAL TABLE statement"],
        ),
    ];
    for (yaml, parts) in &cases {
        refused_at_load(yaml, parts);
    }
}

/// Names are never code: a constraint or table name made of SQL is quoted and stays a name.
#[test]
fn sql_in_a_constraint_name_stays_a_name() {
    let dir = project(&format!(
        "{USERS_YAML}  t:\n    columns:\n      - {{ name: a, type: TEXT, references: {{ table: users, column: id }} }}\n    checks:\n      - {{ name: \"c CHECK (0)); DROP TABLE users; --\", expr: \"a IS NOT NULL\" }}\n"
    ));
    let out = reconcile(dir.path(), &["apply", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let conn = Connection::open(dir.join("app.db")).unwrap();
    let users: i64 = conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0)).unwrap();
    assert_eq!(users, 2);
    conn.execute("INSERT INTO t(a) VALUES (1)", []).expect("the name added no CHECK (0)");
    let again = reconcile(dir.path(), &["drift"]);
    assert_eq!(again.status.code(), Some(0), "in sync after apply: {}", stderr(&again));
}

/// A saved plan is data, not a script: a statement smuggled into one of its steps is refused before
/// anything runs, and the apply changes nothing.
#[test]
fn statement_smuggled_into_a_saved_plan_is_refused() {
    let dir = project(&format!("{USERS_YAML}  t:\n    columns:\n      - {{ name: a, type: TEXT }}\n"));
    let out = reconcile(dir.path(), &["plan", "--out", "saved.json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("saved.json")).unwrap()).unwrap();
    let sql = &mut saved["forward"]["steps"][0]["sql"][0];
    *sql = json!(format!("{}; DROP TABLE users", sql.as_str().unwrap()));
    std::fs::write(dir.join("saved.json"), serde_json::to_string(&saved).unwrap()).unwrap();
    let before = footprint(dir.path());
    let out = reconcile(dir.path(), &["apply", "--yes", "--plan", "saved.json"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("more than one SQL statement") && err.contains("nothing was changed"), "{err}");
    assert_eq!(footprint(dir.path()), before, "the smuggled statement or the plan ran");
}

// ---- an environment that refuses to be written ----

const SMALL: &str = "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b TEXT);
INSERT INTO t(a, b) VALUES ('x', 'kept'), ('y', NULL);";

/// A collation changed (a rebuild); with `drop_b` also a dropped column (a backup file).
fn small_yaml(drop_b: bool) -> String {
    let b = if drop_b { "" } else { "      - { name: b, type: TEXT }\n" };
    format!("tables:\n  t:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: a, type: TEXT, collate: NOCASE }}\n{b}")
}

fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Runs `reconcile` as a user that file permissions apply to: the test's own user, or `nobody` under
/// root, which ignores them.
fn reconcile_unprivileged(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = command(dir, args);
    if is_root() {
        cmd.uid(65534).gid(65534);
    }
    cmd.output().expect("run reconcile")
}

/// `reconcile apply` must fail with exit 1 and every one of `parts` in its message, and leave `dir`
/// exactly as `before`.
#[track_caller]
fn fails_and_changes_nothing(out: &Output, dir: &Path, before: &(Vec<String>, Vec<String>), parts: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "expected a failure:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    for p in parts {
        assert!(err.contains(p), "expected {p:?} in:\n{err}");
    }
    assert_eq!(&footprint(dir), before, "a failed apply changed something");
}

#[test]
fn read_only_database_file_changes_nothing() {
    let dir = Dir::new();
    let db = dir.db("app.db", SMALL);
    dir.write("schema/app.yaml", &small_yaml(true));
    chmod(dir.path(), 0o777);
    chmod(&db, 0o444);
    let before = footprint(dir.path());
    let out = reconcile_unprivileged(dir.path(), &["apply", "--yes", "--allow-destructive"]);
    chmod(&db, 0o644);
    fails_and_changes_nothing(&out, dir.path(), &before, &["app.db: the database cannot be written", "read-only"]);
}

#[test]
fn read_only_directory_changes_nothing() {
    // Rollback-journal mode: SQLite cannot create the journal beside the database.
    for drop_b in [false, true] {
        let dir = Dir::new();
        let db = dir.db("app.db", SMALL);
        dir.write("schema/app.yaml", &small_yaml(drop_b));
        chmod(&db, 0o666);
        chmod(dir.path(), 0o555);
        let before = footprint(dir.path());
        let out = reconcile_unprivileged(dir.path(), &["apply", "--yes", "--allow-destructive"]);
        chmod(dir.path(), 0o755);
        // Without a backup the journal is the first file it needs; with one, the backup directory is.
        let expect = if drop_b { "app.db.reconcile: Permission denied" } else { "the database cannot be written" };
        fails_and_changes_nothing(&out, dir.path(), &before, &[expect, "nothing was changed"]);
    }
}

#[test]
fn unwritable_plan_store_changes_nothing() {
    let dir = Dir::new();
    let db = dir.db("app.db", SMALL);
    dir.write("schema/app.yaml", &small_yaml(true));
    let plans = dir.join("plans");
    std::fs::create_dir(&plans).unwrap();
    chmod(dir.path(), 0o777);
    chmod(&db, 0o666);
    chmod(&plans, 0o555);
    let before = footprint(dir.path());
    let out = reconcile_unprivileged(dir.path(), &["apply", "--yes", "--allow-destructive"]);
    chmod(&plans, 0o755);
    // The backup written before the plan files is gone again, with the directory made for it.
    fails_and_changes_nothing(
        &out,
        dir.path(),
        &before,
        &["writing the plan files under plans", "nothing was changed"],
    );
}

/// A small tmpfs mounted for one test, unmounted when dropped; `None` (the test skips, saying why)
/// where mounting is not permitted.
struct Tmpfs {
    dir: Dir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = Dir::new();
        if !is_root() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(o) if o.status.success() => Some(Tmpfs { dir }),
            Ok(o) => {
                eprintln!("skipped: mount -t tmpfs is not permitted here: {}", stderr(&o).trim());
                None
            }
            Err(e) => {
                eprintln!("skipped: cannot run mount: {e}");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount_read_only(&self) {
        let o = Command::new("mount").args(["-o", "remount,ro"]).arg(self.path()).output().unwrap();
        assert!(o.status.success(), "remount read-only: {}", stderr(&o));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).output();
    }
}

/// A database of about 580 KB: 6,000 rows of an 80-character text and a short one.
fn big_db(path: &Path, journal_mode: &str) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = {journal_mode};
CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 6000)
INSERT INTO t(a, b) SELECT printf('%080d', i), 'b' || i FROM n;"
    ))
    .unwrap();
}

#[test]
fn full_disk_changes_nothing() {
    // Built outside, copied in: the 1 MiB filesystem holds the database but not a rebuild of it
    // (its copy of the table, and the journal or WAL), nor the backup of its big column.
    let drop_a = "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: b, type: TEXT, collate: NOCASE }\n";
    for (journal_mode, yaml, expect) in [
        ("DELETE", small_yaml(false), "app.db: the disk is full"),
        ("WAL", small_yaml(false), "app.db: the disk is full"),
        ("DELETE", drop_a.to_string(), "writing the backup"),
    ] {
        let Some(fs) = Tmpfs::mount("1m") else { return };
        let outside = Dir::new();
        big_db(&outside.join("app.db"), journal_mode);
        std::fs::copy(outside.join("app.db"), fs.path().join("app.db")).unwrap();
        std::fs::create_dir(fs.path().join("schema")).unwrap();
        std::fs::write(fs.path().join("schema/app.yaml"), yaml).unwrap();
        let before = footprint(fs.path());
        let out = reconcile(fs.path(), &["apply", "--yes", "--allow-destructive"]);
        fails_and_changes_nothing(&out, fs.path(), &before, &[expect, "full", "nothing was changed"]);
        let conn = Connection::open(fs.path().join("app.db")).unwrap();
        let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
        assert_eq!(ok, "ok", "{journal_mode}");
    }
}

#[test]
fn read_only_filesystem_changes_nothing() {
    let Some(fs) = Tmpfs::mount("4m") else { return };
    let db: PathBuf = fs.path().join("app.db");
    Connection::open(&db).unwrap().execute_batch(SMALL).unwrap();
    std::fs::create_dir(fs.path().join("schema")).unwrap();
    std::fs::write(fs.path().join("schema/app.yaml"), small_yaml(true)).unwrap();
    fs.remount_read_only();
    let before = footprint(fs.path());
    let out = reconcile(fs.path(), &["apply", "--yes", "--allow-destructive"]);
    fails_and_changes_nothing(&out, fs.path(), &before, &["app.db: the database cannot be written", "read-only"]);
}
