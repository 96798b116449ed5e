//! CLI: clap arguments, one function per command, and the only place that
//! knows about terminals and exit codes (0 ok, 1 error, 2 drift, 3 refused).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rusqlite::{Connection, OpenFlags};

use sqlite_reconcile::{inspect, load, render, ApplyError, ApplyOptions, Error, InspectOptions, Plan, Schema};

/// Keep SQLite schemas as code: declare tables, indexes, triggers and views in
/// YAML; plan and apply the changes safely.
#[derive(Debug, Parser)]
#[command(name = "reconcile", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Describe an existing database's schema as YAML (stdout or -o FILE)
    Inspect {
        /// Database file [env: RECONCILE_DB]
        #[arg(long, env = "RECONCILE_DB", default_value = "app.db")]
        db: PathBuf,
        /// Write the YAML to this file instead of stdout
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Validate the YAML schema without a database (exit 0 valid, 1 invalid)
    Check {
        /// Schema directory of *.yaml files [env: RECONCILE_SCHEMA]
        #[arg(long, env = "RECONCILE_SCHEMA", default_value = "schema")]
        schema: PathBuf,
    },
    /// Show the ordered steps that would bring the database to the schema
    Plan {
        #[command(flatten)]
        target: Target,
        /// Output format
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
    },
    /// Apply the plan in one transaction and verify the result
    Apply {
        #[command(flatten)]
        target: Target,
        /// Apply without asking
        #[arg(long)]
        yes: bool,
        /// Allow destructive steps (dropped tables or columns, narrowing types)
        #[arg(long)]
        allow_destructive: bool,
        /// Run everything, verify, then roll back
        #[arg(long)]
        dry_run: bool,
        /// Milliseconds to wait for the write lock [env: RECONCILE_BUSY_TIMEOUT]
        #[arg(long, env = "RECONCILE_BUSY_TIMEOUT", default_value_t = 5000)]
        busy_timeout: u64,
    },
    /// Compare the database with the schema: exit 0 in sync, 2 drift, 1 error
    Drift {
        #[command(flatten)]
        target: Target,
        /// Output format
        #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
        format: DriftFormat,
    },
    /// Print the JSON Schema of the YAML format
    Schema,
}

/// The database and the schema directory.
#[derive(Debug, clap::Args)]
struct Target {
    /// Database file [env: RECONCILE_DB]
    #[arg(long, env = "RECONCILE_DB", default_value = "app.db")]
    db: PathBuf,
    /// Schema directory of *.yaml files [env: RECONCILE_SCHEMA]
    #[arg(long, env = "RECONCILE_SCHEMA", default_value = "schema")]
    schema: PathBuf,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Format {
    Text,
    Sql,
    Json,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum DriftFormat {
    Text,
    Json,
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
    let result = match cli.command {
        Command::Inspect { db, output } => cmd_inspect(&db, output.as_deref()),
        Command::Check { schema } => cmd_check(&schema),
        Command::Plan { target, format } => cmd_plan(&target, format),
        Command::Apply { target, yes, allow_destructive, dry_run, busy_timeout } => {
            let opts = ApplyOptions {
                allow_destructive,
                dry_run,
                busy_timeout: std::time::Duration::from_millis(busy_timeout),
                ..ApplyOptions::default()
            };
            cmd_apply(&target, yes, &opts)
        }
        Command::Drift { target, format } => cmd_drift(&target, format),
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
            eprintln!("refused: {m}");
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

/// Opens an existing database read-only; a missing file is an error, never created.
fn open_existing_read_only(db: &Path) -> Result<Connection, Failure> {
    if !db.exists() {
        return Err(Failure::Error(format!("{}: no such database file", db.display())));
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| Failure::Error(format!("{}: {e}", db.display())))?;
    // Reading the schema is the first real access: a non-database file fails here.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(|e| Failure::Error(format!("{}: {e}", db.display())))?;
    Ok(conn)
}

fn cmd_inspect(db: &Path, output: Option<&Path>) -> Result<Outcome, Failure> {
    let conn = open_existing_read_only(db)?;
    let schema =
        inspect(&conn, &InspectOptions::default()).map_err(|e| Failure::Error(format!("{}: {e}", db.display())))?;
    let yaml = sqlite_reconcile::to_yaml(&schema)?;
    match output {
        Some(path) => {
            write_atomic(path, yaml.as_bytes()).map_err(|e| Failure::Error(format!("{}: {e}", path.display())))?
        }
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

/// Writes a file atomically: a temporary file in the same directory, then rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn lib_failure(e: Error) -> Failure {
    match e {
        Error::Apply(a @ (ApplyError::Destructive(_) | ApplyError::JournalMode(_))) => Failure::Refused(a.to_string()),
        other => Failure::Error(other.to_string()),
    }
}

/// Opens (creating if needed) the target database for planning and applying.
fn open_target(db: &Path) -> Result<Connection, Failure> {
    let conn = Connection::open(db).map_err(|e| Failure::Error(format!("{}: {e}", db.display())))?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(|e| Failure::Error(format!("{}: {e}", db.display())))?;
    Ok(conn)
}

/// Loads the desired schema, opens the database and plans.
fn prepare(target: &Target, create: bool) -> Result<(Connection, Schema, Plan), Failure> {
    let desired = load::desired_from_dir(&target.schema)?;
    let mut conn = if create { open_target(&target.db)? } else { open_existing_read_only(&target.db)? };
    let (_, plan) = sqlite_reconcile::plan_for(&mut conn, &desired, &InspectOptions::default()).map_err(lib_failure)?;
    Ok((conn, desired, plan))
}

fn cmd_plan(target: &Target, format: Format) -> Result<Outcome, Failure> {
    let (_, _, plan) = prepare_existing_or_empty(target)?;
    match format {
        Format::Text => eprint!("{}", render::text(&plan)),
        Format::Sql => print_stdout(&render::sql(&plan)),
        Format::Json => print_stdout(&render::json(&plan)),
    }
    Ok(Outcome::Ok)
}

/// Plans against the database, or against an empty one when the file does not exist yet
/// (planning never creates the file).
fn prepare_existing_or_empty(target: &Target) -> Result<(Option<Connection>, Schema, Plan), Failure> {
    if target.db.exists() {
        let (c, d, p) = prepare(target, false)?;
        return Ok((Some(c), d, p));
    }
    let desired = load::desired_from_dir(&target.schema)?;
    let mut conn = Connection::open_in_memory()?;
    let (_, plan) = sqlite_reconcile::plan_for(&mut conn, &desired, &InspectOptions::default()).map_err(lib_failure)?;
    Ok((None, desired, plan))
}

fn cmd_apply(target: &Target, yes: bool, opts: &ApplyOptions) -> Result<Outcome, Failure> {
    // Validate everything before the database file is created.
    let desired = load::desired_from_dir(&target.schema)?;
    let mut conn = open_target(&target.db)?;
    let (_, plan) = sqlite_reconcile::plan_for(&mut conn, &desired, &opts.inspect).map_err(lib_failure)?;
    if plan.is_empty() {
        eprintln!("{}: in sync with {}; nothing to do", target.db.display(), target.schema.display());
        return Ok(Outcome::Ok);
    }
    eprint!("{}", render::text(&plan));
    if !yes && !opts.dry_run {
        if !std::io::stdin().is_terminal() {
            return Err(Failure::Refused(
                "not a terminal and no --yes: review the plan above and rerun with --yes".into(),
            ));
        }
        eprint!("\nApply these {} steps to {}? [y/N] ", plan.steps.len(), target.db.display());
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(Failure::Refused("not applied".into()));
        }
    }
    let applied =
        sqlite_reconcile::apply::apply(&mut conn, &plan, &desired, opts).map_err(|e| lib_failure(e.into()))?;
    if applied.dry_run {
        eprintln!("dry run: {} steps ran and verified in {:?}, then rolled back", applied.steps, applied.elapsed);
    } else {
        eprintln!(
            "applied {} steps ({} statements) in {:?}; verified",
            applied.steps, applied.statements, applied.elapsed
        );
    }
    Ok(Outcome::Ok)
}

fn cmd_drift(target: &Target, format: DriftFormat) -> Result<Outcome, Failure> {
    let desired = load::desired_from_dir(&target.schema)?;
    let conn = open_existing_read_only(&target.db)?;
    let actual = inspect(&conn, &InspectOptions::default())?;
    let changes = sqlite_reconcile::diff::diff(&actual, &desired);
    match format {
        DriftFormat::Json => {
            let j = serde_json::json!({
                "version": render::JSON_VERSION,
                "in_sync": changes.is_empty(),
                "database": target.db.display().to_string(),
                "schema": target.schema.display().to_string(),
                "differences": changes,
            });
            print_stdout(&format!("{}\n", serde_json::to_string_pretty(&j)?));
        }
        DriftFormat::Text => {
            if changes.is_empty() {
                eprintln!("{}: in sync with {}", target.db.display(), target.schema.display());
            } else {
                eprintln!("{}: {} differences from {}:", target.db.display(), changes.len(), target.schema.display());
                for c in &changes {
                    eprintln!("  {c}");
                }
            }
        }
    }
    Ok(if changes.is_empty() { Outcome::Ok } else { Outcome::Drift })
}
