//! CLI: clap arguments, one function per command, and the only place that
//! knows about terminals and exit codes (0 ok, 1 error, 2 drift, 3 refused).

mod config;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use rusqlite::{Connection, OpenFlags};

use sqlite_reconcile::apply::{is_busy, is_read_only, WRITING};
use sqlite_reconcile::normalize::sqlite_message;
use sqlite_reconcile::reconciler::{self, Run};
use sqlite_reconcile::store;
use sqlite_reconcile::{
    inspect, load, render, ApplyError, ApplyOptions, Error, InspectError, InspectOptions, Plan, Prepared, Report,
};

use config::Config;

/// Keep SQLite schemas as code: declare tables, indexes, triggers and views in
/// YAML; plan and apply the changes safely.
///
/// Settings come from flags, then RECONCILE_* environment variables, then
/// reconcile.toml (in the current directory, or --config), then defaults.
#[derive(Debug, Parser)]
#[command(name = "reconcile", version, about, long_about = None)]
pub struct Cli {
    /// Config file [env: RECONCILE_CONFIG] [default: ./reconcile.toml when present]
    #[arg(long, global = true, env = "RECONCILE_CONFIG")]
    config: Option<PathBuf>,
    /// Milliseconds to wait for a lock another connection holds [env: RECONCILE_BUSY_TIMEOUT]
    /// [config: busy_timeout_ms] [default: 5000]
    #[arg(long, global = true, env = "RECONCILE_BUSY_TIMEOUT", value_name = "MS")]
    busy_timeout: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Describe an existing database's schema as YAML (stdout or -o FILE)
    Inspect {
        #[command(flatten)]
        db: Db,
        /// Write the YAML to this file instead of stdout
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Validate the YAML schema without a database (exit 0 valid, 1 invalid)
    Check {
        /// Schema directory of *.yaml files [env: RECONCILE_SCHEMA] [config: schema] [default: schema]
        #[arg(long, env = "RECONCILE_SCHEMA")]
        schema: Option<PathBuf>,
    },
    /// Show the ordered steps that would bring the database to the schema
    Plan {
        #[command(flatten)]
        target: Target,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also save the plan (with its rollback) to FILE, for `apply --plan FILE`
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Apply the plan in one transaction, verify it, and record it with its rollback
    Apply {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        run: RunArgs,
        /// Apply this saved plan exactly (from `plan --out`), instead of planning against the schema
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Plan directory for the applied plan's files [env: RECONCILE_PLANS] [config: plans] [default: plans]
        #[arg(long, env = "RECONCILE_PLANS")]
        plans: Option<PathBuf>,
    },
    /// Compare the database with the schema: exit 0 in sync, 2 drift, 1 error
    Drift {
        #[command(flatten)]
        target: Target,
        /// Output format
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Undo the last applied change (or PLAN_ID) with its stored rollback plan
    Rollback {
        #[command(flatten)]
        db: Db,
        /// The change to undo, as listed by `history` [default: the last applied]
        plan_id: Option<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// List the changes applied to the database, newest first
    History {
        #[command(flatten)]
        db: Db,
        /// Output format
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Development only: drop every managed object, build the schema from scratch, run the seed
    Reset {
        #[command(flatten)]
        target: Target,
        /// Really do it
        #[arg(long)]
        yes: bool,
    },
    /// Print the JSON Schema of the YAML format
    Schema,
}

/// The database file.
#[derive(Debug, clap::Args)]
struct Db {
    /// Database file [env: RECONCILE_DB] [config: db] [default: app.db]
    #[arg(long, env = "RECONCILE_DB")]
    db: Option<PathBuf>,
}

/// The database and the schema directory.
#[derive(Debug, clap::Args)]
struct Target {
    /// Database file [env: RECONCILE_DB] [config: db] [default: app.db]
    #[arg(long, env = "RECONCILE_DB")]
    db: Option<PathBuf>,
    /// Schema directory of *.yaml files [env: RECONCILE_SCHEMA] [config: schema] [default: schema]
    #[arg(long, env = "RECONCILE_SCHEMA")]
    schema: Option<PathBuf>,
}

/// How to run a change.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Apply without asking
    #[arg(long)]
    yes: bool,
    /// Allow destructive steps (dropped tables or columns); what they drop is kept for the rollback
    /// [config: allow_destructive]
    #[arg(long)]
    allow_destructive: bool,
    /// Run everything, verify, then roll back
    #[arg(long)]
    dry_run: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Sql,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ListFormat {
    Text,
    Json,
}

/// Milliseconds to wait for a lock when nothing says otherwise.
const DEFAULT_BUSY_TIMEOUT_MS: u64 = 5000;

/// Settings resolved from flags, environment, config file and defaults.
struct Settings {
    config: Config,
    /// `--busy-timeout` or RECONCILE_BUSY_TIMEOUT.
    busy_timeout: Option<u64>,
}

impl Settings {
    fn db(&self, flag: &Option<PathBuf>) -> PathBuf {
        flag.clone().or_else(|| self.config.path(&self.config.db)).unwrap_or_else(|| PathBuf::from("app.db"))
    }
    fn schema(&self, flag: &Option<PathBuf>) -> PathBuf {
        flag.clone().or_else(|| self.config.path(&self.config.schema)).unwrap_or_else(|| PathBuf::from("schema"))
    }
    fn plans(&self, flag: &Option<PathBuf>) -> PathBuf {
        flag.clone().or_else(|| self.config.path(&self.config.plans)).unwrap_or_else(|| PathBuf::from("plans"))
    }
    fn inspect(&self) -> InspectOptions {
        InspectOptions { exclude: self.config.exclude.clone() }
    }
    fn apply(&self, run: &RunArgs) -> ApplyOptions {
        ApplyOptions {
            allow_destructive: run.allow_destructive || self.config.allow_destructive.unwrap_or(false),
            dry_run: run.dry_run,
            busy_timeout: self.busy_timeout(),
            inspect: self.inspect(),
        }
    }
    /// How long to wait for a lock another connection holds.
    fn busy_timeout(&self) -> Duration {
        Duration::from_millis(self.busy_timeout.or(self.config.busy_timeout_ms).unwrap_or(DEFAULT_BUSY_TIMEOUT_MS))
    }
}

/// How a command ended, for the exit code.
#[derive(Debug)]
pub enum Outcome {
    /// Success.
    Ok,
    /// Drift found, or changes pending: exit 2.
    Drift,
}

/// A command's failure, for the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad input, SQLite error, verification failure: exit 1.
    Error(String),
    /// Refused by policy: exit 3.
    Refused(String),
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(e: E) -> Self {
        Failure::Error(e.to_string())
    }
}

/// Parses arguments, runs the command, maps the result to an exit code.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return exit_code(Err(Failure::Error(e))),
    };
    let settings = Settings { config, busy_timeout: cli.busy_timeout };
    let st = &settings;
    let result = match cli.command {
        Command::Inspect { db, output } => cmd_inspect(st, &st.db(&db.db), output.as_deref()),
        Command::Check { schema } => cmd_check(&st.schema(&schema)),
        Command::Plan { target, format, out } => cmd_plan(st, &target, format, out.as_deref()),
        Command::Apply { target, run, plan, plans } => cmd_apply(st, &target, &run, plan.as_deref(), &st.plans(&plans)),
        Command::Drift { target, format } => cmd_drift(st, &target, format),
        Command::Rollback { db, plan_id, run } => cmd_rollback(st, &st.db(&db.db), plan_id.as_deref(), &run),
        Command::History { db, format } => cmd_history(st, &st.db(&db.db), format),
        Command::Reset { target, yes } => cmd_reset(st, &target, yes),
        Command::Schema => {
            print_stdout(&sqlite_reconcile::json_schema());
            Ok(Outcome::Ok)
        }
    };
    exit_code(result)
}

fn exit_code(r: Result<Outcome, Failure>) -> ExitCode {
    match r {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Drift) => ExitCode::from(2),
        Err(Failure::Error(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
        }
        Err(Failure::Refused(m)) => {
            // Library refusals already say so.
            eprintln!("refused: {}", m.strip_prefix("refused: ").unwrap_or(&m));
            ExitCode::from(3)
        }
    }
}

fn print_stdout(s: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

/// Opens an existing database read-only, waiting up to `timeout` for locks; a missing file is an error,
/// never created.
fn open_existing_read_only(db: &Path, timeout: Duration) -> Result<Connection, Failure> {
    if !db.exists() {
        return Err(Failure::Error(format!("{}: no such database file", db.display())));
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| Failure::Error(format!("{}: {e}", db.display())))?;
    first_read(conn, db, timeout)
}

/// Sets the busy timeout and reads the schema, the first real access: a non-database file fails here.
fn first_read(conn: Connection, db: &Path, timeout: Duration) -> Result<Connection, Failure> {
    conn.busy_timeout(timeout).map_err(|e| Failure::Error(format!("{}: {e}", db.display())))?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(|e| db_failure(db, timeout, e.into()))?;
    Ok(conn)
}

/// A library error about the database at `db`; one locked by another connection is said as such.
fn db_failure(db: &Path, waited: Duration, e: Error) -> Failure {
    match &e {
        Error::Sqlite(s) | Error::Inspect(InspectError::Sqlite(s)) if is_busy(s) => {
            Failure::Error(format!("{}: {}", db.display(), ApplyError::Busy { waited, holder: WRITING }))
        }
        Error::Sqlite(s) | Error::Inspect(InspectError::Sqlite(s)) if is_read_only(s) => {
            Failure::Error(format!("{}: {}", db.display(), ApplyError::ReadOnly(sqlite_message(s))))
        }
        Error::Sqlite(_) | Error::Inspect(_) => Failure::Error(format!("{}: {e}", db.display())),
        Error::Apply(ApplyError::Busy { .. } | ApplyError::ReadOnly(_) | ApplyError::DiskFull(_)) => {
            Failure::Error(format!("{}: {e}", db.display()))
        }
        _ => lib_failure(e),
    }
}

fn cmd_inspect(st: &Settings, db: &Path, output: Option<&Path>) -> Result<Outcome, Failure> {
    let timeout = st.busy_timeout();
    let conn = open_existing_read_only(db, timeout)?;
    let schema = inspect(&conn, &st.inspect()).map_err(|e| db_failure(db, timeout, e.into()))?;
    let yaml = sqlite_reconcile::to_yaml(&schema)?;
    match output {
        Some(path) => store::write_atomic(path, yaml.as_bytes())
            .map_err(|e| Failure::Error(format!("{}: {e}", path.display())))?,
        None => print_stdout(&yaml),
    }
    Ok(Outcome::Ok)
}

fn cmd_check(schema: &Path) -> Result<Outcome, Failure> {
    let loaded = load::load_dir(schema)?;
    let desired = load::desired(&loaded)?;
    let s = &desired;
    eprintln!(
        "{}: valid ({} tables, {} indexes, {} views, {} triggers, {} virtual tables)",
        schema.display(),
        s.tables.len(),
        s.indexes().count(),
        s.views.len(),
        s.triggers.len(),
        s.virtual_tables.len()
    );
    Ok(Outcome::Ok)
}

fn lib_failure(e: Error) -> Failure {
    match e {
        Error::Apply(
            a @ (ApplyError::Destructive(_)
            | ApplyError::DataDependent(_)
            | ApplyError::JournalMode(_)
            | ApplyError::Stale(_)),
        ) => Failure::Refused(a.to_string()),
        Error::Refused(m) => Failure::Refused(m),
        other => Failure::Error(other.to_string()),
    }
}

/// Opens (creating if needed) the target database for planning and applying, waiting up to `timeout`
/// for locks.
fn open_target(db: &Path, timeout: Duration) -> Result<Connection, Failure> {
    let conn = Connection::open(db).map_err(|e| Failure::Error(format!("{}: {e}", db.display())))?;
    first_read(conn, db, timeout)
}

/// Plans against the database, or against an empty one when the file does not exist yet
/// (planning never creates the file).
fn prepare(st: &Settings, db: &Path, schema: &Path) -> Result<Prepared, Failure> {
    let desired = load::desired_from_dir(schema)?;
    let mut conn =
        if db.exists() { open_existing_read_only(db, st.busy_timeout())? } else { Connection::open_in_memory()? };
    reconciler::prepare(&mut conn, &desired, &st.inspect()).map_err(|e| db_failure(db, st.busy_timeout(), e))
}

fn cmd_plan(st: &Settings, target: &Target, format: Format, out: Option<&Path>) -> Result<Outcome, Failure> {
    let (db, schema) = (st.db(&target.db), st.schema(&target.schema));
    let prepared = prepare(st, &db, &schema)?;
    let plan = &prepared.forward;
    match format {
        Format::Text => eprint!("{}", render::text(plan)),
        Format::Sql => print_stdout(&render::sql(plan)),
        Format::Json => print_stdout(&render::json(plan)),
    }
    if let Some(out) = out {
        let json = serde_json::to_string_pretty(&prepared)? + "\n";
        store::write_atomic(out, json.as_bytes()).map_err(|e| Failure::Error(format!("{}: {e}", out.display())))?;
        eprintln!("saved the plan to {} (against schema {})", out.display(), prepared.fingerprint_before);
    }
    Ok(Outcome::Ok)
}

/// Reads a plan saved by `plan --out`.
fn read_saved(path: &Path) -> Result<Prepared, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::Error(format!("{}: {e}", path.display())))?;
    let prepared: Prepared = serde_json::from_str(&text)
        .map_err(|e| Failure::Error(format!("{}: not a saved plan: {e}", path.display())))?;
    if prepared.format != sqlite_reconcile::store::FORMAT_VERSION {
        return Err(Failure::Error(format!(
            "{}: saved plan format {} is not the supported format {}",
            path.display(),
            prepared.format,
            sqlite_reconcile::store::FORMAT_VERSION
        )));
    }
    Ok(prepared)
}

/// Shows the plan and asks, unless `--yes` or `--dry-run`; refuses without a terminal.
fn confirm(plan: &Plan, what: &str, db: &Path, run: &RunArgs) -> Result<(), Failure> {
    eprint!("{}", render::text(plan));
    if run.yes || run.dry_run {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Refused("not a terminal and no --yes: review the plan above and rerun with --yes".into()));
    }
    eprint!("\n{what} these {} steps to {}? [y/N] ", plan.steps.len(), db.display());
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        return Err(Failure::Refused("not applied".into()));
    }
    Ok(())
}

fn report(r: &Report, verb: &str) {
    if r.dry_run {
        eprintln!("dry run: {} steps ran and verified in {:?}, then rolled back", r.steps, r.elapsed);
        return;
    }
    eprintln!("{verb} {} steps ({} statements) in {:?}; verified", r.steps, r.statements, r.elapsed);
    if let Some(id) = &r.id {
        eprintln!("recorded as {id}");
    }
    if let Some(dir) = &r.plan_dir {
        eprintln!("plan files: {}", dir.display());
    }
    if let Some(b) = &r.backup {
        eprintln!("dropped or rewritten values kept in {}", b.display());
    }
}

fn cmd_apply(
    st: &Settings,
    target: &Target,
    run: &RunArgs,
    saved: Option<&Path>,
    plans: &Path,
) -> Result<Outcome, Failure> {
    let db = st.db(&target.db);
    let timeout = st.busy_timeout();
    // Validate everything before the database file is created.
    let (mut conn, prepared) = match saved {
        Some(path) => {
            let prepared = read_saved(path)?;
            (open_target(&db, timeout)?, prepared)
        }
        None => {
            let desired = load::desired_from_dir(&st.schema(&target.schema))?;
            let mut conn = open_target(&db, timeout)?;
            let prepared =
                reconciler::prepare(&mut conn, &desired, &st.inspect()).map_err(|e| db_failure(&db, timeout, e))?;
            (conn, prepared)
        }
    };
    if prepared.is_empty() {
        match saved {
            Some(p) => eprintln!("{}: the saved plan {} has nothing to do", db.display(), p.display()),
            None => eprintln!("{}: in sync with {}; nothing to do", db.display(), st.schema(&target.schema).display()),
        }
        return Ok(Outcome::Ok);
    }
    confirm(&prepared.forward, "Apply", &db, run)?;
    let r = reconciler::execute(
        &mut conn,
        &prepared,
        &Run { kind: "apply", options: st.apply(run), plans: Some(plans.to_path_buf()), ..Run::default() },
    )
    .map_err(|e| db_failure(&db, timeout, e))?;
    report(&r, "applied");
    Ok(Outcome::Ok)
}

fn cmd_rollback(st: &Settings, db: &Path, id: Option<&str>, run: &RunArgs) -> Result<Outcome, Failure> {
    if !db.exists() {
        return Err(Failure::Error(format!("{}: no such database file", db.display())));
    }
    let timeout = st.busy_timeout();
    let mut conn = open_target(db, timeout)?;
    let (entry, original) = reconciler::rollback_target(&conn, id).map_err(|e| db_failure(db, timeout, e))?;
    eprintln!("rolling back {} ({}, applied {})", entry.id, entry.summary, entry.applied_at);
    confirm(&original.rollback, "Roll back with", db, run)?;
    let r = reconciler::rollback_change(&mut conn, &entry, &original, st.apply(run))
        .map_err(|e| db_failure(db, timeout, e))?;
    report(&r, "rolled back with");
    Ok(Outcome::Ok)
}

fn cmd_history(st: &Settings, db: &Path, format: ListFormat) -> Result<Outcome, Failure> {
    let timeout = st.busy_timeout();
    let conn = open_existing_read_only(db, timeout)?;
    let entries = sqlite_reconcile::store::history(&conn).map_err(|e| db_failure(db, timeout, e.into()))?;
    match format {
        ListFormat::Json => {
            let j = serde_json::json!({ "version": render::JSON_VERSION, "history": entries });
            print_stdout(&format!("{}\n", serde_json::to_string_pretty(&j)?));
        }
        ListFormat::Text => {
            if entries.is_empty() {
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

fn cmd_reset(st: &Settings, target: &Target, yes: bool) -> Result<Outcome, Failure> {
    let from_env = std::env::var("RECONCILE_ENV").ok();
    let from_file = st.config.env.clone();
    let in_ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
    let dev = match (&from_env, &from_file) {
        (Some(e), _) => e == "dev",
        // Under CI a checked-in `env = "dev"` is not enough: the job must say so itself.
        (None, Some(f)) => f == "dev" && !in_ci,
        (None, None) => false,
    };
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
    let desired = load::desired_from_dir(&st.schema(&target.schema))?;
    let seed = match st.config.path(&st.config.seed) {
        Some(p) => Some(std::fs::read_to_string(&p).map_err(|e| Failure::Error(format!("seed {}: {e}", p.display())))?),
        None => None,
    };
    let options = ApplyOptions { inspect: st.inspect(), busy_timeout: st.busy_timeout(), ..ApplyOptions::default() };
    let mut conn = open_target(&db, options.busy_timeout)?;
    let timeout = options.busy_timeout;
    let r =
        reconciler::reset(&mut conn, &desired, seed.as_deref(), options).map_err(|e| db_failure(&db, timeout, e))?;
    report(&r, "reset:");
    Ok(Outcome::Ok)
}

fn cmd_drift(st: &Settings, target: &Target, format: ListFormat) -> Result<Outcome, Failure> {
    let (db, schema) = (st.db(&target.db), st.schema(&target.schema));
    let desired = load::desired_from_dir(&schema)?;
    let timeout = st.busy_timeout();
    let conn = open_existing_read_only(&db, timeout)?;
    let actual = inspect(&conn, &st.inspect()).map_err(|e| db_failure(&db, timeout, e.into()))?;
    let changes = sqlite_reconcile::diff::diff(&actual, &desired);
    match format {
        ListFormat::Json => {
            let j = serde_json::json!({
                "version": render::JSON_VERSION,
                "in_sync": changes.is_empty(),
                "database": db.display().to_string(),
                "schema": schema.display().to_string(),
                "differences": changes,
            });
            print_stdout(&format!("{}\n", serde_json::to_string_pretty(&j)?));
        }
        ListFormat::Text => {
            if changes.is_empty() {
                eprintln!("{}: in sync with {}", db.display(), schema.display());
            } else {
                eprintln!("{}: {} differences from {}:", db.display(), changes.len(), schema.display());
                for c in &changes {
                    eprintln!("  {c}");
                }
            }
        }
    }
    Ok(if changes.is_empty() { Outcome::Ok } else { Outcome::Drift })
}
