//! A libSQL server (`sqld`, started by the tests) through `--db http://…`: `inspect`, `drift`,
//! `plan` and `history` work on it as on a file, with the server's SQLite version deciding the
//! plan; `apply` and `rollback` change it in one stream, child rows and dropped values kept; bad servers and URLs are
//! clear errors that never show the token. A [`Stream`] holds one server connection across
//! requests: a transaction and `PRAGMA foreign_keys = OFF` last from one request to the next,
//! which is what keeps child rows through a table rebuild; a stream the server no longer knows
//! is a [`StreamLost`] error.

use std::io::{Read, Write};
use std::net::TcpListener;

use rusqlite::types::Value;
use sqlite_reconcile::engine::Sql;
use sqlite_reconcile::remote::{Client, StreamError, StreamLost};
use sqlite_reconcile::{inspect, InspectOptions};

use crate::harness::{reconcile, reconcile_env, sqld, stderr, stdout, Dir};

const SCHEMA_SQL: &[&str] = &[
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT)",
    "CREATE TABLE posts (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE, title TEXT NOT NULL CHECK (length(title) > 0), body TEXT)",
    "CREATE INDEX posts_user ON posts (user_id)",
    "CREATE VIEW titles AS SELECT p.title, u.email FROM posts p JOIN users u ON u.id = p.user_id",
    "CREATE TRIGGER users_touch AFTER UPDATE OF email ON users BEGIN UPDATE posts SET body = body WHERE user_id = NEW.id; END",
    "INSERT INTO users VALUES (1, 'a@x', NULL)",
];

/// A server holding `SCHEMA_SQL`, and a file holding the same.
fn server_and_file(dir: &Dir) -> Option<(crate::harness::Sqld, Client)> {
    let server = sqld()?;
    let client = Client::connect(&server.url, None).expect("the server answers");
    for sql in SCHEMA_SQL {
        client.rows(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    dir.db("app.db", &SCHEMA_SQL.join(";\n"));
    Some((server, client))
}

#[test]
fn inspect_reads_a_server_as_it_reads_a_file_in_four_requests() {
    let dir = Dir::new();
    let Some((server, client)) = server_and_file(&dir) else { return };
    let remote = reconcile(dir.path(), &["inspect", "--db", &server.url]);
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    let local = reconcile(dir.path(), &["inspect", "--db", "app.db"]);
    assert_eq!(stdout(&remote), stdout(&local));
    // The library: one request to connect, three to inspect, whatever the schema's size.
    let fresh = Client::connect(&server.url, None).unwrap();
    let schema = inspect(&fresh, &InspectOptions::default()).unwrap();
    assert_eq!(schema.tables.len(), 2);
    assert_eq!(fresh.requests(), 4, "connect + 3 queries");
    // The version planning uses was asked when connecting.
    assert!(sqlite_reconcile::engine::sqlite_version(&fresh).unwrap() >= (3, 0, 0));
    assert_eq!(fresh.requests(), 4, "the version is not asked again");
    drop(client);
}

#[test]
fn drift_and_plan_read_a_server_and_plan_for_its_sqlite_version() {
    let dir = Dir::new();
    let Some((server, client)) = server_and_file(&dir) else { return };
    let version = sqlite_reconcile::engine::sqlite_version(&client).unwrap();
    let inspected = reconcile(dir.path(), &["inspect", "--db", &server.url, "-o", "schema/app.yaml"]);
    assert_eq!(inspected.status.code(), Some(0), "{}", stderr(&inspected));
    let drift = reconcile(dir.path(), &["drift", "--db", &server.url]);
    assert_eq!(drift.status.code(), Some(0), "{}", stderr(&drift));
    assert!(stderr(&drift).contains("in sync"), "{}", stderr(&drift));
    // `users.name` becomes NOT NULL with a backfill: SQLite 3.53 and later do it in place, the
    // server's older SQLite needs a rebuild.
    let yaml = std::fs::read_to_string(dir.join("schema/app.yaml")).unwrap();
    let changed = yaml.replacen(
        "    - name: name\n      type: TEXT\n",
        "    - name: name\n      type: TEXT\n      not_null: true\n      backfill: \"'?'\"\n",
        1,
    );
    assert_ne!(changed, yaml);
    std::fs::write(dir.join("schema/app.yaml"), changed).unwrap();
    let drift = reconcile(dir.path(), &["drift", "--db", &server.url]);
    assert_eq!(drift.status.code(), Some(2), "{}", stderr(&drift));
    assert!(stderr(&drift).contains("column `users.name`: becomes NOT NULL"), "{}", stderr(&drift));
    let remote = reconcile(dir.path(), &["plan", "--db", &server.url]);
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    let local = reconcile(dir.path(), &["plan", "--db", "app.db"]);
    assert!(stderr(&local).contains("SET NOT NULL"), "{}", stderr(&local));
    if version < (3, 53, 0) {
        assert!(stderr(&remote).contains("rebuild table `users`"), "{}", stderr(&remote));
        assert!(!stderr(&remote).contains("SET NOT NULL"), "{}", stderr(&remote));
    }
    // Planning wrote nothing: the server still has its schema.
    let after = reconcile(dir.path(), &["inspect", "--db", &server.url]);
    assert_eq!(stdout(&after), yaml);
}

#[test]
fn history_of_a_server_and_its_reset_in_development_with_the_seed_run_in_the_change() {
    let dir = Dir::new();
    let Some((server, client)) = server_and_file(&dir) else { return };
    let history = reconcile(dir.path(), &["history", "--db", &server.url]);
    assert_eq!(history.status.code(), Some(0), "{}", stderr(&history));
    assert!(stderr(&history).contains("no changes recorded"), "{}", stderr(&history));
    let out = reconcile(dir.path(), &["rollback", "--yes", "--db", &server.url]);
    assert_eq!(out.status.code(), Some(3), "nothing to roll back: {}", stderr(&out));
    let before = stdout(&reconcile(dir.path(), &["inspect", "--db", &server.url]));
    let users = rows_of(&client, "users");
    dir.write(
        "schema/app.yaml",
        "tables:\n  other:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: v, type: TEXT }\n",
    );
    // Outside development, and with a seed that fails half-way: refused or rolled back, the
    // server as it was.
    let out = reconcile(dir.path(), &["reset", "--yes", "--db", &server.url]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    dir.write("seed.sql", "INSERT INTO other (v) VALUES ('one');\nINSERT INTO missing VALUES (1);\n");
    dir.write("reconcile.toml", "seed = \"seed.sql\"\n");
    let dev = [("RECONCILE_ENV", "dev")];
    let out = reconcile_env(dir.path(), &["reset", "--yes", "--db", &server.url], &dev);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("seed") && stderr(&out).contains("missing"), "{}", stderr(&out));
    assert_eq!(stdout(&reconcile(dir.path(), &["inspect", "--db", &server.url])), before);
    assert_eq!(rows_of(&client, "users"), users);
    // A good seed: the schema built from scratch, the seed's rows in it, recorded, in sync.
    dir.write("seed.sql", "INSERT INTO other (v) VALUES ('one');\nINSERT INTO other (v) VALUES ('two');\n");
    let out = reconcile_env(dir.path(), &["reset", "--yes", "--db", &server.url], &dev);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let tables = client.rows("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name", &[]).unwrap();
    let names: Vec<&Value> = tables.iter().map(|r| &r[0]).collect();
    assert!(!names.contains(&&Value::Text("users".into())), "{names:?}");
    assert!(names.contains(&&Value::Text("other".into())), "{names:?}");
    let seeded =
        vec![vec![Value::Integer(1), Value::Text("one".into())], vec![Value::Integer(2), Value::Text("two".into())]];
    assert_eq!(rows_of(&client, "other"), seeded);
    let drift = reconcile(dir.path(), &["drift", "--db", &server.url]);
    assert_eq!(drift.status.code(), Some(0), "{}", stderr(&drift));
    let history = reconcile(dir.path(), &["history", "--db", &server.url]);
    assert!(stdout(&history).contains("reset") || stderr(&history).contains("reset"), "{}", stdout(&history));
    // A reset cannot be rolled back, on a server as on a file.
    let out = reconcile(dir.path(), &["rollback", "--yes", "--db", &server.url]);
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(rows_of(&client, "other"), seeded);
    assert!(!dir.join("http:").exists(), "no file was made of the URL");
}

/// Every row of `table` on the server, in rowid order.
fn rows_of(db: &impl Sql, table: &str) -> Vec<Vec<Value>> {
    db.rows(&format!("SELECT * FROM {table} ORDER BY rowid"), &[]).unwrap()
}

/// A change that rebuilds a parent table whose children go with it (ON DELETE CASCADE) and
/// drops a column holding values, applied to a server and rolled back, the four checks read
/// back over HTTP.
#[test]
fn apply_and_rollback_on_a_server_keep_every_row_and_every_child_row() {
    let dir = Dir::new();
    let Some((server, client)) = server_and_file(&dir) else { return };
    for sql in [
        "UPDATE users SET name = 'Ann'",
        "INSERT INTO users VALUES (2, 'b@x', 'Bob'), (3, 'c@x', NULL)",
        "INSERT INTO posts (user_id, title, body) VALUES (1, 'one', 'x'), (1, 'two', NULL), (2, 'three', 'y'), (3, 'four', NULL)",
    ] {
        client.rows(sql, &[]).unwrap();
    }
    let schema_before = stdout(&reconcile(dir.path(), &["inspect", "--db", &server.url]));
    let (users_before, posts_before) = (rows_of(&client, "users"), rows_of(&client, "posts"));
    // users: email's collation changes (a rebuild on the server's SQLite), `name` is dropped, a
    // column is added.
    let desired = schema_before.replace("      unique: true\n      collate: NOCASE\n", "      unique: true\n").replace(
        "    - name: name\n      type: TEXT\n",
        "    - name: tier\n      type: TEXT\n      default: \"'free'\"\n",
    );
    assert_ne!(desired, schema_before, "the change is made: {schema_before}");
    dir.write("schema/app.yaml", &desired);
    let out = reconcile(dir.path(), &["apply", "--yes", "--allow-destructive", "--db", &server.url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("rebuild of users"), "{}", stderr(&out));
    // The schema is the desired one and a second plan is empty.
    let drift = reconcile(dir.path(), &["drift", "--db", &server.url]);
    assert_eq!(drift.status.code(), Some(0), "{}", stderr(&drift));
    let plan = reconcile(dir.path(), &["plan", "--db", &server.url]);
    assert!(stderr(&plan).contains("no changes"), "{}", stderr(&plan));
    // Every child row survived the parent's rebuild; every kept column of every user too.
    assert_eq!(rows_of(&client, "posts"), posts_before, "ON DELETE CASCADE did not fire");
    let users: Vec<Vec<Value>> = rows_of(&client, "users").into_iter().map(|r| r[..2].to_vec()).collect();
    let kept: Vec<Vec<Value>> = users_before.iter().map(|r| r[..2].to_vec()).collect();
    assert_eq!(users, kept);
    assert_eq!(value(&client, "PRAGMA foreign_keys"), Value::Integer(1), "keys are on again for others");
    // The plan files are published under plans/, their rollback reading the server's kept tables.
    let id = sqlite_reconcile::history::history(&client).unwrap()[0].id.clone();
    let rollback_sql = std::fs::read_to_string(dir.join(&format!("plans/{id}/rollback.sql"))).unwrap();
    assert!(rollback_sql.contains(&format!("_reconcile_kept_{}_b1", id.replace('-', "_"))), "{rollback_sql}");
    assert!(!rollback_sql.contains("reconcile_backup."), "{rollback_sql}");
    assert!(dir.join(&format!("plans/{id}/forward.sql")).is_file());
    // The rollback brings the dropped column's values back from the server's own tables.
    let back = reconcile(dir.path(), &["rollback", "--yes", "--allow-destructive", "--db", &server.url]);
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));
    assert_eq!(stdout(&reconcile(dir.path(), &["inspect", "--db", &server.url])), schema_before);
    assert_eq!(rows_of(&client, "users"), users_before);
    assert_eq!(rows_of(&client, "posts"), posts_before);
    // Forward again; with its kept values gone, the rollback is refused, naming the change.
    let out = reconcile(dir.path(), &["apply", "--yes", "--allow-destructive", "--db", &server.url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let kept_tables = client
        .rows(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name LIKE '_reconcile_kept_%' ORDER BY name",
            &[],
        )
        .unwrap();
    let history = sqlite_reconcile::history::history(&client).unwrap();
    let prefix = format!("_reconcile_kept_{}", history[0].id.replace('-', "_"));
    for row in &kept_tables {
        if let Value::Text(name) = &row[0] {
            if name.starts_with(&prefix) {
                client.rows(&format!("DROP TABLE \"{name}\""), &[]).unwrap();
            }
        }
    }
    let before_refusal = stdout(&reconcile(dir.path(), &["inspect", "--db", &server.url]));
    let out = reconcile(dir.path(), &["rollback", "--yes", "--allow-destructive", "--db", &server.url]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("change `{}` dropped are missing", history[0].id)), "{}", stderr(&out));
    assert_eq!(stdout(&reconcile(dir.path(), &["inspect", "--db", &server.url])), before_refusal, "nothing changed");
}

/// Every scenario file of `tests/it/scenarios/`, with its database on a real server: applied
/// and rolled back there, the four checks and the rollback check read back from it.
#[test]
fn the_scenario_files_pass_on_a_server() {
    crate::harness::run_scenario_files(crate::harness::ScenarioFile::run_on_server);
}

/// An apply with nothing to do costs three requests in all: connecting (the server's version),
/// `sqlite_schema`, and the newest history row.
#[test]
fn a_no_op_apply_against_a_server_takes_three_requests() {
    let dir = Dir::new();
    let Some((server, _client)) = server_and_file(&dir) else { return };
    dir.write(
        "schema/app.yaml",
        "tables:\n  notes:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n",
    );
    let out = reconcile(dir.path(), &["apply", "--yes", "--allow-destructive", "--db", &server.url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let again = reconcile(dir.path(), &["apply", "--yes", "--db", &server.url, "-vv"]);
    assert!(stderr(&again).contains("nothing to do"), "{}", stderr(&again));
    assert!(!stderr(&again).contains("loaded and validated"), "the fast path answered: {}", stderr(&again));
    let sources = sqlite_reconcile::load::read_dir(&dir.join("schema")).unwrap();
    let source = sqlite_reconcile::history::source_fingerprint(&sources, &[]);
    let fresh = Client::connect(&server.url, None).unwrap();
    assert!(sqlite_reconcile::history::unchanged_since_recorded(&fresh, &source, &InspectOptions::default()).unwrap());
    assert_eq!(fresh.requests(), 3);
}

/// A loopback HTTP server that answers every request with `response`, for as many requests as given.
fn fake_server(response: &'static str, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(requests) {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(response.as_bytes());
        }
    });
    url
}

#[test]
fn bad_servers_are_clear_errors_that_never_show_the_token() {
    let dir = Dir::new();
    dir.write(
        "schema/app.yaml",
        "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n",
    );
    let token = [("RECONCILE_AUTH_TOKEN", "secret-token-4711")];
    let closed = format!("http://127.0.0.1:{}", TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
    let not_found = fake_server("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found", 4);
    let not_hrana = fake_server("HTTP/1.1 200 OK\r\nContent-Length: 13\r\nConnection: close\r\n\r\n<html></html>", 4);
    let forbidden = fake_server("HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", 4);
    for (url, says) in [
        (&closed, "cannot reach a libSQL server at"),
        (&not_found, "not a libSQL server, or no such namespace"),
        (&not_hrana, "is not a libSQL server"),
        (&forbidden, "refused the credentials (check the auth token)"),
    ] {
        for command in ["inspect", "drift", "plan"] {
            let out = reconcile_env(dir.path(), &[command, "--db", url], &token);
            assert_eq!(out.status.code(), Some(1), "{command} {url}: {}", stderr(&out));
            assert!(stderr(&out).contains(says), "{command} {url}: {}", stderr(&out));
            let all = format!("{}{}", stdout(&out), stderr(&out));
            assert!(!all.contains("secret-token-4711"), "the token was printed: {all}");
        }
    }
    let https = reconcile(dir.path(), &["inspect", "--db", "libsql://example.invalid"]);
    assert_eq!(https.status.code(), Some(1));
    assert!(stderr(&https).contains("cannot reach a libSQL server at https://example.invalid"), "{}", stderr(&https));
}

/// A loopback server that answers like a libSQL server (every query gives one row holding
/// `3.45.1`) only to requests that carry `Authorization: Bearer <token>`, and 401 to others.
fn server_wanting(token: &'static str, requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let body = r#"{"baton":null,"results":[{"type":"ok","response":{"type":"execute","result":{"cols":[],"rows":[[{"type":"text","value":"3.45.1"}]]}}}]}"#;
        for stream in listener.incoming().take(requests) {
            let Ok(mut s) = stream else { continue };
            let mut buf = vec![0u8; 65536];
            let n = s.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
            let response = if request.contains(&format!("authorization: bearer {token}")) {
                format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
            } else {
                "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
            };
            let _ = s.write_all(response.as_bytes());
        }
    });
    url
}

#[test]
fn the_token_comes_from_the_flag_then_the_environment_and_is_sent_as_a_bearer_token() {
    let dir = Dir::new();
    let url = server_wanting("flag-token-31", 16);
    // No token: refused.
    let out = reconcile(dir.path(), &["history", "--db", &url]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("refused the credentials"), "{}", stderr(&out));
    // The flag, over a wrong token in the environment.
    let wrong = [("RECONCILE_AUTH_TOKEN", "env-token-wrong")];
    let out = reconcile_env(dir.path(), &["history", "--db", &url, "--auth-token", "flag-token-31"], &wrong);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Each variable alone.
    for var in ["RECONCILE_AUTH_TOKEN", "LIBSQL_AUTH_TOKEN"] {
        let out = reconcile_env(dir.path(), &["-vv", "history", "--db", &url], &[(var, "flag-token-31")]);
        assert_eq!(out.status.code(), Some(0), "{var}: {}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains("flag-token-31"), "the token was printed at -vv: {all}");
    }
    // A server's URL in reconcile.toml.
    dir.write("reconcile.toml", &format!("db = \"{url}\"\n"));
    let out = reconcile(dir.path(), &["history", "--auth-token", "flag-token-31"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

/// The single value of a one-row, one-column query.
#[track_caller]
fn value(db: &impl Sql, sql: &str) -> Value {
    let rows = db.rows(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(rows.len(), 1, "{sql}: {rows:?}");
    rows[0][0].clone()
}

#[test]
fn a_stream_keeps_its_transaction_across_requests_and_others_see_it_only_after_commit() {
    let Some(server) = sqld() else { return };
    let other = Client::connect(&server.url, None).unwrap();
    other.rows("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)", &[]).unwrap();
    let client = Client::connect(&server.url, None).unwrap();
    let before = client.requests();
    let stream = client.stream();
    assert_eq!(client.requests(), before, "opening a stream sends nothing");
    stream.execute("BEGIN").unwrap();
    assert_eq!(stream.execute("INSERT INTO t VALUES (1, 'a')").unwrap().changed, 1);
    stream.execute("CREATE TABLE inside (id INTEGER PRIMARY KEY)").unwrap();
    // Reads in the stream see its own uncommitted writes; `inspect` runs inside the transaction.
    assert_eq!(value(&stream, "SELECT count(*) FROM t"), Value::Integer(1));
    let schema = inspect(&stream, &InspectOptions::default()).unwrap();
    assert!(schema.tables.contains_key("inside"), "{:?}", schema.tables.keys());
    // Another connection sees none of it before COMMIT.
    assert_eq!(value(&other, "SELECT count(*) FROM t"), Value::Integer(0));
    assert!(!inspect(&other, &InspectOptions::default()).unwrap().tables.contains_key("inside"));
    stream.execute("COMMIT").unwrap();
    assert_eq!(value(&other, "SELECT v FROM t WHERE id = 1"), Value::Text("a".into()));
    assert!(inspect(&other, &InspectOptions::default()).unwrap().tables.contains_key("inside"));
    // One request per call: BEGIN, INSERT, CREATE, SELECT, three for inspect, COMMIT; then close.
    assert_eq!(client.requests() - before, 8);
    stream.close().unwrap();
    assert_eq!(client.requests() - before, 9);

    // A stream dropped in a transaction is closed, and the server rolls the transaction back:
    // nothing of it is seen, and the write lock is free at once.
    let stream = client.stream();
    stream.batch(&["BEGIN IMMEDIATE", "INSERT INTO t VALUES (2, 'b')"]).unwrap();
    drop(stream);
    other.rows("INSERT INTO t VALUES (3, 'c')", &[]).unwrap();
    assert_eq!(value(&other, "SELECT group_concat(id) FROM t"), Value::Text("1,3".into()));
}

/// What a long change on a busy server meets: sqld takes the write lock from a transaction that
/// has held it for 5 s when another connection waits to write, and answers the holder's next
/// statement "Transaction timed out" (which a change reports as the server ending it, nothing
/// changed). The waiting writer gets the lock; the holder's writes are gone.
#[test]
fn a_server_ends_a_transaction_holding_the_write_lock_for_five_seconds_when_another_writer_waits() {
    let Some(server) = sqld() else { return };
    let client = Client::connect(&server.url, None).unwrap();
    client.rows("CREATE TABLE t (id INTEGER PRIMARY KEY)", &[]).unwrap();
    let stream = client.stream();
    stream.batch(&["BEGIN IMMEDIATE", "INSERT INTO t VALUES (1)"]).unwrap();
    let url = server.url.clone();
    let waiter = std::thread::spawn(move || {
        let other = Client::connect(&url, None).unwrap();
        let start = std::time::Instant::now();
        other.rows("INSERT INTO t VALUES (2)", &[]).unwrap();
        start.elapsed()
    });
    let waited = waiter.join().unwrap();
    assert!(waited >= std::time::Duration::from_secs(4), "the writer waited for the lock: {waited:?}");
    match stream.batch(&["INSERT INTO t VALUES (3)", "COMMIT"]) {
        Err(StreamError::Statement { index: 0, error, .. }) => {
            assert!(error.to_string().contains("Transaction timed out"), "{error}")
        }
        other => panic!("the holder's transaction went on: {other:?}"),
    }
    assert_eq!(value(&client, "SELECT group_concat(id) FROM t"), Value::Text("2".into()));
}

#[test]
fn a_batch_is_one_request_and_stops_at_the_first_failing_statement() {
    let Some(server) = sqld() else { return };
    let client = Client::connect(&server.url, None).unwrap();
    let stream = client.stream();
    let before = client.requests();
    let done = stream.batch(&["CREATE TABLE t (id INTEGER PRIMARY KEY)", "INSERT INTO t VALUES (1), (2)"]).unwrap();
    assert_eq!(client.requests() - before, 1);
    assert_eq!(done[1].changed, 2);
    let e = stream
        .batch(&["INSERT INTO t VALUES (3)", "INSERT INTO t VALUES (1)", "INSERT INTO t VALUES (4)"])
        .unwrap_err();
    let StreamError::Statement { index, sql, .. } = &e else { panic!("{e}") };
    assert_eq!((*index, sql.as_str()), (1, "INSERT INTO t VALUES (1)"));
    assert!(e.to_string().contains("UNIQUE constraint failed: t.id"), "{e}");
    // The statement after the failing one did not run; the stream is still usable.
    assert_eq!(value(&stream, "SELECT group_concat(id) FROM t"), Value::Text("1,2,3".into()));
    stream.close().unwrap();
}

/// `users`, and `posts` whose rows go with their user (ON DELETE CASCADE), holding rows.
fn users_and_posts(client: &Client) {
    for sql in [
        "DROP TABLE IF EXISTS posts",
        "DROP TABLE IF EXISTS users",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL)",
        "CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE, title TEXT)",
        "INSERT INTO users VALUES (1, 'a@x'), (2, 'b@x'), (3, 'c@x')",
        "INSERT INTO posts VALUES (1, 1, 'one'), (2, 1, 'two'), (3, 2, 'three'), (4, 3, 'four'), (5, 3, 'five')",
    ] {
        client.rows(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
}

/// The rebuild of `users` (a new column), as the planner writes a rebuild.
const REBUILD_USERS: &[&str] = &[
    "CREATE TABLE new_users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT)",
    "INSERT INTO new_users (id, email) SELECT id, email FROM users",
    "DROP TABLE users",
    "ALTER TABLE new_users RENAME TO users",
];

// See: https://github.com/ariga/atlas/issues/3317 (the foreign-key toggle sent apart from the
// change's transaction loses child rows).
#[test]
fn cascade_proof_a_rebuild_keeps_child_rows_only_with_keys_off_in_the_change_stream() {
    let Some(server) = sqld() else { return };
    let client = Client::connect(&server.url, None).unwrap();
    // sqld opens every connection with foreign keys ON: a fresh stream reads 1.
    assert_eq!(value(&client, "PRAGMA foreign_keys"), Value::Integer(1), "sqld's default");
    assert!(client.foreign_keys_off_in_stream().unwrap(), "sqld lets a stream turn foreign keys off");

    // In one stream: keys off, read back and BEGIN IMMEDIATE in one request; the steps; the
    // check read inside the transaction; COMMIT; keys restored.
    users_and_posts(&client);
    let stream = client.stream();
    let opened = stream.batch(&["PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys", "BEGIN IMMEDIATE"]).unwrap();
    assert_eq!(opened[1].rows, vec![vec![Value::Integer(0)]], "keys are off in the stream");
    stream.batch(REBUILD_USERS).unwrap();
    assert!(stream.rows("PRAGMA foreign_key_check", &[]).unwrap().is_empty());
    assert_eq!(value(&stream, "SELECT count(*) FROM posts"), Value::Integer(5));
    stream.execute("COMMIT").unwrap();
    stream.execute("PRAGMA foreign_keys = ON").unwrap();
    assert_eq!(value(&stream, "PRAGMA foreign_keys"), Value::Integer(1));
    stream.close().unwrap();
    assert_eq!(value(&client, "SELECT count(*) FROM posts"), Value::Integer(5), "every child row kept");
    assert_eq!(value(&client, "SELECT count(*) FROM users WHERE name IS NULL"), Value::Integer(3));

    // The same statements sent naively: the toggle in a request of its own (a stream that the
    // request closes), then the transaction on a new stream, whose connection has keys on again.
    users_and_posts(&client);
    client.rows("PRAGMA foreign_keys = OFF", &[]).unwrap();
    let naive = client.stream();
    naive.execute("BEGIN IMMEDIATE").unwrap();
    naive.batch(REBUILD_USERS).unwrap();
    naive.execute("COMMIT").unwrap();
    naive.close().unwrap();
    assert_eq!(value(&client, "SELECT count(*) FROM users"), Value::Integer(3));
    assert_eq!(value(&client, "SELECT count(*) FROM posts"), Value::Integer(0), "DROP TABLE cascaded");
}

/// A loopback proxy to `upstream` answering one request per connection. Request `target`
/// (counted from 1) is changed: with `forge`, its baton is replaced by one the server never
/// gave; otherwise it reaches the server, which runs it, but its answer is dropped with the
/// connection.
pub(crate) fn proxy(upstream: &str, target: usize, forge: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        for (n, client) in listener.incoming().enumerate() {
            let Ok(mut client) = client else { continue };
            let Some((head, mut body)) = read_message(&mut client) else { continue };
            if n + 1 == target && forge {
                let mut json: serde_json::Value = serde_json::from_slice(&body).unwrap();
                json["baton"] = "A".repeat(64).into();
                body = json.to_string().into_bytes();
            }
            let mut server = std::net::TcpStream::connect(&upstream).unwrap();
            server.write_all(&with_length(&head, body.len())).unwrap();
            server.write_all(&body).unwrap();
            let Some((head, body)) = read_message(&mut server) else { continue };
            if n + 1 == target && !forge {
                continue; // the connection closes unanswered
            }
            let _ = client.write_all(&with_length(&head, body.len()));
            let _ = client.write_all(&body);
        }
    });
    url
}

/// One HTTP message's head (without its length and connection headers) and body.
fn read_message(s: &mut impl Read) -> Option<(String, Vec<u8>)> {
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut buf).ok().filter(|n| *n > 0)?;
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..end]).to_string();
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0);
    let mut body = data[end + 4..].to_vec();
    while body.len() < length {
        let n = s.read(&mut buf).ok().filter(|n| *n > 0)?;
        body.extend_from_slice(&buf[..n]);
    }
    let kept: Vec<&str> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("content-length:"))
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    Some((kept.join("\r\n"), body))
}

fn with_length(head: &str, length: usize) -> Vec<u8> {
    format!("{head}\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n").into_bytes()
}

#[track_caller]
fn assert_lost(e: &StreamError, server: &str, says: &str) {
    let StreamError::Lost(lost) = e else { panic!("not a lost stream: {e}") };
    assert_eq!(lost.server, server);
    let message = e.to_string();
    assert!(message.contains(says), "{message}");
    assert!(message.contains(&format!("libSQL server at {server} was lost")), "{message}");
    assert!(message.contains("the server rolls back a transaction still open when its stream ends"), "{message}");
    let all = format!("{message} {e:?}");
    assert!(!all.contains("secret-token-5150"), "the token was shown: {all}");
}

#[test]
fn a_forged_baton_or_an_answer_lost_with_the_connection_is_a_lost_stream() {
    let Some(server) = sqld() else { return };
    let token = Some("secret-token-5150");
    let direct = Client::connect(&server.url, token).unwrap();
    direct.rows("CREATE TABLE t (id INTEGER PRIMARY KEY)", &[]).unwrap();

    // Request 1 connects, 2 opens the stream; 3 carries a baton the server never gave.
    let forging = proxy(&server.url, 3, true);
    let client = Client::connect(&forging, token).unwrap();
    let stream = client.stream();
    stream.batch(&["BEGIN IMMEDIATE", "INSERT INTO t VALUES (1)"]).unwrap();
    let e = stream.execute("INSERT INTO t VALUES (2)").unwrap_err();
    assert_lost(&e, &forging, "it answered HTTP 400: Received an invalid baton");
    // Lost stays lost, without another request; through `Sql` it is still recognised.
    let sent = client.requests();
    assert_lost(&stream.execute("COMMIT").unwrap_err(), &forging, "invalid baton");
    let through_sql = stream.rows("SELECT 1", &[]).unwrap_err();
    assert_eq!(StreamLost::of(&through_sql).map(|l| l.server.as_str()), Some(forging.as_str()));
    assert!(!through_sql.to_string().contains("secret-token-5150"));
    assert_eq!(client.requests(), sent);
    assert!(stream.close().is_err());
    assert_eq!(value(&direct, "SELECT count(*) FROM t"), Value::Integer(0), "nothing committed");

    // Request 3 reaches the server and runs, but its answer never comes back.
    let dropping = proxy(&server.url, 3, false);
    let client = Client::connect(&dropping, token).unwrap();
    let stream = client.stream();
    stream.execute("BEGIN").unwrap();
    let e = stream.execute("INSERT INTO t VALUES (3)").unwrap_err();
    assert_lost(&e, &dropping, "the request failed");
    assert_eq!(value(&direct, "SELECT count(*) FROM t"), Value::Integer(0), "nothing committed");
    drop(stream);
}

#[test]
fn an_idle_stream_expires_and_the_server_rolls_its_transaction_back() {
    let Some(server) = sqld() else { return };
    let client = Client::connect(&server.url, Some("secret-token-5150")).unwrap();
    client.rows("CREATE TABLE t (id INTEGER PRIMARY KEY)", &[]).unwrap();
    let stream = client.stream();
    stream.batch(&["BEGIN IMMEDIATE", "INSERT INTO t VALUES (1)"]).unwrap();
    // sqld ends a stream left without a request for 10 seconds (rounded up to the second).
    std::thread::sleep(std::time::Duration::from_secs(12));
    let e = stream.execute("COMMIT").unwrap_err();
    assert_lost(&e, &server.url, "it answered HTTP 400: The stream has expired due to inactivity");
    // The transaction was rolled back and its write lock freed.
    client.rows("INSERT INTO t VALUES (2)", &[]).unwrap();
    assert_eq!(value(&client, "SELECT group_concat(id) FROM t"), Value::Text("2".into()));
}

/// A loopback TLS server in front of `upstream`, with a fresh self-signed certificate for
/// `127.0.0.1` written to `ca.pem` in `dir`: its `https://` URL and that file.
fn tls_front(upstream: &str, dir: &Dir) -> (String, std::path::PathBuf) {
    use std::sync::Arc;
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let pem = dir.join("ca.pem");
    std::fs::write(&pem, certified.cert.pem()).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    #[allow(deprecated)] // the provider the client uses (see `remote::tls_config`)
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certified.cert.der().clone()], key)
        .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    let upstream = upstream.trim_start_matches("http://").to_string();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let mut tls = rustls::StreamOwned::new(rustls::ServerConnection::new(config.clone()).unwrap(), tcp);
            let Some((head, body)) = read_message(&mut tls) else { continue };
            let mut server = std::net::TcpStream::connect(&upstream).unwrap();
            server.write_all(&with_length(&head, body.len())).unwrap();
            server.write_all(&body).unwrap();
            let Some((head, body)) = read_message(&mut server) else { continue };
            let _ = tls.write_all(&with_length(&head, body.len()));
            let _ = tls.write_all(&body);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (url, pem)
}

#[test]
fn https_and_libsql_urls_go_over_tls_trusting_the_ca_file() {
    let dir = Dir::new();
    let Some((server, _client)) = server_and_file(&dir) else { return };
    let (url, pem) = tls_front(&server.url, &dir);
    let token = Some("secret-token-5150");
    // Trusted through the file: reads, and a stream whose transaction spans requests.
    let libsql_url = url.replacen("https://", "libsql://", 1);
    for address in [&url, &libsql_url] {
        let client = Client::connect_trusting(address, token, Some(&pem)).unwrap();
        assert_eq!(client.url(), url, "libsql:// is read as https://");
        assert_eq!(inspect(&client, &InspectOptions::default()).unwrap().tables.len(), 2);
        let stream = client.stream();
        stream.batch(&["BEGIN IMMEDIATE", "INSERT INTO users (email) VALUES ('tls@x')"]).unwrap();
        assert_eq!(value(&stream, "SELECT count(*) FROM users WHERE email = 'tls@x'"), Value::Integer(1));
        stream.execute("ROLLBACK").unwrap();
        stream.close().unwrap();
    }
    // Not trusted without it: the error says so, without the token.
    let e = Client::connect_trusting(&url, token, None).unwrap_err().to_string();
    assert!(e.contains(&format!("cannot reach a libSQL server at {url}")), "{e}");
    assert!(e.contains("UnknownIssuer") && e.contains("RECONCILE_CA_FILE"), "{e}");
    assert!(!e.contains("secret-token-5150"), "{e}");
    // A file that holds no certificate is named.
    dir.write("empty.pem", "not a certificate\n");
    let e = Client::connect_trusting(&url, None, Some(&dir.join("empty.pem"))).unwrap_err().to_string();
    assert!(e.contains("empty.pem` (RECONCILE_CA_FILE): holds no PEM certificate"), "{e}");
    // The command line: RECONCILE_CA_FILE, and the same schema as over plain HTTP.
    let pem_text = pem.to_string_lossy().to_string();
    let over_tls = reconcile_env(dir.path(), &["inspect", "--db", &url], &[("RECONCILE_CA_FILE", pem_text.as_str())]);
    assert_eq!(over_tls.status.code(), Some(0), "{}", stderr(&over_tls));
    assert_eq!(stdout(&over_tls), stdout(&reconcile(dir.path(), &["inspect", "--db", &server.url])));
    let untrusted = reconcile(dir.path(), &["inspect", "--db", &url]);
    assert_eq!(untrusted.status.code(), Some(1));
    assert!(stderr(&untrusted).contains("RECONCILE_CA_FILE"), "{}", stderr(&untrusted));
}
