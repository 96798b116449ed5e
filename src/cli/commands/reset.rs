//! `reset`, for development only: every managed object dropped, the schema built from scratch,
//! the seed script run. It refuses unless the environment is declared dev (and, under CI, by the
//! job itself) and `--yes` is given; the dropping and building are the library's, on a file or a
//! libSQL server alike.

use sqlite_reconcile::execute;
use sqlite_reconcile::ApplyOptions;

use super::{load_desired, report};
use crate::cli::args::Target;
use crate::cli::exit::{Failure, Outcome};
use crate::cli::open::{db_failure, open_server, open_target};
use crate::cli::settings::Settings;

/// Rebuilds the target database from the schema, then runs the seed, where the environment is dev.
pub(crate) fn run(st: &Settings, target: &Target, yes: bool) -> Result<Outcome, Failure> {
    let from_env = std::env::var("RECONCILE_ENV").ok();
    let from_file = st.config.env.clone();
    let in_ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let dev = match (&from_env, &from_file) {
        (Some(e), _) => e == "dev",
        // Under CI a checked-in `env = "dev"` is not enough: the job must say so itself.
        (None, Some(f)) => f == "dev" && !in_ci,
        (None, None) => false,
    };
    if st.out.verbose(2) {
        let from = match (&from_env, &from_file) {
            (Some(_), _) => "RECONCILE_ENV".to_string(),
            (None, Some(_)) => format!("env in {}", st.config.describe()),
            (None, None) => "the default".to_string(),
        };
        eprintln!("setting env = {:?} (from {from})", from_env.as_ref().or(from_file.as_ref()));
    }
    if !dev {
        let why = if in_ci && from_file.as_deref() == Some("dev") {
            "CI=true: set RECONCILE_ENV=dev in the job to reset there"
        } else {
            "the environment is not declared development (RECONCILE_ENV=dev, or env = \"dev\" in reconcile.toml)"
        };
        return Err(Failure::Refused(format!("reset drops every table and its rows; {why}")));
    }
    if !yes {
        return Err(Failure::Refused("reset drops every table and its rows; rerun with --yes".into()));
    }
    let db = st.db(&target.db);
    let desired = load_desired(st, &st.schema(&target.schema))?;
    let seed = match st.config.path(&st.config.seed) {
        Some(p) => Some(std::fs::read_to_string(&p).map_err(|e| Failure::Error(format!("seed {}: {e}", p.display())))?),
        None => None,
    };
    let timeout = st.busy_timeout();
    let options = ApplyOptions {
        inspect: st.inspect(),
        observer: st.out.observer(),
        busy_timeout: timeout,
        ..ApplyOptions::default()
    };
    let failure = |e| db_failure(&db, timeout, e);
    let r = match open_server(&db, st.auth_token().as_deref())? {
        Some(mut server) => {
            sqlite_reconcile::target::reset(&mut *server, &desired, seed.as_deref(), options).map_err(failure)?
        }
        None => {
            let mut conn = open_target(&db, timeout)?;
            execute::reset(&mut conn, &desired, seed.as_deref(), options).map_err(failure)?
        }
    };
    report(st, &r, "reset:");
    Ok(Outcome::Ok)
}
