//! `rollback`: the last applied change (the one named, every one newer than `--to ID`, or the
//! last `--steps N`) undone with the stored rollback plans in one transaction, shown and
//! confirmed first. The library refuses a database whose schema is no longer the one
//! the change produced; this file only asks and reports. It never creates the database.

use std::path::Path;

use sqlite_reconcile::history::{self, Undo};
use sqlite_reconcile::target::{LocalFile, Target as _};

use super::{confirm, report};
use crate::cli::args::RunArgs;
use crate::cli::exit::{Failure, Outcome};
use crate::cli::open::{db_failure, open_target, refuse_remote_change};
use crate::cli::settings::Settings;

/// Undoes the changes `which` names in `db`.
pub(crate) fn run(st: &Settings, db: &Path, which: Undo<'_>, run: &RunArgs) -> Result<Outcome, Failure> {
    refuse_remote_change(db)?;
    if !db.exists() {
        return Err(Failure::Error(format!("{}: no such database file", db.display())));
    }
    let timeout = st.busy_timeout();
    let mut conn = open_target(db, timeout)?;
    let failure = |e: sqlite_reconcile::Error| db_failure(db, timeout, e);
    let mut target = LocalFile::new(&mut conn).map_err(|e| failure(e.into()))?;
    let changes = history::rollback_targets(&target, which).map_err(failure)?;
    let mut plan = sqlite_reconcile::plan::Plan::default();
    for (entry, original) in &changes {
        if st.out.normal() {
            eprintln!("rolling back {} ({}, applied {})", entry.id, entry.summary, entry.applied_at);
        }
        plan.changes.extend(original.rollback.changes.iter().cloned());
        plan.steps.extend(original.rollback.steps.iter().cloned());
    }
    confirm(st, &plan, "Roll back with", db, run)?;
    let r = target.rollback(&changes, st.apply(run)).map_err(failure)?;
    report(st, &r, "rolled back with");
    Ok(Outcome::Ok)
}
