//! Keys on: rebuilds for an engine whose foreign keys cannot be turned off during a change (an
//! rqlite node started with `-fk`), where only `PRAGMA defer_foreign_keys = ON` holds them.
//!
//! With keys on, `DROP TABLE` runs an implicit `DELETE FROM` whose `ON DELETE` actions fire on
//! every table that references it, deferred or not: the 12-step rebuild of a parent deletes (or
//! nulls) its children's rows, and the new copy of a table that references itself is emptied by
//! the old one's drop. So a rebuilt table that any table references is rebuilt with the whole
//! group of tables that reference it, directly or through others, in three phases:
//!
//! 1. every table of the group is renamed to `_reconcile_old_<name>` (SQLite rewrites the
//!    references of the others, so the old tables point only at each other);
//! 2. each is created again under its own name (all of them before any row is copied: with keys
//!    on SQLite writes no row of a table whose parent is missing), then its rows copied from the
//!    old one; the new tables reference only new names;
//! 3. the old tables are dropped, those no remaining old table references first, so each drop's
//!    actions reach only old tables, or none.
//!
//! A table the plan drops is dropped after the rebuilds, once no kept table references it; a
//! drop that would still reach a kept table's rows is refused.

use std::collections::BTreeSet;

use super::{PlanError, Step, StepKind};
use crate::model::{Schema, Table};
use crate::sql::quote_ident_if_needed as q;

/// The name an old table of the group has between the phases.
pub(super) fn old_name(table: &str) -> String {
    format!("{}old_{table}", crate::inspect::OWN_PREFIX)
}

/// The tables `t` references, as written.
fn parents(t: &Table) -> impl Iterator<Item = &str> {
    t.foreign_keys
        .iter()
        .map(|f| f.references.as_str())
        .chain(t.columns.iter().filter_map(|c| c.references.as_ref().map(|r| r.table.as_str())))
}

/// Whether `child` references `parent` (names compared as SQLite does).
fn references(child: &Table, parent: &str) -> bool {
    parents(child).any(|p| p.eq_ignore_ascii_case(parent))
}

/// The group rebuilt with keys on (lower-cased names): the `rebuilt` tables some table of `have`
/// that `desired` keeps references, and every kept table that references one of the group.
pub(super) fn group(rebuilt: &BTreeSet<String>, have: &Schema, desired: &Schema) -> BTreeSet<String> {
    let kept: Vec<(&String, &Table)> = have.tables.iter().filter(|(n, _)| desired.table(n).is_some()).collect();
    let referenced = |name: &str| kept.iter().any(|(_, t)| references(t, name));
    let mut group: BTreeSet<String> =
        rebuilt.iter().filter(|n| referenced(n)).map(|n| n.to_ascii_lowercase()).collect();
    loop {
        let more: Vec<String> = kept
            .iter()
            .filter(|(n, t)| !group.contains(&n.to_ascii_lowercase()) && group.iter().any(|g| references(t, g)))
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        if more.is_empty() {
            return group;
        }
        group.extend(more);
    }
}

/// Rewrites the ordered `steps` for keys on: the group's rebuilds (each already creating its
/// table under its own name from its old one) get the renames before the first and the drops
/// after the last; drops of referenced tables move after the rebuilds, or are refused.
pub(super) fn arrange(mut steps: Vec<Step>, group: &BTreeSet<String>, have: &Schema) -> Result<Vec<Step>, PlanError> {
    let in_group = |s: &Step| s.kind == StepKind::RebuildTable && group.contains(&s.object.to_ascii_lowercase());
    let members: Vec<usize> = (0..steps.len()).filter(|&i| in_group(&steps[i])).collect();
    if let (Some(&first), Some(&last)) = (members.first(), members.last()) {
        let names: Vec<String> = members.iter().map(|&i| steps[i].object.clone()).collect();
        let mut head: Vec<String> =
            names.iter().map(|n| format!("ALTER TABLE {} RENAME TO {}", q(n), q(&old_name(n)))).collect();
        // Every new table exists before any row is copied: with keys on, SQLite cannot write a
        // row of a table whose parent table is missing.
        for &i in &members {
            head.push(steps[i].sql.remove(0));
            if let Some(r) = steps[i].row_read.as_mut() {
                r.statement -= 1;
            }
        }
        let s = &mut steps[first];
        if let Some(r) = s.row_read.as_mut() {
            r.statement += head.len();
        }
        s.sql.splice(0..0, head);
        steps[last]
            .sql
            .extend(drop_order(&names, have).into_iter().map(|n| format!("DROP TABLE {}", q(&old_name(&n)))));
    }
    // A dropped table that a kept one references goes after the rebuilds: by then the tables
    // that referenced it are rebuilt without it; one that is not rebuilt would lose its rows.
    let rebuilt: BTreeSet<String> =
        steps.iter().filter(|s| s.kind == StepKind::RebuildTable).map(|s| s.object.to_ascii_lowercase()).collect();
    let dropped: BTreeSet<String> =
        steps.iter().filter(|s| s.kind == StepKind::DropTable).map(|s| s.object.to_ascii_lowercase()).collect();
    let mut later = Vec::new();
    let mut kept_steps = Vec::new();
    for s in steps {
        if s.kind != StepKind::DropTable {
            kept_steps.push(s);
            continue;
        }
        let referencers: Vec<&String> = have
            .tables
            .iter()
            .filter(|(n, t)| !dropped.contains(&n.to_ascii_lowercase()) && references(t, &s.object))
            .map(|(n, _)| n)
            .collect();
        if referencers.is_empty() {
            kept_steps.push(s);
        } else if let Some(stays) = referencers.iter().find(|n| !rebuilt.contains(&n.to_ascii_lowercase())) {
            return Err(PlanError::KeysOn(format!(
                "dropping table `{}` would delete or change the rows of `{stays}`, which references it: this \
                 database's foreign keys cannot be turned off during a change",
                s.object
            )));
        } else {
            later.push(s);
        }
    }
    let at = kept_steps.iter().rposition(|s| s.kind <= StepKind::RebuildTable).map_or(0, |i| i + 1);
    kept_steps.splice(at..at, later);
    Ok(kept_steps)
}

/// The group's tables in the order their old copies are dropped: each once no other old table
/// left references it (a cycle is broken by name).
fn drop_order(names: &[String], have: &Schema) -> Vec<String> {
    let mut left: Vec<String> = names.to_vec();
    let mut order = Vec::new();
    while !left.is_empty() {
        let referenced = |n: &str| {
            left.iter().any(|o| !o.eq_ignore_ascii_case(n) && have.table(o).is_some_and(|(_, t)| references(t, n)))
        };
        let at = left.iter().position(|n| !referenced(n)).unwrap_or(0);
        order.push(left.remove(at));
    }
    order
}

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use crate::inspect::{inspect, InspectOptions};

    /// Runs `steps` as an engine with keys on does: `foreign_keys = ON`, deferred in the
    /// transaction.
    fn run_keys_on(conn: &Connection, sql: &[String]) -> rusqlite::Result<()> {
        conn.execute_batch("PRAGMA foreign_keys = ON; BEGIN; PRAGMA defer_foreign_keys = ON;")?;
        for s in sql {
            if let Err(e) = conn.execute_batch(s) {
                conn.execute_batch("ROLLBACK")?;
                return Err(e);
            }
        }
        conn.execute_batch("COMMIT")
    }

    const SCHEMA: &str = "
        CREATE TABLE parent (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
        CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id) ON DELETE CASCADE,
            up INTEGER REFERENCES child (id) ON DELETE SET NULL);
        CREATE INDEX child_parent ON child (parent_id);
        CREATE TABLE grandchild (id INTEGER PRIMARY KEY, child_id INTEGER NOT NULL REFERENCES child (id) ON DELETE RESTRICT);
        CREATE TABLE alone (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent (id));
        CREATE TRIGGER child_touch AFTER UPDATE ON child BEGIN UPDATE parent SET name = name WHERE id = NEW.parent_id; END;
        CREATE VIEW names AS SELECT p.name, c.id FROM parent p JOIN child c ON c.parent_id = p.id;
        INSERT INTO parent (name) VALUES ('a'), ('b'), ('c');
        DELETE FROM parent WHERE id = 3;
        INSERT INTO child VALUES (10, 1, NULL), (11, 1, 10), (12, 2, 11);
        INSERT INTO grandchild VALUES (100, 10), (101, 12);
        INSERT INTO alone VALUES (1, 2);";

    fn rows(conn: &Connection) -> Vec<String> {
        let q = "SELECT 'p', id, name FROM parent UNION ALL SELECT 'c', id, parent_id || '/' || coalesce(up, '-') FROM child \
                 UNION ALL SELECT 'g', id, CAST(child_id AS TEXT) FROM grandchild UNION ALL SELECT 'a', id, CAST(parent_id AS TEXT) FROM alone \
                 UNION ALL SELECT 's', seq, name FROM sqlite_sequence ORDER BY 1, 2";
        let mut stmt = conn.prepare(q).unwrap();
        let out = stmt
            .query_map([], |r| {
                Ok(format!("{}:{}:{}", r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?))
            })
            .unwrap();
        out.map(Result::unwrap).collect()
    }

    #[test]
    fn a_parent_rebuilt_with_keys_on_keeps_every_child_row_and_the_naive_plan_does_not() {
        let yaml = crate::to_yaml(
            &inspect(
                &{
                    let c = Connection::open_in_memory().unwrap();
                    c.execute_batch(SCHEMA).unwrap();
                    c
                },
                &InspectOptions::default(),
            )
            .unwrap(),
        )
        .unwrap()
        .replacen("name: name\n      type: TEXT", "name: name\n      type: TEXT\n      collate: NOCASE", 1);
        assert!(yaml.contains("collate: NOCASE"), "{yaml}");
        let desired = crate::load::desired(&crate::load::load_sources(&[("s.yaml", yaml.as_str())]).unwrap()).unwrap();
        for keys_on in [false, true] {
            let conn = Connection::open_in_memory().unwrap();
            conn.execute_batch(SCHEMA).unwrap();
            let seeded = rows(&conn);
            let before = inspect(&conn, &InspectOptions::default()).unwrap();
            let prepared = crate::migration::prepare_keys_on(before, &desired, (3, 45, 0), keys_on).unwrap();
            let sql: Vec<String> = prepared.forward.steps.iter().flat_map(|s| s.sql.clone()).collect();
            let ran = run_keys_on(&conn, &sql);
            if !keys_on {
                // The plan made for keys off: the drop of the parent reaches the children.
                assert!(ran.is_err() || rows(&conn) != seeded, "the naive plan kept the rows: {sql:#?}");
                continue;
            }
            ran.unwrap_or_else(|e| panic!("{e}: {sql:#?}"));
            assert_eq!(rows(&conn), seeded, "{sql:#?}");
            let after = inspect(&conn, &InspectOptions::default()).unwrap();
            assert!(crate::diff::diff(&after, &desired.without_hints()).is_empty(), "{sql:#?}");
            let fk: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
            assert_eq!(fk, 0);
            // The rollback, also with keys on, gives the first schema and rows back.
            let back: Vec<String> = prepared.rollback.steps.iter().flat_map(|s| s.sql.clone()).collect();
            run_keys_on(&conn, &back).unwrap_or_else(|e| panic!("{e}: {back:#?}"));
            assert_eq!(rows(&conn), seeded);
            let again = inspect(&conn, &InspectOptions::default()).unwrap();
            assert!(crate::diff::diff(&again, &prepared.before).is_empty());
        }
    }

    #[test]
    fn a_dropped_parent_goes_after_its_children_are_rebuilt_without_it() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        let before = inspect(&conn, &InspectOptions::default()).unwrap();
        // `alone` stops referencing `parent`, and... `parent` goes: refused, `child` still references it.
        let mut desired = before.clone();
        desired.tables.remove("parent");
        let e = crate::migration::prepare_keys_on(before.clone(), &desired, (3, 45, 0), true).unwrap_err();
        assert!(e.to_string().contains("dropping table `parent`"), "{e}");
    }
}
