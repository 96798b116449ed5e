//! `apply`: the change from the database to the schema (or a plan saved by `plan --out`),
//! shown and confirmed, run in one transaction by the library, recorded with its rollback. Only
//! the library writes the database; this file validates everything before the file is created.

use std::path::{Path, PathBuf};

use sqlite_reconcile::execute::Run;
use sqlite_reconcile::target::{LocalFile, Target as _};
use sqlite_reconcile::Prepared;

use super::{confirm, load_desired, prepare_on, report};
use crate::cli::args::{RunArgs, Target};
use crate::cli::exit::{Failure, Outcome};
use crate::cli::open::{db_failure, open_target, refuse_remote_change};
use crate::cli::settings::Settings;

/// Plans (or reads the `saved` plan), asks, applies and records the change, its files in `plans`.
pub(crate) fn run(
    st: &Settings,
    target: &Target,
    run: &RunArgs,
    saved: Option<&Path>,
    plans: &Option<PathBuf>,
) -> Result<Outcome, Failure> {
    let db = st.db(&target.db);
    refuse_remote_change(&db)?;
    let timeout = st.busy_timeout();
    // Validate everything before the database file is created.
    let (mut conn, prepared) = match saved {
        Some(path) => {
            let prepared = read_saved(path)?;
            (open_target(&db, timeout)?, prepared)
        }
        None => {
            let desired = load_desired(st, &st.schema(&target.schema))?;
            let mut conn = open_target(&db, timeout)?;
            let prepared = prepare_on(st, &mut conn, &db, &desired)?;
            (conn, prepared)
        }
    };
    if prepared.is_empty() {
        if st.out.normal() {
            match saved {
                Some(p) => eprintln!("{}: the saved plan {} has nothing to do", db.display(), p.display()),
                None => {
                    eprintln!("{}: in sync with {}; nothing to do", db.display(), st.schema(&target.schema).display())
                }
            }
        }
        return Ok(Outcome::Ok);
    }
    confirm(st, &prepared.forward, "Apply", &db, run)?;
    let options = st.apply(run);
    let plans = st.plans(plans);
    let failure = |e: sqlite_reconcile::Error| db_failure(&db, timeout, e);
    let mut target = LocalFile::new(&mut conn).map_err(|e| failure(e.into()))?;
    let r = target
        .execute(&prepared, &Run { kind: "apply", options, plans: Some(plans), ..Run::default() })
        .map_err(failure)?;
    report(st, &r, "applied");
    Ok(Outcome::Ok)
}

/// Reads a plan saved by `plan --out`.
fn read_saved(path: &Path) -> Result<Prepared, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::Error(format!("{}: {e}", path.display())))?;
    let prepared: Prepared = serde_json::from_str(&text)
        .map_err(|e| Failure::Error(format!("{}: not a saved plan: {e}", path.display())))?;
    if prepared.format != sqlite_reconcile::migration::FORMAT_VERSION {
        return Err(Failure::Error(format!(
            "{}: saved plan format {} is not the supported format {}",
            path.display(),
            prepared.format,
            sqlite_reconcile::migration::FORMAT_VERSION
        )));
    }
    Ok(prepared)
}
