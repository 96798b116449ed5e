//! An application that reconciles its database at startup, then serves.
//!
//! Run: `cargo run --example startup -- app.db`
//!
//! The schema travels inside the binary (`include_str!`). Safe and
//! data-dependent changes apply by themselves; a destructive one stops the
//! start with a typed error, for a person to apply with `reconcile apply
//! --allow-destructive`. Every applied change is recorded in the database's
//! history with its rollback, so `reconcile rollback` can undo it.
//! (`--schema DIR` reads the schema from a directory instead, to try a change
//! without rebuilding.)

use std::process::ExitCode;

use rusqlite::Connection;
use sqlite_reconcile::{Error, Policy, Reconciler, Refusal};

/// The schema embedded in the binary.
const SCHEMA: &[(&str, &str)] =
    &[("app.yaml", include_str!("../schema/app.yaml")), ("logic.yaml", include_str!("../schema/logic.yaml"))];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let schema_dir = args.iter().position(|a| a == "--schema").and_then(|i| args.get(i + 1)).cloned();
    let path = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--schema"))
        .map(|(_, a)| a.clone())
        .unwrap_or_else(|| "app.db".to_string());
    match start(&path, schema_dir.as_deref()) {
        Ok(conn) => serve(conn),
        Err(Error::Refused(e @ Refusal::Destructive(_))) => {
            eprintln!("startup stopped: {e}");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("startup failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Opens the database and brings its schema up to date.
pub fn start(path: &str, schema_dir: Option<&str>) -> Result<Connection, Error> {
    let reconciler = match schema_dir {
        Some(dir) => Reconciler::from_dir(dir)?,
        None => Reconciler::from_sources(SCHEMA)?,
    }
    .policy(Policy::default());
    let mut conn = Connection::open(path)?;
    let report = reconciler.reconcile(&mut conn)?;
    match &report.id {
        None => eprintln!("{path}: schema up to date"),
        Some(id) => eprintln!("{path}: applied {} ({}) in {:?} as {id}", report.summary, report.steps, report.elapsed),
    }
    Ok(conn)
}

/// Where the application's work would begin.
fn serve(conn: Connection) -> ExitCode {
    match conn.query_row("SELECT count(*) FROM sqlite_schema WHERE type = 'table'", [], |r| r.get::<_, i64>(0)) {
        Ok(n) => {
            eprintln!("serving with {n} tables");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}
