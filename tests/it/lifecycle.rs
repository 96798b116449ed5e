//! The life of a change after it is planned: the plan store, the backup of
//! dropped data, rollback, saved plans, history, reset, and the library at
//! application startup. Each test works on real database files.

use std::path::Path;

use rusqlite::Connection;
use serde_json::Value as Json;
use sqlite_reconcile::apply::ApplyOptions;
use sqlite_reconcile::execute::{self, Run};
use sqlite_reconcile::{diff, history, load, migration, plan_for, InspectOptions};

use crate::harness::{reconcile, reconcile_env, state, stderr, stdout, Dir};

#[allow(dead_code)]
#[path = "../../examples/startup.rs"]
mod startup_example;

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

const START: &str = "CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT NOT NULL, legacy TEXT);
CREATE TABLE old_log(id INTEGER PRIMARY KEY AUTOINCREMENT, msg TEXT);
CREATE INDEX users_legacy ON users(legacy);
CREATE TRIGGER users_log AFTER INSERT ON users BEGIN INSERT INTO old_log(msg) VALUES ('user ' || NEW.name); END;
INSERT INTO users(name, legacy) VALUES ('ann', 'a1'), ('bob', NULL), ('cy', 'c3');
DELETE FROM old_log WHERE id = 3;";

const USERS_ONLY: &str = "tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: name, type: TEXT, not_null: true }
";

#[test]
fn dropped_table_and_column_come_back_with_rollback() {
    let dir = Dir::new();
    let db = dir.db("app.db", START);
    dir.write("schema/app.yaml", USERS_ONLY);
    let before = state(&db);

    let refused = reconcile(dir.path(), &["apply", "--yes"]);
    assert_eq!(code(&refused), 3, "{}", stderr(&refused));
    assert_eq!(state(&db), before, "a refused apply changed the database");

    let applied = reconcile(dir.path(), &["apply", "--yes", "--allow-destructive"]);
    assert_eq!(code(&applied), 0, "{}", stderr(&applied));
    let after = state(&db);
    assert!(!after.0.tables.contains_key("old_log") && after.0.tables["users"].column("legacy").is_none());

    // The plan store: one directory per change, three readable files, no table data.
    let ids: Vec<String> = std::fs::read_dir(dir.join("plans"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let plan_dir = dir.join("plans").join(&ids[0]);
    let forward = std::fs::read_to_string(plan_dir.join("forward.sql")).unwrap();
    let rollback = std::fs::read_to_string(plan_dir.join("rollback.sql")).unwrap();
    let meta: Json = serde_json::from_str(&std::fs::read_to_string(plan_dir.join("meta.json")).unwrap()).unwrap();
    assert!(forward.contains("DROP TABLE old_log"), "{forward}");
    assert!(rollback.contains("CREATE TABLE old_log") && rollback.contains("ATTACH DATABASE"), "{rollback}");
    assert!(!forward.contains("'a1'") && !rollback.contains("'a1'"), "plan files must never hold table data");
    assert_eq!(meta["id"], ids[0].as_str());
    assert_eq!(meta["fingerprint_before"], migration::fingerprint(&before.0).as_str());
    assert_eq!(meta["fingerprint_after"], migration::fingerprint(&after.0).as_str());
    let backup = meta["backup"].as_str().unwrap();
    assert!(dir.join("app.db.reconcile").join(backup).is_file());
    assert!(meta["steps"].as_array().unwrap().iter().any(|s| s["risk"] == "destructive"));

    let history = reconcile(dir.path(), &["history", "--format", "json"]);
    let h: Json = serde_json::from_str(&stdout(&history)).unwrap();
    assert_eq!(h["history"][0]["id"], ids[0].as_str());
    assert_eq!(h["history"][0]["outcome"], "applied");

    let undone = reconcile(dir.path(), &["rollback", "--yes"]);
    assert_eq!(code(&undone), 0, "{}", stderr(&undone));
    assert_eq!(state(&db), before, "rollback must bring back the schema and every row");
    // The AUTOINCREMENT high-water mark of the dropped table came back too (row 3 was deleted).
    let conn = Connection::open(&db).unwrap();
    let seq: i64 = conn.query_row("SELECT seq FROM sqlite_sequence WHERE name = 'old_log'", [], |r| r.get(0)).unwrap();
    assert_eq!(seq, 3);
    // The restored rows fired no trigger.
    let n: i64 = conn.query_row("SELECT count(*) FROM old_log", [], |r| r.get(0)).unwrap();
    assert_eq!(n, 2);

    let h: Json = serde_json::from_str(&stdout(&reconcile(dir.path(), &["history", "--format", "json"]))).unwrap();
    assert_eq!(h["history"][0]["kind"], "rollback");
    assert_eq!(h["history"][0]["rolls_back"], ids[0].as_str());
    assert_eq!(h["history"][1]["outcome"], "rolled back");
    let again = reconcile(dir.path(), &["rollback", "--yes"]);
    assert_eq!(code(&again), 3, "nothing left to roll back: {}", stderr(&again));
}

#[test]
fn rollback_refused_after_a_hand_change() {
    let dir = Dir::new();
    let db = dir.db("app.db", START);
    dir.write(
        "schema/app.yaml",
        &format!("{USERS_ONLY}      - {{ name: legacy, type: TEXT }}\n      - {{ name: extra, type: INTEGER }}\n"),
    );
    let out = reconcile(dir.path(), &["apply", "--yes", "--allow-destructive"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    Connection::open(&db).unwrap().execute_batch("ALTER TABLE users ADD COLUMN by_hand TEXT").unwrap();
    let before = state(&db);
    let out = reconcile(dir.path(), &["rollback", "--yes", "--allow-destructive"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("by_hand"), "the refusal names the difference: {}", stderr(&out));
    assert_eq!(state(&db), before);
}

#[test]
fn saved_plan_applies_exactly_and_is_refused_once_stale() {
    let dir = Dir::new();
    let db = dir.db("app.db", START);
    dir.write("schema/app.yaml", &format!("{USERS_ONLY}      - {{ name: legacy, type: TEXT }}\n      - {{ name: extra, type: INTEGER, default: 7 }}\n  old_log:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true, autoincrement: true }}\n      - {{ name: msg, type: TEXT }}\n"));
    let out = reconcile(dir.path(), &["plan", "--out", "saved.json"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let saved: Json = serde_json::from_str(&std::fs::read_to_string(dir.join("saved.json")).unwrap()).unwrap();
    let planned: Vec<String> = saved["forward"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["sql"].as_array().unwrap().iter().map(|q| q.as_str().unwrap().to_string()))
        .collect();

    // Fresh: applied exactly as saved, even with the schema directory gone.
    std::fs::remove_dir_all(dir.join("schema")).unwrap();
    let out = reconcile(dir.path(), &["apply", "--plan", "saved.json", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let meta_dir = std::fs::read_dir(dir.join("plans")).unwrap().next().unwrap().unwrap().path();
    let forward = std::fs::read_to_string(meta_dir.join("forward.sql")).unwrap();
    for sql in &planned {
        assert!(forward.contains(sql.as_str()), "{sql} not in {forward}");
    }
    let conn = Connection::open(&db).unwrap();
    let extra: i64 = conn.query_row("SELECT extra FROM users WHERE name = 'ann'", [], |r| r.get(0)).unwrap();
    assert_eq!(extra, 7);
    drop(conn);

    // Stale: the same plan again (the database moved on), and a plan made before a hand change.
    let before = state(&db);
    let out = reconcile(dir.path(), &["apply", "--plan", "saved.json", "--yes"]);
    assert_eq!(code(&out), 3, "{}", stderr(&out));
    assert!(stderr(&out).contains("not the one this plan was made against"), "{}", stderr(&out));
    assert_eq!(state(&db), before);
}

#[test]
fn reset_only_in_development() {
    let dir = Dir::new();
    let db = dir.db("app.db", START);
    dir.write("schema/app.yaml", USERS_ONLY);
    dir.write("seed.sql", "INSERT INTO users(name) VALUES ('seeded');");
    let before = state(&db);
    for (env, yes, why) in [
        (vec![], true, "no environment declared"),
        (vec![("RECONCILE_ENV", "prod")], true, "production"),
        (vec![("RECONCILE_ENV", "dev")], false, "no --yes"),
    ] {
        let mut args = vec!["reset"];
        if yes {
            args.push("--yes");
        }
        let out = reconcile_env(dir.path(), &args, &env);
        assert_eq!(code(&out), 3, "{why}: {}", stderr(&out));
        assert_eq!(state(&db), before, "{why}: a refused reset changed the database");
    }
    dir.write("reconcile.toml", "env = \"dev\"\nseed = \"seed.sql\"\n");
    let out = reconcile_env(dir.path(), &["reset", "--yes"], &[("CI", "true")]);
    assert_eq!(code(&out), 3, "CI with only the checked-in env: {}", stderr(&out));
    assert_eq!(state(&db), before);

    let out = reconcile(dir.path(), &["reset", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let conn = Connection::open(&db).unwrap();
    let names: Vec<String> = conn
        .prepare("SELECT name FROM users")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(names, vec!["seeded"]);
    let drift = reconcile(dir.path(), &["drift"]);
    assert_eq!(code(&drift), 0, "{}", stderr(&drift));
    let plan: Json = serde_json::from_str(&stdout(&reconcile(dir.path(), &["plan", "--format", "json"]))).unwrap();
    assert_eq!(plan["in_sync"], true);

    // An unknown key in the config is an error that names it.
    dir.write("reconcile.toml", "env = \"dev\"\nenvironment = \"dev\"\n");
    let out = reconcile(dir.path(), &["reset", "--yes"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("reconcile.toml:2") && stderr(&out).contains("environment"), "{}", stderr(&out));
}

#[test]
fn history_survives_rebuilding_every_table_and_is_never_drift() {
    let dir = Dir::new();
    dir.db("app.db", START);
    let typed = |ty: &str| {
        format!("tables:\n  users:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: name, type: TEXT, not_null: true }}\n      - {{ name: legacy, type: {ty} }}\n  old_log:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true, autoincrement: true }}\n      - {{ name: msg, type: {ty} }}\ntriggers:\n  users_log:\n    sql: CREATE TRIGGER users_log AFTER INSERT ON users BEGIN INSERT INTO old_log(msg) VALUES ('user ' || NEW.name); END\n")
    };
    dir.write("schema/app.yaml", &typed("BLOB"));
    assert_eq!(code(&reconcile(dir.path(), &["apply", "--yes"])), 0);
    dir.write("schema/app.yaml", &typed("TEXT"));
    let out = reconcile(dir.path(), &["apply", "--yes"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("2 rebuilds"), "{}", stderr(&out));
    let h: Json = serde_json::from_str(&stdout(&reconcile(dir.path(), &["history", "--format", "json"]))).unwrap();
    assert_eq!(h["history"].as_array().unwrap().len(), 2);
    let drift = reconcile(dir.path(), &["drift"]);
    assert_eq!(code(&drift), 0, "{}", stderr(&drift));
    let yaml = stdout(&reconcile(dir.path(), &["inspect"]));
    assert!(!yaml.contains("_reconcile"), "{yaml}");
}

#[test]
fn startup_example_creates_then_idles_then_applies_a_change() {
    let dir = Dir::new();
    let db = dir.join("app.db");
    let path = db.to_str().unwrap();
    startup_example::start(path, None).expect("first start");
    let first = state(&db);
    assert!(first.0.tables.contains_key("jobs"));
    let history = |db: &Path| history::history(&Connection::open(db).unwrap()).unwrap();
    assert_eq!(history(&db).len(), 1);

    startup_example::start(path, None).expect("second start");
    assert_eq!(state(&db), first);
    assert_eq!(history(&db).len(), 1, "a second start writes nothing");

    // The next release adds a column.
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
    for f in ["app.yaml", "logic.yaml"] {
        let text = std::fs::read_to_string(schema.join(f)).unwrap();
        let text = if f == "app.yaml" {
            text.replacen(
                "      - { name: display_name, type: TEXT, not_null: true }\n",
                "      - { name: display_name, type: TEXT, not_null: true }\n      - { name: locale, type: TEXT, not_null: true, default: \"'en'\" }\n",
                1,
            )
        } else {
            text
        };
        dir.write(&format!("next/{f}"), &text);
    }
    startup_example::start(path, Some(dir.join("next").to_str().unwrap())).expect("third start");
    let third = state(&db);
    assert!(third.0.tables["users"].column("locale").is_some());
    assert_eq!(history(&db).len(), 2);
}

/// Applies `yaml`, checks it, rolls it back and checks before came back, then applies it again.
fn step_with_rollback(db: &Path, yaml: &str, label: &str) {
    let desired = load::desired(&load::load_sources(&[(label, yaml)]).unwrap()).unwrap();
    let before = state(db);
    let apply = || {
        let mut c = Connection::open(db).unwrap();
        let prepared = migration::prepare(&mut c, &desired, &InspectOptions::default()).unwrap();
        let options = ApplyOptions { allow_destructive: true, ..ApplyOptions::default() };
        execute::execute(&mut c, &prepared, &Run { kind: "apply", options, ..Run::default() })
            .unwrap_or_else(|e| panic!("{label}: {e}"));
    };
    apply();
    let applied = state(db);
    assert!(diff::diff(&applied.0, &desired.without_hints()).is_empty(), "{label}: schema differs");
    let mut c = Connection::open(db).unwrap();
    assert!(plan_for(&mut c, &desired, &InspectOptions::default()).unwrap().1.is_empty(), "{label}: second plan");
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).unwrap();
    assert_eq!(ok, "ok");
    let fk: i64 = c.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
    assert_eq!(fk, 0, "{label}: foreign keys");
    let options = ApplyOptions { allow_destructive: true, ..ApplyOptions::default() };
    execute::rollback(&mut c, None, options).unwrap_or_else(|e| panic!("{label}: rollback: {e}"));
    drop(c);
    assert_eq!(state(db), before, "{label}: rollback must restore schema and rows");
    apply();
    assert_eq!(state(db), applied, "{label}: apply after rollback differs from the first apply");
}

/// A blog's schema history, state by state, with the app writing rows in between.
#[test]
fn an_applications_history_applies_and_rolls_back_at_every_step() {
    let dir = Dir::new();
    let db = dir.join("blog.db");
    let users = "  users:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n";
    let counter = "triggers:
  posts_count_up:
    sql: >-
      CREATE TRIGGER posts_count_up AFTER INSERT ON posts BEGIN
      INSERT INTO user_stats(user_id, post_count) VALUES (NEW.user_id, 1)
      ON CONFLICT(user_id) DO UPDATE SET post_count = post_count + 1; END
  posts_count_down:
    sql: >-
      CREATE TRIGGER posts_count_down AFTER DELETE ON posts BEGIN
      UPDATE user_stats SET post_count = post_count - 1 WHERE user_id = OLD.user_id; END
";
    let stats = "  user_stats:\n    columns:\n      - { name: user_id, type: INTEGER, primary_key: true, references: { table: users, column: id, on_delete: cascade } }\n      - { name: post_count, type: INTEGER, not_null: true, default: 0 }\n";
    let states = [
        // 1. The first release.
        format!("tables:\n{users}      - {{ name: email, type: TEXT, not_null: true }}\n      - {{ name: joined, type: TEXT }}\n  posts:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: user_id, type: INTEGER, references: {{ table: users, column: id }} }}\n      - {{ name: title, type: TEXT }}\n      - {{ name: body, type: TEXT }}\n"),
        // 2. Added columns, and a counter kept by triggers in another table.
        format!("tables:\n{users}      - {{ name: email, type: TEXT, not_null: true }}\n      - {{ name: joined, type: TEXT }}\n      - {{ name: bio, type: TEXT }}\n  posts:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: user_id, type: INTEGER, references: {{ table: users, column: id }} }}\n      - {{ name: title, type: TEXT }}\n      - {{ name: body, type: TEXT }}\n      - {{ name: published, type: INTEGER, not_null: true, default: 0 }}\n{stats}{counter}"),
        // 3. A rename: body becomes content.
        format!("tables:\n{users}      - {{ name: email, type: TEXT, not_null: true }}\n      - {{ name: joined, type: TEXT }}\n      - {{ name: bio, type: TEXT }}\n  posts:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: user_id, type: INTEGER, references: {{ table: users, column: id }} }}\n      - {{ name: title, type: TEXT }}\n      - {{ name: content, type: TEXT, renamed_from: body }}\n      - {{ name: published, type: INTEGER, not_null: true, default: 0 }}\n{stats}{counter}"),
        // 4. email becomes optional, with a new default: a rebuild.
        format!("tables:\n{users}      - {{ name: email, type: TEXT, default: \"''\" }}\n      - {{ name: joined, type: TEXT }}\n      - {{ name: bio, type: TEXT }}\n  posts:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: user_id, type: INTEGER, references: {{ table: users, column: id }} }}\n      - {{ name: title, type: TEXT }}\n      - {{ name: content, type: TEXT }}\n      - {{ name: published, type: INTEGER, not_null: true, default: 0 }}\n{stats}{counter}"),
        // 5. joined: text dates become unix seconds.
        format!("tables:\n{users}      - {{ name: email, type: TEXT, default: \"''\" }}\n      - {{ name: joined, type: INTEGER, convert: \"CAST(strftime('%s', joined) AS INTEGER)\" }}\n      - {{ name: bio, type: TEXT }}\n  posts:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: user_id, type: INTEGER, references: {{ table: users, column: id }} }}\n      - {{ name: title, type: TEXT }}\n      - {{ name: content, type: TEXT }}\n      - {{ name: published, type: INTEGER, not_null: true, default: 0 }}\n{stats}{counter}"),
        // 6. Every post gets a title.
        format!("tables:\n{users}      - {{ name: email, type: TEXT, default: \"''\" }}\n      - {{ name: joined, type: INTEGER }}\n      - {{ name: bio, type: TEXT }}\n  posts:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: user_id, type: INTEGER, references: {{ table: users, column: id }} }}\n      - {{ name: title, type: TEXT, not_null: true, backfill: \"'untitled'\" }}\n      - {{ name: content, type: TEXT }}\n      - {{ name: published, type: INTEGER, not_null: true, default: 0 }}\n    indexes:\n      posts_by_user: {{ columns: [user_id, published] }}\n{stats}{counter}views:\n  published_posts:\n    sql: SELECT p.id, p.title, u.email FROM posts p JOIN users u ON u.id = p.user_id WHERE p.published\n"),
    ];
    // Rows the app writes while each release runs.
    let writes = [
        "INSERT INTO users(id, email, joined) VALUES (1, 'a@x', '2024-01-02 03:04:05'), (2, 'b@x', NULL);
         INSERT INTO posts(user_id, title, body) VALUES (1, 'hello', 'first'), (1, NULL, 'draft'), (2, 'hi', NULL);",
        "INSERT INTO posts(user_id, title, body, published) VALUES (2, NULL, 'counted', 1);
         UPDATE users SET bio = 'writes' WHERE id = 1;",
        "INSERT INTO posts(user_id, title, content) VALUES (1, 'renamed', 'after rename');",
        "INSERT INTO users(id, joined) VALUES (3, '2025-06-07 08:09:10');",
        "INSERT INTO posts(user_id, title, content, published) VALUES (3, NULL, 'late', 1);",
        "INSERT INTO posts(user_id, title, content) VALUES (3, 'done', 'x');",
    ];
    for (i, (yaml, write)) in states.iter().zip(writes).enumerate() {
        step_with_rollback(&db, yaml, &format!("state {}", i + 1));
        Connection::open(&db)
            .unwrap()
            .execute_batch(write)
            .unwrap_or_else(|e| panic!("writes of state {}: {e}", i + 1));
    }
    let conn = Connection::open(&db).unwrap();
    // The counter kept by the triggers agrees with the posts through every rebuild.
    let wrong: i64 = conn
        .query_row(
            "SELECT count(*) FROM user_stats s WHERE post_count <> (SELECT count(*) FROM posts p WHERE p.user_id = s.user_id) - (SELECT count(*) FROM posts p WHERE p.user_id = s.user_id AND p.id <= 3)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(wrong, 0, "user_stats counts only posts written after the counter existed");
    let joined: i64 = conn.query_row("SELECT joined FROM users WHERE id = 1", [], |r| r.get(0)).unwrap();
    assert_eq!(joined, 1_704_164_645);
    let titles: i64 = conn.query_row("SELECT count(*) FROM posts WHERE title = 'untitled'", [], |r| r.get(0)).unwrap();
    assert_eq!(titles, 3, "posts 2, 4 and 6 had no title");
    assert_eq!(history::history(&conn).unwrap().iter().filter(|e| e.kind == "rollback").count(), 6);
}

/// Kept values are found again by key through an index of the backup file: a restore that
/// scanned the backup table for every row took seconds on tens of thousands of rows.
#[test]
fn restore_finds_kept_values_by_index_and_exact_key() {
    const KEYED: &str = "CREATE TABLE k(a TEXT, b INT, v TEXT, gone TEXT, PRIMARY KEY (a, b)) WITHOUT ROWID;
CREATE TABLE r(id INTEGER PRIMARY KEY, gone TEXT);
INSERT INTO k VALUES ('x', 1, 'v1', 'g1'), ('x', 2, 'v2', NULL), ('1', 1, 'v3', 'g3'), ('01', 1, 'v4', 'g4');
INSERT INTO r VALUES (1, 'a'), (5, 'b'), (6, NULL);";
    let dir = Dir::new();
    let db = dir.db("app.db", KEYED);
    dir.write(
        "schema/app.yaml",
        "tables:
  k:
    columns:
      - { name: a, type: TEXT }
      - { name: b, type: INT }
      - { name: v, type: TEXT }
    primary_key: [a, b]
    without_rowid: true
  r:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
",
    );
    let before = state(&db);
    let out = reconcile(dir.path(), &["apply", "--yes", "--allow-destructive"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let conn = Connection::open(&db).unwrap();
    let entry = history::history(&conn).unwrap().remove(0);
    let (_, prepared) = history::recorded(&conn, &entry.id).unwrap().unwrap();
    drop(conn);
    let backup = dir.join("app.db.reconcile").join(entry.backup.as_deref().unwrap());
    // The restore statements, planned against the schema they restore: build it beside the backup.
    let scratch = dir.db("scratch.db", KEYED);
    let conn = Connection::open(&scratch).unwrap();
    conn.execute("ATTACH DATABASE ?1 AS reconcile_backup", [backup.to_str().unwrap()]).unwrap();
    let updates: Vec<&String> = prepared
        .rollback
        .steps
        .iter()
        .filter(|s| s.kind == sqlite_reconcile::plan::StepKind::RestoreData)
        .flat_map(|s| &s.sql)
        .filter(|q| q.starts_with("UPDATE"))
        .collect();
    assert_eq!(updates.len(), 2, "{updates:#?}");
    for sql in updates {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let details: Vec<String> = stmt.query_map([], |r| r.get(3)).unwrap().map(Result::unwrap).collect();
        assert!(
            details.iter().any(|d| d.starts_with("SEARCH _reconcile_kept USING INDEX"))
                && !details.iter().any(|d| d == "SCAN _reconcile_kept"),
            "the restore must look kept values up by index: {sql}\n{details:#?}"
        );
    }
    drop(conn);

    let out = reconcile(dir.path(), &["rollback", "--yes", "--allow-destructive"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(state(&db), before, "rollback must bring back every kept value, under its exact key");
}
