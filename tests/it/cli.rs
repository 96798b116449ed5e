//! The `reconcile` binary on bad and good input: every error names where and
//! what, exits 1 and never panics; the example schema and the checked-in JSON
//! Schema stay valid and current.

use std::path::Path;
use std::process::Output;

use crate::harness::{reconcile, stderr, stdout, Dir};

/// The crate root, where `schema/` lives.
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Asserts a clean failure: exit code 1, a message, no panic. Returns stderr.
#[track_caller]
fn fails(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected exit code 1; stderr:\n{err}");
    assert!(!err.contains("panicked"), "the binary panicked:\n{err}");
    assert!(err.starts_with("error: "), "expected an `error:` line:\n{err}");
    err
}

/// Asserts success (exit code 0). Returns stderr.
#[track_caller]
fn succeeds(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(0), "expected exit code 0; stderr:\n{err}");
    err
}

/// Asserts that `text` contains every one of `parts`.
#[track_caller]
fn has(text: &str, parts: &[&str]) {
    for p in parts {
        assert!(text.contains(p), "expected {p:?} in:\n{text}");
    }
}

/// Runs `reconcile check --schema schema` over the given files of `schema/`.
fn check(files: &[(&str, &str)]) -> Output {
    let d = Dir::new();
    std::fs::create_dir_all(d.join("schema")).expect("mkdir");
    for (name, text) in files {
        d.write(&format!("schema/{name}"), text);
    }
    reconcile(d.path(), &["check", "--schema", "schema"])
}

/// A schema of one file with a valid `users` table and then `rest`.
fn with_users(rest: &str) -> String {
    format!("tables:\n  users:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n{rest}")
}

// ---- generated files and the example schema ----

#[test]
fn json_schema_is_current() {
    let path = root().join("schema/reconcile.schema.json");
    let want = sqlite_reconcile::json_schema();
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        panic!(
            "{} is stale; regenerate it with:\n\n    cargo run -- schema > schema/reconcile.schema.json\n\n{}",
            path.display(),
            first_difference(&have, &want)
        );
    }
}

/// The first differing line of two texts, with a little context, diff-style.
fn first_difference(have: &str, want: &str) -> String {
    let (h, w): (Vec<&str>, Vec<&str>) = (have.lines().collect(), want.lines().collect());
    let i = h.iter().zip(&w).position(|(a, b)| a != b).unwrap_or(h.len().min(w.len()));
    let mut out = format!("first difference at line {}:\n", i + 1);
    for l in &w[i.saturating_sub(2)..i] {
        out.push_str(&format!("  {l}\n"));
    }
    for l in h.iter().skip(i).take(5) {
        out.push_str(&format!("- {l}\n"));
    }
    for l in w.iter().skip(i).take(5) {
        out.push_str(&format!("+ {l}\n"));
    }
    out
}

#[test]
fn schema_command_prints_the_json_schema() {
    let d = Dir::new();
    let o = reconcile(d.path(), &["schema"]);
    succeeds(&o);
    assert_eq!(stdout(&o), sqlite_reconcile::json_schema());
}

#[test]
fn check_example_schema() {
    let o = reconcile(root(), &["check", "--schema", "schema"]);
    let err = succeeds(&o);
    has(&err, &["valid", "6 tables", "4 indexes", "1 view,", "4 triggers"]);
}

#[test]
fn example_yaml_files_point_at_the_json_schema() {
    for name in ["app.yaml", "logic.yaml"] {
        let text = std::fs::read_to_string(root().join("schema").join(name)).expect("read example");
        assert_eq!(text.lines().next(), Some("# yaml-language-server: $schema=reconcile.schema.json"), "{name}");
    }
}

#[test]
fn quick_start_applies_the_example_schema() {
    // The README's main command, in a copy of the repository's schema directory.
    let d = Dir::new();
    for name in ["app.yaml", "logic.yaml", "reconcile.schema.json"] {
        let text = std::fs::read_to_string(root().join("schema").join(name)).expect("read example");
        d.write(&format!("schema/{name}"), &text);
    }
    succeeds(&reconcile(d.path(), &["apply", "--yes"]));
    assert!(d.join("app.db").exists(), "apply creates app.db");
    succeeds(&reconcile(d.path(), &["drift"]));
}

#[test]
fn readme_example_checks() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("read README.md");
    let yaml = readme.split("```yaml\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a yaml block");
    let err = succeeds(&check(&[("app.yaml", yaml)]));
    has(&err, &["valid", "2 tables"]);
}

#[test]
fn inspect_then_check() {
    let d = Dir::new();
    d.db(
        "app.db",
        "CREATE TABLE feed(id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT 'untitled', n INTEGER CHECK (n > 0));
         CREATE TABLE item(feed_id TEXT NOT NULL REFERENCES feed(id) ON DELETE CASCADE, id INTEGER,
                           PRIMARY KEY (feed_id, id)) WITHOUT ROWID;
         CREATE INDEX ix_feed_title ON feed(lower(title)) WHERE title IS NOT NULL;
         CREATE VIEW v_feed AS SELECT id, title FROM feed;
         CREATE TRIGGER feed_ai AFTER INSERT ON feed BEGIN UPDATE feed SET n = 1 WHERE id = NEW.id; END;",
    );
    std::fs::create_dir_all(d.join("schema")).expect("mkdir");
    succeeds(&reconcile(d.path(), &["inspect", "--db", "app.db", "-o", "schema/app.yaml"]));
    let err = succeeds(&reconcile(d.path(), &["check", "--schema", "schema"]));
    has(&err, &["valid", "2 tables", "1 index,", "1 view,", "1 trigger,"]);
}

#[test]
fn inspect_of_the_example_schema_checks_again() {
    // Build the example schema into a real file, inspect it, check the output.
    let d = Dir::new();
    let loaded = sqlite_reconcile::load::load_dir(&root().join("schema")).expect("example loads");
    let conn = rusqlite::Connection::open(d.join("app.db")).expect("open");
    sqlite_reconcile::normalize::build(&conn, &loaded.schema).expect("example builds");
    drop(conn);
    let o = reconcile(d.path(), &["inspect", "--db", "app.db"]);
    succeeds(&o);
    d.write("schema/app.yaml", &stdout(&o));
    let err = succeeds(&reconcile(d.path(), &["check", "--schema", "schema"]));
    has(&err, &["6 tables", "4 indexes", "1 view,", "4 triggers"]);
}

// ---- bad YAML ----

#[test]
fn yaml_syntax_error() {
    let o = check(&[("app.yaml", "tables:\n  t:\n    columns: [ { name: id }\n  u: 1\n")]);
    let err = fails(&o);
    // file:line:column, then the parser's words.
    has(&err, &["schema/app.yaml:"]);
    let loc = err.split("schema/app.yaml:").nth(1).unwrap_or_default();
    let mut parts = loc.splitn(3, ':');
    let (line, col) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    assert!(line.parse::<u32>().is_ok() && col.parse::<u32>().is_ok(), "no line:column in:\n{err}");
}

#[test]
fn yaml_tab_indentation() {
    let o = check(&[("app.yaml", "tables:\n\tt:\n\t\tcolumns: []\n")]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml:2:"]);
}

#[test]
fn yaml_syntax_error_names_no_location_twice() {
    let o = check(&[("app.yaml", "tables:\n  t:\n    columns:\n      - name: a\n       type: TEXT\n")]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml:5:8: did not find expected '-' indicator"]);
    assert!(!err.contains("line 5 column 8"), "{err}");
}

#[test]
fn duplicate_key_in_one_file() {
    // Without a check the second `t` would silently replace the first.
    let t = "  t:\n    columns:\n      - { name: a }\n";
    let o = check(&[("app.yaml", &format!("tables:\n{t}{t}"))]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml:", "tables", "duplicate key \"t\""]);
}

#[test]
fn top_level_list() {
    let o = check(&[("app.yaml", "- users\n- jobs\n")]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml:1:1:", "expected a map of `tables`"]);
}

#[test]
fn unknown_key() {
    let o = check(&[("app.yaml", "tables:\n  t:\n    columns:\n      - { name: id, typ: INTEGER }\n")]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml:4:", "unknown field `typ`", "tables.t.columns[0]"]);
}

#[test]
fn unknown_top_level_key() {
    let o = check(&[("app.yaml", "table:\n  t:\n    columns:\n      - { name: id }\n")]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml:1:", "unknown field `table`", "expected one of", "`tables`"]);
}

#[test]
fn wrong_type() {
    let o = check(&[("app.yaml", "tables:\n  t:\n    columns:\n      - { name: id, not_null: \"yes\" }\n")]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml:4:", "tables.t.columns[0].not_null", "boolean"]);
}

#[test]
fn columns_as_a_map() {
    // A common slip: columns written as a map instead of a list.
    let o = check(&[("app.yaml", "tables:\n  t:\n    columns:\n      id: { type: INTEGER }\n")]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml:4:", "tables.t.columns", "sequence"]);
}

#[test]
fn missing_columns() {
    let o = check(&[("app.yaml", "tables:\n  t:\n    strict: true\n")]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml:", "tables.t", "missing field `columns`"]);
}

#[test]
fn duplicate_table_across_files() {
    let t = "tables:\n  t:\n    columns:\n      - { name: id }\n";
    let o = check(&[("a.yaml", t), ("b.yaml", t)]);
    let err = fails(&o);
    has(&err, &["table `t`", "schema/a.yaml", "schema/b.yaml"]);
}

// ---- references ----

#[test]
fn foreign_key_to_missing_table_is_accepted_with_a_warning() {
    // SQLite accepts it and real databases hold them (a table swap leaves them behind), so the
    // YAML `inspect` writes for them must load: a warning, not an error.
    let o = check(&[(
        "app.yaml",
        &with_users("  jobs:\n    columns:\n      - { name: owner, references: { table: owners, column: id } }\n"),
    )]);
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(o.status.code(), Some(0), "{err}");
    has(
        &err,
        &[
            "warning[dangling-reference]",
            "schema/app.yaml",
            "tables.jobs.columns.owner.references",
            "`owners`",
            "not in the schema",
        ],
    );
}

#[test]
fn foreign_key_to_missing_column() {
    let o = check(&[(
        "app.yaml",
        &with_users("  jobs:\n    columns:\n      - { name: owner, references: { table: users, column: uid } }\n"),
    )]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml", "tables.jobs.columns[0].references", "`users.uid`", "does not exist"]);
}

#[test]
fn table_foreign_key_to_missing_column() {
    let o = check(&[(
        "app.yaml",
        &with_users(
            "  jobs:\n    columns:\n      - { name: owner }\n    foreign_keys:\n      \
             - { columns: [owner], references: users, referenced_columns: [uid] }\n",
        ),
    )]);
    let err = fails(&o);
    has(&err, &["tables.jobs.foreign_keys[0]", "`users.uid`", "does not exist"]);
}

#[test]
fn index_on_missing_column() {
    let o = check(&[("app.yaml", &with_users("    indexes:\n      ix_users_email:\n        columns: [email]\n"))]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml", "tables.users.indexes.ix_users_email.columns[0]", "`email`", "not a column"]);
}

#[test]
fn trigger_on_missing_table() {
    let o = check(&[
        ("a.yaml", &with_users("")),
        ("b.yaml", "triggers:\n  jobs_ai:\n    sql: CREATE TRIGGER jobs_ai AFTER INSERT ON jobs BEGIN SELECT 1; END\n"),
    ]);
    let err = fails(&o);
    has(&err, &["schema/b.yaml", "triggers.jobs_ai", "`jobs`", "not a table or view"]);
}

#[test]
fn table_and_view_with_one_name() {
    let o = check(&[("app.yaml", &format!("{}views:\n  users:\n    sql: SELECT 1\n", with_users("")))]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml", "views.users", "`users`", "already used by `tables.users`"]);
}

#[test]
fn index_and_table_with_one_name() {
    let o = check(&[(
        "app.yaml",
        &with_users("  t:\n    columns:\n      - { name: a }\n    indexes:\n      users: { columns: [a] }\n"),
    )]);
    let err = fails(&o);
    has(&err, &["tables.t.indexes.users", "already used"]);
}

// ---- SQL in the YAML ----

#[test]
fn check_with_a_syntax_error() {
    let o = check(&[("app.yaml", &with_users("    checks:\n      - { expr: \"id >\" }\n"))]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml", "tables.users.checks[0].expr", "`id >`"]);
}

#[test]
fn check_on_a_missing_column() {
    // Well-formed SQL that SQLite itself rejects: its message, at the table.
    let o = check(&[("app.yaml", &with_users("    checks:\n      - { expr: \"age > 0\" }\n"))]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml", "`tables.users`", "no such column: age, at `age > 0)`"]);
    // SQLite's " in <statement> at offset N" is folded into the `at` text.
    assert!(!err.contains("at offset"), "{err}");
}

#[test]
fn default_with_a_syntax_error() {
    let o = check(&[("app.yaml", "tables:\n  t:\n    columns:\n      - { name: a, default: \"1 +\" }\n")]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml", "tables.t.columns[0].default", "`1 +`"]);
}

#[test]
fn default_that_is_not_constant() {
    let o = check(&[(
        "app.yaml",
        "tables:\n  t:\n    columns:\n      - { name: a }\n      - { name: b, default: \"(a + 1)\" }\n",
    )]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml", "tables.t", "default value of column [b] is not constant"]);
}

#[test]
fn injection_through_a_default() {
    let d = Dir::new();
    let db = d.db("app.db", "CREATE TABLE users(id INTEGER PRIMARY KEY);");
    d.write(
        "schema/app.yaml",
        &with_users("  t:\n    columns:\n      - { name: a, default: \"0); DROP TABLE users; --\" }\n"),
    );
    let err = fails(&reconcile(d.path(), &["check", "--schema", "schema"]));
    has(&err, &["schema/app.yaml", "tables.t.columns[0].default", "not a single SQL expression"]);
    let conn = rusqlite::Connection::open(&db).expect("open");
    let n: i64 =
        conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'users'", [], |r| r.get(0)).expect("query");
    assert_eq!(n, 1, "users table must survive");
}

#[test]
fn trigger_sql_with_two_statements() {
    let o = check(&[(
        "app.yaml",
        &format!(
            "{}triggers:\n  tr:\n    sql: \"CREATE TRIGGER tr AFTER INSERT ON users BEGIN SELECT 1; END; DROP TABLE users\"\n",
            with_users("")
        ),
    )]);
    let err = fails(&o);
    has(&err, &["triggers.tr", "CREATE TRIGGER"]);
}

#[test]
fn view_on_a_missing_column() {
    let o = check(&[("app.yaml", &format!("{}views:\n  v:\n    sql: SELECT nope FROM users\n", with_users("")))]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml", "views.v", "no such column: nope"]);
}

#[test]
fn trigger_body_on_a_missing_column() {
    // SQLite accepts the CREATE TRIGGER; the body is compiled when a statement fires it.
    let o = check(&[(
        "app.yaml",
        &format!(
            "{}triggers:\n  tr:\n    sql: CREATE TRIGGER tr AFTER UPDATE OF id ON users BEGIN UPDATE users SET nope = 1; END\n",
            with_users("")
        ),
    )]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml", "triggers.tr", "no such column: nope"]);
}

#[test]
fn trigger_body_on_a_missing_table() {
    let o = check(&[(
        "app.yaml",
        &format!(
            "{}triggers:\n  tr:\n    sql: CREATE TRIGGER tr AFTER INSERT ON users BEGIN DELETE FROM audit; END\n",
            with_users("")
        ),
    )]);
    let err = fails(&o);
    has(&err, &["schema/app.yaml", "triggers.tr", "no such table: main.audit"]);
}

// ---- databases and directories ----

#[test]
fn inspect_a_file_that_is_not_a_database() {
    let d = Dir::new();
    let text = "this is not a database, just text\n".repeat(100);
    d.write("app.db", &text);
    let err = fails(&reconcile(d.path(), &["inspect", "--db", "app.db"]));
    has(&err, &["app.db", "not a database"]);
    assert_eq!(std::fs::read_to_string(d.join("app.db")).expect("read"), text, "the file must be left as it was");
}

#[test]
fn inspect_a_missing_database() {
    let d = Dir::new();
    let err = fails(&reconcile(d.path(), &["inspect", "--db", "missing.db"]));
    has(&err, &["missing.db", "no such database file"]);
    assert!(!d.join("missing.db").exists(), "inspect must not create the database");
}

#[test]
fn inspect_a_missing_database_in_a_missing_directory() {
    let d = Dir::new();
    let err = fails(&reconcile(d.path(), &["inspect", "--db", "nowhere/app.db"]));
    has(&err, &["nowhere/app.db"]);
    assert!(!d.join("nowhere").exists(), "inspect must not create directories");
}

#[test]
fn check_an_empty_directory() {
    let d = Dir::new();
    std::fs::create_dir_all(d.join("schema")).expect("mkdir");
    d.write("schema/notes.txt", "not yaml");
    let err = fails(&reconcile(d.path(), &["check", "--schema", "schema"]));
    has(&err, &["schema", "no *.yaml schema files"]);
}

#[test]
fn check_a_missing_directory() {
    let d = Dir::new();
    let err = fails(&reconcile(d.path(), &["check", "--schema", "nope"]));
    has(&err, &["nope"]);
    assert!(!d.join("nope").exists());
}

#[test]
fn check_a_file_instead_of_a_directory() {
    let d = Dir::new();
    d.write("app.yaml", "tables: {}\n");
    let err = fails(&reconcile(d.path(), &["check", "--schema", "app.yaml"]));
    has(&err, &["app.yaml"]);
}

#[test]
fn check_yaml_that_is_not_utf8() {
    let d = Dir::new();
    std::fs::create_dir_all(d.join("schema")).expect("mkdir");
    std::fs::write(d.join("schema/app.yaml"), b"tables:\n  \xff\xfe: {}\n").expect("write");
    let err = fails(&reconcile(d.path(), &["check", "--schema", "schema"]));
    has(&err, &["schema/app.yaml"]);
}

/// On a terminal without `--yes`, apply shows the plan and asks; only "y" applies.
#[test]
fn apply_asks_on_a_terminal() {
    if std::process::Command::new("script").arg("--version").output().is_err() {
        panic!("this test needs `script` (util-linux) to give reconcile a terminal");
    }
    let dir = Dir::new();
    dir.write(
        "schema/app.yaml",
        "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n",
    );
    let run = |answer: &str| {
        let cmd = format!("{} apply", env!("CARGO_BIN_EXE_reconcile"));
        let mut child = crate::harness::scrub(&mut std::process::Command::new("script"))
            .args(["-qec", &cmd, "/dev/null"])
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let declined = run("n\n");
    assert!(declined.contains("Apply the 1 step above to app.db? [y/N]"), "{declined}");
    let conn = rusqlite::Connection::open(dir.join("app.db")).unwrap();
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 't'", [], |r| r.get(0)).unwrap();
    assert_eq!(tables, 0, "declined, nothing applied");
    let accepted = run("y\n");
    assert!(accepted.contains("applied 1 step (1 statement)"), "{accepted}");
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name = 't'", [], |r| r.get(0)).unwrap();
    assert_eq!(tables, 1);
}
