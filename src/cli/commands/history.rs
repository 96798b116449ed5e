//! `history`: the changes recorded in the database's history table, newest first, as text or
//! JSON on stdout. It opens the database read-only and never creates it.

use std::path::Path;

use sqlite_reconcile::render;

use super::print_stdout;
use crate::cli::args::ListFormat;
use crate::cli::exit::{Failure, Outcome};
use crate::cli::open::{db_failure, open_for_reading};
use crate::cli::settings::Settings;

/// Lists the changes applied to `db` in `format`.
pub(crate) fn run(st: &Settings, db: &Path, format: ListFormat) -> Result<Outcome, Failure> {
    let timeout = st.busy_timeout();
    let conn = open_for_reading(db, timeout, st.auth_token().as_deref())?;
    let entries = sqlite_reconcile::history::history(&conn).map_err(|e| db_failure(db, timeout, e.into()))?;
    match format {
        ListFormat::Json => print_stdout(&render::history_json(&entries)),
        ListFormat::Text => {
            if entries.is_empty() && st.out.normal() {
                eprintln!("{}: no changes recorded", db.display());
            }
            let mut out = String::new();
            for e in &entries {
                let undo = e.rolls_back.as_deref().map(|r| format!(" (undoes {r})")).unwrap_or_default();
                out.push_str(&format!(
                    "{}  {}  {:<8} {:<11} {} -> {}  {}{undo}\n",
                    e.id, e.applied_at, e.kind, e.outcome, e.fingerprint_before, e.fingerprint_after, e.summary
                ));
            }
            print_stdout(&out);
        }
    }
    Ok(Outcome::Ok)
}
