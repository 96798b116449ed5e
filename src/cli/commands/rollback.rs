//! `rollback`: the last applied change (or the one named) undone with its stored rollback plan,
//! shown and confirmed first. The library refuses a database whose schema is no longer the one
//! the change produced; this file only asks and reports. It never creates the database.

use std::path::Path;

use sqlite_reconcile::{execute, history};

use super::{confirm, report};
use crate::cli::args::RunArgs;
use crate::cli::exit::{Failure, Outcome};
use crate::cli::open::{db_failure, open_target};
use crate::cli::settings::Settings;

/// Undoes change `id` (the last applied without one) in `db`.
pub(crate) fn run(st: &Settings, db: &Path, id: Option<&str>, run: &RunArgs) -> Result<Outcome, Failure> {
    if !db.exists() {
        return Err(Failure::Error(format!("{}: no such database file", db.display())));
    }
    let timeout = st.busy_timeout();
    let mut conn = open_target(db, timeout)?;
    let (entry, original) = history::rollback_target(&conn, id).map_err(|e| db_failure(db, timeout, e))?;
    if st.out.normal() {
        eprintln!("rolling back {} ({}, applied {})", entry.id, entry.summary, entry.applied_at);
    }
    confirm(st, &original.rollback, "Roll back with", db, run)?;
    let r = execute::rollback_change(&mut conn, &entry, &original, st.apply(run))
        .map_err(|e| db_failure(db, timeout, e))?;
    report(st, &r, "rolled back with");
    Ok(Outcome::Ok)
}
