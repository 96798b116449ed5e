//! Startup in real deployments: many processes (and threads) applying the same schema at once
//! converge on one change, the no-op is answered from the history without planning yet still
//! sees a hand change or a changed YAML file, and `rollback --to` / `--steps` go back any
//! number of changes in one transaction, refused whole when one of them cannot be undone.
//! Every test works on real database files and, for the CLI, the real `reconcile` binary.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Output, Stdio};

use rusqlite::Connection;
use sqlite_reconcile::engine::Sql;
use sqlite_reconcile::{history, Reconciler};

use crate::harness::{command, reconcile, state, stderr, Dir};

const RACERS: usize = 16;

/// 100,000 items, and a desired schema that rebuilds their table (a collation, NOT NULL with a
/// backfill) and adds an index.
const ITEMS: i64 = 100_000;
const ITEMS_SQL: &str = "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, qty INTEGER);
CREATE TABLE tags (id INTEGER PRIMARY KEY, item_id INTEGER REFERENCES items (id) ON DELETE CASCADE, tag TEXT);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
INSERT INTO items SELECT i, 'item ' || i, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 50 END FROM n;
INSERT INTO tags (item_id, tag) SELECT id, 'tag' || (id % 3) FROM items WHERE id % 10 = 0;";
const ITEMS_YAML: &str = r#"tables:
  items:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: name, type: TEXT, collate: NOCASE }
      - { name: qty, type: INTEGER, not_null: true, default: "0", backfill: "0" }
    indexes:
      items_name: { columns: [name] }
  tags:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: item_id, type: INTEGER, references: { table: items, column: id, on_delete: cascade } }
      - { name: tag, type: TEXT }
"#;

/// The rebuild of `ITEMS_YAML` kept every child row and every item, in every column, the backfill
/// having filled only the NULL quantities.
fn items_kept(before: &BTreeMap<String, crate::harness::Rows>, after: &BTreeMap<String, crate::harness::Rows>) {
    assert_eq!(after["tags"], before["tags"], "child rows kept");
    assert_eq!(after["items"].len(), before["items"].len());
    for (key, row) in &before["items"] {
        let now = &after["items"][key];
        assert_eq!(now["name"], row["name"], "{key}");
        let want = match &row["qty"] {
            rusqlite::types::Value::Null => rusqlite::types::Value::Integer(0),
            v => v.clone(),
        };
        assert_eq!(now["qty"], want, "{key}");
    }
}

/// `n` copies of `reconcile args` started together in `dir`, waited for.
fn race(dir: &Path, args: &[&str], n: usize) -> Vec<Output> {
    let children: Vec<_> = (0..n)
        .map(|_| command(dir, args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn reconcile"))
        .collect();
    children.into_iter().map(|c| c.wait_with_output().expect("wait for reconcile")).collect()
}

fn history_of(db: &Path) -> Vec<history::HistoryEntry> {
    history::history(&Connection::open(db).unwrap()).unwrap()
}

/// Every racer ended well, exactly one change was recorded, and the rest said why they had
/// nothing to do.
fn converged(outs: &[Output], db: &Path) {
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.status.code(), Some(0), "racer {i}: {}", stderr(out));
    }
    let applied = outs.iter().filter(|o| stderr(o).contains("recorded as")).count();
    assert_eq!(applied, 1, "exactly one racer applies the change");
    let history = history_of(db);
    assert_eq!(history.len(), 1, "one history row: {history:#?}");
    for out in outs.iter().filter(|o| !stderr(o).contains("recorded as")) {
        assert!(stderr(out).contains("in sync with"), "{}", stderr(out));
    }
}

#[test]
fn sixteen_processes_racing_apply_on_a_fresh_database_all_end_in_sync() {
    let dir = Dir::new();
    dir.write("schema/app.yaml", ITEMS_YAML);
    let outs = race(dir.path(), &["apply", "--yes", "--db", "app.db", "--busy-timeout", "60000"], RACERS);
    let db = dir.join("app.db");
    converged(&outs, &db);
    // Schema equal and a second plan empty; the rollback takes it back to an empty database.
    let drift = reconcile(dir.path(), &["drift", "--db", "app.db"]);
    assert_eq!(drift.status.code(), Some(0), "{}", stderr(&drift));
    let rollback = reconcile(dir.path(), &["rollback", "--yes", "--allow-destructive", "--db", "app.db"]);
    assert_eq!(rollback.status.code(), Some(0), "{}", stderr(&rollback));
    assert!(state(&db).0.tables.is_empty(), "back to no tables");
}

#[test]
fn sixteen_processes_racing_a_rebuild_of_a_hundred_thousand_rows_converge_and_keep_every_row() {
    let dir = Dir::new();
    dir.write("schema/app.yaml", ITEMS_YAML);
    let db = dir.db("app.db", ITEMS_SQL);
    let (schema_before, rows_before) = state(&db);
    assert_eq!(rows_before["items"].len() as i64, ITEMS);
    let outs = race(dir.path(), &["apply", "--yes", "--db", "app.db", "--busy-timeout", "120000"], RACERS);
    converged(&outs, &db);
    assert!(
        outs.iter().any(|o| stderr(o).contains("waiting for the write lock held by")),
        "a racer that waited said so"
    );
    let drift = reconcile(dir.path(), &["drift", "--db", "app.db"]);
    assert_eq!(drift.status.code(), Some(0), "{}", stderr(&drift));
    // Every row kept, in every column; the backfill filled only the NULLs.
    let (_, rows_after) = state(&db);
    items_kept(&rows_before, &rows_after);
    // The rollback restores the schema and the NULLs the backfill filled.
    let rollback = reconcile(dir.path(), &["rollback", "--yes", "--db", "app.db"]);
    assert_eq!(rollback.status.code(), Some(0), "{}", stderr(&rollback));
    assert_eq!(state(&db), (schema_before, rows_before));
}

#[test]
fn sixteen_threads_reconciling_through_the_library_make_the_change_once() {
    let dir = Dir::new();
    let db = dir.db("app.db", ITEMS_SQL);
    let (_, rows_before) = state(&db);
    let reconciler = Reconciler::from_sources(&[("app.yaml", ITEMS_YAML)])
        .unwrap()
        .busy_timeout(std::time::Duration::from_secs(120));
    let reports: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..RACERS)
            .map(|_| {
                s.spawn(|| {
                    let mut conn = Connection::open(&db).unwrap();
                    reconciler.reconcile(&mut conn)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a thread panicked")).collect()
    });
    let mut made = 0;
    for (i, report) in reports.into_iter().enumerate() {
        let report = report.unwrap_or_else(|e| panic!("thread {i}: {e}"));
        if report.id.is_some() {
            made += 1;
            assert!(report.steps > 0);
        } else {
            assert_eq!(report.steps, 0, "thread {i}");
        }
    }
    assert_eq!(made, 1, "the change is made once");
    assert_eq!(history_of(&db).len(), 1);
    let mut conn = Connection::open(&db).unwrap();
    assert!(reconciler.prepare(&mut conn).unwrap().is_empty(), "in sync");
    let (_, rows_after) = state(&db);
    assert_eq!(rows_after["tags"], rows_before["tags"]);
    assert_eq!(rows_after["items"].len(), rows_before["items"].len());
}

/// A process that lost the race plans again from what it finds under the lock; a saved plan is
/// refused instead, telling what the database now has.
#[test]
fn a_change_planned_before_another_one_landed_is_planned_again_under_the_lock() {
    use sqlite_reconcile::execute::{Moved, Run};
    use sqlite_reconcile::target::{LocalFile, Target as _};
    let dir = Dir::new();
    let db =
        dir.db("app.db", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'a');");
    let reconciler = Reconciler::from_sources(&[("app.yaml", NOTES_TAGGED)]).unwrap();
    let mut conn = Connection::open(&db).unwrap();
    let prepared = reconciler.prepare(&mut conn).unwrap();
    assert_eq!(prepared.forward.steps.len(), 2, "a column and an index: {:#?}", prepared.forward.steps);
    // Meanwhile another deployment of the same schema got as far as the column.
    conn.execute_batch("ALTER TABLE notes ADD COLUMN tag TEXT; UPDATE notes SET tag = 'x';").unwrap();
    // The plan made before is refused as it is, the difference told from the database's side.
    let refused = reconciler.run(&mut conn, &prepared, false).unwrap_err().to_string();
    assert!(refused.contains("the database now has column `notes.tag`, which the plan did not expect"), "{refused}");
    // Planned again under the lock, only the index is left to make.
    let run = |moved| Run { kind: "apply", moved, ..Run::default() };
    let report = LocalFile::new(&mut conn).unwrap().execute(&prepared, &run(Moved::Replan)).unwrap();
    assert!(report.replanned && report.id.is_some(), "{report:?}");
    assert_eq!(report.steps, 1, "{report:?}");
    let recorded = history::history(&conn).unwrap();
    assert_eq!((recorded.len(), recorded[0].steps), (1, 1), "the change that ran is the one recorded");
    assert!(reconciler.prepare(&mut conn).unwrap().is_empty());
    let tags: String = conn.query_row("SELECT tag FROM notes", [], |r| r.get(0)).unwrap();
    assert_eq!(tags, "x", "the other deployment's rows are kept");
    // The same plan once more: the work is done, so it is in sync, and nothing is recorded.
    let again = LocalFile::new(&mut conn).unwrap().execute(&prepared, &run(Moved::AcceptDone)).unwrap();
    assert!(again.already_done && again.id.is_none(), "{again:?}");
    assert_eq!(history::history(&conn).unwrap().len(), 1);
}

const NOTES_TAGGED: &str = "tables:\n  notes:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: body, type: TEXT }\n      - { name: tag, type: TEXT }\n    indexes:\n      notes_tag: { columns: [tag] }\n";

// ---- the no-op fast path ----

const NOTES: &str = "tables:\n  notes:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: body, type: TEXT }\n    indexes:\n      notes_body: { columns: [body] }\n";

#[test]
fn the_fast_path_answers_in_sync_without_loading_the_schema_and_still_sees_a_hand_change() {
    let dir = Dir::new();
    dir.write("schema/app.yaml", NOTES);
    let apply = |dir: &Dir| reconcile(dir.path(), &["apply", "--yes", "--db", "app.db", "-vv"]);
    let first = apply(&dir);
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    // In sync: answered from the history, without loading (and so normalizing) the YAML.
    let again = apply(&dir);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(stderr(&again).contains("compared the schema and its sources with the last change recorded"));
    assert!(!stderr(&again).contains("loaded and validated"), "{}", stderr(&again));
    assert!(stderr(&again).contains("in sync with"), "{}", stderr(&again));
    // An index dropped by hand with the sqlite3 shell: found as drift, and put back by apply.
    let shell = std::process::Command::new("sqlite3")
        .arg(dir.join("app.db"))
        .arg("DROP INDEX notes_body")
        .output()
        .expect("the sqlite3 shell is installed (apt-get install sqlite3)");
    assert!(shell.status.success(), "{}", stderr(&shell));
    let drift = reconcile(dir.path(), &["drift", "--db", "app.db"]);
    assert_eq!(drift.status.code(), Some(2), "{}", stderr(&drift));
    let repaired = apply(&dir);
    assert_eq!(repaired.status.code(), Some(0), "{}", stderr(&repaired));
    assert!(stderr(&repaired).contains("loaded and validated"), "the slow path ran: {}", stderr(&repaired));
    assert!(stderr(&repaired).contains("recorded as"), "{}", stderr(&repaired));
    assert_eq!(history_of(&dir.join("app.db")).len(), 2);
    let drift = reconcile(dir.path(), &["drift", "--db", "app.db"]);
    assert_eq!(drift.status.code(), Some(0), "{}", stderr(&drift));
}

#[test]
fn a_changed_yaml_file_is_planned_though_the_database_is_as_the_last_change_left_it() {
    let dir = Dir::new();
    dir.write("schema/app.yaml", NOTES);
    let out = reconcile(dir.path(), &["apply", "--yes", "--db", "app.db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    dir.write(
        "schema/app.yaml",
        &NOTES
            .replace("- { name: body, type: TEXT }", "- { name: body, type: TEXT }\n      - { name: tag, type: TEXT }"),
    );
    let out = reconcile(dir.path(), &["apply", "--yes", "--db", "app.db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("recorded as"), "{}", stderr(&out));
    let (schema, _) = state(&dir.join("app.db"));
    assert!(schema.tables["notes"].column("tag").is_some());
    // A new file in the schema directory is a change of the sources too.
    dir.write(
        "schema/more.yaml",
        "tables:\n  more:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n",
    );
    let out = reconcile(dir.path(), &["apply", "--yes", "--db", "app.db"]);
    assert!(stderr(&out).contains("recorded as"), "{}", stderr(&out));
}

#[test]
fn the_library_fast_path_sees_a_hand_change_and_other_exclude_patterns() {
    let dir = Dir::new();
    let db = dir.join("app.db");
    let reconciler = Reconciler::from_sources(&[("app.yaml", NOTES)]).unwrap();
    let mut conn = Connection::open(&db).unwrap();
    assert!(reconciler.reconcile(&mut conn).unwrap().id.is_some());
    assert!(reconciler.reconcile(&mut conn).unwrap().id.is_none(), "in sync");
    let source = history::source_fingerprint(&[("app.yaml", NOTES)], &[]);
    assert!(history::unchanged_since_recorded(&conn, &source, &Default::default()).unwrap());
    conn.execute_batch("DROP INDEX notes_body").unwrap();
    assert!(!history::unchanged_since_recorded(&conn, &source, &Default::default()).unwrap());
    let repaired = reconciler.reconcile(&mut conn).unwrap();
    assert!(repaired.id.is_some(), "the index is made again");
    // A table the application keeps to itself, excluded: the fast path still answers.
    let excluding = reconciler.clone().exclude(vec!["cache_*".into()]);
    assert!(excluding.reconcile(&mut conn).unwrap().id.is_none());
    conn.execute_batch("CREATE TABLE cache_pages (k TEXT)").unwrap();
    let with_cache = excluding.reconcile(&mut conn).unwrap();
    assert!(with_cache.id.is_none(), "excluded: nothing to do");
}

// ---- rollback --to and --steps ----

/// Five changes after the first: a column added, a column renamed, a column with values
/// dropped, a type changed with `convert`, a table with rows dropped.
const VERSIONS: [&str; 6] = [
    "tables:\n  users:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: name, type: TEXT }\n      - { name: age, type: TEXT }\n      - { name: nick, type: TEXT }\n  notes:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: body, type: TEXT }\n",
    "tables:\n  users:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: name, type: TEXT }\n      - { name: age, type: TEXT }\n      - { name: nick, type: TEXT }\n      - { name: email, type: TEXT }\n  notes:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: body, type: TEXT }\n",
    "tables:\n  users:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: full_name, type: TEXT, renamed_from: name }\n      - { name: age, type: TEXT }\n      - { name: nick, type: TEXT }\n      - { name: email, type: TEXT }\n  notes:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: body, type: TEXT }\n",
    "tables:\n  users:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: full_name, type: TEXT }\n      - { name: age, type: TEXT }\n      - { name: email, type: TEXT }\n  notes:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: body, type: TEXT }\n",
    "tables:\n  users:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: full_name, type: TEXT }\n      - { name: age, type: INTEGER, convert: \"CAST(age AS INTEGER)\" }\n      - { name: email, type: TEXT }\n  notes:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: body, type: TEXT }\n",
    "tables:\n  users:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: full_name, type: TEXT }\n      - { name: age, type: INTEGER }\n      - { name: email, type: TEXT }\n",
];

type State = (sqlite_reconcile::Schema, BTreeMap<String, crate::harness::Rows>);

/// The database after each version was applied (with rows seeded after the first), checked
/// as each lands: schema equal, a second plan empty. Returns the ids and the states.
fn five_changes(dir: &Dir) -> (Vec<String>, Vec<State>) {
    let db = dir.join("app.db");
    let (mut ids, mut states) = (Vec::new(), Vec::new());
    for (i, yaml) in VERSIONS.iter().enumerate() {
        dir.write("schema/app.yaml", yaml);
        let out = reconcile(dir.path(), &["apply", "--yes", "--allow-destructive", "--db", "app.db"]);
        assert_eq!(out.status.code(), Some(0), "version {i}: {}", stderr(&out));
        if i == 0 {
            let conn = Connection::open(&db).unwrap();
            conn.execute_batch(
                "INSERT INTO users VALUES (1, 'ann', '31', 'a'), (2, 'bob', 'unknown', 'b'), (3, NULL, NULL, NULL);
                 INSERT INTO notes VALUES (1, 'hello'), (2, 'world');",
            )
            .unwrap();
        }
        let drift = reconcile(dir.path(), &["drift", "--db", "app.db"]);
        assert_eq!(drift.status.code(), Some(0), "version {i}: {}", stderr(&drift));
        ids.push(history_of(&db)[0].id.clone());
        states.push(state(&db));
    }
    (ids, states)
}

#[test]
fn rollback_to_the_first_change_undoes_five_in_one_transaction_with_every_row() {
    let dir = Dir::new();
    let (ids, states) = five_changes(&dir);
    let db = dir.join("app.db");
    let out = reconcile(dir.path(), &["rollback", "--yes", "--allow-destructive", "--db", "app.db", "--to", &ids[0]]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // Schema and every row as they were after the first change: the dropped table's rows, the
    // dropped column's values, the values `convert` rewrote ('unknown' became 0), the old name.
    assert_eq!(state(&db), states[0]);
    let history = history_of(&db);
    let undone: Vec<&str> = history.iter().filter_map(|e| e.rolls_back.as_deref()).collect();
    // One row each, written newest first, so the history (newest first) lists them oldest first.
    assert_eq!(undone, ids[1..].iter().map(String::as_str).collect::<Vec<_>>());
    assert!(history.iter().filter(|e| ids[1..].contains(&e.id)).all(|e| e.outcome == "rolled back"));
    // Applying the newest schema again goes forward again.
    let out = reconcile(dir.path(), &["apply", "--yes", "--allow-destructive", "--db", "app.db"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(state(&db).0, states[5].0);
}

#[test]
fn rollback_steps_undoes_the_last_n_changes() {
    let dir = Dir::new();
    let (_, states) = five_changes(&dir);
    let db = dir.join("app.db");
    let out = reconcile(dir.path(), &["rollback", "--yes", "--db", "app.db", "--steps", "2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(state(&db), states[3]);
    let out = reconcile(dir.path(), &["rollback", "--yes", "--db", "app.db", "--steps", "5"]);
    assert_eq!(out.status.code(), Some(3), "only 4 are left: {}", stderr(&out));
    assert!(stderr(&out).contains("only 4 applied changes can be rolled back, not 5"), "{}", stderr(&out));
    assert_eq!(state(&db), states[3], "nothing changed");
}

#[test]
fn rollback_to_is_refused_whole_when_a_middle_backup_is_missing_or_the_schema_was_changed_by_hand() {
    let dir = Dir::new();
    let (ids, states) = five_changes(&dir);
    let db = dir.join("app.db");
    let history_before = history_of(&db);
    // The third change (the dropped column) kept its values in a backup file; remove it.
    let backup = history_before.iter().find(|e| e.id == ids[3]).and_then(|e| e.backup.clone()).expect("a backup");
    let path = dir.join(&format!("app.db.reconcile/{backup}"));
    std::fs::rename(&path, dir.join("moved-away.db")).unwrap();
    let out = reconcile(dir.path(), &["rollback", "--yes", "--allow-destructive", "--db", "app.db", "--to", &ids[0]]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains(&format!("of change `{}` is missing", ids[3])), "{}", stderr(&out));
    assert_eq!(state(&db), states[5], "nothing changed");
    assert_eq!(history_of(&db), history_before, "nothing recorded");
    std::fs::rename(dir.join("moved-away.db"), &path).unwrap();
    // A hand change since the newest change: refused, told from the database's side.
    Connection::open(&db).unwrap().execute_batch("CREATE TABLE jobs (id INTEGER PRIMARY KEY)").unwrap();
    let with_jobs = state(&db);
    let out = reconcile(dir.path(), &["rollback", "--yes", "--allow-destructive", "--db", "app.db", "--to", &ids[0]]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the database now has table `jobs`, which the plan did not expect"),
        "{}",
        stderr(&out)
    );
    assert_eq!(state(&db), with_jobs, "nothing changed");
}

// ---- racing on a libSQL server ----

/// The server's schema and rows, read back into a local file and read as a file's.
fn server_state(client: &sqlite_reconcile::remote::Client, dir: &Dir, name: &str) -> State {
    let copy = dir.join(name);
    let conn = Connection::open(&copy).unwrap();
    conn.execute_batch("PRAGMA foreign_keys = OFF; BEGIN").unwrap();
    crate::harness::copy_database(client, &conn).unwrap();
    conn.execute_batch("COMMIT").unwrap();
    drop(conn);
    state(&copy)
}

/// Replicas of an app starting together against one libSQL server: each takes the server's
/// write lock in its own stream (waiting while another holds it), reads the schema again under
/// it, and finds the work done; the child rows survive the one rebuild that ran.
#[test]
fn eight_processes_racing_a_rebuild_on_a_libsql_server_converge_and_keep_every_row() {
    let Some(server) = crate::harness::sqld() else { return };
    let client = sqlite_reconcile::remote::Client::connect(&server.url, None).unwrap();
    // Fewer rows than on a file: the copy back reads a table in one response.
    const ON_SERVER: i64 = 20_000;
    for sql in ITEMS_SQL.replace(&ITEMS.to_string(), &ON_SERVER.to_string()).split(";\n") {
        client.rows(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    let dir = Dir::new();
    dir.write("schema/app.yaml", ITEMS_YAML);
    let (schema_before, rows_before) = server_state(&client, &dir, "before.db");
    let outs = race(dir.path(), &["apply", "--yes", "--db", &server.url, "--busy-timeout", "120000"], 8);
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(out.status.code(), Some(0), "racer {i}: {}", stderr(out));
    }
    let applied = outs.iter().filter(|o| stderr(o).contains("recorded as")).count();
    assert_eq!(applied, 1, "exactly one racer applies the change");
    for out in outs.iter().filter(|o| !stderr(o).contains("recorded as")) {
        assert!(stderr(out).contains("in sync with"), "{}", stderr(out));
    }
    let recorded = history::history(&client).unwrap();
    assert_eq!(recorded.len(), 1, "one history row: {recorded:#?}");
    let drift = reconcile(dir.path(), &["drift", "--db", &server.url]);
    assert_eq!(drift.status.code(), Some(0), "{}", stderr(&drift));
    let (_, rows_after) = server_state(&client, &dir, "after.db");
    assert_eq!(rows_after["items"].len() as i64, ON_SERVER);
    items_kept(&rows_before, &rows_after);
    let rollback = reconcile(dir.path(), &["rollback", "--yes", "--db", &server.url]);
    assert_eq!(rollback.status.code(), Some(0), "{}", stderr(&rollback));
    let (schema_back, rows_back) = server_state(&client, &dir, "back.db");
    assert_eq!(schema_back, schema_before);
    assert_eq!(rows_back["items"], rows_before["items"]);
    assert_eq!(rows_back["tags"], rows_before["tags"]);
}
