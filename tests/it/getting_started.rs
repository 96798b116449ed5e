//! docs/GETTING_STARTED.md, run: every `sh` block in order in an empty
//! directory, with `reconcile` on `PATH` (see `harness::run_doc_block` for the
//! `# exit N` and `<!-- not run -->` conventions). The one block that needs the
//! sqlite3 shell (`sqlite3 app.db < rows.sql`) is done here through rusqlite;
//! between blocks the test checks what the page says.

use rusqlite::Connection;

use crate::harness::{doc_blocks, run_doc_block, Dir};

fn rows(d: &Dir, sql: &str) -> Vec<String> {
    let c = Connection::open(d.join("app.db")).expect("open");
    let mut stmt = c.prepare(sql).expect("prepare");
    stmt.query_map([], |r| r.get::<_, String>(0)).expect("query").map(|r| r.expect("row")).collect()
}

#[test]
fn getting_started_runs_as_written() {
    let d = Dir::new();
    let blocks = doc_blocks("GETTING_STARTED.md");
    assert_eq!(blocks.len(), 8, "blocks of the page");
    let mut ran = 0;
    for b in &blocks {
        if !b.run {
            if b.body.trim() == "sqlite3 app.db < rows.sql" {
                let sql = std::fs::read_to_string(d.join("rows.sql")).expect("rows.sql");
                Connection::open(d.join("app.db")).expect("open").execute_batch(&sql).expect("rows");
            }
            continue;
        }
        let printed = run_doc_block(d.path(), &b.body);
        ran += 1;
        if b.body.contains("reconcile apply --yes\nreconcile drift") && ran == 2 {
            assert!(d.join("app.db").exists());
            assert!(printed.contains("app.db: in sync with schema"), "{printed}");
        }
        if b.body.contains("renamed_from: body") {
            // The first change: rows kept, title backfilled, content renamed with its values.
            assert!(printed.contains("uses backfill on notes.title"), "{printed}");
            assert_eq!(
                rows(&d, "SELECT id || '|' || title || '|' || content FROM notes ORDER BY id"),
                ["1|Ship it|Ship it", "2|Buy bread|Buy bread", "3|Call Ann|Call Ann"]
            );
        }
        if b.body.contains("reconcile rollback --yes --allow-destructive") {
            assert!(printed.contains("rolled back with"), "{printed}");
            assert!(printed.contains("drop column `notes.title`"), "{printed}");
        }
    }
    assert_eq!(ran, 6);
    // After the rollback the change was applied again, and the settings file changes nothing.
    assert_eq!(rows(&d, "SELECT content FROM notes WHERE id = 2"), ["Buy bread"]);
}
