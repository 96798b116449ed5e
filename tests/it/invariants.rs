//! The applier's safety invariants that the scenario tests do not reach
//! through a schema change: journal modes that cannot roll back, the
//! foreign-key setting put back, a locked database, and a result that differs
//! from the desired schema. Library calls on real database files.

use std::time::Duration;

use rusqlite::Connection;
use sqlite_reconcile::apply::{apply, ApplyOptions};
use sqlite_reconcile::plan::{Plan, Step, StepKind};
use sqlite_reconcile::{load, ApplyError, Refusal, Risk};

use crate::harness::Dir;

const NOTES: &str = "tables:\n  notes:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: body, type: TEXT }\n";

/// The desired schema and the plan from an empty database to it.
fn plan_for(conn: &mut Connection) -> (sqlite_reconcile::Schema, Plan) {
    let loaded = load::load_sources(&[("notes.yaml", NOTES)]).expect("load");
    let desired = load::desired(&loaded).expect("desired");
    let (_, plan) = sqlite_reconcile::plan_for(conn, &desired, &Default::default()).expect("plan");
    (desired, plan)
}

fn tables(conn: &Connection) -> i64 {
    conn.query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table'", [], |r| r.get(0)).expect("count")
}

#[test]
fn journal_mode_off_is_refused() {
    let d = Dir::new();
    let mut conn = Connection::open(d.join("app.db")).expect("open");
    let mode: String = conn.query_row("PRAGMA journal_mode = OFF", [], |r| r.get(0)).expect("pragma");
    assert_eq!(mode, "off");
    let (desired, plan) = plan_for(&mut conn);
    let err = apply(&mut conn, &plan, &desired, &ApplyOptions::default()).expect_err("refused");
    assert!(matches!(err, ApplyError::Refused(Refusal::JournalMode(ref m)) if m == "off"), "{err}");
    assert_eq!(tables(&conn), 0, "nothing written");
}

#[test]
fn journal_mode_memory_is_refused_on_a_file() {
    let d = Dir::new();
    let mut conn = Connection::open(d.join("app.db")).expect("open");
    let _: String = conn.query_row("PRAGMA journal_mode = MEMORY", [], |r| r.get(0)).expect("pragma");
    let (desired, plan) = plan_for(&mut conn);
    let err = apply(&mut conn, &plan, &desired, &ApplyOptions::default()).expect_err("refused");
    assert!(matches!(err, ApplyError::Refused(Refusal::JournalMode(_))), "{err}");
    assert_eq!(tables(&conn), 0);
}

#[test]
fn foreign_keys_setting_is_put_back() {
    for on in [true, false] {
        let d = Dir::new();
        let mut conn = Connection::open(d.join("app.db")).expect("open");
        conn.execute_batch(if on { "PRAGMA foreign_keys = ON" } else { "PRAGMA foreign_keys = OFF" }).expect("pragma");
        let (desired, plan) = plan_for(&mut conn);
        apply(&mut conn, &plan, &desired, &ApplyOptions::default()).expect("apply");
        let now: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0)).expect("read");
        assert_eq!(now, on);
    }
}

#[test]
fn locked_database_is_a_busy_error_and_changes_nothing() {
    let d = Dir::new();
    let path = d.join("app.db");
    let mut conn = Connection::open(&path).expect("open");
    let (desired, plan) = plan_for(&mut conn);
    let other = Connection::open(&path).expect("open");
    other.execute_batch("BEGIN IMMEDIATE").expect("take the write lock");
    let opts = ApplyOptions { busy_timeout: Duration::from_millis(50), ..ApplyOptions::default() };
    let err = apply(&mut conn, &plan, &desired, &opts).expect_err("busy");
    assert!(matches!(err, ApplyError::Busy { .. }), "{err}");
    other.execute_batch("ROLLBACK").expect("release");
    assert_eq!(tables(&conn), 0);
    assert!(conn.is_autocommit(), "no transaction left open");
}

/// A plan whose result is not the desired schema (what a planner bug would
/// produce) is rolled back by the verification, naming the difference.
#[test]
fn verification_rolls_back_a_wrong_result() {
    let d = Dir::new();
    let mut conn = Connection::open(d.join("app.db")).expect("open");
    let (desired, _) = plan_for(&mut conn);
    let wrong = Plan {
        changes: Vec::new(),
        steps: vec![Step {
            kind: StepKind::CreateTable,
            object: "notes".into(),
            sql: vec!["CREATE TABLE notes (id INTEGER PRIMARY KEY)".into()],
            comment: "create table `notes`".into(),
            risk: Risk::Safe,
            hints: Vec::new(),
            keeps: Vec::new(),
            row_read: None,
            serves: Vec::new(),
        }],
    };
    let err = apply(&mut conn, &wrong, &desired, &ApplyOptions::default()).expect_err("verification fails");
    match &err {
        ApplyError::Verify(left) => assert!(left.iter().any(|c| c.object == "notes.body"), "{err}"),
        other => panic!("{other}"),
    }
    assert_eq!(tables(&conn), 0, "rolled back");
}

/// A kill at any instant leaves the database as it was before or as the plan
/// makes it, never in between: the process is killed (SIGKILL) at several
/// moments of a large rebuild, and the database is checked after each.
#[test]
fn killed_apply_leaves_before_or_after() {
    const ROWS: i64 = 200_000;
    let yaml = "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: v, type: TEXT, collate: NOCASE }\n";
    let mut outcomes = Vec::new();
    for delay_ms in [0u64, 5, 20, 60, 150, 400] {
        let d = Dir::new();
        d.write("schema/t.yaml", yaml);
        let path = d.join("app.db");
        {
            let c = Connection::open(&path).expect("open");
            c.execute_batch(&format!(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ROWS})
                 INSERT INTO t SELECT i, printf('value %d', i) FROM n;"
            ))
            .expect("seed");
        }
        let mut child = crate::harness::scrub(&mut std::process::Command::new(env!("CARGO_BIN_EXE_reconcile")))
            .args(["apply", "--yes"])
            .current_dir(d.path())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();

        let c = Connection::open(&path).expect("reopen");
        let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity");
        assert_eq!(ok, "ok", "killed after {delay_ms} ms");
        let sql: String =
            c.query_row("SELECT sql FROM sqlite_schema WHERE name = 't'", [], |r| r.get(0)).expect("table t");
        let after = sql.contains("NOCASE");
        let n: i64 = c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).expect("count");
        assert_eq!(n, ROWS, "killed after {delay_ms} ms: rows");
        let leftovers: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name LIKE '\\_reconcile\\_new\\_%' ESCAPE '\\'",
                [],
                |r| r.get(0),
            )
            .expect("leftovers");
        assert_eq!(leftovers, 0, "killed after {delay_ms} ms: no half-built table");
        let recorded: i64 = c
            .query_row("SELECT count(*) FROM sqlite_schema WHERE name = '_reconcile_history'", [], |r| r.get(0))
            .expect("history");
        if after {
            assert_eq!(recorded, 1, "a committed change is recorded");
        }
        outcomes.push(after);
    }
    // Whatever the timing, each run ended on one side; the last delay normally lets it finish.
    assert_eq!(outcomes.len(), 6);
}

// The CLI once printed "refused: refused: the plan has destructive steps ...".
#[test]
fn r7_refusal_is_said_once() {
    let d = Dir::new();
    d.db("app.db", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, old TEXT);");
    d.write("schema/notes.yaml", NOTES);
    let o = crate::harness::reconcile(d.path(), &["apply", "--yes"]);
    assert_eq!(o.status.code(), Some(3));
    let err = crate::harness::stderr(&o);
    assert!(err.contains("refused: the plan has destructive steps (drop column `notes.old`)"), "{err}");
    assert_eq!(err.matches("refused:").count(), 1, "{err}");
}
