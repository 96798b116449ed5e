//! `apply`: the change from the database to the schema (or a plan saved by `plan --out`),
//! shown and confirmed, run in one transaction by the library, recorded with its rollback. Only
//! the library writes the database; this file validates everything before the file is created.

use std::path::{Path, PathBuf};
use std::time::Instant;

use sqlite_reconcile::engine::Sql;
use sqlite_reconcile::execute::{Moved, Run};
use sqlite_reconcile::target::LocalFile;
use sqlite_reconcile::Prepared;
use sqlite_reconcile::{history, load};

use super::{confirm, load_sources, prepare_in, prepare_on, report};
use crate::cli::args::{RunArgs, Target};
use crate::cli::exit::{Failure, Outcome};
use crate::cli::open::{db_failure, open_server, open_target};
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
    let timeout = st.busy_timeout();
    if let Some(mut server) = open_server(&db, st.auth_token().as_deref())? {
        let (prepared, source) = match saved {
            Some(path) => (read_saved(path)?, None),
            None => {
                let Some((desired, source)) = desired_unless_in_sync(st, target, run, Some(&*server))? else {
                    return Ok(Outcome::Ok);
                };
                (prepare_in(st, &mut *server, &db, &desired)?, Some(source))
            }
        };
        return change(st, target, run, saved, plans, &mut *server, prepared, source);
    }
    // Validate everything before the database file is created.
    let (mut conn, prepared, source) = match saved {
        Some(path) => {
            let prepared = read_saved(path)?;
            (open_target(&db, timeout)?, prepared, None)
        }
        None => {
            let existing = if db.exists() { Some(open_target(&db, timeout)?) } else { None };
            let read = existing.as_ref().map(|c| c as &dyn Sql);
            let Some((desired, source)) = desired_unless_in_sync(st, target, run, read)? else {
                return Ok(Outcome::Ok);
            };
            let mut conn = match existing {
                Some(conn) => conn,
                None => open_target(&db, timeout)?,
            };
            let prepared = prepare_on(st, &mut conn, &db, &desired)?;
            (conn, prepared, Some(source))
        }
    };
    let mut local = LocalFile::new(&mut conn).map_err(|e| db_failure(&db, timeout, e.into()))?;
    change(st, target, run, saved, plans, &mut local, prepared, source)
}

/// The desired schema, loaded and validated, with the fingerprint of its sources; `None` (after
/// saying so) when the database `existing` is still as the last change made from these very
/// sources left it: the fast path, which loads nothing (see `history::unchanged_since_recorded`).
fn desired_unless_in_sync(
    st: &Settings,
    target: &Target,
    run: &RunArgs,
    existing: Option<&dyn Sql>,
) -> Result<Option<(sqlite_reconcile::Schema, String)>, Failure> {
    let (db, schema) = (st.db(&target.db), st.schema(&target.schema));
    let sources = load::read_dir(&schema).map_err(Failure::library)?;
    let source = history::source_fingerprint(&sources, &st.inspect().exclude);
    if let (Some(read), false) = (existing, run.dry_run) {
        let t = Instant::now();
        let same = history::unchanged_since_recorded(read, &source, &st.inspect())
            .map_err(|e| db_failure(&db, st.busy_timeout(), e.into()))?;
        st.timed("compared the schema and its sources with the last change recorded", t);
        if same {
            if st.out.normal() {
                eprintln!("{}: in sync with {}; nothing to do", db.display(), schema.display());
            }
            return Ok(None);
        }
    }
    let (_, desired) = load_sources(st, &schema, &sources)?;
    Ok(Some((desired, source)))
}

/// Shows and confirms `prepared`, runs it on `target_db` and reports it.
#[allow(clippy::too_many_arguments)]
fn change(
    st: &Settings,
    target: &Target,
    run: &RunArgs,
    saved: Option<&Path>,
    plans: &Option<PathBuf>,
    target_db: &mut dyn sqlite_reconcile::target::Target,
    prepared: Prepared,
    source: Option<String>,
) -> Result<Outcome, Failure> {
    let db = st.db(&target.db);
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
    // A schema is planned again under the write lock when another process changed the database
    // meanwhile. A plan a person confirmed at the prompt runs only as confirmed (or finds the
    // work done); a saved plan is refused as stale.
    let moved = match saved {
        Some(_) => Moved::Refuse,
        None if run.yes || run.dry_run => Moved::Replan,
        None => Moved::AcceptDone,
    };
    let r = target_db
        .execute(&prepared, &Run { kind: "apply", options, plans: Some(plans), moved, source, ..Run::default() })
        .map_err(|e| db_failure(&db, st.busy_timeout(), e))?;
    if r.already_done {
        if st.out.normal() {
            eprintln!(
                "{}: in sync with {}; another process applied the change while this one waited; nothing to do",
                db.display(),
                st.schema(&target.schema).display()
            );
        }
        return Ok(Outcome::Ok);
    }
    if r.replanned && st.out.normal() {
        eprintln!(
            "another process changed the database while this one waited; planned again under the write lock: {}",
            r.summary
        );
    }
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
