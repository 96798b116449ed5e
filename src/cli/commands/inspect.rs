//! `inspect`: an existing database's schema as YAML, on stdout or into `-o FILE`. It opens the
//! database read-only and never creates it.

use std::path::Path;
use std::time::Instant;

use sqlite_reconcile::inspect;

use super::{print_stdout, write_output};
use crate::cli::exit::{Failure, Outcome};
use crate::cli::open::{db_failure, open_for_reading};
use crate::cli::settings::Settings;

/// Inspects `db` and prints its schema as YAML, or writes it to `output`.
pub(crate) fn run(st: &Settings, db: &Path, output: Option<&Path>) -> Result<Outcome, Failure> {
    let t = Instant::now();
    let timeout = st.busy_timeout();
    let conn = open_for_reading(db, timeout, st.auth_token().as_deref())?;
    let schema = inspect(&conn, &st.inspect()).map_err(|e| db_failure(db, timeout, e.into()))?;
    st.timed(&format!("inspected {}", db.display()), t);
    let yaml = sqlite_reconcile::to_yaml(&schema).map_err(Failure::error)?;
    match output {
        Some(path) => write_output(path, yaml.as_bytes())?,
        None => print_stdout(&yaml),
    }
    Ok(Outcome::Ok)
}
