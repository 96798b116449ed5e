//! Target: the one seam a database is changed through. A [`Target`] reads through SQL
//! ([`Sql`]), says what its engine is and can do ([`Engine`]), plans a change against itself and
//! runs a prepared change (or a recorded change's rollback) as one atomic unit with its
//! bookkeeping: the history row and the values a change drops live where the engine keeps them.
//!
//! [`LocalFile`], a file (or in-memory database) opened with `rusqlite`, is the first
//! implementation; its change runs through `apply` and `execute`, with foreign keys held off for
//! the session, the backup file beside the database and the plan files under `plans/`. An engine
//! reached over a network implements the same trait with what it can do (see [`Engine`]).

use rusqlite::types::Value;
use rusqlite::Connection;

use crate::apply::ApplyOptions;
use crate::engine::{Engine, Sql};
use crate::error::Error;
use crate::execute::{self, Report, Run};
use crate::history::{self, HistoryEntry};
use crate::inspect::InspectOptions;
use crate::migration::{self, Prepared};
use crate::model::Schema;

/// A database a change can be planned against and applied to.
pub trait Target: Sql {
    /// What the engine is and what it can do during a change.
    fn engine(&self) -> &Engine;

    /// Plans the change to `desired` (a normalized schema): the forward plan, its rollback and
    /// the values to keep, from the schema read through [`Sql`] and the engine's version.
    fn prepare(&mut self, desired: &Schema, opts: &InspectOptions) -> Result<Prepared, Error>;

    /// Runs `prepared` as one atomic unit, verified, recorded in the history with its rollback;
    /// refused, with nothing run, when the schema is no longer the one it was planned against.
    fn execute(&mut self, prepared: &Prepared, run: &Run) -> Result<Report, Error>;

    /// Rolls back `changes`, recorded changes newest first (see [`history::rollback_targets`]),
    /// as one atomic unit.
    fn rollback(&mut self, changes: &[(HistoryEntry, Prepared)], options: ApplyOptions) -> Result<Report, Error>;

    /// The changes recorded in the database, newest first, read through [`Sql`].
    fn history(&self) -> Result<Vec<HistoryEntry>, Error> {
        Ok(history::history(self)?)
    }
}

/// [`execute::reset`] on any target: every managed object dropped, `desired` built, `seed` run,
/// in one change (on a libSQL server the seed runs in the change's stream).
pub fn reset(
    target: &mut dyn Target,
    desired: &Schema,
    seed: Option<&str>,
    options: ApplyOptions,
) -> Result<Report, Error> {
    let before = crate::inspect::inspect(&*target, &options.inspect)?;
    let prepared = execute::reset_change(before, target.engine().sqlite_version, desired, seed)?;
    target.execute(&prepared, &execute::reset_run(options))
}

/// A local database file (or an in-memory database) opened with `rusqlite`.
pub struct LocalFile<'c> {
    conn: &'c mut Connection,
    engine: Engine,
}

impl<'c> LocalFile<'c> {
    /// The target behind `conn`; reads its SQLite version.
    pub fn new(conn: &'c mut Connection) -> Result<LocalFile<'c>, rusqlite::Error> {
        let engine = Engine::local(&*conn)?;
        Ok(LocalFile { conn, engine })
    }

    /// The connection, for what only a local file has (its path, the backup file beside it).
    pub fn connection(&mut self) -> &mut Connection {
        self.conn
    }
}

impl Sql for LocalFile<'_> {
    fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
        self.conn.rows(sql, params)
    }

    fn snapshot(&self, queries: &[&str]) -> Result<Vec<Vec<Vec<Value>>>, rusqlite::Error> {
        self.conn.snapshot(queries)
    }
}

impl Target for LocalFile<'_> {
    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn prepare(&mut self, desired: &Schema, opts: &InspectOptions) -> Result<Prepared, Error> {
        migration::prepare(self.conn, desired, opts)
    }

    fn execute(&mut self, prepared: &Prepared, run: &Run) -> Result<Report, Error> {
        execute::execute(self.conn, prepared, run)
    }

    fn rollback(&mut self, changes: &[(HistoryEntry, Prepared)], options: ApplyOptions) -> Result<Report, Error> {
        execute::rollback_changes(self.conn, changes, options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_file_plans_applies_records_and_rolls_back_through_the_seam() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("app.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT); INSERT INTO t VALUES (1, 'x');").unwrap();
        let yaml = "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: a, type: TEXT, collate: NOCASE }\n";
        let desired = crate::load::desired(&crate::load::load_sources(&[("t.yaml", yaml)]).unwrap()).unwrap();
        let mut target = LocalFile::new(&mut conn).unwrap();
        assert!(target.engine().sqlite_version >= (3, 45, 0));
        let prepared = target.prepare(&desired, &InspectOptions::default()).unwrap();
        assert_eq!(prepared.forward.steps.len(), 1, "{:#?}", prepared.forward.steps);
        let run = Run { kind: "apply", ..Run::default() };
        let report = target.execute(&prepared, &run).unwrap();
        let history = target.history().unwrap();
        assert_eq!(history.len(), 1);
        assert_eq!(Some(&history[0].id), report.id.as_ref());
        assert!(target.prepare(&desired, &InspectOptions::default()).unwrap().is_empty(), "in sync after the apply");
        let changes = history::rollback_targets(&target, history::Undo::Newest).unwrap();
        target.rollback(&changes, ApplyOptions::default()).unwrap();
        let collation = target.rows("SELECT sql FROM sqlite_schema WHERE name = 't'", &[]).unwrap();
        assert!(matches!(&collation[0][0], Value::Text(sql) if !sql.contains("NOCASE")), "{collation:?}");
        let rows = target.rows("SELECT id, a FROM t", &[]).unwrap();
        assert_eq!(rows, vec![vec![Value::Integer(1), Value::Text("x".into())]]);
    }
}
