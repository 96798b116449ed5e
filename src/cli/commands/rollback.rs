//! `rollback`: the last applied change (or the one named) undone with its stored rollback plan,
//! shown and confirmed first. The library refuses a database whose schema is no longer the one
//! the change produced; this file only asks and reports. It never creates the database.

use std::path::Path;

use sqlite_reconcile::history;
use sqlite_reconcile::target::{LocalFile, Target as _};

use super::{confirm, report};
use crate::cli::args::RunArgs;
use crate::cli::exit::{Failure, Outcome};
use crate::cli::open::{db_failure, open_target, refuse_remote_change};
use crate::cli::settings::Settings;

/// Undoes change `id` (the last applied without one) in `db`.
pub(crate) fn run(st: &Settings, db: &Path, id: Option<&str>, run: &RunArgs) -> Result<Outcome, Failure> {
    refuse_remote_change(db)?;
    if !db.exists() {
        return Err(Failure::Error(format!("{}: no such database file", db.display())));
    }
    let timeout = st.busy_timeout();
    let mut conn = open_target(db, timeout)?;
    let failure = |e: sqlite_reconcile::Error| db_failure(db, timeout, e);
    let mut target = LocalFile::new(&mut conn).map_err(|e| failure(e.into()))?;
    let (entry, original) = history::rollback_target(&target, id).map_err(failure)?;
    if st.out.normal() {
        eprintln!("rolling back {} ({}, applied {})", entry.id, entry.summary, entry.applied_at);
    }
    confirm(st, &original.rollback, "Roll back with", db, run)?;
    let r = target.rollback(&entry, &original, st.apply(run)).map_err(failure)?;
    report(st, &r, "rolled back with");
    Ok(Outcome::Ok)
}
