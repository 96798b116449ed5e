//! Normalize: a desired `Schema` → built in a scratch in-memory SQLite → inspected.
//!
//! Both sides of a comparison then come from the same `inspect` code, so the
//! way a schema was spelled never shows up as a difference. Building the
//! schema is also its validation: SQLite's own error, placed at the object
//! that caused it. Migration hints are carried over from the input.

use rusqlite::Connection;

use crate::inspect::{inspect, InspectOptions};
use crate::model::Schema;
use crate::sql::{ddl, view_create_sql};

/// A statement of the scratch build, with the YAML path of the object it creates.
#[derive(Debug, Clone)]
pub struct ObjectSql {
    /// YAML path of the object, e.g. `tables.feed` or `tables.feed.indexes.ix_a`.
    pub path: String,
    /// The CREATE statement.
    pub sql: String,
}

/// SQLite rejected an object of the desired schema.
#[derive(Debug, thiserror::Error)]
#[error("`{path}`: SQLite rejects it: {message}\n  in: {sql}")]
pub struct BuildError {
    /// YAML path of the object.
    pub path: String,
    /// SQLite's message.
    pub message: String,
    /// The statement that failed.
    pub sql: String,
}

/// Errors of `desired`.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    /// An object failed to build.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Opening or inspecting the scratch database failed.
    #[error("scratch database: {0}")]
    Inspect(#[from] crate::inspect::InspectError),
    /// Opening the scratch database failed.
    #[error("scratch database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// The CREATE statements of a schema in an order that builds: tables, virtual
/// tables, indexes, views, triggers.
pub fn create_statements(schema: &Schema) -> (Vec<ObjectSql>, Vec<ObjectSql>) {
    let mut first = Vec::new();
    for (name, t) in &schema.tables {
        first.push(ObjectSql { path: format!("tables.{name}"), sql: ddl::create_table(name, t) });
    }
    for (name, v) in &schema.virtual_tables {
        first.push(ObjectSql { path: format!("virtual_tables.{name}"), sql: v.sql.clone() });
    }
    for (name, table, i) in schema.indexes() {
        first
            .push(ObjectSql { path: format!("tables.{table}.indexes.{name}"), sql: ddl::create_index(name, table, i) });
    }
    // Views and triggers may read each other; `build` retries them until they settle.
    let mut later = Vec::new();
    for (name, v) in &schema.views {
        later.push(ObjectSql { path: format!("views.{name}"), sql: view_create_sql(name, &v.sql) });
    }
    for (name, t) in &schema.triggers {
        later.push(ObjectSql { path: format!("triggers.{name}"), sql: t.sql.clone() });
    }
    (first, later)
}

/// Executes the schema's statements on `conn`; views and triggers are retried
/// in rounds so one that reads another is created after it.
pub fn build(conn: &Connection, schema: &Schema) -> Result<(), BuildError> {
    let (first, later) = create_statements(schema);
    for o in &first {
        exec_one(conn, o)?;
    }
    let mut pending = later;
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut first_err = None;
        for o in pending.iter() {
            match exec_one(conn, o) {
                Ok(()) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                    failed.push(o.clone());
                }
            }
        }
        if failed.len() == pending.len() {
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        pending = failed;
    }
    Ok(())
}

fn exec_one(conn: &Connection, o: &ObjectSql) -> Result<(), BuildError> {
    execute_one(conn, &o.sql).map_err(|e| BuildError {
        path: o.path.clone(),
        message: sqlite_message(&e),
        sql: o.sql.clone(),
    })
}

/// Runs exactly one SQL statement; text holding a second one is refused before anything runs, so no
/// text that reaches a statement (a name, a type, an expression) can ever add another.
pub fn execute_one(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.raw_query();
    while rows.next()?.is_some() {}
    Ok(())
}

/// SQLite's own message without rusqlite's decoration.
pub fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        rusqlite::Error::MultipleStatement => "more than one SQL statement where one is expected".to_string(),
        other => other.to_string(),
    }
}

/// Builds `schema` in a scratch in-memory database and inspects it back,
/// keeping the input's migration hints.
pub fn desired(schema: &Schema) -> Result<Schema, NormalizeError> {
    let conn = Connection::open_in_memory()?;
    build(&conn, schema)?;
    let mut out = inspect(&conn, &InspectOptions::default())?;
    copy_hints(schema, &mut out);
    Ok(out)
}

/// Copies `renamed_from`, `convert` and `backfill` from `from` onto the same objects in `to`.
pub fn copy_hints(from: &Schema, to: &mut Schema) {
    for (name, t) in &from.tables {
        let Some(dst) = to.tables.get_mut(name) else { continue };
        dst.renamed_from = t.renamed_from.clone();
        for c in &t.columns {
            if let Some(dc) = dst.columns.iter_mut().find(|d| d.name == c.name) {
                dc.renamed_from = c.renamed_from.clone();
                dc.convert = c.convert.clone();
                dc.backfill = c.backfill.clone();
            }
        }
        for (iname, i) in &t.indexes {
            if let Some(di) = dst.indexes.get_mut(iname) {
                di.renamed_from = i.renamed_from.clone();
            }
        }
    }
}
