//! A libSQL server (`sqld`, started by the tests) read through `--db http://…`: `inspect`,
//! `drift`, `plan` and `history` work on it as on a file, with the server's SQLite version
//! deciding the plan; changing it is refused before anything is sent; bad servers and URLs are
//! clear errors that never show the token.

use std::io::{Read, Write};
use std::net::TcpListener;

use sqlite_reconcile::engine::Sql;
use sqlite_reconcile::remote::Client;
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
fn history_of_a_server_and_changes_refused_before_anything_is_sent() {
    let dir = Dir::new();
    let Some((server, _client)) = server_and_file(&dir) else { return };
    let history = reconcile(dir.path(), &["history", "--db", &server.url]);
    assert_eq!(history.status.code(), Some(0), "{}", stderr(&history));
    assert!(stderr(&history).contains("no changes recorded"), "{}", stderr(&history));
    let before = stdout(&reconcile(dir.path(), &["inspect", "--db", &server.url]));
    dir.write(
        "schema/app.yaml",
        "tables:\n  other:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n",
    );
    for args in [
        vec!["apply", "--yes", "--allow-destructive", "--db", &server.url],
        vec!["rollback", "--yes", "--db", &server.url],
        vec!["reset", "--yes", "--db", &server.url],
    ] {
        let out = reconcile_env(dir.path(), &args, &[("RECONCILE_ENV", "dev")]);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("changing a libSQL server is not supported yet, nothing was sent"),
            "{}",
            stderr(&out)
        );
    }
    assert_eq!(stdout(&reconcile(dir.path(), &["inspect", "--db", &server.url])), before);
    assert!(!dir.join("http:").exists(), "no file was made of the URL");
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
    let https = reconcile(dir.path(), &["inspect", "--db", "https://example.invalid"]);
    assert_eq!(https.status.code(), Some(1));
    assert!(stderr(&https).contains("only http:// libSQL servers are supported yet"), "{}", stderr(&https));
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
