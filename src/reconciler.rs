//! Reconciler: what an application calls at startup. A desired schema and a [`Policy`]; it plans
//! under the policy (`migration::prepare`) and runs the change with its bookkeeping
//! (`execute::execute`). Thin on purpose: the work is in the stages it calls.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use crate::apply::{self, ApplyOptions};
use crate::error::Error;
use crate::execute::{Moved, Report, Run};
use crate::history;
use crate::migration::Prepared;
use crate::model::Schema;
use crate::target::{LocalFile, Target};

/// Which kinds of change may run without a person deciding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Steps that can fail on existing rows (NOT NULL, UNIQUE, CHECK, FK): they roll back cleanly if they do.
    pub allow_data_dependent: bool,
    /// Steps that lose data (dropped tables or columns); what they drop is kept in a backup.
    pub allow_destructive: bool,
}

impl Default for Policy {
    /// Safe and data-dependent changes apply; destructive ones are refused.
    fn default() -> Self {
        Policy { allow_data_dependent: true, allow_destructive: false }
    }
}

/// Keeps a database's schema equal to a desired schema: what an application calls at startup.
///
/// ```
/// use sqlite_reconcile::{Policy, Reconciler};
///
/// let schema = "tables:\n  notes:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: body, type: TEXT, not_null: true }\n";
/// let reconciler = Reconciler::from_sources(&[("app.yaml", schema)])?.policy(Policy::default());
///
/// let dir = tempfile::tempdir()?;
/// let mut conn = rusqlite::Connection::open(dir.path().join("app.db"))?;
/// let first = reconciler.reconcile(&mut conn)?;
/// assert_eq!(first.steps, 1); // CREATE TABLE notes
/// let second = reconciler.reconcile(&mut conn)?;
/// assert!(second.id.is_none()); // already in sync: nothing written
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Reconciler {
    desired: Schema,
    policy: Policy,
    plans: Option<PathBuf>,
    options: ApplyOptions,
    /// What the desired schema was loaded from, as (name, text): its fingerprint, with the
    /// exclude patterns, is `source`.
    sources: Vec<(String, String)>,
    /// The fingerprint the no-op fast path compares ([`history::source_fingerprint`]).
    source: String,
}

impl Reconciler {
    /// From a directory of `*.yaml` files.
    pub fn from_dir(dir: impl AsRef<Path>) -> Result<Reconciler, Error> {
        let sources = crate::load::read_dir(dir.as_ref())?;
        Reconciler::from_sources(&sources)
    }

    /// From YAML texts, for example embedded with `include_str!`: `(name, text)` pairs, the name used in errors.
    pub fn from_sources<N: AsRef<str>, T: AsRef<str>>(sources: &[(N, T)]) -> Result<Reconciler, Error> {
        let loaded = crate::load::load_sources(sources)?;
        let sources = sources.iter().map(|(n, t)| (n.as_ref().to_string(), t.as_ref().to_string())).collect();
        Ok(Reconciler::with_sources(crate::load::desired(&loaded)?, sources))
    }

    /// From a desired schema already normalized (see [`crate::load::desired`]).
    pub fn new(desired: Schema) -> Reconciler {
        let json = serde_json::to_string(&desired).unwrap_or_default();
        Reconciler::with_sources(desired, vec![("desired schema".to_string(), json)])
    }

    fn with_sources(desired: Schema, sources: Vec<(String, String)>) -> Reconciler {
        let source = history::source_fingerprint(&sources, &[]);
        Reconciler {
            desired,
            policy: Policy::default(),
            plans: None,
            options: ApplyOptions::default(),
            sources,
            source,
        }
    }

    /// Which kinds of change may run.
    pub fn policy(mut self, policy: Policy) -> Reconciler {
        self.policy = policy;
        self
    }

    /// Also write each applied plan's files under `dir`.
    pub fn plan_store(mut self, dir: impl Into<PathBuf>) -> Reconciler {
        self.plans = Some(dir.into());
        self
    }

    /// How long to wait for a lock another connection holds, while planning and applying (default 5 s).
    /// The connection's own busy timeout is restored afterwards.
    pub fn busy_timeout(mut self, timeout: Duration) -> Reconciler {
        self.options.busy_timeout = timeout;
        self
    }

    /// Objects to leave alone, as glob patterns (`alembic_*`).
    pub fn exclude(mut self, patterns: Vec<String>) -> Reconciler {
        self.source = history::source_fingerprint(&self.sources, &patterns);
        self.options.inspect.exclude = patterns;
        self
    }

    /// The desired schema.
    pub fn desired(&self) -> &Schema {
        &self.desired
    }

    /// Plans the change for `conn` without running it, waiting for locks up to the busy timeout.
    pub fn prepare(&self, conn: &mut Connection) -> Result<Prepared, Error> {
        apply::with_busy_timeout(conn, self.options.busy_timeout, |conn| {
            LocalFile::new(conn)?.prepare(&self.desired, &self.options.inspect)
        })
    }

    /// Plans and applies under the policy; a no-op (nothing written) when already in sync.
    ///
    /// Safe to call from several processes (or threads, each with its own connection) at once:
    /// the change runs under SQLite's write lock, planned again there from the schema found when
    /// another caller changed it meanwhile, so every caller ends in sync and the change is made
    /// and recorded once ([`Report::already_done`] for the others).
    ///
    /// The common case at startup, nothing to do, is answered from two queries when the
    /// database is still as the last change made from these same sources left it (see
    /// [`history::unchanged_since_recorded`]); anything else (a hand change, other sources, no
    /// history) is inspected and planned.
    pub fn reconcile(&self, conn: &mut Connection) -> Result<Report, Error> {
        let same = apply::with_busy_timeout(conn, self.options.busy_timeout, |conn| {
            history::unchanged_since_recorded(&*conn, &self.source, &self.options.inspect)
        })?;
        if same {
            return Ok(Report::nothing());
        }
        let prepared = self.prepare(conn)?;
        self.execute(conn, &prepared, false, Moved::Replan)
    }

    /// Applies a prepared change, refusing it if the database's schema is no longer the one it was planned against.
    pub fn run(&self, conn: &mut Connection, prepared: &Prepared, dry_run: bool) -> Result<Report, Error> {
        self.execute(conn, prepared, dry_run, Moved::Refuse)
    }

    fn execute(
        &self,
        conn: &mut Connection,
        prepared: &Prepared,
        dry_run: bool,
        moved: Moved,
    ) -> Result<Report, Error> {
        let mut options = self.options.clone();
        options.allow_destructive = self.policy.allow_destructive;
        options.allow_data_dependent = self.policy.allow_data_dependent;
        options.dry_run = dry_run;
        let source = Some(self.source.clone());
        let run = Run { kind: "apply", options, plans: self.plans.clone(), moved, source, ..Run::default() };
        LocalFile::new(conn)?.execute(prepared, &run)
    }
}
