//! Facts: what the planner needs to know about a database beyond its schema: which tables and
//! views each view reads, and the engine's SQLite version.
//!
//! Read from a scratch in-memory copy of the inspected schema (its views and the tables they
//! name), with SQLite's authorizer reporting what preparing each view reads: the database itself
//! is never asked, so any engine that only answers SQL can be planned for. A view that cannot be
//! prepared, or a copy that cannot be built, leaves what it reads to its SQL text (a superset).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::Connection;

use crate::model::Schema;
use crate::normalize;
use crate::plan::Facts;
use crate::sql::quote_ident_if_needed as q;

/// The planner's facts about a database holding `schema` on SQLite `sqlite_version`.
pub fn of(schema: &Schema, sqlite_version: (u32, u32, u32)) -> Facts {
    let view_reads = view_reads(schema).unwrap_or_default();
    Facts { sqlite_version, view_reads, ..Facts::default() }
}

/// For each view that prepares in a scratch copy, the tables and views it reads.
fn view_reads(schema: &Schema) -> Result<BTreeMap<String, BTreeSet<String>>, rusqlite::Error> {
    if schema.views.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut scratch = normalize::scratch(schema)?;
    // Views read only what their SQL names; triggers are not needed to read them.
    let (mut linked, _) = normalize::split_linked(schema);
    linked.triggers.clear();
    if normalize::build(&scratch, &linked).is_err() {
        return Ok(BTreeMap::new());
    }
    normalize::with_stand_ins(&mut scratch, schema, |conn| authorized_reads(conn, schema))
}

fn authorized_reads(
    conn: &mut Connection,
    schema: &Schema,
) -> Result<BTreeMap<String, BTreeSet<String>>, rusqlite::Error> {
    let mut out = BTreeMap::new();
    for name in schema.views.keys() {
        let reads = Arc::new(Mutex::new(BTreeSet::new()));
        let sink = reads.clone();
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            if let AuthAction::Read { table_name, .. } = ctx.action {
                if let Ok(mut s) = sink.lock() {
                    s.insert(table_name.to_string());
                }
            }
            Authorization::Allow
        }))?;
        let prepared = conn.prepare(&format!("SELECT * FROM {}", q(name))).map(drop);
        conn.authorizer(None::<fn(AuthContext<'_>) -> Authorization>)?;
        if prepared.is_ok() {
            out.insert(name.clone(), reads.lock().map(|s| s.clone()).unwrap_or_default());
        }
    }
    Ok(out)
}
