//! Other processes write while `reconcile` changes the schema, and hold locks
//! it needs.
//!
//! Writers are separate processes: this test binary started again with
//! `RECONCILE_TEST_WRITER_*` set, running only [`writer_process`]. Each one
//! inserts and updates rows in a loop with a busy timeout, as an application
//! does, and appends every write SQLite acknowledged (its COMMIT returned) to
//! a file. While they run, `reconcile apply` rebuilds the table they write to
//! and `reconcile rollback` rebuilds it back. Afterwards every acknowledged
//! write must be in the database with its last acknowledged value, and every
//! acknowledged update must have fired its trigger exactly once.
//!
//! Then the lock itself: `apply` waits for another writer up to its busy
//! timeout, and when the lock stays taken it gives up with a message naming
//! the lock and the timeout, leaving the database, the plan store and the
//! backup directory exactly as they were.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use sqlite_reconcile::apply::is_busy;

use crate::harness::{command, reconcile, reconcile_env, stderr, Dir};

const WRITER_DB: &str = "RECONCILE_TEST_WRITER_DB";
const WRITER_ACKS: &str = "RECONCILE_TEST_WRITER_ACKS";
const WRITER_STOP: &str = "RECONCILE_TEST_WRITER_STOP";
const WRITER_INDEX: &str = "RECONCILE_TEST_WRITER_INDEX";

const WRITERS: i64 = 3;
const USERS: i64 = 20_000;

fn before_sql(journal_mode: &str) -> String {
    format!(
        "PRAGMA journal_mode = {journal_mode};
CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT, score INTEGER DEFAULT 0);
CREATE INDEX users_email ON users(email);
CREATE TABLE events(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, what TEXT NOT NULL);
CREATE TRIGGER users_renamed AFTER UPDATE OF name ON users BEGIN INSERT INTO events(user_id, what) VALUES (NEW.id, NEW.name); END;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {USERS})
INSERT INTO users(id, email, name, score) SELECT i, 'user' || i || '@example.com', 'name ' || i, i % 100 FROM n;"
    )
}

/// Rebuilds `users` (a collation, a NOT NULL, a column added), keeping the columns the writers use.
const DESIRED: &str = r#"tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: email, type: TEXT, not_null: true, collate: NOCASE }
      - { name: name, type: TEXT }
      - { name: score, type: INTEGER, not_null: true, default: "0", backfill: "0" }
      - { name: tier, type: TEXT, default: "'free'" }
    indexes:
      users_email: { columns: [email] }
      users_name: { columns: [name] }
  events:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: user_id, type: INTEGER, not_null: true }
      - { name: what, type: TEXT, not_null: true }
triggers:
  users_renamed:
    sql: CREATE TRIGGER users_renamed AFTER UPDATE OF name ON users BEGIN INSERT INTO events(user_id, what) VALUES (NEW.id, NEW.name); END
"#;

fn micros() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros()).unwrap_or(0)
}

/// The writer's loop, in its own process: insert a row of its own, rename it, rename one of the
/// rows it owns among those of before; one line per attempt in the acknowledgement file.
#[test]
#[ignore = "a writer process, started by the concurrent tests"]
fn writer_process() {
    let (Ok(db), Ok(acks), Ok(stop), Ok(index)) =
        (std::env::var(WRITER_DB), std::env::var(WRITER_ACKS), std::env::var(WRITER_STOP), std::env::var(WRITER_INDEX))
    else {
        return;
    };
    let k: i64 = index.parse().unwrap();
    let conn = Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(30)).unwrap();
    let mut acks = std::fs::File::create(&acks).unwrap();
    let mut write = |op: &str, id: i64, name: &str, sql: &str| {
        let start = micros();
        let result = conn.execute(sql, rusqlite::params![id, name]);
        let end = micros();
        let (line, acked) = match result {
            Ok(1) => (format!("{op} {id} {name} {start} {end}"), true),
            Ok(n) => (format!("E {op} {id} changed {n} rows"), false),
            Err(e) if is_busy(&e) => (format!("B {op} {id} {start} {end}"), false),
            Err(e) => (format!("E {op} {id} {e}"), false),
        };
        // One write(2) per line, after SQLite returned: the file never claims more than was acknowledged.
        acks.write_all(format!("{line}\n").as_bytes()).unwrap();
        acked
    };
    let mut i = 0i64;
    while !Path::new(&stop).exists() {
        let own = 1_000_000 * (k + 1) + i;
        if write("I", own, &format!("w{k}-i{i}"), "INSERT INTO users(id, email, name) VALUES (?1, ?2 || '@w', ?2)") {
            write("U", own, &format!("w{k}-u{i}"), "UPDATE users SET name = ?2 WHERE id = ?1");
        }
        // Rows of before, each owned by one writer, so the last acknowledged value is well defined.
        let old = 1 + k + WRITERS * (i % (USERS / WRITERS));
        write("U", old, &format!("w{k}-o{i}"), "UPDATE users SET name = ?2 WHERE id = ?1");
        i += 1;
        // An application does other work between writes; without a pause, three writers in
        // rollback-journal mode leave a reader almost no instant to take its shared lock.
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// One acknowledged write.
#[derive(Debug)]
struct Ack {
    op: String,
    id: i64,
    name: String,
    start: u128,
    end: u128,
}

/// A writer's file: acknowledged writes, attempts that gave up on the lock, and unexpected errors.
#[derive(Debug, Default)]
struct Acks {
    acked: Vec<Ack>,
    busy: usize,
    errors: Vec<String>,
}

fn read_acks(path: &Path) -> Acks {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut out = Acks::default();
    // Only whole lines: the writer may be in the middle of one.
    let complete = text.rfind('\n').map(|i| &text[..i]).unwrap_or("");
    for line in complete.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "I" | "U" => out.acked.push(Ack {
                op: f[0].to_string(),
                id: f[1].parse().unwrap(),
                name: f[2].to_string(),
                start: f[3].parse().unwrap(),
                end: f[4].parse().unwrap(),
            }),
            "B" => out.busy += 1,
            _ => out.errors.push(line.to_string()),
        }
    }
    out
}

struct Writers {
    children: Vec<Child>,
    acks: Vec<PathBuf>,
    stop: PathBuf,
}

impl Writers {
    fn start(dir: &Dir, db: &Path) -> Writers {
        let stop = dir.join("stop");
        let mut children = Vec::new();
        let mut acks = Vec::new();
        for k in 0..WRITERS {
            let ack = dir.join(&format!("acks-{k}.txt"));
            let child = Command::new(std::env::current_exe().unwrap())
                .args(["--exact", "concurrent::writer_process", "--ignored", "--nocapture", "--test-threads=1"])
                .env(WRITER_DB, db)
                .env(WRITER_ACKS, &ack)
                .env(WRITER_STOP, &stop)
                .env(WRITER_INDEX, k.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a writer");
            children.push(child);
            acks.push(ack);
        }
        Writers { children, acks, stop }
    }

    /// Acknowledged writes per writer so far.
    fn counts(&self) -> Vec<usize> {
        self.acks.iter().map(|p| read_acks(p).acked.len()).collect()
    }

    /// Waits until every writer has `more` acknowledged writes beyond `from`; a writer that died fails the test.
    fn wait_for(&mut self, from: &[usize], more: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let now = self.counts();
            if now.iter().zip(from).all(|(n, f)| *n >= f + more) {
                return;
            }
            for c in &mut self.children {
                if let Some(status) = c.try_wait().unwrap() {
                    panic!("a writer ended early ({status}); acknowledged so far: {now:?}");
                }
            }
            assert!(Instant::now() < deadline, "writers made no progress: {now:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn stop(self) -> Vec<Acks> {
        std::fs::write(&self.stop, "").unwrap();
        for c in self.children {
            let out = c.wait_with_output().unwrap();
            assert!(out.status.success(), "a writer failed:\n{}", stderr(&out));
        }
        self.acks.iter().map(|p| read_acks(p)).collect()
    }
}

/// Runs `reconcile` and returns its output with the wall-clock window (µs since the epoch) it ran in.
fn timed(dir: &Path, args: &[&str]) -> (Output, (u128, u128)) {
    let start = micros();
    let out = command(dir, args).stdin(Stdio::null()).output().expect("run reconcile");
    (out, (start, micros()))
}

fn writers_keep_every_acknowledged_write(journal_mode: &str) {
    let dir = Dir::new();
    let db = dir.db("app.db", &before_sql(journal_mode));
    dir.write("schema/app.yaml", DESIRED);
    let mut writers = Writers::start(&dir, &db);
    writers.wait_for(&[0; WRITERS as usize], 30);

    let (applied, apply_window) =
        timed(dir.path(), &["apply", "--yes", "--db", "app.db", "--schema", "schema", "--busy-timeout", "60000"]);
    assert_eq!(applied.status.code(), Some(0), "apply under writers:\n{}", stderr(&applied));
    let after_apply = writers.counts();
    writers.wait_for(&after_apply, 30);

    let (undone, rollback_window) =
        timed(dir.path(), &["rollback", "--yes", "--allow-destructive", "--db", "app.db", "--busy-timeout", "60000"]);
    assert_eq!(undone.status.code(), Some(0), "rollback under writers:\n{}", stderr(&undone));
    let after_rollback = writers.counts();
    writers.wait_for(&after_rollback, 30);
    let all = writers.stop();

    let conn = Connection::open(&db).unwrap();
    let ok: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    // Last acknowledged value of every row a writer touched; the rows of before kept their email.
    let mut last: BTreeMap<i64, &str> = BTreeMap::new();
    let mut updates = 0;
    for acks in &all {
        assert!(acks.errors.is_empty(), "writes failed other than on the lock: {:?}", acks.errors);
        for a in &acks.acked {
            last.insert(a.id, &a.name);
            updates += usize::from(a.op == "U");
        }
    }
    for (id, name) in &last {
        let have: Option<String> =
            conn.query_row("SELECT name FROM users WHERE id = ?1", [id], |r| r.get(0)).unwrap_or(None);
        assert_eq!(have.as_deref(), Some(*name), "row {id} lost its last acknowledged write");
    }
    let kept: i64 = conn
        .query_row(
            "SELECT count(*) FROM users WHERE id <= ?1 AND email = 'user' || id || '@example.com'",
            [USERS],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(kept, USERS, "rows of before were lost");
    let events: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).unwrap();
    assert_eq!(events, updates as i64, "every acknowledged rename fires the trigger exactly once");
    let history = reconcile(dir.path(), &["history", "--db", "app.db", "--format", "json"]);
    let h: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(h["history"][0]["kind"], "rollback");

    let acked: usize = all.iter().map(|a| a.acked.len()).sum();
    let busy: usize = all.iter().map(|a| a.busy).sum();
    let overlapping =
        |(from, to): (u128, u128)| all.iter().flat_map(|a| &a.acked).filter(|a| a.start < to && a.end > from).count();
    eprintln!(
        "writers in {journal_mode} mode: {acked} acknowledged writes checked ({} rows), {busy} attempts gave up \
         on the lock; {} writes overlapped the apply ({} ms), {} the rollback ({} ms)",
        last.len(),
        overlapping(apply_window),
        (apply_window.1 - apply_window.0) / 1000,
        overlapping(rollback_window),
        (rollback_window.1 - rollback_window.0) / 1000,
    );
}

#[test]
fn writers_keep_every_acknowledged_write_in_wal_mode() {
    writers_keep_every_acknowledged_write("WAL");
}

#[test]
fn writers_keep_every_acknowledged_write_in_rollback_journal_mode() {
    writers_keep_every_acknowledged_write("DELETE");
}

// ---- the lock ----

const SMALL: &str = "CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b TEXT);
CREATE INDEX t_a ON t(a);
INSERT INTO t(a, b) VALUES ('x', 'kept'), ('y', NULL), (NULL, 'z');";

/// A rebuild (a collation) and a dropped column, so the apply would write a backup and plan files.
const SMALL_DESIRED: &str = "tables:
  t:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: a, type: TEXT, collate: NOCASE }
    indexes:
      t_a: { columns: [a] }
";

/// Everything `reconcile` could leave in `dir`: the database's schema and rows, and the files beside it.
fn footprint(dir: &Path) -> (Vec<(String, String)>, Vec<String>, Vec<String>) {
    let conn = Connection::open(dir.join("app.db")).unwrap();
    let mut stmt = conn.prepare("SELECT name, coalesce(sql, '') FROM sqlite_schema ORDER BY name").unwrap();
    let schema: Vec<(String, String)> =
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(Result::unwrap).collect();
    let mut stmt = conn.prepare("SELECT * FROM t ORDER BY id").unwrap();
    let width = stmt.column_count();
    let rows: Vec<String> = stmt
        .query_map([], |r| {
            (0..width).map(|i| r.get::<_, rusqlite::types::Value>(i).map(|v| format!("{v:?}"))).collect()
        })
        .unwrap()
        .map(|r: rusqlite::Result<Vec<String>>| r.unwrap().join(","))
        .collect();
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("app.db-"))
        .collect();
    files.sort();
    (schema, rows, files)
}

/// Another connection in the test process holding a transaction open on `db`.
struct Holder {
    conn: Connection,
}

impl Holder {
    /// `begin` is `BEGIN IMMEDIATE` (the write lock), `BEGIN EXCLUSIVE` or a read (`BEGIN` and a SELECT),
    /// with more statements after `;`.
    fn hold(db: &Path, begin: &str) -> Holder {
        let conn = Connection::open(db).unwrap();
        for sql in begin.split(';') {
            if sql.trim_start().starts_with("SELECT") {
                conn.query_row(sql, [], |_| Ok(())).unwrap();
            } else {
                conn.execute_batch(sql).unwrap();
            }
        }
        Holder { conn }
    }
    fn commit(self) {
        self.conn.execute_batch("COMMIT").unwrap();
    }
    fn roll_back(self) {
        self.conn.execute_batch("ROLLBACK").unwrap();
    }
}

/// Runs `apply` while `begin` holds the database; it must give up, say so, and change nothing.
#[track_caller]
fn gives_up(journal_mode: &str, begin: &str, args: &[&str], env: &[(&str, &str)], expect: &[&str]) {
    let dir = Dir::new();
    dir.db("app.db", &format!("PRAGMA journal_mode = {journal_mode};\n{SMALL}"));
    dir.write("schema/app.yaml", SMALL_DESIRED);
    dir.write("plans/README.md", "plans\n");
    let before = footprint(dir.path());
    let holder = Holder::hold(&dir.join("app.db"), begin);
    let out = reconcile_env(dir.path(), args, env);
    holder.roll_back();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "expected a failure:\n{err}");
    assert!(!err.contains("panicked"), "{err}");
    for part in ["error: ", "the database is locked", "nothing was changed", "--busy-timeout"].iter().chain(expect) {
        assert!(err.contains(part), "expected {part:?} in:\n{err}");
    }
    assert_eq!(footprint(dir.path()), before, "a failed apply changed the database or left files");
    assert_eq!(
        std::fs::read_dir(dir.join("plans")).unwrap().count(),
        1,
        "a failed apply left plan files (even hidden ones)"
    );
}

const APPLY: &[&str] = &["apply", "--yes", "--allow-destructive", "--db", "app.db", "--schema", "schema"];

#[test]
fn apply_gives_up_on_a_held_write_lock_after_its_busy_timeout() {
    let args: Vec<&str> = APPLY.iter().copied().chain(["--busy-timeout", "200"]).collect();
    let expect = ["another connection holds the write lock", "200 ms"];
    gives_up("WAL", "BEGIN IMMEDIATE", &args, &[], &expect);
    gives_up("DELETE", "BEGIN IMMEDIATE", &args, &[], &expect);
}

#[test]
fn busy_timeout_comes_from_the_environment_or_the_config_file() {
    let expect = ["another connection holds the write lock", "150 ms"];
    gives_up("WAL", "BEGIN IMMEDIATE", APPLY, &[("RECONCILE_BUSY_TIMEOUT", "150")], &expect);
    let dir_config = Dir::new();
    let config = dir_config.write("reconcile.toml", "busy_timeout_ms = 150\n");
    let config = config.to_str().unwrap();
    gives_up("WAL", "BEGIN IMMEDIATE", APPLY, &[("RECONCILE_CONFIG", config)], &expect);
}

#[test]
fn apply_gives_up_while_another_connection_writes_the_file() {
    // In rollback-journal mode a writer holding the exclusive lock keeps even the schema from being read.
    let args: Vec<&str> = APPLY.iter().copied().chain(["--busy-timeout", "200"]).collect();
    gives_up(
        "DELETE",
        "BEGIN EXCLUSIVE; INSERT INTO t(a) VALUES ('held')",
        &args,
        &[],
        &["app.db: ", "another connection is writing it", "200 ms"],
    );
}

#[test]
fn apply_gives_up_while_readers_keep_it_from_committing() {
    // In rollback-journal mode a commit waits until no one reads.
    let args: Vec<&str> = APPLY.iter().copied().chain(["--busy-timeout", "200"]).collect();
    gives_up("DELETE", "BEGIN; SELECT count(*) FROM t", &args, &[], &["other connections are reading it", "200 ms"]);
}

#[test]
fn rollback_gives_up_on_a_held_write_lock() {
    let dir = Dir::new();
    dir.db("app.db", &format!("PRAGMA journal_mode = WAL;\n{SMALL}"));
    dir.write("schema/app.yaml", SMALL_DESIRED);
    let out = reconcile(dir.path(), APPLY);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let before = footprint(dir.path());
    let holder = Holder::hold(&dir.join("app.db"), "BEGIN IMMEDIATE");
    let out =
        reconcile(dir.path(), &["rollback", "--yes", "--allow-destructive", "--db", "app.db", "--busy-timeout", "200"]);
    holder.roll_back();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("another connection holds the write lock") && err.contains("200 ms"), "{err}");
    assert_eq!(footprint(dir.path()), before, "a failed rollback changed the database or left files");
}

#[test]
fn apply_waits_for_the_write_lock_within_its_busy_timeout() {
    let dir = Dir::new();
    let db = dir.db("app.db", &format!("PRAGMA journal_mode = WAL;\n{SMALL}"));
    dir.write("schema/app.yaml", SMALL_DESIRED);
    let holder = Holder::hold(&db, "BEGIN IMMEDIATE; INSERT INTO t(a) VALUES ('held')");
    let child = command(dir.path(), APPLY)
        .args(["--busy-timeout", "60000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Whenever the holder lets go, within the minute, the apply goes ahead after it.
    std::thread::sleep(Duration::from_millis(500));
    holder.commit();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let conn = Connection::open(&db).unwrap();
    let held: i64 = conn.query_row("SELECT count(*) FROM t WHERE a = 'held'", [], |r| r.get(0)).unwrap();
    assert_eq!(held, 1, "the other writer's row is kept");
    let sql: String = conn.query_row("SELECT sql FROM sqlite_schema WHERE name = 't'", [], |r| r.get(0)).unwrap();
    assert!(sql.contains("NOCASE") && !sql.contains(" b "), "not applied: {sql}");
}

/// The library waits with its own busy timeout and gives the application's connection its own back.
#[test]
fn library_reports_a_held_lock_and_restores_the_callers_busy_timeout() {
    use sqlite_reconcile::{ApplyError, Error, Reconciler};
    let dir = Dir::new();
    let db = dir.db("app.db", &format!("PRAGMA journal_mode = WAL;\n{SMALL}"));
    let reconciler = Reconciler::from_sources(&[("app.yaml", SMALL_DESIRED)])
        .unwrap()
        .policy(sqlite_reconcile::Policy { allow_data_dependent: true, allow_destructive: true })
        .busy_timeout(Duration::from_millis(150));
    let mut conn = Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_millis(1234)).unwrap();
    let holder = Holder::hold(&db, "BEGIN IMMEDIATE");
    match reconciler.reconcile(&mut conn) {
        Err(Error::Apply(ApplyError::Busy { waited, holder: who })) => {
            assert_eq!(waited, Duration::from_millis(150));
            assert_eq!(who, sqlite_reconcile::apply::WRITE_LOCK);
        }
        other => panic!("expected a busy error, got {other:?}"),
    }
    holder.roll_back();
    let timeout: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap();
    assert_eq!(timeout, 1234, "the caller's busy timeout was not restored");
    reconciler.reconcile(&mut conn).expect("applies once the lock is free");
    let timeout: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap();
    assert_eq!(timeout, 1234);
}

/// Twenty databases changed at once, in the same second, to the same schema, sharing one
/// `plans/` directory (a shell loop over tenant copies): twenty changes, twenty distinct ids,
/// twenty complete plan directories, nothing left half-published.
#[test]
fn parallel_applies_sharing_a_plan_directory_get_distinct_ids() {
    let dir = crate::harness::Dir::new();
    dir.write(
        "schema/app.yaml",
        "tables:\n  notes:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: body, type: TEXT, collate: NOCASE }\n",
    );
    let first = dir
        .db("tenant0.db", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'a');");
    for i in 1..20 {
        std::fs::copy(&first, dir.join(&format!("tenant{i}.db"))).expect("copy");
    }
    let children: Vec<_> = (0..20)
        .map(|i| {
            let db = format!("tenant{i}.db");
            crate::harness::command(dir.path(), &["apply", "--yes", "--db", &db, "--plans", "plans"])
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "tenant{i}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..20 {
        let conn = rusqlite::Connection::open(dir.join(&format!("tenant{i}.db"))).unwrap();
        let history = sqlite_reconcile::history::history(&conn).unwrap();
        assert_eq!(history.len(), 1, "tenant{i}");
        ids.insert(history[0].id.clone());
    }
    assert_eq!(ids.len(), 20, "distinct ids: {ids:?}");
    let entries: Vec<String> = std::fs::read_dir(dir.join("plans"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert!(!entries.iter().any(|e| e.starts_with('.')), "nothing left half-published: {entries:?}");
    for id in &ids {
        for file in ["forward.sql", "rollback.sql", "meta.json"] {
            assert!(dir.join(&format!("plans/{id}/{file}")).is_file(), "plans/{id}/{file}");
        }
    }
}
