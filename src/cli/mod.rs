//! CLI: clap arguments, one function per command, and the only place that
//! knows about terminals and exit codes (0 ok, 1 error, 2 drift, 3 refused).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rusqlite::{Connection, OpenFlags};

use sqlite_reconcile::{inspect, load, InspectOptions};

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
    /// Print the JSON Schema of the YAML format
    Schema,
}

/// How a command ended, for the exit code.
#[derive(Debug)]
pub enum Outcome {
    /// Success.
    Ok,
}

/// A command's failure, for the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad input, SQLite error, verification failure: exit 1.
    Error(String),
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
        Err(Failure::Error(m)) => {
            eprintln!("error: {m}");
            ExitCode::from(1)
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
