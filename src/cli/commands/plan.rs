//! `plan`: the ordered steps that would bring the database to the schema, as text (stderr), SQL
//! or JSON (stdout), with lint warnings; `--out` also saves the change for `apply --plan`. It
//! never writes the database, nor creates it: a missing file is planned against as empty.

use std::path::Path;

use rusqlite::Connection;

use sqlite_reconcile::cascade::{self, Parent};
use sqlite_reconcile::engine::{ForeignKeyHold, Sql};
use sqlite_reconcile::{lint, markdown, render, sarif, Prepared};

use super::{load_schema, located, prepare_on, print_stdout, warn, write_output};
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
    let (prepared, cascade) = prepare(st, &db, &desired)?;
    let plan = &prepared.forward;
    let lints = lint::plan(&prepared.before, &desired, &allow);
    match format {
        Format::Text => eprint!("{}", render::text_with(plan, &cascade, st.out.color)),
        Format::Sql => print_stdout(&render::sql(plan)),
        Format::Json => print_stdout(&render::json_with(plan, &cascade)),
        Format::Markdown => {
            let with_files: Vec<(String, lint::Lint)> =
                lints.iter().map(|l| (loaded.file_of(&l.path), l.clone())).collect();
            print_stdout(&markdown::plan(&markdown::PlanReview {
                database: &db.display().to_string(),
                schema: &schema.display().to_string(),
                plan,
                cascade: &cascade,
                lints: &with_files,
                limit: markdown::COMMENT_LIMIT,
            }))
        }
        Format::Sarif => print_stdout(&sarif::log(&located(&loaded, &lints), env!("CARGO_PKG_VERSION"))),
    }
    warn(st, &loaded, &lints);
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
/// (planning never creates the file); with the cascade report, its row counts read there.
fn prepare(st: &Settings, db: &Path, desired: &sqlite_reconcile::Schema) -> Result<(Prepared, Vec<Parent>), Failure> {
    if let Some(mut server) = open_server(db, st.auth_token().as_deref())? {
        // The target plans for what it is (an rqlite node with `-fk` keeps its keys on).
        let failure = |e: sqlite_reconcile::Error| db_failure(db, st.busy_timeout(), e);
        let prepared = server.prepare(desired, &st.inspect()).map_err(failure)?;
        let report = report(&*server, &prepared, server.engine().foreign_keys);
        return Ok((prepared, report));
    }
    let mut conn = if db.exists() {
        open_existing_read_only(db, st.busy_timeout())?
    } else {
        Connection::open_in_memory().map_err(Failure::error)?
    };
    let prepared = prepare_on(st, &mut conn, db, desired)?;
    let report = report(&conn, &prepared, ForeignKeyHold::PerSession);
    Ok((prepared, report))
}

/// The cascade report of `prepared`, its row counts read from `db` (left out when they cannot
/// be read).
fn report(db: &dyn Sql, prepared: &Prepared, hold: ForeignKeyHold) -> Vec<Parent> {
    let mut parents = cascade::of(&prepared.before, &prepared.forward, hold);
    let _ = cascade::count_rows(db, &mut parents);
    parents
}
