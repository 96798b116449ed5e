//! `drift`: the database compared with the schema, the differences listed as text (stderr) or
//! JSON (stdout); drift is an `Outcome`, not a failure, and `exit` makes it exit 2. It opens the
//! database read-only and never creates it.

use std::time::Instant;

use sqlite_reconcile::{inspect, render};

use super::{load_desired, plural, print_stdout};
use crate::cli::args::{DriftFormat, Target};
use crate::cli::exit::{Failure, Outcome};
use crate::cli::open::{db_failure, open_for_reading};
use crate::cli::settings::Settings;

/// Compares the database with the schema: `Outcome::Drift` when they differ.
pub(crate) fn run(st: &Settings, target: &Target, format: DriftFormat) -> Result<Outcome, Failure> {
    let (db, schema) = (st.db(&target.db), st.schema(&target.schema));
    let desired = load_desired(st, &schema)?;
    let t = Instant::now();
    let timeout = st.busy_timeout();
    let conn = open_for_reading(&db, timeout, st.auth_token().as_deref())?;
    let actual = inspect(&conn, &st.inspect()).map_err(|e| db_failure(&db, timeout, e.into()))?;
    st.timed(&format!("inspected {}", db.display()), t);
    let t = Instant::now();
    let changes = sqlite_reconcile::diff::diff(&actual, &desired);
    st.timed("compared", t);
    match format {
        DriftFormat::Json => print_stdout(&render::drift_json(&db, &schema, &changes)),
        DriftFormat::Markdown => print_stdout(&sqlite_reconcile::markdown::drift(
            &db.display().to_string(),
            &schema.display().to_string(),
            &changes,
        )),
        DriftFormat::Text if st.out.normal() => {
            if changes.is_empty() {
                eprintln!("{}: in sync with {}", db.display(), schema.display());
            } else {
                let n = plural(changes.len(), "difference", "differences");
                eprintln!("{}: {n} from {}:", db.display(), schema.display());
                for c in &changes {
                    eprintln!("  {c}");
                }
            }
        }
        DriftFormat::Text => {}
    }
    Ok(if changes.is_empty() { Outcome::Ok } else { Outcome::Drift })
}
