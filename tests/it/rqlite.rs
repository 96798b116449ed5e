//! An rqlite node (`rqlited`, started by the tests) through `--db rqlite://…`: every command
//! works on it, each change sent as one request with its guards; each guard fires and rolls the
//! whole request back; a parent rebuilt on a `-fk` node keeps its cascade children; a 3-node
//! cluster takes a change through a follower and holds the old or the new schema, whole, on
//! every node when its leader is killed during a change; bad URLs, wrong credentials and nodes
//! without a leader are clear errors that never show the password and write nothing.

use rusqlite::types::Value;
use sqlite_reconcile::engine::Sql;
use sqlite_reconcile::rqlite::Node;
use sqlite_reconcile::{inspect, InspectOptions};

use crate::harness::{reconcile, reconcile_env, rqlited, stderr, stdout, Dir, Place};

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
    // The cascade report says how the `-fk` node's children are kept: rebuilt with the parent.
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&reconcile(dir.path(), &["plan", "--db", &node.url, "--format", "json"])))
            .unwrap();
    let child = &json["cascade"][0]["children"][0];
    assert_eq!((&json["cascade"][0]["table"], &child["table"]), (&"users".into(), &"posts".into()), "{json}");
    assert_eq!(
        (&child["on_delete"], &child["rows"], &child["kept_by"]),
        (&"cascade".into(), &1.into(), &"rebuilt_with_it".into())
    );
    assert!(stderr(&plan).contains("rebuild table `users`"), "{}", stderr(&plan));
    let history = reconcile(dir.path(), &["history", "--db", &node.url]);
    assert_eq!(history.status.code(), Some(0), "{}", stderr(&history));
    assert!(stderr(&history).contains("no changes recorded"), "{}", stderr(&history));

    // apply: the parent `users` is rebuilt with its ON DELETE CASCADE child on the `-fk` node,
    // every row kept; history, a second plan empty, then the rollback and a reset.
    let rows_before = reader.rows("SELECT id, user_id, title, body FROM posts ORDER BY id", &[]).unwrap();
    let out = reconcile(dir.path(), &["apply", "--yes", "--db", &node.url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(reader.rows("SELECT id, user_id, title, body FROM posts ORDER BY id", &[]).unwrap(), rows_before);
    assert_eq!(
        stdout(&reconcile(dir.path(), &["inspect", "--db", &node.url])),
        std::fs::read_to_string(dir.join("schema/app.yaml")).unwrap()
    );
    let drift = reconcile(dir.path(), &["drift", "--db", &node.url]);
    assert_eq!(drift.status.code(), Some(0), "{}", stderr(&drift));
    let history = reconcile(dir.path(), &["history", "--db", &node.url]);
    assert!(stdout(&history).contains("apply") || stderr(&history).contains("apply"), "{}", stderr(&history));
    let out = reconcile(dir.path(), &["rollback", "--yes", "--db", &node.url]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&reconcile(dir.path(), &["inspect", "--db", &node.url])), yaml);
    assert_eq!(reader.rows("SELECT id, user_id, title, body FROM posts ORDER BY id", &[]).unwrap(), rows_before);
    let out = reconcile_env(dir.path(), &["reset", "--yes", "--db", &node.url], &[("RECONCILE_ENV", "dev")]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(reader.rows("SELECT count(*) FROM posts", &[]).unwrap(), vec![vec![Value::Integer(0)]]);
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

/// The scenario suite with each database on an rqlite node, with `-fk` and without: applied and
/// rolled back there as one request each, the four checks and the rollback read back from it.
#[test]
fn the_scenario_suite_passes_on_rqlite_with_and_without_foreign_keys() {
    for foreign_keys in [false, true] {
        crate::harness::run_scenario_files(|f| f.run_on(Place::Rqlite { foreign_keys }));
    }
}

/// Each guard of the request fires when its condition is made true, and the whole request rolls
/// back: nothing of the change is left, not even the tables that keep its dropped values.
#[test]
fn each_guard_of_a_one_request_change_fires_and_rolls_the_whole_request_back() {
    use sqlite_reconcile::one_request::{OneRequest, Part, Sent, Statement};
    use sqlite_reconcile::target::Target;
    let Some(node) = rqlited(false, None) else { return };
    node.execute(
        &[
            "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT)",
            "CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id))",
            "INSERT INTO parent VALUES (1, 'a'), (2, 'b')",
            "INSERT INTO child VALUES (10, 1), (11, 2)",
        ],
        None,
    );
    let mut target = Node::connect(&node.url).unwrap();
    let state = |t: &Node| {
        let schema = t.rows(sqlite_reconcile::one_request::SCHEMA_TEXT, &[]).unwrap();
        let rows = t.rows("SELECT (SELECT group_concat(id || name) FROM parent), (SELECT group_concat(id || '-' || parent_id) FROM child)", &[]).unwrap();
        (schema, rows)
    };
    let start = state(&target);
    let start_with_loose = |t: &Node| {
        let schema = t.rows(sqlite_reconcile::one_request::SCHEMA_TEXT, &[]).unwrap();
        (schema, t.rows("SELECT * FROM loose", &[]).unwrap())
    };
    // The change: `name` made NOCASE (a rebuild) and child 11 pointed at a parent that stays.
    let yaml = |collate: &str| {
        format!("tables:\n  parent:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: name, type: TEXT{collate} }}\n  child:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: parent_id, type: INTEGER, references: {{ table: parent, column: id }} }}\n")
    };
    let desired = crate::harness::load_yaml(&yaml(", collate: NOCASE"));
    let prepared = target.prepare(&desired, &Default::default()).unwrap();
    let run = sqlite_reconcile::execute::Run { kind: "apply", ..Default::default() };

    // Stale: another change lands between the read and the request. A node in the middle
    // applies it: the request the first compiled is sent after it.
    struct Racing<'a> {
        node: &'a Node,
        before_send: &'a dyn Fn(),
        tamper: &'a dyn Fn(&mut Vec<Statement>),
    }
    impl sqlite_reconcile::engine::Sql for Racing<'_> {
        fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
            self.node.rows(sql, params)
        }
        fn snapshot(&self, queries: &[&str]) -> Result<Vec<Vec<Vec<Value>>>, rusqlite::Error> {
            self.node.snapshot(queries)
        }
    }
    impl OneRequest for Racing<'_> {
        fn engine(&self) -> &sqlite_reconcile::engine::Engine {
            self.node.engine()
        }
        fn place(&self) -> &str {
            self.node.url()
        }
        fn send(&self, statements: &[Statement]) -> Result<Sent, sqlite_reconcile::ApplyError> {
            (self.before_send)();
            let mut statements = statements.to_vec();
            (self.tamper)(&mut statements);
            self.node.send(&statements)
        }
    }
    let fired = |before_send: &dyn Fn(), tamper: &dyn Fn(&mut Vec<Statement>)| {
        let racing = Racing { node: &target, before_send, tamper };
        let outcome = sqlite_reconcile::one_request::change(&racing, &prepared, &run);
        outcome.expect_err("the guard fires").to_string()
    };
    let noop = || {};
    let same = |_: &mut Vec<Statement>| {};
    let e = fired(&|| node.execute(&["CREATE TABLE other (x)"], None), &same);
    assert!(e.contains("changed after it was read"), "{e}");
    node.execute(&["DROP TABLE other"], None);
    assert_eq!(state(&target), start);
    // Schema: the node's result is not the copy's (a step's text differs from the one the copy
    // ran, so `sqlite_schema` holds another text).
    let e = fired(&noop, &|s| {
        let create =
            s.iter_mut().find(|x| matches!(x.part, Part::Step(_)) && x.sql.starts_with("CREATE TABLE ")).unwrap();
        assert!(create.sql.contains('\n'), "{}", create.sql);
        create.sql = create.sql.replacen('\n', "\n ", 1);
    });
    assert!(e.contains("is not the one the plan produces"), "{e}");
    assert_eq!(state(&target), start);
    // Foreign keys: a reference added over a row that points at no parent (keys off on this
    // node, so only the guard sees it; the copy has no rows).
    node.execute(
        &["CREATE TABLE loose (id INTEGER PRIMARY KEY, parent_id INTEGER)", "INSERT INTO loose VALUES (1, 99)"],
        None,
    );
    let with_loose = start_with_loose(&target);
    let strict = crate::harness::load_yaml(&format!(
        "{}  loose:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: parent_id, type: INTEGER, references: {{ table: parent, column: id }} }}\n",
        yaml("")
    ));
    let adding = target.prepare(&strict, &Default::default()).unwrap();
    let e = target.execute(&adding, &run).expect_err("the guard fires").to_string();
    assert!(e.contains("foreign keys violated"), "{e}");
    assert_eq!(start_with_loose(&target), with_loose);
    node.execute(&["DROP TABLE loose"], None);
    assert_eq!(state(&target), start);
    // Each guard with its condition false: the change commits, verified, recorded.
    let report = target.execute(&prepared, &run).unwrap();
    assert!(report.id.is_some());
    assert_ne!(state(&target).0, start.0);
    assert_eq!(state(&target).1, start.1, "every row kept");
    assert!(target.prepare(&desired, &Default::default()).unwrap().is_empty());
}

/// Bad input on the write path: a URL to nothing, wrong credentials, a node with no leader (the
/// rest of its cluster gone): a clear error, exit 1, nothing written.
#[test]
fn a_change_to_a_node_that_cannot_take_it_is_a_clear_error_and_writes_nothing() {
    let dir = Dir::new();
    std::fs::create_dir_all(dir.join("schema")).unwrap();
    std::fs::write(
        dir.join("schema/app.yaml"),
        "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n",
    )
    .unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = reconcile(dir.path(), &["apply", "--yes", "--db", &format!("rqlite://127.0.0.1:{closed}")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot reach the rqlite node"), "{}", stderr(&out));
    let Some(mut cluster) = crate::harness::rqlite_cluster(3) else { return };
    // Two of three gone: the last has no leader, and will not take (or forward) a write.
    let lonely = cluster.follower_url();
    cluster.kill_all_but(&lonely);
    let out = reconcile(dir.path(), &["apply", "--yes", "--db", &lonely]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("leader") || said.contains("remote node") || said.contains("answered HTTP"), "{said}");
    let out = reconcile(dir.path(), &["inspect", "--db", &lonely]);
    assert_eq!(out.status.code(), Some(1), "reads need the leader too: {}", stderr(&out));
    // The cluster back whole: no node holds anything of the change.
    for i in 0..cluster.len() {
        if cluster.url(i) != lonely {
            cluster.start(i).unwrap();
        }
    }
    for i in 0..cluster.len() {
        cluster.wait_ready(i).unwrap();
    }
    let leader = cluster.leader().expect("a leader again");
    let out = reconcile(dir.path(), &["drift", "--db", &cluster.url(leader)]);
    assert_eq!(out.status.code(), Some(2), "the table was not made: {}", stderr(&out));
    for i in 0..cluster.len() {
        let objects = cluster.local_rows(i, "SELECT count(*) FROM sqlite_schema").unwrap();
        assert_eq!(objects, serde_json::json!([[0]]), "node {i} holds nothing");
    }
}

/// A 3-node cluster: a change applied through a follower's address (rqlite forwards it to the
/// leader); then 20 trials of a change (a parent rebuilt with its cascade children, on `-fk`-less
/// nodes, and back) during which the leader is killed: afterwards every node holds exactly the
/// old or the new schema, with every row.
#[test]
fn a_three_node_cluster_takes_a_change_through_a_follower_and_survives_its_leader_killed_mid_change() {
    let Some(mut cluster) = crate::harness::rqlite_cluster(3) else { return };
    let follower = cluster.follower_url();
    let dir = Dir::new();
    std::fs::create_dir_all(dir.join("schema")).unwrap();
    let yaml = |collate: &str| {
        format!(
            "tables:\n  parent:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: name, type: TEXT{collate} }}\n  child:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: parent_id, type: INTEGER, references: {{ table: parent, column: id, on_delete: cascade }} }}\n"
        )
    };
    std::fs::write(dir.join("schema/app.yaml"), yaml("")).unwrap();
    let out = reconcile(dir.path(), &["apply", "--yes", "--db", &follower]);
    assert_eq!(out.status.code(), Some(0), "through a follower: {}", stderr(&out));
    let mut seed: Vec<String> = (1..=200).map(|i| format!("INSERT INTO parent VALUES ({i}, 'p{i}')")).collect();
    seed.extend((1..=600).map(|i| format!("INSERT INTO child VALUES ({i}, {})", 1 + i % 200)));
    let all: Vec<&str> = seed.iter().map(String::as_str).collect();
    let body = serde_json::json!(all).to_string();
    ureq::post(&format!("{}/db/execute?transaction", cluster.http(cluster.leader().unwrap())))
        .set("Content-Type", "application/json")
        .send_string(&body)
        .unwrap();
    let rows_sql = "SELECT (SELECT count(*) || ':' || sum(id) FROM parent) || '/' || (SELECT count(*) || ':' || sum(parent_id) FROM child)";
    let schema_sql = "SELECT sql FROM sqlite_schema WHERE name = 'parent'";
    let rows = cluster.local_rows(cluster.leader().unwrap(), rows_sql).unwrap();
    let (mut old, mut committed, mut failed) = (None::<serde_json::Value>, 0, 0);
    for trial in 0..20 {
        let collate = if trial % 2 == 0 { ", collate: NOCASE" } else { "" };
        std::fs::write(dir.join("schema/app.yaml"), yaml(collate)).unwrap();
        let leader = cluster.leader().expect("a leader");
        let before = cluster.local_rows(leader, schema_sql).unwrap();
        old.get_or_insert(before.clone());
        let target = cluster.follower_url();
        let cwd = dir.path().to_path_buf();
        let apply = std::thread::spawn(move || reconcile(&cwd, &["apply", "--yes", "--db", &target]));
        std::thread::sleep(std::time::Duration::from_millis(5 * (trial % 8)));
        cluster.kill(leader);
        let out = apply.join().unwrap();
        cluster.start(leader).unwrap();
        for i in 0..cluster.len() {
            cluster.wait_ready(i).unwrap();
        }
        // Every node catches up, then holds one whole schema with every row.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let states = loop {
            let states: Vec<_> = (0..cluster.len())
                .map(|i| (cluster.local_rows(i, schema_sql).ok(), cluster.local_rows(i, rows_sql).ok()))
                .collect();
            if states.iter().all(|s| *s == states[0]) || std::time::Instant::now() > deadline {
                break states;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        };
        assert!(states.iter().all(|s| *s == states[0]), "trial {trial}: nodes disagree: {states:?}");
        let (schema, now_rows) = states[0].clone();
        assert_eq!(now_rows.as_ref(), Some(&rows), "trial {trial}: rows changed: {}", stderr(&out));
        let schema = schema.unwrap();
        let changed = schema != before;
        if out.status.code() == Some(0) {
            committed += 1;
            assert!(changed || stderr(&out).contains("nothing to do"), "trial {trial}: said applied, schema as before");
        } else {
            failed += 1;
        }
        // Old or new, nothing else: the schema says NOCASE exactly when it was asked and landed.
        let text = schema.to_string();
        assert!(text.contains("NOCASE") == (changed == (trial % 2 == 0)) || !changed, "trial {trial}: {text}");
        // A trial that failed leaves the schema the next one starts from: bring it to this one's
        // goal so trials alternate.
        if !changed {
            let out = reconcile(dir.path(), &["apply", "--yes", "--db", &cluster.url(cluster.leader().unwrap())]);
            assert_eq!(out.status.code(), Some(0), "trial {trial}, again: {}", stderr(&out));
        }
    }
    eprintln!("20 leader kills: {committed} changes committed, {failed} failed cleanly");
}
