//! Golden plans: the `text` and `sql` renderings of the plan for representative
//! changes, each made against a real database file and kept as insta snapshots
//! under `tests/it/snapshots/`. Every plan is then applied and the scenario
//! checks run, so a snapshot can only hold a plan that works.
//!
//! Review a changed plan with `cargo insta review` (or `INSTA_UPDATE=always`
//! and `git diff`); a snapshot is the contract of what users are shown.

use sqlite_reconcile::render;

use crate::harness::{load_yaml, reconcile, stdout, Dir, Scenario};

/// Plans `yaml` against a database built by `before_sql`, snapshots both
/// renderings as `<name>_text` and `<name>_sql`, applies, and runs the four
/// checks (`renames` as in `Scenario::check_all`). Returns the scenario for further checks.
#[track_caller]
fn golden(name: &str, before_sql: &str, yaml: &str, renames: &[(&str, &str, &str)]) -> Scenario {
    let mut s = Scenario::new(before_sql);
    let plan = s.plan(&load_yaml(yaml));
    insta::assert_snapshot!(format!("{name}_text"), render::text(&plan));
    insta::assert_snapshot!(format!("{name}_sql"), render::sql(&plan));
    let applied = s.apply(yaml);
    assert_eq!(applied, plan, "the applied plan differs from the planned one");
    s.check_all(renames);
    s
}

const FEED: &str = "CREATE TABLE feed(id TEXT PRIMARY KEY, url TEXT, title TEXT, n INTEGER);
CREATE INDEX feed_title ON feed(title);
INSERT INTO feed VALUES ('a', 'http://a', 'A', 1), ('b', NULL, 'B', 2), ('c', 'http://c', NULL, 3);";

/// The `feed` table as in `FEED`, with `extra` appended to its column list.
fn feed_yaml(extra: &str) -> String {
    format!(
        "tables:
  feed:
    columns:
      - {{ name: id, type: TEXT, primary_key: true }}
      - {{ name: url, type: TEXT }}
      - {{ name: title, type: TEXT }}
      - {{ name: n, type: INTEGER }}
{extra}    indexes:
      feed_title: {{ columns: [title] }}
"
    )
}

#[test]
fn add_column_native() {
    let yaml = feed_yaml("      - { name: enabled, type: BOOLEAN, not_null: true, default: 1 }\n");
    golden("add_column_native", FEED, &yaml, &[]);
}

#[test]
fn add_unique_column_rebuilds() {
    let yaml = feed_yaml("      - { name: slug, type: TEXT, unique: true }\n");
    golden("add_unique_column_rebuilds", FEED, &yaml, &[]);
}

#[test]
fn add_column_with_expression_default_rebuilds() {
    let yaml = feed_yaml("      - { name: created_at, type: TEXT, not_null: true, default: CURRENT_TIMESTAMP }\n");
    golden("add_column_with_expression_default_rebuilds", FEED, &yaml, &[]);
}

#[test]
fn drop_column_destructive() {
    let yaml = "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: n, type: INTEGER }
";
    golden("drop_column_destructive", FEED, yaml, &[]);
}

#[test]
fn type_change_with_convert() {
    let before = "CREATE TABLE episode(id INTEGER PRIMARY KEY, title TEXT NOT NULL, explicit TEXT);
CREATE INDEX episode_explicit ON episode(explicit);
INSERT INTO episode VALUES (1, 'one', 'YES'), (2, 'two', 'NO'), (3, 'three', NULL);";
    let yaml = "tables:
  episode:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: title, type: TEXT, not_null: true }
      - name: explicit
        type: BOOLEAN
        not_null: true
        default: 0
        convert: \"CASE explicit WHEN 'YES' THEN 1 ELSE 0 END\"
    indexes:
      episode_explicit: { columns: [explicit] }
";
    // The converted column is not compared with its old values (an empty old name never
    // matches); its new values are checked here instead.
    let s = golden("type_change_with_convert", before, yaml, &[("episode", "explicit", "")]);
    let values: Vec<i64> = s
        .conn()
        .prepare("SELECT explicit FROM episode ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(values, vec![1, 0, 0]);
}

#[test]
fn not_null_tightening_with_backfill() {
    let yaml = "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: title, type: TEXT, not_null: true, backfill: \"'untitled'\" }
      - { name: n, type: INTEGER }
    indexes:
      feed_title: { columns: [title] }
";
    golden("not_null_tightening_with_backfill", FEED, yaml, &[]);
}

#[test]
fn table_and_column_rename() {
    let yaml = "tables:
  feeds:
    renamed_from: feed
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: source_url, type: TEXT, renamed_from: url }
      - { name: title, type: TEXT }
      - { name: n, type: INTEGER }
    indexes:
      feed_title: { columns: [title] }
";
    golden("table_and_column_rename", FEED, yaml, &[("feeds", "source_url", "url")]);
}

#[test]
fn rebuild_under_view_and_triggers() {
    let before = "CREATE TABLE feed(id TEXT PRIMARY KEY, url TEXT, title TEXT, n INTEGER);
CREATE INDEX feed_title ON feed(title);
CREATE TABLE log(feed_id TEXT, msg TEXT);
CREATE VIEW titled AS SELECT id, title FROM feed WHERE title IS NOT NULL;
CREATE VIEW titled_count AS SELECT count(*) AS c FROM titled;
CREATE TRIGGER feed_touch AFTER UPDATE OF title ON feed BEGIN INSERT INTO log VALUES (NEW.id, 'title'); END;
CREATE TRIGGER log_check BEFORE INSERT ON log BEGIN SELECT RAISE(ABORT, 'no feed') WHERE NOT EXISTS (SELECT 1 FROM feed WHERE id = NEW.feed_id); END;
INSERT INTO feed VALUES ('a', 'http://a', 'A', 1), ('b', NULL, 'B', 2);
INSERT INTO log VALUES ('a', 'x');";
    let yaml = "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: title, type: TEXT }
      - { name: n, type: REAL }
    indexes:
      feed_title: { columns: [title] }
  log:
    columns:
      - { name: feed_id, type: TEXT }
      - { name: msg, type: TEXT }
views:
  titled:
    sql: SELECT id, title FROM feed WHERE title IS NOT NULL
  titled_count:
    sql: SELECT count(*) AS c FROM titled
triggers:
  feed_touch:
    sql: CREATE TRIGGER feed_touch AFTER UPDATE OF title ON feed BEGIN INSERT INTO log VALUES (NEW.id, 'title'); END
  log_check:
    sql: CREATE TRIGGER log_check BEFORE INSERT ON log BEGIN SELECT RAISE(ABORT, 'no feed') WHERE NOT EXISTS (SELECT 1 FROM feed WHERE id = NEW.feed_id); END
";
    golden("rebuild_under_view_and_triggers", before, yaml, &[]);
}

#[test]
fn new_tables_parent_first() {
    // `comment` sorts before `post` but references it: the parent is created first.
    let before = "CREATE TABLE account(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO account VALUES (1, 'ann');";
    let yaml = "tables:
  account:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: name, type: TEXT, not_null: true }
  comment:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: post_id, type: INTEGER, not_null: true, references: { table: post, column: id, on_delete: cascade } }
      - { name: body, type: TEXT }
    indexes:
      comment_post: { columns: [post_id] }
  post:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: author_id, type: INTEGER, references: { table: account, column: id } }
      - { name: title, type: TEXT }
";
    golden("new_tables_parent_first", before, yaml, &[]);
}

#[test]
fn index_swap_partial_and_expression() {
    let yaml = "tables:
  feed:
    columns:
      - { name: id, type: TEXT, primary_key: true }
      - { name: url, type: TEXT }
      - { name: title, type: TEXT }
      - { name: n, type: INTEGER }
    indexes:
      feed_title: { columns: [\"lower(title)\"], where: \"title IS NOT NULL\" }
      feed_url: { columns: [url], unique: true, where: \"url IS NOT NULL\" }
";
    golden("index_swap_partial_and_expression", FEED, yaml, &[]);
}

#[test]
fn autoincrement_table_rebuild() {
    // A new UNIQUE needs a rebuild. The top rows are deleted: the high-water mark (5)
    // is above max(id) (3) and must survive the rebuild.
    let before = "CREATE TABLE job(id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, state TEXT);
CREATE INDEX job_state ON job(state);
INSERT INTO job(name, state) VALUES ('a', 'done'), ('b', 'queued'), ('c', NULL), ('d', 'done'), ('e', 'done');
DELETE FROM job WHERE id > 3;";
    let yaml = "tables:
  job:
    columns:
      - { name: id, type: INTEGER, primary_key: true, autoincrement: true }
      - { name: name, type: TEXT, not_null: true, unique: true }
      - { name: state, type: TEXT, not_null: true, default: \"'queued'\" }
    checks:
      - { name: job_state_ck, expr: \"state IN ('queued', 'running', 'done')\" }
    indexes:
      job_state: { columns: [state] }
";
    let s = golden("autoincrement_table_rebuild", before, yaml, &[]);
    let next: i64 = s.conn().query_row("INSERT INTO job(name) VALUES ('f') RETURNING id", [], |r| r.get(0)).unwrap();
    assert_eq!(next, 6, "the AUTOINCREMENT high-water mark was lost");
}

/// The binary prints the same script as the library renders.
#[test]
fn binary_sql_matches_library() {
    let d = Dir::new();
    let db = d.db("app.db", FEED);
    let yaml = feed_yaml("      - { name: enabled, type: BOOLEAN, not_null: true, default: 1 }\n");
    d.write("schema/feed.yaml", &yaml);
    let o = reconcile(d.path(), &["plan", "--db", "app.db", "--schema", "schema", "--format", "sql"]);
    assert!(o.status.success(), "{}", crate::harness::stderr(&o));
    let mut conn = rusqlite::Connection::open(&db).unwrap();
    let (_, plan) =
        sqlite_reconcile::plan_for(&mut conn, &load_yaml(&yaml), &sqlite_reconcile::InspectOptions::default()).unwrap();
    assert_eq!(stdout(&o), render::sql(&plan));
}
