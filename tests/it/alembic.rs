//! docs/MIGRATING_FROM_ALEMBIC.md, run: the Alembic-managed database is built
//! from `examples/alembic/*.sql` (the statements Alembic ran, revision by
//! revision, and the rows the app wrote between them), then every ```` ```sh ````
//! block of the walkthrough runs in order with `bash -e` in that directory,
//! with `reconcile` on `PATH`. A block preceded by `<!-- not run: ... -->` is
//! skipped. A command line ending in `# exit N` must exit with N; every other
//! command must exit 0. Between the blocks the test checks what the text claims.

use rusqlite::Connection;
use std::path::Path;

use crate::harness::{doc_blocks, run_doc_block, Dir};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The walkthrough's runnable blocks, in order.
fn blocks() -> Vec<String> {
    doc_blocks("MIGRATING_FROM_ALEMBIC.md").into_iter().filter(|b| b.run).map(|b| b.body).collect()
}

/// Builds the Alembic-managed database from its history, revision by revision.
fn build_alembic_db(path: &Path) {
    let mut files: Vec<_> = std::fs::read_dir(root().join("examples/alembic"))
        .expect("examples/alembic")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "a history of at least five states");
    let conn = Connection::open(path).expect("open");
    // As Alembic ran them: Python's sqlite3 leaves foreign keys off, as SQLite does; the
    // bundled build here turns them on, and then revision 0005's `DROP TABLE feed` would
    // delete every episode through ON DELETE CASCADE.
    conn.execute_batch("PRAGMA foreign_keys = OFF").expect("pragma");
    for f in &files {
        let sql = std::fs::read_to_string(f).expect("read");
        conn.execute_batch(&sql).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

struct Walk {
    dir: Dir,
    blocks: Vec<String>,
    next: usize,
}

impl Walk {
    /// Runs the next block; returns what it printed.
    fn step(&mut self) -> String {
        let block = self.blocks.get(self.next).unwrap_or_else(|| panic!("no block {}", self.next + 1)).clone();
        self.next += 1;
        run_doc_block(self.dir.path(), &block)
    }

    fn db(&self) -> Connection {
        Connection::open(self.dir.join("app.db")).expect("open app.db")
    }
}

fn query(conn: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    stmt.query_map([], |r| {
        let cells: Vec<String> = (0..n)
            .map(|i| match r.get_ref(i) {
                Ok(v) => match v {
                    rusqlite::types::ValueRef::Null => "NULL".to_string(),
                    rusqlite::types::ValueRef::Integer(i) => i.to_string(),
                    rusqlite::types::ValueRef::Real(f) => f.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
                    rusqlite::types::ValueRef::Blob(b) => format!("{b:?}"),
                },
                Err(e) => e.to_string(),
            })
            .collect();
        Ok(cells.join("|"))
    })
    .expect("query")
    .map(|r| r.expect("row"))
    .collect()
}

fn triggers(conn: &Connection) -> Vec<String> {
    query(conn, "SELECT name FROM sqlite_schema WHERE type = 'trigger' ORDER BY name")
}

#[test]
fn alembic_history_is_what_alembic_leaves() {
    let d = Dir::new();
    let db = d.join("app.db");
    build_alembic_db(&db);
    let conn = Connection::open(&db).expect("open");
    assert_eq!(query(&conn, "SELECT version_num FROM alembic_version"), ["0006"]);
    // The batch rebuild of revision 0005 dropped the trigger of revision 0003 with its table.
    assert_eq!(triggers(&conn), Vec::<String>::new());
    assert_eq!(query(&conn, "SELECT sql LIKE 'CREATE TABLE \"feed\"%' FROM sqlite_schema WHERE name = 'feed'"), ["1"]);
    assert_eq!(query(&conn, "SELECT count(*) FROM feed WHERE updated_at IS NULL"), ["1"]);
    assert_eq!(query(&conn, "SELECT explicit FROM feed ORDER BY id"), ["0", "1", "0"]);
    assert_eq!(query(&conn, "SELECT count(*) FROM episode"), ["6"]);
}

/// What the walkthrough says about Alembic's rebuild and views holds on the bundled SQLite too.
#[test]
fn a_view_on_the_table_breaks_the_batch_rename() {
    let conn = Connection::open_in_memory().expect("open");
    conn.execute_batch(
        "CREATE TABLE feed(id INTEGER PRIMARY KEY, url TEXT); CREATE VIEW v AS SELECT url FROM feed;
         CREATE TABLE _alembic_tmp_feed(id INTEGER PRIMARY KEY, source_url TEXT);
         INSERT INTO _alembic_tmp_feed SELECT * FROM feed; DROP TABLE feed;",
    )
    .expect("setup");
    let err = conn.execute_batch("ALTER TABLE _alembic_tmp_feed RENAME TO feed").expect_err("the rename fails");
    assert!(err.to_string().contains("error in view v: no such table: main.feed"), "{err}");
}

#[test]
fn walkthrough_runs_as_written() {
    let d = Dir::new();
    build_alembic_db(&d.join("app.db"));
    let before_rows = {
        let c = Connection::open(d.join("app.db")).expect("open");
        (
            query(&c, "SELECT id, source_url, title, explicit, created_at FROM feed ORDER BY id"),
            query(&c, "SELECT id, feed_id, guid, title, status, duration FROM episode ORDER BY id"),
        )
    };
    let mut w = Walk { dir: d, blocks: blocks(), next: 0 };
    assert_eq!(w.blocks.len(), 7, "runnable blocks of the walkthrough");

    // 1. Inspect: alembic_version is there, the trigger is not.
    w.step();
    let inspected = std::fs::read_to_string(w.dir.join("inspected.yaml")).expect("inspected.yaml");
    assert!(inspected.contains("alembic_version:"));
    assert!(!inspected.contains("feed_touch"));

    // 2. Adopt: in sync at once, alembic_version excluded and untouched.
    let printed = w.step();
    assert!(printed.contains("in sync"), "{printed}");
    assert!(printed.contains("no changes: the database matches the schema"), "{printed}");
    let adopted = std::fs::read_to_string(w.dir.join("schema/app.yaml")).expect("schema/app.yaml");
    assert!(!adopted.contains("alembic_version"), "{adopted}");

    // 2b. The tidied files are the same schema.
    let printed = w.step();
    assert!(printed.contains("app.db: in sync with schema"), "{printed}");

    // 3. The trigger comes back.
    let printed = w.step();
    assert!(printed.contains("create trigger `feed_touch`"), "{printed}");
    assert_eq!(triggers(&w.db()), ["feed_touch"]);

    // 4. The next change: both tables rebuilt, the trigger survives, rows kept and converted.
    let printed = w.step();
    for line in [
        "4 changes in 9 steps: 2 rebuilds of episode (1 index, 1 view kept) and feed (1 index, 1 view, 1 trigger kept), 3 data-dependent steps",
        "3. [safe] rename column `episode.duration` to `duration_seconds`",
        "uses convert on episode.duration_seconds",
        "uses backfill on feed.updated_at",
        "9. [safe] create trigger `feed_touch`",
    ] {
        assert!(printed.contains(line), "the walkthrough shows `{line}`:\n{printed}");
    }
    let c = w.db();
    assert_eq!(triggers(&c), ["feed_touch"], "the trigger survives the rebuild");
    assert_eq!(query(&c, "SELECT id, source_url, title, explicit, created_at FROM feed ORDER BY id"), before_rows.0);
    assert_eq!(query(&c, "SELECT count(*) FROM feed WHERE updated_at IS NULL"), ["0"]);
    assert_eq!(query(&c, "SELECT updated_at = created_at FROM feed WHERE id = 3"), ["1"], "backfill: created_at");
    assert_eq!(
        query(&c, "SELECT id, feed_id, guid, title, status FROM episode ORDER BY id"),
        before_rows
            .1
            .iter()
            .map(|r| r.rsplit_once('|').map(|(a, _)| a.to_string()).unwrap_or_default())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        query(&c, "SELECT id, duration_seconds FROM episode ORDER BY id"),
        ["1|2467", "2|3765", "3|NULL", "4|NULL", "5|3330", "6|1692"]
    );
    assert_eq!(query(&c, "SELECT version_num FROM alembic_version"), ["0006"], "alembic_version untouched");
    // The trigger works: a title change moves updated_at.
    c.execute_batch("UPDATE feed SET updated_at = '2000-01-01' WHERE id = 2; UPDATE feed SET title = 'Night Shift (reruns)' WHERE id = 2;")
        .expect("update");
    assert_eq!(query(&c, "SELECT updated_at > '2000-01-01' FROM feed WHERE id = 2"), ["1"]);
    drop(c);

    // 5. History and rollback: the values come back from the backup.
    let printed = w.step();
    assert!(printed.contains("rolled back with"), "{printed}");
    let c = w.db();
    assert_eq!(triggers(&c), ["feed_touch"]);
    assert_eq!(
        query(&c, "SELECT id, feed_id, guid, title, status, duration FROM episode ORDER BY id"),
        before_rows.1,
        "durations back as 'HH:MM:SS'"
    );
    assert_eq!(query(&c, "SELECT id FROM feed WHERE updated_at IS NULL"), ["3"], "the backfilled NULL is back");
    drop(c);

    // 5b. Apply again: the same result as the first time.
    let printed = w.step();
    assert!(printed.contains("in sync"), "{printed}");
    let c = w.db();
    assert_eq!(triggers(&c), ["feed_touch"]);
    assert_eq!(query(&c, "SELECT id, duration_seconds FROM episode WHERE id = 1"), ["1|2467"]);
    assert_eq!(w.next, w.blocks.len(), "every block ran");
}
