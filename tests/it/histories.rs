//! Regressions from real application histories: databases that SQLite accepts and applications
//! run, which `reconcile` must adopt (inspect → YAML → an empty plan) and change (the four checks
//! and the rollback) without changing what should not change. Each is a minimal copy of the case.

use rusqlite::Connection;
use sqlite_reconcile::{load, plan_for, InspectOptions, Schema};

use crate::harness::{reconcile, sequence_rows, stderr, Dir, Scenario};

/// Adopts the database as a new user does: `reconcile inspect -o`, then `reconcile plan` against
/// it must find nothing to do. Returns the inspected YAML and the plan's warnings.
#[track_caller]
fn adopt(s: &Scenario) -> (String, String) {
    let dir = s.db.parent().expect("the database's directory");
    let inspected = reconcile(dir, &["inspect", "--db", "app.db", "-o", "schema/app.yaml"]);
    assert_eq!(inspected.status.code(), Some(0), "inspect: {}", stderr(&inspected));
    let yaml = std::fs::read_to_string(dir.join("schema/app.yaml")).expect("inspect wrote the YAML");
    let plan = reconcile(dir, &["plan", "--db", "app.db", "--schema", "schema"]);
    assert_eq!(plan.status.code(), Some(0), "plan: {}", stderr(&plan));
    assert!(stderr(&plan).contains("no changes: the database matches the schema"), "plans empty: {}", stderr(&plan));
    // The library agrees, through the same YAML.
    let desired = load::desired_from_dir(&dir.join("schema")).expect("the inspected YAML loads back");
    let mut conn = Connection::open(&s.db).unwrap();
    let (_, again) = plan_for(&mut conn, &desired, &InspectOptions::default()).unwrap();
    assert!(again.is_empty(), "{:#?}", again.steps);
    (yaml, stderr(&plan))
}

/// `yaml` with `from` replaced once by `to` (the change a scenario applies).
#[track_caller]
fn edited(yaml: &str, from: &str, to: &str) -> String {
    assert!(yaml.contains(from), "`{from}` in {yaml}");
    yaml.replacen(from, to, 1)
}

// A table swap (`attachments` pointed at `ciphers`, which was renamed to `oldCiphers`, rebuilt
// and dropped) leaves a reference to a table that no longer exists; SQLite keeps it.
const DANGLING: &str = "
PRAGMA foreign_keys = OFF;
CREATE TABLE ciphers (uuid TEXT PRIMARY KEY, data TEXT);
CREATE TABLE attachments (
  id TEXT PRIMARY KEY NOT NULL,
  cipher_uuid TEXT NOT NULL REFERENCES oldCiphers (uuid) ON DELETE CASCADE,
  file_name TEXT NOT NULL
);
INSERT INTO ciphers VALUES ('c1', 'x'), ('c2', 'y');
INSERT INTO attachments VALUES ('a1', 'c1', 'one.png'), ('a2', 'c2', 'two.png'), ('a3', 'gone', 'three.png');
";

#[test]
fn dangling_reference_is_adopted_changed_and_rolled_back() {
    let mut s = Scenario::new(DANGLING);
    let (yaml, warnings) = adopt(&s);
    assert!(yaml.contains("table: oldCiphers"), "{yaml}");
    assert!(
        warnings.contains("warning[dangling-reference]")
            && warnings.contains("`tables.attachments.columns.cipher_uuid.references`: references table `oldCiphers`"),
        "{warnings}"
    );
    assert!(!warnings.contains("foreign-key-without-index"), "no index advice for a parent that is gone: {warnings}");
    // A change to the table: a rebuild (collation) and a new column, its reference kept.
    let changed = edited(
        &yaml,
        "    - name: file_name\n      type: TEXT\n",
        "    - name: file_name\n      type: TEXT\n      collate: NOCASE\n",
    );
    let changed = edited(
        &changed,
        "      not_null: true\n  ciphers:",
        "      not_null: true\n    - name: size\n      type: INTEGER\n  ciphers:",
    );
    let plan = s.apply(&changed);
    assert!(plan.steps.iter().any(|st| st.object == "attachments"), "{:#?}", plan.steps);
    s.check_all(&[]);
}

#[test]
fn dropping_the_parent_of_a_kept_reference_is_still_a_violation() {
    // The planner leaves out only references that dangled before the plan: one the plan itself
    // leaves dangling over rows is refused like any other violation.
    let mut s = Scenario::new(
        "CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p (id));
         INSERT INTO p VALUES (1); INSERT INTO c VALUES (1, 1);",
    );
    let yaml = "tables:\n  c:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: p, type: INTEGER, references: { table: p, column: id } }\n";
    let e = s.try_apply(yaml, true).expect_err("a plan that leaves rows pointing at nothing is refused");
    assert!(e.to_string().contains("reference missing `p` rows"), "{e}");
    s.assert_unchanged();
}

// A view that calls a function the application registers on its connections (a per-user
// setting), and a trigger that calls one: SQLite accepts both, and cannot prepare them here.
const APP_FUNCTIONS: &str = "
CREATE TABLE settings (k TEXT PRIMARY KEY, v TEXT);
CREATE TABLE memo (id INTEGER PRIMARY KEY, body TEXT NOT NULL, visibility TEXT NOT NULL DEFAULT 'PRIVATE');
CREATE VIEW memo_visible AS SELECT id, body FROM memo WHERE visibility = user_setting('memo-visibility');
CREATE VIEW setting_names AS SELECT k FROM settings WHERE user_setting(k) IS NOT NULL;
CREATE VIEW visible_setting_names AS SELECT k AS name FROM setting_names WHERE user_setting(k) <> '';
CREATE TRIGGER memo_audit AFTER UPDATE OF body ON memo BEGIN SELECT audit_log('memo', NEW.id); END;
INSERT INTO settings VALUES ('memo-visibility', 'PUBLIC');
INSERT INTO memo (body, visibility) VALUES ('first', 'PUBLIC'), ('second', 'PRIVATE');
";

#[test]
fn views_and_triggers_calling_application_functions_are_adopted_changed_and_rolled_back() {
    let mut s = Scenario::new(APP_FUNCTIONS);
    let (yaml, warnings) = adopt(&s);
    for path in ["views.memo_visible", "views.setting_names", "views.visible_setting_names", "triggers.memo_audit"] {
        assert!(warnings.contains(&format!("warning[not-prepared]: schema/app.yaml: `{path}`")), "{path}: {warnings}");
    }
    assert!(warnings.contains("no such function: user_setting"), "{warnings}");
    // Rebuild `memo` under its view and trigger: both are dropped first and made again after.
    let changed = edited(
        &yaml,
        "    - name: body\n      type: TEXT\n",
        "    - name: body\n      type: TEXT\n      collate: NOCASE\n",
    );
    let plan = s.apply(&changed);
    let kinds: Vec<String> = plan.steps.iter().map(|st| format!("{:?} {}", st.kind, st.object)).collect();
    assert!(kinds.contains(&"RebuildTable memo".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"CreateView memo_visible".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"CreateTrigger memo_audit".to_string()), "{kinds:?}");
    s.check_all(&[]);
}

#[test]
fn declared_application_functions_are_checked_with_stand_ins() {
    let s = Scenario::new(APP_FUNCTIONS);
    let (yaml, _) = adopt(&s);
    let dir = s.db.parent().unwrap();
    // Declared: the bodies prepare against stand-ins, so nothing is left unchecked.
    std::fs::write(dir.join("schema/functions.yaml"), "functions:\n  user_setting: { args: 1 }\n  audit_log: {}\n")
        .unwrap();
    let out = reconcile(dir, &["plan", "--db", "app.db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!stderr(&out).contains("not-prepared"), "{}", stderr(&out));
    assert!(stderr(&out).contains("no changes"), "{}", stderr(&out));
    // A declaration that does not fit the call is SQLite's error, placed at the view.
    std::fs::write(dir.join("schema/functions.yaml"), "functions:\n  user_setting: { args: 2 }\n  audit_log: {}\n")
        .unwrap();
    let out = reconcile(dir, &["plan", "--db", "app.db"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("`views.memo_visible`: SQLite rejects it: wrong number of arguments to function user_setting()"),
        "{}",
        stderr(&out)
    );
    // And a real mistake in such a view is still an error once the function is declared.
    std::fs::write(dir.join("schema/functions.yaml"), "functions:\n  user_setting: { args: 1 }\n  audit_log: {}\n")
        .unwrap();
    std::fs::write(
        dir.join("schema/app.yaml"),
        edited(&yaml, "SELECT id, body FROM memo", "SELECT id, nope FROM memo"),
    )
    .unwrap();
    let out = reconcile(dir, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`views.memo_visible`: SQLite rejects it: no such column: nope"), "{}", stderr(&out));
    // SQLite's own functions are not declared: a stand-in would hide them.
    std::fs::write(dir.join("schema/functions.yaml"), "functions:\n  lower: { args: 1 }\n").unwrap();
    let out = reconcile(dir, &["check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("`functions.lower`: `lower` is one of SQLite's own functions"), "{}", stderr(&out));
    // The database was never written by any of these.
    s.assert_unchanged();
}

/// A stack of views, each reading the one below twice through a CTE: an older SQLite reads the
/// top one, SQLite 3.54 refuses to prepare it ("VIEWs and/or subqueries nested too deep").
fn deep_views(depth: usize) -> String {
    let mut sql = String::from(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT NOT NULL);
         INSERT INTO t VALUES (1, 'x'), (2, 'y');
         CREATE VIEW v0 AS SELECT id, a FROM t;\n",
    );
    for i in 1..depth {
        let below = i - 1;
        sql.push_str(&format!(
            "CREATE VIEW v{i} AS WITH w AS (SELECT id, a FROM v{below}) SELECT id, a FROM w UNION ALL SELECT id, a FROM v{below};\n"
        ));
    }
    sql
}

#[test]
fn views_nested_deeper_than_this_sqlite_prepares_are_adopted_changed_and_rolled_back() {
    let mut s = Scenario::new(&deep_views(12));
    // This build refuses the top of the stack: the case is real.
    let conn = s.conn();
    let refused = conn.prepare("SELECT * FROM v11").map(drop).expect_err("SQLite 3.54 refuses the deepest view");
    assert!(refused.to_string().contains("nested too deep"), "{refused}");
    drop(conn);
    let (yaml, warnings) = adopt(&s);
    assert!(warnings.contains("warning[not-prepared]: schema/app.yaml: `views.v11`"), "{warnings}");
    assert!(warnings.contains("nested too deep"), "{warnings}");
    let changed =
        edited(&yaml, "    - name: a\n      type: TEXT\n", "    - name: a\n      type: TEXT\n      collate: NOCASE\n");
    let plan = s.apply(&changed);
    let views_made = plan.steps.iter().filter(|st| format!("{:?}", st.kind) == "CreateView").count();
    assert_eq!(views_made, 12, "every view over `t` is made again: {:#?}", plan.steps);
    s.check_all(&[]);
}

#[test]
fn collate_binary_written_out_and_collation_spellings_plan_empty() {
    let sql = "
        CREATE TABLE users (
          id INTEGER PRIMARY KEY,
          email TEXT NOT NULL COLLATE BINARY,
          handle TEXT COLLATE nocase,
          name TEXT COLLATE \"NoCase\",
          code TEXT COLLATE rtrim
        );
        CREATE INDEX users_email ON users (email COLLATE nocase, handle COLLATE \"BINARY\");
        INSERT INTO users VALUES (1, 'a@x', 'A', 'Ann', 'c1 ');";
    let mut s = Scenario::new(sql);
    let (yaml, _) = adopt(&s);
    assert!(!yaml.contains("collate: BINARY"), "a column's spelled-out default collation is no collation: {yaml}");
    // The same schema written the usual way: no change at all.
    let plain = "tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: email, type: TEXT, not_null: true }
      - { name: handle, type: TEXT, collate: NOCASE }
      - { name: name, type: TEXT, collate: nocase }
      - { name: code, type: TEXT, collate: RTRIM }
    indexes:
      users_email: { columns: [email COLLATE NOCASE, handle COLLATE binary] }
";
    let plan = s.apply(plain);
    assert!(plan.is_empty(), "{:#?}", plan.steps);
    s.check_all(&[]);
    // Written out in the YAML too.
    let spelled = plain.replace(
        "{ name: email, type: TEXT, not_null: true }",
        "{ name: email, type: TEXT, not_null: true, collate: BINARY }",
    );
    assert!(s.apply(&spelled).is_empty());
    // A real change of collation is still one.
    let nocase = plain.replace(
        "{ name: email, type: TEXT, not_null: true }",
        "{ name: email, type: TEXT, not_null: true, collate: NOCASE }",
    );
    let plan = s.apply(&nocase);
    assert!(plan.steps.iter().any(|st| format!("{:?}", st.kind) == "RebuildTable"), "{:#?}", plan.steps);
    s.check_all(&[]);
}

const COUNTERS: &str = "
CREATE TABLE jobs (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT);
CREATE TABLE never_used (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT);
CREATE TABLE emptied (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT);
CREATE TABLE dropped_empty (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT);
CREATE TABLE dropped_used (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT);
INSERT INTO jobs (title) VALUES ('a'), ('b'), ('c');
DELETE FROM jobs WHERE id = 3;
INSERT INTO emptied VALUES (7, 'gone');
DELETE FROM emptied;
INSERT INTO dropped_used VALUES (4, 'kept by the backup');
CREATE TABLE demoted (id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT);
INSERT INTO demoted VALUES (1, 'stays'), (9, 'deleted');
DELETE FROM demoted WHERE id = 9;
";

#[test]
fn sqlite_sequence_after_a_rollback_is_the_one_before_row_for_row() {
    let mut s = Scenario::new(COUNTERS);
    let before = sequence_rows(&s.conn());
    assert_eq!(before.len(), 4, "jobs, emptied, dropped_used and demoted have counters: {before:?}");
    let table = |name: &str| {
        format!(
            "  {name}:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true, autoincrement: true }}\n      - {{ name: title, type: TEXT, collate: NOCASE }}\n"
        )
    };
    // Three rebuilds (a table with rows, one that never had a row, one emptied), two drops, and
    // a table that loses AUTOINCREMENT, and with it its counter (9, above its rows).
    let demoted = "  demoted:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: title, type: TEXT }\n";
    let yaml = format!("tables:\n{}{}{}{demoted}", table("jobs"), table("never_used"), table("emptied"));
    let plan = s.apply(&yaml);
    assert_eq!(plan.steps.iter().filter(|st| format!("{:?}", st.kind) == "RebuildTable").count(), 4);
    // The change itself keeps the counters of the tables that keep AUTOINCREMENT: none made up.
    let after = sequence_rows(&s.conn());
    let kept: Vec<_> = before.iter().filter(|(n, _)| !n.starts_with("dropped") && n != "demoted").cloned().collect();
    assert_eq!(after, kept);
    // check_all's rollback compares sqlite_sequence with the one before, row for row
    // (`Scenario::check_unchanged`), then applies the change again.
    s.check_all(&[]);
    assert_eq!(sequence_rows(&s.conn()), kept, "applied again, the counters are the same again");
}

#[test]
fn inspected_yaml_of_every_case_loads_back_to_the_same_schema() {
    // inspect's output always loads back: the cases above, inspected and loaded, give the schema
    // they came from.
    let deep = deep_views(12);
    for sql in [DANGLING, APP_FUNCTIONS, deep.as_str(), COUNTERS] {
        let dir = Dir::new();
        let db = dir.db("app.db", sql);
        let conn = Connection::open(&db).unwrap();
        let actual = sqlite_reconcile::inspect(&conn, &InspectOptions::default()).unwrap();
        let yaml = sqlite_reconcile::to_yaml(&actual).unwrap();
        let loaded = load::load_sources(&[("app.yaml", yaml.as_str())]).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        let desired: Schema = load::desired(&loaded).unwrap_or_else(|e| panic!("{e}\n{yaml}"));
        assert!(sqlite_reconcile::diff::diff(&actual, &desired).is_empty(), "{yaml}");
    }
}
