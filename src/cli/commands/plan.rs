//! `plan`: the ordered steps that would bring the database to the schema, as text (stderr), SQL
//! or JSON (stdout), with lint warnings; `--out` also saves the change for `apply --plan`. It
//! never writes the database, nor creates it: a missing file is planned against as empty.

use std::path::Path;

use rusqlite::Connection;

use sqlite_reconcile::{lint, render, Prepared};

use super::{load_schema, plan_text, prepare_on, print_stdout, warn, write_output};
use crate::cli::args::{Format, LintArgs, Target};
use crate::cli::exit::{Failure, Outcome};
use crate::cli::open::{db_failure, open_existing_read_only, open_server};
use crate::cli::settings::Settings;

/// Plans the change from the database to the schema, shows it in `format`, saves it to `out`.
pub(crate) fn run(
    st: &Settings,
    target: &Target,
    lints: &LintArgs,
    format: Format,
    out: Option<&Path>,
) -> Result<Outcome, Failure> {
    let (db, schema) = (st.db(&target.db), st.schema(&target.schema));
    let allow = st.allow_lints(lints)?;
    let (loaded, desired) = load_schema(st, &schema)?;
    let prepared = prepare(st, &db, &desired)?;
    let plan = &prepared.forward;
    match format {
        Format::Text => eprint!("{}", plan_text(st, plan)),
        Format::Sql => print_stdout(&render::sql(plan)),
        Format::Json => print_stdout(&render::json(plan)),
    }
    warn(st, &loaded, &lint::plan(&prepared.before, &desired, &allow));
    if let Some(out) = out {
        let json = serde_json::to_string_pretty(&prepared).map_err(Failure::error)? + "\n";
        write_output(out, json.as_bytes())?;
        if st.out.normal() {
            eprintln!("saved the plan to {} (against schema {})", out.display(), prepared.fingerprint_before);
        }
    }
    Ok(Outcome::Ok)
}

/// Plans against the database, or against an empty one when the file does not exist yet
/// (planning never creates the file).
fn prepare(st: &Settings, db: &Path, desired: &sqlite_reconcile::Schema) -> Result<Prepared, Failure> {
    if let Some(mut server) = open_server(db, st.auth_token().as_deref())? {
        // The target plans for what it is (an rqlite node with `-fk` keeps its keys on).
        let failure = |e: sqlite_reconcile::Error| db_failure(db, st.busy_timeout(), e);
        return server.prepare(desired, &st.inspect()).map_err(failure);
    }
    let mut conn = if db.exists() {
        open_existing_read_only(db, st.busy_timeout())?
    } else {
        Connection::open_in_memory().map_err(Failure::error)?
    };
    prepare_on(st, &mut conn, db, desired)
}
