//! Engine: what a database is, as the pipeline reaches it: [`Sql`] to read it, [`Engine`] to
//! say what it can do. The low half of the target seam (`target` is the other).
//!
//! Everything the pipeline learns from a database comes through [`Sql`]: queries whose rows
//! are plain values, so any engine that speaks SQLite's SQL (a local file through `rusqlite`
//! today; a libSQL server or rqlite over HTTP) can be inspected the same way, in a bounded
//! number of queries. [`Engine`] says what the engine is and what it can do during a change,
//! which decides how a plan may run there. Invariant: nothing here writes.

use rusqlite::types::Value;
use rusqlite::Connection;

/// Reading a database through SQL alone.
pub trait Sql {
    /// The rows of one read-only query, with its positional parameters, in the order the
    /// query gives. Errors are SQLite's (an engine reached over a network reports SQLite's
    /// codes and messages the same way).
    fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, rusqlite::Error>;

    /// The rows of several read-only queries, read from one snapshot of the database where the
    /// engine can give one (a local connection reads them in one read transaction), so that
    /// another connection's commit between them cannot make them disagree.
    fn snapshot(&self, queries: &[&str]) -> Result<Vec<Vec<Vec<Value>>>, rusqlite::Error> {
        queries.iter().map(|q| self.rows(q, &[])).collect()
    }

    /// The engine's SQLite version as (major, minor, patch). Asked with a query; an engine that
    /// already knows it (a server asked when connecting) answers without one.
    fn sqlite_version(&self) -> Result<(u32, u32, u32), rusqlite::Error> {
        let rows = self.rows("SELECT sqlite_version()", &[])?;
        Ok(parse_version(match rows.first().and_then(|r| r.first()) {
            Some(Value::Text(v)) => v,
            _ => "",
        }))
    }
}

/// Writing through SQL: the statements of a change and its bookkeeping, inside its transaction,
/// on the connection (or the stream) the change holds.
pub trait Write: Sql {
    /// Runs one statement with its positional parameters.
    fn run(&self, sql: &str, params: &[Value]) -> Result<(), rusqlite::Error>;
}

impl Write for Connection {
    fn run(&self, sql: &str, params: &[Value]) -> Result<(), rusqlite::Error> {
        self.prepare_cached(sql)?.execute(rusqlite::params_from_iter(params)).map(drop)
    }
}

/// `3.45.1` as (3, 45, 1); what is not a number reads as 0.
pub fn parse_version(text: &str) -> (u32, u32, u32) {
    let mut it = text.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0), it.next().unwrap_or(0))
}

impl Sql for Connection {
    fn snapshot(&self, queries: &[&str]) -> Result<Vec<Vec<Vec<Value>>>, rusqlite::Error> {
        if !self.is_autocommit() {
            return queries.iter().map(|q| self.rows(q, &[])).collect();
        }
        self.execute_batch("BEGIN")?;
        let read: Result<Vec<_>, _> = queries.iter().map(|q| self.rows(q, &[])).collect();
        let end = self.execute_batch("COMMIT");
        let read = read?;
        end?;
        Ok(read)
    }

    fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
        let mut stmt = self.prepare_cached(sql)?;
        let width = stmt.column_count();
        let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push((0..width).map(|i| r.get::<_, Value>(i)).collect::<Result<_, _>>()?);
        }
        Ok(out)
    }
}

/// How an engine can keep foreign keys from acting while a change rebuilds tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignKeyHold {
    /// `PRAGMA foreign_keys = OFF` before `BEGIN`, in the same session as the change.
    PerSession,
    /// Only `PRAGMA defer_foreign_keys = ON` inside the change: keys stay on.
    DeferOnly,
}

/// How an engine runs a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transactions {
    /// `BEGIN IMMEDIATE`, statements, reads inside the transaction, then `COMMIT` or `ROLLBACK`.
    Interactive,
    /// One request whose statements commit or roll back together; nothing can be read
    /// between them.
    OneRequest,
}

/// What the engine is and what it supports during a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    /// A name for messages: `SQLite (local file)`, ...
    pub name: String,
    /// The engine's SQLite version as (major, minor, patch): planning uses it.
    pub sqlite_version: (u32, u32, u32),
    /// How a change runs.
    pub transactions: Transactions,
    /// How foreign keys are held off during a change.
    pub foreign_keys: ForeignKeyHold,
    /// Whether another database file can be attached (a change's backup file).
    pub attach: bool,
    /// Whether functions of this process can be registered on the connection.
    pub functions: bool,
}

impl Engine {
    /// A local file (or in-memory database) opened with `rusqlite`: everything is possible.
    pub fn local(db: &impl Sql) -> Result<Engine, rusqlite::Error> {
        Ok(Engine {
            name: "SQLite (local file)".to_string(),
            sqlite_version: sqlite_version(db)?,
            transactions: Transactions::Interactive,
            foreign_keys: ForeignKeyHold::PerSession,
            attach: true,
            functions: true,
        })
    }
}

/// The SQLite library version of a database's engine, as (major, minor, patch).
pub fn sqlite_version(db: &(impl Sql + ?Sized)) -> Result<(u32, u32, u32), rusqlite::Error> {
    db.sqlite_version()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_local_connection_reads_rows_and_says_what_it_is() {
        let c = Connection::open_in_memory().unwrap();
        let rows = c.rows("SELECT ?1 + 1, 'x', NULL", &[Value::Integer(41)]).unwrap();
        assert_eq!(rows, vec![vec![Value::Integer(42), Value::Text("x".into()), Value::Null]]);
        let e = Engine::local(&c).unwrap();
        assert!(e.sqlite_version >= (3, 45, 0), "{e:?}");
        assert_eq!(e.transactions, Transactions::Interactive);
    }
}
