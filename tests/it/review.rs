//! Review where teams review: `plan --format markdown` and `drift --format markdown` as the
//! pull-request comment (snapshots), the cascade report in every plan format, and the lint
//! warnings as SARIF 2.1.0, validated against the official schema (`tests/data/`).

use crate::harness::{reconcile, stderr, stdout, Dir};

/// A database whose next schema has a rebuild under a view and triggers, a destructive drop, a
/// data-dependent NOT NULL and a parent of three child tables (CASCADE, SET NULL, RESTRICT).
const BEFORE: &str = "
CREATE TABLE users (id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT, nickname TEXT);
CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id) ON DELETE CASCADE);
CREATE INDEX posts_user ON posts (user_id);
CREATE TABLE likes (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id) ON DELETE SET NULL ON UPDATE CASCADE);
CREATE INDEX likes_user ON likes (user_id);
CREATE TABLE audits (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id) ON DELETE RESTRICT);
CREATE INDEX audits_user ON audits (user_id);
CREATE TABLE scratch (x TEXT);
CREATE VIEW emails AS SELECT id, email FROM users;
CREATE TRIGGER users_touch AFTER UPDATE OF email ON users BEGIN UPDATE posts SET id = id WHERE user_id = NEW.id; END;
CREATE TRIGGER posts_count AFTER INSERT ON posts BEGIN UPDATE users SET nickname = nickname WHERE id = NEW.user_id; END;
INSERT INTO users (email, nickname) VALUES ('a@x', 'a'), ('b@x', NULL), ('c@x', 'c');
INSERT INTO posts VALUES (1, 1), (2, 1), (3, 2);
INSERT INTO likes VALUES (1, 1), (2, 3);
INSERT INTO audits VALUES (1, 2);
INSERT INTO scratch VALUES ('gone');
";

/// The next schema: `users.email` NOCASE (a rebuild), `users.nickname` NOT NULL with a backfill
/// (data-dependent), `scratch` dropped.
fn next(dir: &Dir) {
    let out = reconcile(dir.path(), &["inspect", "--db", "app.db", "-o", "schema/app.yaml"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let path = dir.join("schema/app.yaml");
    let yaml = std::fs::read_to_string(&path).unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let tables = doc["tables"].as_mapping_mut().unwrap();
    tables.remove("scratch");
    for c in tables.get_mut("users").unwrap()["columns"].as_sequence_mut().unwrap() {
        match c["name"].as_str() {
            Some("email") => c["collate"] = "NOCASE".into(),
            Some("nickname") => {
                c["not_null"] = true.into();
                c["backfill"] = "'anonymous'".into();
            }
            _ => {}
        }
    }
    std::fs::write(&path, serde_yaml::to_string(&doc).unwrap()).unwrap();
}

fn project() -> Dir {
    let dir = Dir::new();
    dir.db("app.db", BEFORE);
    next(&dir);
    dir
}

#[test]
fn plan_as_markdown_is_the_comment_a_reviewer_reads() {
    let dir = project();
    let out = reconcile(dir.path(), &["plan", "--db", "app.db", "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let md = stdout(&out);
    assert!(md.starts_with("<!-- reconcile:plan -->\n"), "{md}");
    assert!(!md.contains('\u{1b}'), "no colour codes");
    for what in
        ["🔴 destructive", "🟡 data-dependent", "#### Rebuilds", "keeps 1 view (emails), 2 triggers", "<details>"]
    {
        assert!(md.contains(what), "{what}: {md}");
    }
    // Deterministic: the same plan, the same bytes.
    let again = stdout(&reconcile(dir.path(), &["plan", "--db", "app.db", "--format", "markdown"]));
    assert_eq!(md, again);
    insta::assert_snapshot!("markdown_plan", md);
    // In sync: the marker and the summary only.
    let applied = reconcile(dir.path(), &["apply", "--yes", "--allow-destructive", "--db", "app.db"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let synced = stdout(&reconcile(dir.path(), &["plan", "--db", "app.db", "--format", "markdown"]));
    insta::assert_snapshot!("markdown_plan_in_sync", synced);
}

#[test]
fn drift_as_markdown_lists_each_difference_with_its_risk() {
    let dir = project();
    let out = reconcile(dir.path(), &["drift", "--db", "app.db", "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(2), "drift keeps its exit code: {}", stderr(&out));
    let md = stdout(&out);
    assert!(md.starts_with("<!-- reconcile:drift -->\n"), "{md}");
    insta::assert_snapshot!("markdown_drift", md);
    let applied = reconcile(dir.path(), &["apply", "--yes", "--allow-destructive", "--db", "app.db"]);
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let out = reconcile(dir.path(), &["drift", "--db", "app.db", "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!("markdown_drift_in_sync", stdout(&out));
}

/// A parent of three child tables, rebuilt: all three listed with their actions and row counts
/// in text, JSON and markdown.
#[test]
fn a_rebuilt_parent_lists_its_three_children_with_actions_and_rows_in_every_format() {
    let dir = project();
    let text = stderr(&reconcile(dir.path(), &["plan", "--db", "app.db"]));
    for line in [
        "referenced by audits (user_id) ON DELETE RESTRICT ON UPDATE NO ACTION, 1 row: foreign keys off",
        "referenced by likes (user_id) ON DELETE SET NULL ON UPDATE CASCADE, 2 rows: foreign keys off",
        "referenced by posts (user_id) ON DELETE CASCADE ON UPDATE NO ACTION, 3 rows: foreign keys off",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&reconcile(dir.path(), &["plan", "--db", "app.db", "--format", "json"]))).unwrap();
    let users = json["cascade"].as_array().unwrap().iter().find(|p| p["table"] == "users").expect("users is listed");
    assert_eq!(users["step"], "rebuild");
    let children: Vec<(String, String, String, i64, String)> = users["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["table"].as_str().unwrap().to_string(),
                c["on_delete"].as_str().unwrap().to_string(),
                c["on_update"].as_str().unwrap().to_string(),
                c["rows"].as_i64().unwrap(),
                c["kept_by"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect =
        |t: &str, d: &str, u: &str, n: i64| (t.to_string(), d.to_string(), u.to_string(), n, "keys_off".to_string());
    assert_eq!(
        children,
        [
            expect("audits", "restrict", "no_action", 1),
            expect("likes", "set_null", "cascade", 2),
            expect("posts", "cascade", "no_action", 3)
        ]
    );
    let md = stdout(&reconcile(dir.path(), &["plan", "--db", "app.db", "--format", "markdown"]));
    for row in [
        "| `users` (rebuild) | `audits` | user_id | RESTRICT | NO ACTION | 1 |",
        "| `users` (rebuild) | `likes` | user_id | SET NULL | CASCADE | 2 |",
        "| `users` (rebuild) | `posts` | user_id | CASCADE | NO ACTION | 3 |",
    ] {
        assert!(md.contains(row), "{row}\n{md}");
    }
    // Planned against no database: the same children, without row counts.
    let none = stdout(&reconcile(dir.path(), &["plan", "--db", "missing.db", "--format", "json"]));
    assert!(!none.contains("\"rows\""), "{none}");
}

/// Every lint fires on this schema (the last one only at plan time, over a database).
const EVERY_LINT: &str = r#"tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: name, type: STRING }
      - { name: seen_at, type: TEXT, default: "(datetime('now', 'utc'))" }
      - { name: kind, type: TEXT, checks: [{ expr: "kind IN (\"a\", \"b\")" }] }
      - { name: plan, type: TEXT, not_null: true }
  posts:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: user_id, type: INTEGER, references: { table: users, column: id } }
      - { name: old_id, type: INTEGER, references: { table: legacy, column: id } }
views:
  named: { sql: "SELECT id FROM users WHERE name = \"bob\"" }
  scored: { sql: "SELECT app_score(id) AS s FROM users" }
triggers:
  users_touch:
    sql: "CREATE TRIGGER users_touch AFTER UPDATE OF nam ON users BEGIN SELECT 1; END"
"#;

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sarif-schema-2.1.0.json"))
        .expect("the vendored SARIF schema");
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::options().with_draft(jsonschema::Draft::Draft4).build(&schema).expect("the SARIF schema compiles")
}

#[test]
fn lints_as_sarif_are_valid_sarif_2_1_0_with_every_rule_and_its_place_in_the_yaml() {
    let dir = Dir::new();
    dir.write("schema/app.yaml", EVERY_LINT);
    dir.db("app.db", "CREATE TABLE users (id INTEGER PRIMARY KEY, name STRING, seen_at TEXT, kind TEXT); INSERT INTO users VALUES (1, 'a', NULL, 'a');");
    let validator = validator();
    // The validator can fail: a log without its version is refused.
    let broken = serde_json::json!({ "runs": [] });
    assert!(!validator.is_valid(&broken));
    let check = reconcile(dir.path(), &["check", "--format", "sarif"]);
    let plan = reconcile(dir.path(), &["plan", "--db", "app.db", "--format", "sarif"]);
    for (what, out) in [("check", &check), ("plan", &plan)] {
        assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(out));
        let log: serde_json::Value = serde_json::from_str(&stdout(out)).expect("SARIF is JSON");
        let errors: Vec<String> =
            validator.iter_errors(&log).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{what}: not valid SARIF 2.1.0: {errors:#?}");
        let rules: Vec<&str> = log["runs"][0]["tool"]["driver"]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap())
            .collect();
        let all: Vec<&str> = sqlite_reconcile::lint::LINTS.iter().map(|(n, _)| *n).collect();
        assert_eq!(rules, all, "{what}: a rule per lint");
    }
    let log: serde_json::Value = serde_json::from_str(&stdout(&plan)).unwrap();
    let results = log["runs"][0]["results"].as_array().unwrap();
    let mut fired: Vec<&str> = results.iter().map(|r| r["ruleId"].as_str().unwrap()).collect();
    fired.sort();
    fired.dedup();
    let mut all: Vec<&str> = sqlite_reconcile::lint::LINTS.iter().map(|(n, _)| *n).collect();
    all.sort();
    assert_eq!(fired, all, "every lint fires at plan time");
    // Each result points at the line of its object in the YAML file.
    let lines: Vec<&str> = EVERY_LINT.lines().collect();
    let at = |rule: &str| {
        let r = results.iter().find(|r| r["ruleId"] == rule).unwrap();
        let region = &r["locations"][0]["physicalLocation"];
        assert_eq!(region["artifactLocation"]["uri"], "schema/app.yaml");
        let line = region["region"]["startLine"].as_u64().unwrap() as usize;
        let column = region["region"]["startColumn"].as_u64().unwrap() as usize;
        (lines[line - 1], &lines[line - 1][column - 1..])
    };
    assert!(at("unexpected-affinity").1.starts_with("{ name: name"), "{:?}", at("unexpected-affinity"));
    assert!(at("foreign-key-without-index").1.starts_with("references:"), "{:?}", at("foreign-key-without-index"));
    assert!(at("dangling-reference").0.contains("old_id"), "{:?}", at("dangling-reference"));
    assert!(at("utc-modifier-on-now").1.starts_with("default:"), "{:?}", at("utc-modifier-on-now"));
    assert!(at("not-null-without-default").0.contains("name: plan"), "{:?}", at("not-null-without-default"));
    assert!(
        at("trigger-update-of-unknown-column").0.contains("users_touch:"),
        "{:?}",
        at("trigger-update-of-unknown-column")
    );
    assert!(at("not-prepared").0.contains("scored:"), "{:?}", at("not-prepared"));
}
