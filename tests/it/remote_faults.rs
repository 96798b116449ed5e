//! Faults during a change to a libSQL server (`sqld`, started by the tests): the client killed
//! (SIGKILL) at instants spread over `reconcile apply` and `reconcile rollback`; the server
//! killed during a change and started again on the same data; the connection cut by a loopback
//! proxy at each request of a change in turn. After each fault the server holds exactly the
//! schema, rows and history of before or exactly those of after, read back over HTTP by a fresh
//! client; a client that said it succeeded left the after state. Each trial has a fresh server.
//!
//! The change rebuilds `users` (a collation) while `posts` references it with ON DELETE
//! CASCADE, and drops a column holding values: a fault that let keys act, or that committed
//! part of the change, shows as lost posts or a mixed state. Timing decides where a fault lands,
//! never whether a test passes; each test prints how its faults landed.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rusqlite::types::Value;
use sqlite_reconcile::engine::Sql;
use sqlite_reconcile::remote::Client;
use sqlite_reconcile::{inspect, InspectOptions};

use crate::harness::{command, reconcile, sqld, stderr, Dir, Sqld};

/// 3,000 users, each with a post.
const BEFORE: &[&str] = &[
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL COLLATE NOCASE, name TEXT)",
    "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE, title TEXT)",
    "CREATE INDEX posts_user ON posts (user_id)",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) \
     INSERT INTO users SELECT i, 'u' || i || '@x', 'name ' || i FROM n",
    "INSERT INTO posts SELECT id, id, 'post ' || id FROM users",
];

const DESIRED: &str = "tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: email, type: TEXT, not_null: true }
  posts:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: user_id, type: INTEGER, not_null: true, references: { table: users, column: id, on_delete: cascade } }
      - { name: title, type: TEXT }
    indexes:
      posts_user: { columns: [user_id] }
";

/// What a server holds: its schema, every row of both tables, and the history's kinds and outcomes.
#[derive(Debug, Clone, PartialEq)]
struct State {
    schema: String,
    rows: BTreeMap<String, Vec<Vec<Value>>>,
    history: Vec<(String, String)>,
}

fn state(url: &str) -> Result<State, String> {
    let client = Client::connect(url, None).map_err(|e| e.to_string())?;
    let schema = inspect(&client, &InspectOptions::default()).map_err(|e| e.to_string())?;
    let mut rows = BTreeMap::new();
    for table in ["users", "posts"] {
        let got = client.rows(&format!("SELECT * FROM {table} ORDER BY rowid"), &[]).map_err(|e| e.to_string())?;
        rows.insert(table.to_string(), got);
    }
    let history = sqlite_reconcile::history::history(&client)
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|e| (e.kind, e.outcome))
        .collect();
    Ok(State { schema: format!("{schema:?}"), rows, history })
}

/// A server's state, read again while it is not yet answering queries after a start.
fn state_when_ready(url: &str) -> State {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match state(url) {
            Ok(s) => return s,
            Err(e) if Instant::now() > deadline => panic!("the server cannot be read: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// A fresh server holding `BEFORE`; `None` when no server can be had outside CI.
fn seeded() -> Option<Sqld> {
    let server = sqld()?;
    let client = Client::connect(&server.url, None).expect("the server answers");
    for sql in BEFORE {
        client.rows(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    Some(server)
}

/// A schema directory with `DESIRED`.
fn schema_dir() -> Dir {
    let dir = Dir::new();
    dir.write("schema/app.yaml", DESIRED);
    dir
}

const APPLY: &[&str] = &["apply", "--yes", "--allow-destructive", "--db"];
const ROLLBACK: &[&str] = &["rollback", "--yes", "--allow-destructive", "--db"];

fn args<'a>(base: &[&'a str], url: &'a str) -> Vec<&'a str> {
    let mut a = base.to_vec();
    a.push(url);
    a
}

/// The states before and after a change and after its rollback, and how long each command took,
/// from one uninterrupted run.
struct Reference {
    before: State,
    applied: State,
    rolled_back: State,
    apply_time: Duration,
    rollback_time: Duration,
}

fn reference(dir: &Dir) -> Option<Reference> {
    let server = seeded()?;
    let before = state(&server.url).unwrap();
    let t = Instant::now();
    let out = reconcile(dir.path(), &args(APPLY, &server.url));
    let apply_time = t.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let applied = state(&server.url).unwrap();
    assert_eq!(applied.rows["posts"], before.rows["posts"], "every post kept");
    let t = Instant::now();
    let out = reconcile(dir.path(), &args(ROLLBACK, &server.url));
    let rollback_time = t.elapsed();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let rolled_back = state(&server.url).unwrap();
    assert_eq!(rolled_back.schema, before.schema);
    assert_eq!(rolled_back.rows, before.rows);
    Some(Reference { before, applied, rolled_back, apply_time, rollback_time })
}

/// Which of `old` and `new` the state `now` is, after `fault`; any other state fails the test.
fn which_state(now: &State, old: &State, new: &State, fault: &str) -> &'static str {
    if now == old {
        "before"
    } else if now == new {
        "after"
    } else {
        panic!("{fault}: the server holds neither the state before nor the state after: {now:#?}")
    }
}

/// Uniform instants over `0 ..= 1.3 × span`, `n` of them, in a fixed order.
fn instants(span: Duration, n: usize) -> Vec<Duration> {
    (0..n).map(|i| span.mul_f64(1.3 * ((i * 37) % n) as f64 / n as f64)).collect()
}

#[test]
fn a_client_killed_anywhere_leaves_the_server_before_or_after() {
    let dir = schema_dir();
    let Some(r) = reference(&dir) else { return };
    let trials: usize = std::env::var("RECONCILE_REMOTE_KILL_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let mut landed: BTreeMap<&str, usize> = BTreeMap::new();
    for (which, span, old, new) in
        [("apply", r.apply_time, &r.before, &r.applied), ("rollback", r.rollback_time, &r.applied, &r.rolled_back)]
    {
        for at in instants(span, trials) {
            let server = seeded().expect("a server");
            if which == "rollback" {
                let out = reconcile(dir.path(), &args(APPLY, &server.url));
                assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
            }
            let base = if which == "apply" { APPLY } else { ROLLBACK };
            let mut child = command(dir.path(), &args(base, &server.url))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn reconcile");
            std::thread::sleep(at);
            let _ = child.kill();
            let status = child.wait().expect("reap reconcile");
            let now = state_when_ready(&server.url);
            let outcome = which_state(&now, old, new, &format!("{which} killed at {at:?}"));
            if status.success() {
                assert_eq!(outcome, "after", "{which} said it succeeded");
            }
            *landed.entry(if which == "apply" { "apply" } else { "rollback" }).or_default() += 1;
            *landed.entry(outcome).or_default() += 1;
        }
    }
    println!("client killed: {landed:?}");
    assert!(landed["apply"] + landed["rollback"] >= 100 || trials < 50);
}

#[test]
fn a_server_killed_during_a_change_comes_back_before_or_after() {
    let dir = schema_dir();
    let Some(r) = reference(&dir) else { return };
    let trials: usize = std::env::var("RECONCILE_REMOTE_SERVER_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let mut landed: BTreeMap<&str, usize> = BTreeMap::new();
    for at in instants(r.apply_time, trials) {
        let mut server = seeded().expect("a server");
        let child = command(dir.path(), &args(APPLY, &server.url))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn reconcile");
        std::thread::sleep(at);
        server.kill();
        let out = child.wait_with_output().expect("reap reconcile");
        server.restart().expect("the server starts again");
        let now = state_when_ready(&server.url);
        let outcome = which_state(&now, &r.before, &r.applied, &format!("the server killed at {at:?}"));
        if out.status.success() {
            assert_eq!(outcome, "after", "reconcile said it succeeded: {}", stderr(&out));
        } else {
            let said = stderr(&out);
            assert!(said.contains("127.0.0.1"), "the error names the server: {said}");
        }
        *landed.entry(outcome).or_default() += 1;
    }
    println!("server killed: {landed:?}");
}

#[test]
fn a_connection_cut_at_any_request_leaves_the_server_before_or_after() {
    let dir = schema_dir();
    let Some(r) = reference(&dir) else { return };
    // A change takes fewer requests than this: the last cuts land after it, on nothing.
    let mut landed: BTreeMap<String, usize> = BTreeMap::new();
    let cuts: usize = std::env::var("RECONCILE_REMOTE_CUT_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
    for k in 1..=cuts {
        let server = seeded().expect("a server");
        // The answer to request k is lost with its connection, after the server ran it.
        let url = crate::libsql::proxy(&server.url, k, false);
        let out = reconcile(dir.path(), &args(APPLY, &url));
        let now = state_when_ready(&server.url);
        let outcome = which_state(&now, &r.before, &r.applied, &format!("cut at request {k}"));
        let said = stderr(&out);
        if out.status.success() {
            assert_eq!(outcome, "after", "cut at request {k}: reconcile said it succeeded: {said}");
        } else {
            assert_eq!(out.status.code(), Some(1), "cut at request {k}: {said}");
            assert!(
                said.contains("nothing was changed") || said.contains("cannot reach"),
                "cut at request {k}: {said}"
            );
            assert_eq!(outcome, "before", "cut at request {k}: a failure said nothing changed: {said}");
        }
        *landed.entry(format!("{outcome} (exit {})", out.status.code().unwrap_or(-1))).or_default() += 1;
    }
    println!("connection cut: {landed:?}");
}
