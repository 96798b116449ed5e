//! An rqlite node (`rqlited`, started by the tests) through `--db rqlite://…`: `inspect`,
//! `drift`, `plan` and `history` read it as they read a file, in a bounded number of requests,
//! planning for its SQLite version; changing it (`apply`, `rollback`, `reset`) is refused
//! before anything is sent; bad URLs, wrong credentials and servers that are not rqlite are
//! clear errors that never show the password.

use rusqlite::types::Value;
use sqlite_reconcile::engine::Sql;
use sqlite_reconcile::rqlite::Node;
use sqlite_reconcile::{inspect, InspectOptions};

use crate::harness::{reconcile, reconcile_env, rqlited, stderr, stdout, Dir};

const SCHEMA_SQL: &[&str] = &[
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE COLLATE NOCASE, name TEXT)",
    "CREATE TABLE posts (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE, title TEXT NOT NULL CHECK (length(title) > 0), body BLOB)",
    "CREATE INDEX posts_user ON posts (user_id)",
    "CREATE VIEW titles AS SELECT p.title, u.email FROM posts p JOIN users u ON u.id = p.user_id",
    "CREATE TRIGGER users_touch AFTER UPDATE OF email ON users BEGIN UPDATE posts SET body = body WHERE user_id = NEW.id; END",
    "INSERT INTO users VALUES (1, 'a@x', NULL)",
    "INSERT INTO posts (user_id, title, body) VALUES (1, 'hello', x'00ff')",
];

#[test]
fn inspect_drift_plan_and_history_read_an_rqlite_node_as_they_read_a_file() {
    let Some(node) = rqlited(true, None) else { return };
    node.execute(SCHEMA_SQL, None);
    let dir = Dir::new();
    dir.db("app.db", &SCHEMA_SQL.join(";\n"));
    let remote = reconcile(dir.path(), &["inspect", "--db", &node.url]);
    assert_eq!(remote.status.code(), Some(0), "{}", stderr(&remote));
    let local = reconcile(dir.path(), &["inspect", "--db", "app.db"]);
    assert_eq!(stdout(&remote), stdout(&local));
    // The library: one request to connect (version and foreign keys), one to inspect.
    let reader = Node::connect(&node.url).unwrap();
    assert!(reader.enforces_foreign_keys(), "started with -fk");
    assert_eq!(reader.engine().sqlite_version, sqlite_reconcile::engine::sqlite_version(&reader).unwrap());
    let schema = inspect(&reader, &InspectOptions::default()).unwrap();
    assert_eq!(schema.tables.len(), 2);
    assert_eq!(reader.requests(), 2, "connect + one snapshot request");
    // Values come back as SQLite's, the blob decoded.
    let rows = reader.rows("SELECT id, title, body FROM posts", &[]).unwrap();
    assert_eq!(rows, vec![vec![Value::Integer(1), Value::Text("hello".into()), Value::Blob(vec![0, 255])]]);
    let params = reader.rows("SELECT ?1 + 1, ?2", &[Value::Integer(41), Value::Text("x".into())]).unwrap();
    assert_eq!(params, vec![vec![Value::Integer(42), Value::Text("x".into())]]);

    // drift and plan: in sync, then a change planned for the node's SQLite version.
    let inspected = reconcile(dir.path(), &["inspect", "--db", &node.url, "-o", "schema/app.yaml"]);
    assert_eq!(inspected.status.code(), Some(0), "{}", stderr(&inspected));
    let drift = reconcile(dir.path(), &["drift", "--db", &node.url]);
    assert_eq!(drift.status.code(), Some(0), "{}", stderr(&drift));
    let yaml = std::fs::read_to_string(dir.join("schema/app.yaml")).unwrap();
    let changed = yaml.replacen(
        "    - name: name\n      type: TEXT\n",
        "    - name: name\n      type: TEXT\n      collate: NOCASE\n",
        1,
    );
    assert_ne!(changed, yaml);
    std::fs::write(dir.join("schema/app.yaml"), changed).unwrap();
    let drift = reconcile(dir.path(), &["drift", "--db", &node.url]);
    assert_eq!(drift.status.code(), Some(2), "{}", stderr(&drift));
    let plan = reconcile(dir.path(), &["plan", "--db", &node.url]);
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    assert!(stderr(&plan).contains("rebuild table `users`"), "{}", stderr(&plan));
    let history = reconcile(dir.path(), &["history", "--db", &node.url]);
    assert_eq!(history.status.code(), Some(0), "{}", stderr(&history));
    assert!(stderr(&history).contains("no changes recorded"), "{}", stderr(&history));

    // Changing it is refused before anything is sent: the node as it was.
    for args in [vec!["apply", "--yes", "--db", &node.url], vec!["rollback", "--yes", "--db", &node.url]] {
        let out = reconcile(dir.path(), &args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("not supported yet") && stderr(&out).contains("nothing was sent"),
            "{}",
            stderr(&out)
        );
    }
    let out = reconcile_env(dir.path(), &["reset", "--yes", "--db", &node.url], &[("RECONCILE_ENV", "dev")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(stdout(&reconcile(dir.path(), &["inspect", "--db", &node.url])), yaml);
    assert!(!dir.join("rqlite:").exists(), "no file was made of the URL");
}

#[test]
fn bad_rqlite_urls_and_credentials_are_clear_errors_that_never_show_the_password() {
    let dir = Dir::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = reconcile(dir.path(), &["inspect", "--db", &format!("rqlite://127.0.0.1:{closed}")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot reach the rqlite node at http://127.0.0.1:"), "{}", stderr(&out));
    // Credentials in the URL are refused without repeating them.
    let out = reconcile(dir.path(), &["inspect", "--db", "rqlite://ann:s3cret@127.0.0.1:1"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("s3cret") && stderr(&out).contains("RECONCILE_RQLITE_PASSWORD"), "{}", stderr(&out));

    let users = r#"[{"username": "ann", "password": "s3cret-pw", "perms": ["all"]}]"#;
    let Some(node) = rqlited(false, Some(users)) else { return };
    node.execute(&["CREATE TABLE t (id INTEGER PRIMARY KEY)"], Some(("ann", "s3cret-pw")));
    for (user, password, code) in [("ann", "wrong-pw", 1), ("bob", "s3cret-pw", 1), ("ann", "s3cret-pw", 0)] {
        let env = [("RECONCILE_RQLITE_USER", user), ("RECONCILE_RQLITE_PASSWORD", password)];
        let out = reconcile_env(dir.path(), &["-vv", "inspect", "--db", &node.url], &env);
        assert_eq!(out.status.code(), Some(code), "{user}/{password}: {}", stderr(&out));
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(!all.contains(password), "the password was printed: {all}");
        if code == 1 {
            assert!(stderr(&out).contains("refused the credentials"), "{}", stderr(&out));
        }
    }
    // No credentials at all.
    let out = reconcile(dir.path(), &["inspect", "--db", &node.url]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

/// What a change on rqlite must be built on, measured on rqlited 8.26.8: a request run as one
/// transaction (`/db/execute?transaction`) rolls back whole when one of its statements fails,
/// and a SELECT can be made to fail on a condition (an integer overflow, malformed JSON), so a
/// check can travel inside the request; and on a node started with `-fk`, `PRAGMA
/// foreign_keys = OFF` inside the request does nothing, so the naive rebuild of a parent
/// deletes its ON DELETE CASCADE children. (`apply` on rqlite is refused until it is built on
/// these.)
#[test]
fn an_rqlite_request_rolls_back_whole_on_a_failing_check_and_keeps_foreign_keys_on_under_fk() {
    let Some(node) = rqlited(true, None) else { return };
    let reader = Node::connect(&node.url).unwrap();
    let run = |statements: &[&str]| -> String {
        let body = serde_json::json!(statements).to_string();
        let answer = ureq::post(&format!("{}/db/execute?transaction", node.http))
            .set("Content-Type", "application/json")
            .send_string(&body)
            .expect("rqlite answers");
        answer.into_string().unwrap()
    };
    let tables = || reader.rows("SELECT group_concat(name, ',' ORDER BY name) FROM sqlite_schema", &[]).unwrap();
    for check in ["SELECT CASE WHEN 1 THEN abs(-9223372036854775808) END", "SELECT CASE WHEN 1 THEN json(char(1)) END"]
    {
        let answer = run(&["CREATE TABLE made (id INTEGER PRIMARY KEY)", check, "CREATE TABLE after (x)"]);
        assert!(answer.contains("\"error\""), "{answer}");
        assert_eq!(tables(), vec![vec![Value::Null]], "the whole request rolled back: {answer}");
    }
    // The same check with its condition false lets the request commit.
    let answer =
        run(&["CREATE TABLE made (id INTEGER PRIMARY KEY)", "SELECT CASE WHEN 0 THEN abs(-9223372036854775808) END"]);
    assert!(!answer.contains("\"error\""), "{answer}");
    assert_eq!(tables(), vec![vec![Value::Text("made".into())]]);

    // A parent with ON DELETE CASCADE children, rebuilt the naive way in one request.
    node.execute(
        &[
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT)",
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE)",
            "INSERT INTO parent VALUES (1, 'a'), (2, 'b')",
            "INSERT INTO child VALUES (10, 1), (11, 1), (12, 2)",
        ],
        None,
    );
    let answer = run(&[
        "PRAGMA foreign_keys = OFF",
        "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT COLLATE NOCASE)",
        "INSERT INTO parent_new SELECT id, name FROM parent",
        "DROP TABLE parent",
        "ALTER TABLE parent_new RENAME TO parent",
    ]);
    assert!(!answer.contains("\"error\""), "{answer}");
    let children = reader.rows("SELECT count(*) FROM child", &[]).unwrap();
    assert_eq!(children, vec![vec![Value::Integer(0)]], "keys stayed on: the DROP cascaded to every child row");
}
