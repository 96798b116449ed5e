//! `check`: the YAML schema validated without a database (in scratch in-memory ones), a summary
//! of what it declares, and its lint warnings. It opens no database file.

use std::path::Path;

use sqlite_reconcile::{lint, sarif};

use super::{load_schema, located, plural, print_stdout, warn};
use crate::cli::args::{CheckFormat, LintArgs};
use crate::cli::exit::{Failure, Outcome};
use crate::cli::settings::Settings;

/// Loads and validates `schema`, says what it holds, and warns about its lints.
pub(crate) fn run(st: &Settings, schema: &Path, lints: &LintArgs, format: CheckFormat) -> Result<Outcome, Failure> {
    let allow = st.allow_lints(lints)?;
    let (loaded, desired) = load_schema(st, schema)?;
    let s = &desired;
    let warnings = lint::schema(&desired, &allow);
    if let CheckFormat::Sarif = format {
        print_stdout(&sarif::log(&located(&loaded, &warnings), env!("CARGO_PKG_VERSION")));
    }
    if st.out.normal() {
        eprintln!(
            "{}: valid ({}, {}, {}, {}, {})",
            schema.display(),
            plural(s.tables.len(), "table", "tables"),
            plural(s.indexes().count(), "index", "indexes"),
            plural(s.views.len(), "view", "views"),
            plural(s.triggers.len(), "trigger", "triggers"),
            plural(s.virtual_tables.len(), "virtual table", "virtual tables")
        );
    }
    warn(st, &loaded, &warnings);
    Ok(Outcome::Ok)
}
