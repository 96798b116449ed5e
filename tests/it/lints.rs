//! Lint warnings from `check` and `plan`: where they appear, and each way of silencing them.

use crate::harness::{reconcile, reconcile_env, stderr, Dir};

const LINTED: &str = r#"
tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: handle, type: STRING }
  posts:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: user_id, type: INTEGER, references: { table: users, column: id } }
"#;

fn project() -> Dir {
    let dir = Dir::new();
    dir.write("schema/app.yaml", LINTED);
    dir
}

#[test]
fn check_warns_with_file_and_path_and_still_succeeds() {
    let dir = project();
    let out = reconcile(dir.path(), &["check"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("warning[unexpected-affinity]: schema/app.yaml: `tables.users.columns.handle`: type `STRING` has NUMERIC affinity"), "{err}");
    assert!(
        err.contains("warning[foreign-key-without-index]: schema/app.yaml: `tables.posts.columns.user_id.references`"),
        "{err}"
    );
    assert!(err.contains("(2 warnings; silence one with --allow-lint NAME)"), "{err}");
}

#[test]
fn each_source_of_the_allow_list_silences() {
    let dir = project();
    let flag = reconcile(dir.path(), &["check", "--allow-lint", "unexpected-affinity,foreign-key-without-index"]);
    assert!(!stderr(&flag).contains("warning["), "{}", stderr(&flag));
    let env = reconcile_env(dir.path(), &["check"], &[("RECONCILE_ALLOW_LINTS", "unexpected-affinity")]);
    assert!(!stderr(&env).contains("warning[unexpected-affinity]"), "{}", stderr(&env));
    assert!(stderr(&env).contains("warning[foreign-key-without-index]"), "{}", stderr(&env));
    dir.write("reconcile.toml", "allow_lints = [\"foreign-key-without-index\"]\n");
    let file = reconcile(dir.path(), &["check"]);
    assert!(!stderr(&file).contains("warning[foreign-key-without-index]"), "{}", stderr(&file));
    assert!(stderr(&file).contains("warning[unexpected-affinity]"), "{}", stderr(&file));
    // The flag wins over the file.
    let both = reconcile(dir.path(), &["check", "--allow-lint", "unexpected-affinity"]);
    assert!(stderr(&both).contains("warning[foreign-key-without-index]"), "{}", stderr(&both));
    let quiet = reconcile(dir.path(), &["--quiet", "check"]);
    assert_eq!(stderr(&quiet), "");
}

#[test]
fn an_unknown_lint_name_is_an_error() {
    let dir = project();
    let out = reconcile(dir.path(), &["check", "--allow-lint", "unexpected-afinity"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown lint `unexpected-afinity`"), "{}", stderr(&out));
}

#[test]
fn plan_warns_about_a_not_null_column_added_without_default() {
    let dir = project();
    let db = dir.db("app.db", "CREATE TABLE users (id INTEGER PRIMARY KEY, handle STRING);");
    let grown = LINTED.replace(
        "      - { name: handle, type: STRING }",
        "      - { name: handle, type: STRING }\n      - { name: plan, type: TEXT, not_null: true }",
    );
    dir.write("schema/app.yaml", &grown);
    let out = reconcile(dir.path(), &["plan", "--db", db.to_str().expect("utf-8"), "--format", "json"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("warning[not-null-without-default]: schema/app.yaml: `tables.users.columns.plan`"), "{err}");
    // The JSON on stdout carries no warning.
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the plan is JSON");
    assert!(json.get("steps").is_some());
}

#[test]
fn the_help_lists_every_lint() {
    let dir = Dir::new();
    for command in ["check", "plan"] {
        let help = crate::harness::stdout(&reconcile(dir.path(), &[command, "--help"]));
        for (name, _) in sqlite_reconcile::lint::LINTS {
            assert!(help.contains(&format!("  {name}  ")), "`{command} --help` does not list `{name}`:\n{help}");
        }
    }
}
