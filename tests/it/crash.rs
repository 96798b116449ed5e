//! Kill anywhere: `reconcile apply` and `reconcile rollback` run as child
//! processes and are killed with SIGKILL at instants spread over a whole run,
//! in rollback-journal (DELETE) and WAL modes. After each kill the database
//! passes `integrity_check` and holds exactly the schema and rows of before or
//! exactly those of after: never a mix, never a lost row. The history table,
//! the backup file and the plan files agree with the state it holds.
//!
//! Each case first runs the command once uninterrupted to measure it and to
//! record the state it produces, then spreads its kills uniformly over that
//! duration (and a little beyond). Assertions are about states only; timing
//! decides where a kill lands, never whether a test passes. Each case prints
//! how its kills landed. `RECONCILE_KILL_TRIALS` sets the trials per case.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use sha2::{Digest, Sha256};

use crate::harness::{command, copy_dir, stderr, Dir};

/// Trials per case when `RECONCILE_KILL_TRIALS` is not set.
const DEFAULT_TRIALS: usize = 20;

/// Rows of the rebuilt tables: enough for a run long enough to be hit at many instants.
const USERS: i64 = 20_000;
const ORDERS: i64 = 40_000;

/// Two tables rebuilt (with indexes, triggers and a view over them), a
/// backfill, a dropped column (so a backup file is written), a rename and a
/// native ADD COLUMN: a plan of many steps with every kind of bookkeeping.
const DESIRED: &str = r#"tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true, autoincrement: true }
      - { name: email, type: TEXT, not_null: true, collate: NOCASE }
      - { name: name, type: TEXT, not_null: true, backfill: "'anonymous'" }
      - { name: age, type: INTEGER, checks: [{ name: users_age_ck, expr: "age >= 0" }] }
      - { name: created_at, type: TEXT, not_null: true, default: "'2024-01-01 00:00:00'" }
    indexes:
      users_email: { columns: [email] }
      users_age_name: { columns: [age, name] }
  orders:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: user_id, type: INTEGER, references: { table: users, column: id, on_delete: restrict } }
      - { name: total, type: REAL, not_null: true, default: "0", backfill: "0" }
      - { name: memo, type: TEXT, renamed_from: note }
    indexes:
      orders_user: { columns: [user_id] }
      orders_total: { columns: [total], where: "total > 50" }
  audit:
    columns:
      - { name: id, type: INTEGER, primary_key: true, autoincrement: true }
      - { name: what, type: TEXT }
      - { name: source, type: TEXT, default: "'app'" }
triggers:
  users_audit:
    sql: CREATE TRIGGER users_audit AFTER UPDATE OF email ON users BEGIN INSERT INTO audit(what) VALUES ('u' || NEW.id); END
  orders_audit:
    sql: CREATE TRIGGER orders_audit AFTER DELETE ON orders BEGIN INSERT INTO audit(what) VALUES ('o' || OLD.id); END
views:
  spend:
    sql: SELECT u.id, u.email, sum(o.total) AS total FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.id
"#;

/// The database before: deterministic rows, an AUTOINCREMENT mark above the last row, NULLs to backfill.
fn before_sql(mode: Mode) -> String {
    before_sql_sized(mode, USERS, ORDERS)
}

/// [`before_sql`] with `users` and `orders` rows (the fault campaign uses a small one).
pub(crate) fn before_sql_sized(mode: Mode, users: i64, orders: i64) -> String {
    format!(
        "PRAGMA journal_mode = {journal};
CREATE TABLE users(id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL, name TEXT, age INTEGER, legacy TEXT);
CREATE INDEX users_email ON users(email);
CREATE INDEX users_age ON users(age);
CREATE TABLE orders(id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id) ON DELETE CASCADE, total REAL, note TEXT);
CREATE INDEX orders_user ON orders(user_id);
CREATE TABLE audit(id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT);
CREATE TRIGGER users_audit AFTER UPDATE OF email ON users BEGIN INSERT INTO audit(what) VALUES ('u' || NEW.id); END;
CREATE TRIGGER orders_audit AFTER DELETE ON orders BEGIN INSERT INTO audit(what) VALUES ('o' || OLD.id); END;
CREATE VIEW spend AS SELECT u.id, u.email, sum(o.total) AS total FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.id;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {users})
INSERT INTO users(id, email, name, age, legacy)
  SELECT i, 'user' || i || '@example.com', CASE WHEN i % 7 = 0 THEN NULL ELSE 'name ' || i END, i % 90,
         printf('%016x', i * 2654435761) FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {orders})
INSERT INTO orders(id, user_id, total, note)
  SELECT i, 1 + (i * 7919) % {users}, CASE WHEN i % 11 = 0 THEN NULL ELSE (i % 1000) / 10.0 END,
         CASE WHEN i % 3 = 0 THEN NULL ELSE 'note ' || i END FROM n;
DELETE FROM orders WHERE user_id = {users};
DELETE FROM users WHERE id = {users};
UPDATE users SET email = 'first@example.com' WHERE id = 1;",
        journal = mode.pragma()
    )
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    RollbackJournal,
    Wal,
}

impl Mode {
    pub(crate) fn pragma(self) -> &'static str {
        match self {
            Mode::RollbackJournal => "DELETE",
            Mode::Wal => "WAL",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Cmd {
    Apply,
    Rollback,
}

impl Cmd {
    pub(crate) fn args(self) -> &'static [&'static str] {
        match self {
            Cmd::Apply => {
                &["apply", "--yes", "--allow-destructive", "--db", "app.db", "--schema", "schema", "--plans", "plans"]
            }
            Cmd::Rollback => &["rollback", "--yes", "--allow-destructive", "--db", "app.db"],
        }
    }
}

/// Schema text and a digest of every row of every table (besides the history), after recovery.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Content {
    schema: Vec<String>,
    /// table → (row count, SHA-256 of its rows in key order)
    pub(crate) rows: BTreeMap<String, (u64, String)>,
}

/// A history row without what differs between runs (ids, times); `backup` says whether one is named.
#[derive(Debug, Clone, PartialEq)]
struct HistoryRow {
    id: String,
    kind: String,
    outcome: String,
    fingerprint_before: String,
    fingerprint_after: String,
    rolls_back: Option<String>,
    backup: Option<String>,
    steps: i64,
    summary: String,
}

/// What the database holds, read after the kill (opening it recovers a hot journal or WAL).
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub(crate) content: Content,
    history: Vec<HistoryRow>,
}

/// What a kill left on disk around the database, looked at before anything opens it.
#[derive(Debug, Default)]
struct Traces {
    /// A non-empty `-journal` (rollback-journal mode): a write transaction had started.
    hot_journal: bool,
    /// Bytes in `-wal` (WAL mode; the trial's copy starts without one).
    wal_bytes: u64,
    /// Backup files in `<db>.reconcile/`.
    backups: Vec<String>,
    /// Plan directories under `plans/`.
    published: Vec<String>,
    /// Hidden staging directories under `plans/` (written before COMMIT, renamed after it).
    staged: Vec<String>,
}

/// Where in a run a kill landed, told by the state it left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Landed {
    /// Old state and no trace on disk: killed while starting, planning or waiting for the lock, or
    /// (in WAL mode, where pages reach the file only when the cache spills or at COMMIT) inside the
    /// transaction before it wrote a page.
    NothingWritten,
    /// Old state with a hot journal, WAL frames, a backup file or staged plan files: killed inside
    /// the transaction after it wrote, and recovery rolled it back.
    RolledBack,
    /// New state with the plan files still staged: killed between COMMIT and their rename.
    CommittedFilesStaged,
    /// New state, killed after everything.
    AfterCommit,
    /// The run finished before the kill.
    Completed,
}

fn hash_value(h: &mut Sha256, v: ValueRef<'_>) {
    match v {
        ValueRef::Null => h.update([0]),
        ValueRef::Integer(i) => {
            h.update([1]);
            h.update(i.to_le_bytes());
        }
        ValueRef::Real(f) => {
            h.update([2]);
            h.update(f.to_bits().to_le_bytes());
        }
        ValueRef::Text(t) => {
            h.update([3]);
            h.update((t.len() as u64).to_le_bytes());
            h.update(t);
        }
        ValueRef::Blob(b) => {
            h.update([4]);
            h.update((b.len() as u64).to_le_bytes());
            h.update(b);
        }
    }
}

fn content(conn: &Connection) -> Content {
    let mut stmt = conn
        .prepare(
            "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_schema
             WHERE tbl_name <> '_reconcile_history' ORDER BY type, name",
        )
        .unwrap();
    let schema: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "{} {} on {}: {}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut stmt = conn
        .prepare(
            "SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table'
             AND name NOT IN ('sqlite_schema', '_reconcile_history') ORDER BY name",
        )
        .unwrap();
    let tables: Vec<(String, bool)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    let mut rows = BTreeMap::new();
    for (table, without_rowid) in tables {
        let quoted = format!("\"{}\"", table.replace('"', "\"\""));
        let ncols: i64 = conn.query_row("SELECT count(*) FROM pragma_table_xinfo(?1)", [&table], |r| r.get(0)).unwrap();
        let sql = if table == "sqlite_sequence" {
            format!("SELECT * FROM {quoted} ORDER BY name")
        } else if without_rowid {
            let order: Vec<String> = (1..=ncols).map(|i| i.to_string()).collect();
            format!("SELECT * FROM {quoted} ORDER BY {}", order.join(", "))
        } else {
            format!("SELECT rowid, * FROM {quoted} ORDER BY rowid")
        };
        let mut stmt = conn.prepare(&sql).unwrap();
        let width = stmt.column_count();
        let mut q = stmt.query([]).unwrap();
        let mut h = Sha256::new();
        let mut n = 0u64;
        while let Some(r) = q.next().unwrap() {
            for i in 0..width {
                hash_value(&mut h, r.get_ref(i).unwrap());
            }
            n += 1;
        }
        let digest: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        rows.insert(table, (n, digest));
    }
    Content { schema, rows }
}

fn history(conn: &Connection) -> Vec<HistoryRow> {
    let exists: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name = '_reconcile_history'", [], |r| r.get(0))
        .unwrap();
    if exists == 0 {
        return Vec::new();
    }
    let mut stmt = conn
        .prepare(
            "SELECT id, kind, outcome, fingerprint_before, fingerprint_after, rolls_back, backup, steps, summary
             FROM _reconcile_history ORDER BY rowid",
        )
        .unwrap();
    stmt.query_map([], |r| {
        Ok(HistoryRow {
            id: r.get(0)?,
            kind: r.get(1)?,
            outcome: r.get(2)?,
            fingerprint_before: r.get(3)?,
            fingerprint_after: r.get(4)?,
            rolls_back: r.get(5)?,
            backup: r.get(6)?,
            steps: r.get(7)?,
            summary: r.get(8)?,
        })
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// Opens the database as the next user of it would (recovering what a kill left) and reads its state;
/// `integrity_check` and `foreign_key_check` must be clean.
pub(crate) fn state(db: &Path) -> State {
    let conn = Connection::open(db).unwrap();
    let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok", "integrity_check of {}", db.display());
    let fk: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
    assert_eq!(fk, 0, "foreign_key_check of {}", db.display());
    State { content: content(&conn), history: history(&conn) }
}

fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

fn traces(dir: &Path) -> Traces {
    let size = |name: &str| std::fs::metadata(dir.join(name)).map(|m| m.len()).unwrap_or(0);
    let plans = names(&dir.join("plans"));
    Traces {
        hot_journal: size("app.db-journal") > 0,
        wal_bytes: size("app.db-wal"),
        backups: names(&dir.join("app.db.reconcile")),
        published: plans.iter().filter(|n| !n.starts_with('.')).cloned().collect(),
        staged: plans.iter().filter(|n| n.starts_with('.')).cloned().collect(),
    }
}

/// The id a plan directory's `meta.json` records.
fn meta_id(dir: &Path) -> String {
    for f in ["forward.sql", "rollback.sql", "meta.json"] {
        assert!(dir.join(f).is_file(), "{} lacks {f}", dir.display());
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta.json")).unwrap()).unwrap();
    meta["id"].as_str().unwrap().to_string()
}

/// A backup file's tables and rows.
fn backup_content(path: &Path) -> Content {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    content(&conn)
}

/// Describes how two contents differ, for a failure message.
fn difference(label: &str, have: &Content, want: &Content) -> String {
    let mut out = Vec::new();
    for line in have.schema.iter().filter(|l| !want.schema.contains(l)) {
        out.push(format!("  schema only in the database: {line}"));
    }
    for line in want.schema.iter().filter(|l| !have.schema.contains(l)) {
        out.push(format!("  schema only in {label}: {line}"));
    }
    let tables: std::collections::BTreeSet<&String> = have.rows.keys().chain(want.rows.keys()).collect();
    for t in tables {
        if have.rows.get(t) != want.rows.get(t) {
            out.push(format!("  rows of `{t}`: database {:?}, {label} {:?}", have.rows.get(t), want.rows.get(t)));
        }
    }
    out.join("\n")
}

/// A case's fixed points: the state before, the state after, and what the uninterrupted run took.
pub(crate) struct Reference {
    pub(crate) template: Dir,
    pub(crate) old: State,
    pub(crate) new: State,
    /// The backup file the uninterrupted apply wrote, as content.
    new_backup: Option<Content>,
    duration: Duration,
}

pub(crate) fn run_to_end(dir: &Path, cmd: Cmd) -> Duration {
    let start = Instant::now();
    let out = command(dir, cmd.args()).stdin(Stdio::null()).output().expect("run reconcile");
    let took = start.elapsed();
    assert_eq!(out.status.code(), Some(0), "{cmd:?} failed:\n{}", stderr(&out));
    took
}

fn reference(mode: Mode, cmd: Cmd) -> Reference {
    reference_of(&before_sql(mode), DESIRED, cmd)
}

/// The fixed points of `cmd` from the database `before` builds to the schema `desired`.
pub(crate) fn reference_of(before: &str, desired: &str, cmd: Cmd) -> Reference {
    let template = Dir::new();
    template.db("app.db", before);
    template.write("schema/app.yaml", desired);
    if cmd == Cmd::Rollback {
        // Rolling back starts from the change applied.
        run_to_end(template.path(), Cmd::Apply);
    }
    let old = state(&template.join("app.db"));
    // Three uninterrupted runs: the median duration (the first run may be slowed by a cold cache), and
    // the same state each time.
    let runs: Vec<(Dir, Duration)> = (0..3)
        .map(|_| {
            let run = Dir::new();
            copy_dir(template.path(), run.path());
            let took = run_to_end(run.path(), cmd);
            (run, took)
        })
        .collect();
    let mut durations: Vec<Duration> = runs.iter().map(|(_, d)| *d).collect();
    durations.sort();
    let duration = durations[1];
    let run = &runs[0].0;
    let new = state(&run.join("app.db"));
    assert_ne!(old.content, new.content, "the {cmd:?} changes nothing");
    for (other, _) in &runs[1..] {
        let s = state(&other.join("app.db"));
        assert_eq!(s.content, new.content, "two uninterrupted runs of {cmd:?} gave different states");
        assert_eq!(normalized(&s.history, &old.history), normalized(&new.history, &old.history));
    }
    let new_backup = match cmd {
        Cmd::Apply => new
            .history
            .last()
            .and_then(|h| h.backup.clone())
            .map(|name| backup_content(&run.join("app.db.reconcile").join(name))),
        Cmd::Rollback => None,
    };
    if cmd == Cmd::Rollback {
        // The rollback gives back every row of before the apply.
        let original = Dir::new();
        original.db("app.db", before);
        assert_eq!(new.content.rows, state(&original.join("app.db")).content.rows, "rollback lost or changed rows");
    }
    Reference { template, old, new, new_backup, duration }
}

/// History rows with the ids of rows not in `known` (and the backups they name) blanked.
fn normalized(rows: &[HistoryRow], known: &[HistoryRow]) -> Vec<HistoryRow> {
    rows.iter()
        .map(|r| {
            if known.iter().any(|k| k.id == r.id) {
                r.clone()
            } else {
                HistoryRow { id: "<new>".into(), backup: r.backup.as_ref().map(|_| "<new>".into()), ..r.clone() }
            }
        })
        .collect()
}

/// Checks the database and its files after one kill; says where the kill landed.
pub(crate) fn check_trial(r: &Reference, cmd: Cmd, dir: &Path, killed: bool, label: &str) -> Landed {
    let before = traces(r.template.path());
    let t = traces(dir);
    let s = state(&dir.join("app.db"));
    if s.content == r.old.content {
        assert_eq!(s.history, r.old.history, "{label}: old rows and schema, but the history changed");
        assert_eq!(t.published, before.published, "{label}: old state, but plan files were published");
        let referenced: Vec<&String> = s.history.iter().filter_map(|h| h.backup.as_ref()).collect();
        // A backup written inside the killed transaction stays, unreferenced (docs/SAFETY.md).
        let orphans: Vec<&String> = t.backups.iter().filter(|b| !before.backups.contains(b)).collect();
        for o in &orphans {
            assert!(!referenced.contains(o), "{label}: the history names the backup {o} of a change it does not hold");
        }
        for b in &before.backups {
            assert!(t.backups.contains(b), "{label}: the backup {b} of the applied change is gone");
        }
        let in_transaction = t.hot_journal || t.wal_bytes > 0 || !orphans.is_empty() || !t.staged.is_empty();
        assert!(killed, "{label}: the run ended without changing the database");
        return if in_transaction { Landed::RolledBack } else { Landed::NothingWritten };
    }
    if s.content != r.new.content {
        panic!(
            "{label}: the database is neither the state before nor the state after:\nagainst before:\n{}\nagainst after:\n{}",
            difference("before", &s.content, &r.old.content),
            difference("after", &s.content, &r.new.content)
        );
    }
    assert_eq!(
        normalized(&s.history, &r.old.history),
        normalized(&r.new.history, &r.old.history),
        "{label}: new rows and schema, but the history does not record the change"
    );
    let new_row = s.history.iter().find(|h| !r.old.history.iter().any(|o| o.id == h.id)).expect("a new history row");
    let mut staged = false;
    match cmd {
        Cmd::Apply => {
            match (&new_row.backup, &r.new_backup) {
                (Some(backup), Some(_)) => {
                    let path = dir.join("app.db.reconcile").join(backup);
                    assert!(path.is_file(), "{label}: the committed change's backup {backup} is missing");
                    let kept = Some(backup_content(&path));
                    assert_eq!(kept, r.new_backup, "{label}: the backup does not hold the kept values");
                }
                (None, None) => {}
                (named, kept) => panic!("{label}: the change names backup {named:?}, the reference kept {kept:?}"),
            }
            match t.published.as_slice() {
                [one] => assert_eq!(meta_id(&dir.join("plans").join(one)), new_row.id, "{label}: plan files"),
                [] => {
                    // Killed between COMMIT and the rename: the files are complete, under their staging name.
                    let prefix = format!(".{}.", new_row.id);
                    let dirs: Vec<&String> = t.staged.iter().filter(|d| d.starts_with(&prefix)).collect();
                    assert_eq!(dirs.len(), 1, "{label}: the committed change has no plan files: {t:?}");
                    assert_eq!(meta_id(&dir.join("plans").join(dirs[0])), new_row.id, "{label}: staged plan files");
                    staged = true;
                }
                more => panic!("{label}: one change, several plan directories: {more:?}"),
            }
        }
        Cmd::Rollback => {
            assert_eq!(t.published, before.published, "{label}: a rollback writes no plan files");
            assert_eq!(t.backups, before.backups, "{label}: a rollback keeps the backups");
        }
    }
    match (killed, staged) {
        (false, _) => Landed::Completed,
        (true, true) => Landed::CommittedFilesStaged,
        (true, false) => Landed::AfterCommit,
    }
}

/// A small deterministic generator for the jitter of kill instants.
fn next(seed: &mut u64) -> f64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    (*seed >> 11) as f64 / (1u64 << 53) as f64
}

fn trials() -> usize {
    std::env::var("RECONCILE_KILL_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_TRIALS)
}

fn kill_anywhere(mode: Mode, cmd: Cmd) {
    let start = Instant::now();
    let r = reference(mode, cmd);
    let n = trials();
    // A little past the measured run, so kills also land on a slower run's end.
    let span = r.duration.mul_f64(1.1);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 + 2 * cmd as u64 + mode as u64;
    let mut landed: BTreeMap<Landed, usize> = BTreeMap::new();
    let mut resumed = 0;
    for i in 0..n {
        let delay = span.mul_f64((i as f64 + next(&mut seed)) / n as f64);
        let label = format!("{cmd:?} in {mode:?} mode, trial {i} killed after {delay:?}");
        let dir = Dir::new();
        copy_dir(r.template.path(), dir.path());
        let child = command(dir.path(), cmd.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start reconcile");
        std::thread::sleep(delay);
        // SIGKILL: no destructor, no ROLLBACK, no cleanup runs in the child.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGKILL);
        }
        let out = child.wait_with_output().expect("wait for reconcile");
        let killed = out.status.signal() == Some(libc::SIGKILL);
        assert!(killed || out.status.success(), "{label}: the run failed:\n{}", stderr(&out));
        let where_ = check_trial(&r, cmd, dir.path(), killed, &label);
        *landed.entry(where_).or_default() += 1;
        if where_ <= Landed::RolledBack && i % 4 == 0 {
            // Whatever the kill left behind does not stop the next run from finishing the job.
            run_to_end(dir.path(), cmd);
            let s = state(&dir.join("app.db"));
            assert_eq!(s.content, r.new.content, "{label}: the run after the kill did not reach the state after");
            assert_eq!(
                normalized(&s.history, &r.old.history),
                normalized(&r.new.history, &r.old.history),
                "{label}: the run after the kill recorded another history"
            );
            resumed += 1;
        }
    }
    let count = |l: Landed| landed.get(&l).copied().unwrap_or(0);
    eprintln!(
        "kill {cmd:?} in {mode:?} mode: {n} trials in {:.1?} (uninterrupted run {:.0?}): \
         {} left nothing on disk, {} left a transaction that recovery rolled back, \
         {} committed with plan files staged, {} after commit, {} completed before the kill; \
         {resumed} rerun to the end after the kill",
        start.elapsed(),
        r.duration,
        count(Landed::NothingWritten),
        count(Landed::RolledBack),
        count(Landed::CommittedFilesStaged),
        count(Landed::AfterCommit),
        count(Landed::Completed),
    );
}

#[test]
fn apply_killed_anywhere_in_rollback_journal_mode() {
    kill_anywhere(Mode::RollbackJournal, Cmd::Apply);
}

#[test]
fn apply_killed_anywhere_in_wal_mode() {
    kill_anywhere(Mode::Wal, Cmd::Apply);
}

#[test]
fn rollback_killed_anywhere_in_rollback_journal_mode() {
    kill_anywhere(Mode::RollbackJournal, Cmd::Rollback);
}

#[test]
fn rollback_killed_anywhere_in_wal_mode() {
    kill_anywhere(Mode::Wal, Cmd::Rollback);
}

// ---- atomic on errors too ----

/// A connection whose journal cannot roll back (an application may set `journal_mode=OFF` or
/// `MEMORY` on its own connection) is refused before anything runs.
#[test]
fn journal_modes_that_cannot_roll_back_are_refused() {
    use sqlite_reconcile::{Error, Reconciler, Refusal};
    for mode in ["OFF", "MEMORY"] {
        let dir = Dir::new();
        let db = dir.db("app.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t(a) VALUES ('x');");
        let mut conn = Connection::open(&db).unwrap();
        let set: String = conn.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |r| r.get(0)).unwrap();
        assert_eq!(set.to_ascii_uppercase(), mode);
        let before = content(&conn);
        let reconciler = Reconciler::from_sources(&[(
            "app.yaml",
            "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: a, type: TEXT, collate: NOCASE }\n",
        )])
        .unwrap();
        match reconciler.reconcile(&mut conn) {
            Err(Error::Refused(Refusal::JournalMode(m))) => assert_eq!(m.to_ascii_uppercase(), mode),
            other => panic!("journal_mode={mode}: expected a refusal, got {other:?}"),
        }
        assert_eq!(content(&conn), before, "journal_mode={mode}: something ran");
    }
}

/// A plan whose result is not the desired schema (what a planner bug would produce) is rolled back
/// by the verification before COMMIT, naming the difference.
#[test]
fn verification_failure_changes_nothing() {
    use sqlite_reconcile::apply::{apply, ApplyOptions};
    use sqlite_reconcile::{load, plan_for, ApplyError, InspectOptions};
    let desired = |yaml: &str| load::desired(&load::load_sources(&[("app.yaml", yaml)]).unwrap()).unwrap();
    let dir = Dir::new();
    let db = dir.db("app.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t(a) VALUES ('x');");
    let mut conn = Connection::open(&db).unwrap();
    let before = content(&conn);
    let planned = desired("tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: a, type: TEXT, collate: NOCASE }\n");
    let (_, plan) = plan_for(&mut conn, &planned, &InspectOptions::default()).unwrap();
    // The plan makes `a` NOCASE; the schema it is verified against also wants a column `b`.
    let other = desired("tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: a, type: TEXT, collate: NOCASE }\n      - { name: b, type: TEXT }\n");
    match apply(&mut conn, &plan, &other, &ApplyOptions::default()) {
        Err(e @ ApplyError::Verify(_)) => {
            let m = e.to_string();
            assert!(m.contains("nothing was changed") && m.contains('b'), "{m}");
        }
        other => panic!("expected a verification failure, got {other:?}"),
    }
    assert!(conn.is_autocommit(), "the transaction was left open");
    assert_eq!(content(&conn), before, "a plan that failed verification changed the database");
}
