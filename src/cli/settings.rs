//! Settings: each one resolved from, in the order they win, the flag, its `RECONCILE_*`
//! environment variable, the reconcile.toml key, the built-in default; shown with where it came
//! from at `-vv`. It prints only that; it opens no database and picks no exit code.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::parser::ValueSource;
use clap::ArgMatches;

use sqlite_reconcile::{lint, ApplyOptions, InspectOptions};

use super::args::{LintArgs, RunArgs};
use super::config::Config;
use super::exit::Failure;
use super::output::{human, Out};

/// Milliseconds to wait for a lock when nothing says otherwise.
const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5000;

/// Settings resolved from flags, environment, config file and defaults.
pub(crate) struct Settings {
    /// The reconcile.toml read, or an empty one.
    pub(crate) config: Config,
    /// The subcommand's matches, to tell a flag from its environment variable.
    matches: ArgMatches,
    /// How much to print, and whether in color.
    pub(crate) out: Out,
    /// Settings already shown at `-vv`.
    shown: RefCell<BTreeSet<&'static str>>,
    /// `--busy-timeout` or RECONCILE_BUSY_TIMEOUT.
    busy_timeout: Option<u64>,
    /// `--auth-token`, if given; never shown.
    auth_token: Option<String>,
}

impl Settings {
    /// The settings of one run: the config file read, the subcommand's matches, the output levels,
    /// and `--busy-timeout` (or its variable) as parsed.
    pub(crate) fn new(
        config: Config,
        matches: ArgMatches,
        out: Out,
        busy_timeout: Option<u64>,
        auth_token: Option<String>,
    ) -> Settings {
        Settings { config, matches, out, shown: RefCell::default(), busy_timeout, auth_token }
    }

    /// The auth token for a libSQL server: `--auth-token`, then `RECONCILE_AUTH_TOKEN`, then
    /// `LIBSQL_AUTH_TOKEN`. Never printed, not even at `-vv`.
    pub(crate) fn auth_token(&self) -> Option<String> {
        self.auth_token
            .clone()
            .or_else(|| ["RECONCILE_AUTH_TOKEN", "LIBSQL_AUTH_TOKEN"].iter().find_map(|v| std::env::var(v).ok()))
            .filter(|t| !t.is_empty())
    }
    /// The value of setting `id`: the flag or its variable, else the config key, else the default.
    fn resolve<T: std::fmt::Debug>(&self, id: &'static str, flag: Option<T>, file: Option<T>, default: T) -> T {
        let (value, from) = match (flag, file) {
            (Some(v), _) => {
                let from = match self.matches.value_source(id) {
                    Some(ValueSource::EnvVariable) => format!("RECONCILE_{}", id.to_ascii_uppercase()),
                    _ => format!("--{}", id.replace('_', "-")),
                };
                (v, from)
            }
            (None, Some(v)) => (v, format!("{} in {}", config_key(id), self.config.describe())),
            (None, None) => (default, "the default".to_string()),
        };
        if self.out.verbose(2) && self.shown.borrow_mut().insert(id) {
            eprintln!("setting {} = {value:?} (from {from})", config_key(id));
        }
        value
    }
    /// The database file.
    pub(crate) fn db(&self, flag: &Option<PathBuf>) -> PathBuf {
        // A server's URL in reconcile.toml stays a URL; a path is relative to the file.
        let file = match &self.config.db {
            Some(p) if sqlite_reconcile::remote::is_url(&p.to_string_lossy()) => Some(p.clone()),
            other => self.config.path(other),
        };
        self.resolve("db", flag.clone(), file, PathBuf::from("app.db"))
    }
    /// The schema directory.
    pub(crate) fn schema(&self, flag: &Option<PathBuf>) -> PathBuf {
        self.resolve("schema", flag.clone(), self.config.path(&self.config.schema), PathBuf::from("schema"))
    }
    /// The plan directory.
    pub(crate) fn plans(&self, flag: &Option<PathBuf>) -> PathBuf {
        self.resolve("plans", flag.clone(), self.config.path(&self.config.plans), PathBuf::from("plans"))
    }
    /// The lints not to show; an unknown name is an error.
    pub(crate) fn allow_lints(&self, args: &LintArgs) -> Result<Vec<String>, Failure> {
        let flag = Some(args.allow_lint.clone()).filter(|a| !a.is_empty());
        let allow = self.resolve("allow_lint", flag, self.config.allow_lints.clone(), Vec::new());
        let unknown = lint::unknown_names(&allow);
        if !unknown.is_empty() {
            let known: Vec<&str> = lint::LINTS.iter().map(|(n, _)| *n).collect();
            return Err(Failure::Error(format!(
                "unknown lint {} in the allowed lints; the lints are {}",
                unknown.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "),
                known.join(", ")
            )));
        }
        Ok(allow)
    }
    /// What inspecting leaves alone (`exclude`).
    pub(crate) fn inspect(&self) -> InspectOptions {
        InspectOptions { exclude: self.config.exclude.clone() }
    }
    /// How to run a change: `--allow-destructive` (or `allow_destructive`), `--dry-run`, the lock wait.
    pub(crate) fn apply(&self, run: &RunArgs) -> ApplyOptions {
        let allow = self.resolve(
            "allow_destructive",
            run.allow_destructive.then_some(true),
            self.config.allow_destructive,
            false,
        );
        ApplyOptions {
            allow_destructive: allow,
            allow_data_dependent: true,
            dry_run: run.dry_run,
            busy_timeout: self.busy_timeout(),
            inspect: self.inspect(),
            observer: self.out.observer(),
        }
    }
    /// How long to wait for a lock another connection holds.
    pub(crate) fn busy_timeout(&self) -> Duration {
        let ms = self.resolve("busy_timeout", self.busy_timeout, self.config.busy_timeout_ms, DEFAULT_BUSY_TIMEOUT_MS);
        Duration::from_millis(ms)
    }
    /// Prints `what` took `since` at `-vv`.
    pub(crate) fn timed(&self, what: &str, since: Instant) {
        if self.out.verbose(2) {
            eprintln!("{what} in {}", human(since.elapsed()));
        }
    }
}

/// The reconcile.toml key of setting `id`.
fn config_key(id: &str) -> &str {
    match id {
        "busy_timeout" => "busy_timeout_ms",
        "allow_lint" => "allow_lints",
        other => other,
    }
}
