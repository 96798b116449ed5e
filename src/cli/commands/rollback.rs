//! `rollback`: the last applied change (the one named, every one newer than `--to ID`, or the
//! last `--steps N`) undone with the stored rollback plans in one transaction, shown and
//! confirmed first. The library refuses a database whose schema is no longer the one
//! the change produced; this file only asks and reports. It never creates the database.

use std::path::Path;

use sqlite_reconcile::history::{self, Undo};
use sqlite_reconcile::target::{LocalFile, Target};

use super::{confirm, report};
use crate::cli::args::RunArgs;
use crate::cli::exit::{Failure, Outcome};
use crate::cli::open::{db_failure, open_server, open_target};
use crate::cli::settings::Settings;

/// Undoes the changes `which` names in `db` (a file, or a libSQL server).
pub(crate) fn run(st: &Settings, db: &Path, which: Undo<'_>, run: &RunArgs) -> Result<Outcome, Failure> {
    let timeout = st.busy_timeout();
    let failure = |e: sqlite_reconcile::Error| db_failure(db, timeout, e);
    if let Some(mut server) = open_server(db, st.auth_token().as_deref())? {
        return undo(st, db, which, run, &mut *server);
    }
    if !db.exists() {
        return Err(Failure::Error(format!("{}: no such database file", db.display())));
    }
    let mut conn = open_target(db, timeout)?;
    let mut target = LocalFile::new(&mut conn).map_err(|e| failure(e.into()))?;
    undo(st, db, which, run, &mut target)
}

fn undo(st: &Settings, db: &Path, which: Undo<'_>, run: &RunArgs, target: &mut dyn Target) -> Result<Outcome, Failure> {
    let failure = |e: sqlite_reconcile::Error| db_failure(db, st.busy_timeout(), e);
    let changes = history::rollback_targets(target, which).map_err(failure)?;
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
