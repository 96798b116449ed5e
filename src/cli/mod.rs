//! CLI: clap arguments, one function per command, and the only place that
//! knows about terminals and exit codes (0 ok, 1 error, 2 drift, 3 refused).

mod config;
mod generate;
mod output;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::parser::ValueSource;
use clap::{ArgAction, ArgMatches, CommandFactory, FromArgMatches, Parser, Subcommand};
use rusqlite::{Connection, OpenFlags};

use sqlite_reconcile::apply::{is_busy, is_read_only, WRITING};
use sqlite_reconcile::normalize::sqlite_message;
use sqlite_reconcile::reconciler::{self, Run};
use sqlite_reconcile::store;
use sqlite_reconcile::{
    inspect, lint, load, render, ApplyError, ApplyOptions, Error, InspectError, InspectOptions, Lint, Loaded, Plan,
    Prepared, Report,
};

use config::Config;
use output::{human, ColorChoice, Out};

/// The help of an option that can come from several places, in the order they win:
/// the flag, the environment variable, the reconcile.toml key, the default.
macro_rules! sourced {
    ($what:literal, $env:literal, $key:literal, $default:literal) => {
        concat!($what, " [env: ", $env, "] [reconcile.toml: ", $key, "] [default: ", $default, "]")
    };
}

/// The heading of the options every command takes.
const GLOBAL: &str = "Global options";

/// Below every command's help that has such options.
const PRECEDENCE: &str = "Settings: flag > RECONCILE_* variable > reconcile.toml > default (see `reconcile --help`)";

/// Below the help of the commands that lint: every lint of `lint::LINTS`, then the settings line.
fn lints_help() -> String {
    let mut help = String::from(
        "Lints (warnings; silence one with --allow-lint NAME or allow_lints = [\"NAME\"] in reconcile.toml):\n",
    );
    let width = lint::LINTS.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, what) in lint::LINTS {
        help.push_str(&format!("  {name:<width$}  {what}\n"));
    }
    help.push('\n');
    help.push_str(PRECEDENCE);
    help
}

/// Below the top-level help.
const SETTINGS: &str = "\
Where settings come from, first found wins: the flag, its RECONCILE_* environment variable,
reconcile.toml (in the current directory, or --config), the default.

  setting             flag                 environment             reconcile.toml     default
  database file       --db                 RECONCILE_DB            db                 app.db
  schema directory    --schema             RECONCILE_SCHEMA        schema             schema
  plan directory      --plans              RECONCILE_PLANS         plans              plans
  lock wait (ms)      --busy-timeout       RECONCILE_BUSY_TIMEOUT  busy_timeout_ms    5000
  destructive steps   --allow-destructive  -                       allow_destructive  false
  environment         -                    RECONCILE_ENV           env                (none)
  objects left alone  -                    -                       exclude            []
  reset seed script   -                    -                       seed               (none)
  lints not shown     --allow-lint         RECONCILE_ALLOW_LINTS   allow_lints        []
  config file         --config             RECONCILE_CONFIG        -                  ./reconcile.toml
  color               --color              RECONCILE_COLOR         -                  auto

Paths in reconcile.toml are relative to its directory. `reset` runs only where the environment is
dev. Color: auto colors the plan on a terminal unless NO_COLOR is set; output to pipes and JSON
is never colored unless --color always.

Exit codes: 0 success, 1 error, 2 drift (`drift`), 3 refused by policy.";

/// Keep SQLite schemas as code: declare tables, indexes, triggers and views in
/// YAML; plan and apply the changes safely.
#[derive(Debug, Parser)]
#[command(name = "reconcile", version, about, long_about = None, after_help = SETTINGS)]
pub struct Cli {
    /// Config file [env: RECONCILE_CONFIG] [default: ./reconcile.toml, if present]
    #[arg(long, global = true, env = "RECONCILE_CONFIG", hide_env = true, value_name = "FILE", help_heading = GLOBAL)]
    config: Option<PathBuf>,
    /// Color the plan: auto (on a terminal, without NO_COLOR), always, never [env: RECONCILE_COLOR] [default: auto]
    #[arg(long, global = true, env = "RECONCILE_COLOR", hide_env = true, value_enum, value_name = "WHEN", hide_possible_values = true, help_heading = GLOBAL)]
    color: Option<ColorChoice>,
    /// Print only errors and the output asked for (JSON, SQL, YAML; the plan when asking to confirm)
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    quiet: bool,
    /// More detail: -v each step with its SQL and time as it runs; -vv also setting sources and stage timings
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = GLOBAL)]
    verbose: u8,
    #[arg(long, global = true, env = "RECONCILE_BUSY_TIMEOUT", hide_env = true, value_name = "MS", help_heading = GLOBAL,
          help = sourced!("Milliseconds to wait for a lock another connection holds", "RECONCILE_BUSY_TIMEOUT", "busy_timeout_ms", "5000"))]
    busy_timeout: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Describe an existing database's schema as YAML (stdout or -o FILE)
    #[command(after_help = PRECEDENCE)]
    Inspect {
        #[command(flatten)]
        db: Db,
        /// Write the YAML to this file instead of stdout
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Validate the YAML schema without a database (exit 0 valid, 1 invalid), with lint warnings
    #[command(after_help = lints_help())]
    Check {
        #[arg(long, env = "RECONCILE_SCHEMA", hide_env = true, value_name = "DIR",
              help = sourced!("Schema directory of *.yaml files", "RECONCILE_SCHEMA", "schema", "schema"))]
        schema: Option<PathBuf>,
        #[command(flatten)]
        lints: LintArgs,
    },
    /// Show the ordered steps that would bring the database to the schema, with lint warnings
    #[command(after_help = lints_help())]
    Plan {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        lints: LintArgs,
        /// Output format: text (stderr), sql or json (stdout)
        #[arg(long, value_enum, default_value_t = Format::Text)]
        format: Format,
        /// Also save the plan (with its rollback) to FILE, for `apply --plan FILE`
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Apply the plan in one transaction, verify it, and record it with its rollback
    #[command(after_help = PRECEDENCE)]
    Apply {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        run: RunArgs,
        /// Apply this saved plan exactly (from `plan --out`), instead of planning against the schema
        #[arg(long, value_name = "FILE")]
        plan: Option<PathBuf>,
        #[arg(long, env = "RECONCILE_PLANS", hide_env = true, value_name = "DIR",
              help = sourced!("Plan directory for the applied plan's files", "RECONCILE_PLANS", "plans", "plans"))]
        plans: Option<PathBuf>,
    },
    /// Compare the database with the schema: exit 0 in sync, 2 drift, 1 error
    #[command(after_help = PRECEDENCE)]
    Drift {
        #[command(flatten)]
        target: Target,
        /// Output format: text (stderr) or json (stdout)
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Undo the last applied change (or PLAN_ID) with its stored rollback plan
    #[command(after_help = PRECEDENCE)]
    Rollback {
        #[command(flatten)]
        db: Db,
        /// The change to undo, as listed by `history` [default: the last applied]
        plan_id: Option<String>,
        #[command(flatten)]
        run: RunArgs,
    },
    /// List the changes applied to the database, newest first
    #[command(after_help = PRECEDENCE)]
    History {
        #[command(flatten)]
        db: Db,
        /// Output format: text or json (stdout)
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Development only: drop every managed object, build the schema from scratch, run the seed
    ///
    /// Runs only where the environment is dev: RECONCILE_ENV=dev, or env = "dev" in reconcile.toml
    /// (not enough under CI=true). The seed is the SQL file named by `seed` in reconcile.toml.
    #[command(after_help = PRECEDENCE)]
    Reset {
        #[command(flatten)]
        target: Target,
        /// Really do it
        #[arg(long)]
        yes: bool,
    },
    /// Print the JSON Schema of the YAML format
    #[command(after_help = PRECEDENCE)]
    Schema,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    ///
    /// Install it where the shell looks, for example:
    ///   reconcile completions bash > ~/.local/share/bash-completion/completions/reconcile
    ///   reconcile completions zsh > ~/.zfunc/_reconcile      (with fpath+=(~/.zfunc) in .zshrc)
    ///   reconcile completions fish > ~/.config/fish/completions/reconcile.fish
    #[command(verbatim_doc_comment, after_help = PRECEDENCE)]
    Completions {
        /// The shell
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): reconcile man | man -l -
    #[command(after_help = PRECEDENCE)]
    Man {
        /// A command's own page (reconcile-apply) instead of the main one
        command: Option<String>,
    },
}

/// The database file.
#[derive(Debug, clap::Args)]
struct Db {
    #[arg(long, env = "RECONCILE_DB", hide_env = true, value_name = "FILE",
          help = sourced!("Database file", "RECONCILE_DB", "db", "app.db"))]
    db: Option<PathBuf>,
}

/// The database and the schema directory.
#[derive(Debug, clap::Args)]
struct Target {
    #[arg(long, env = "RECONCILE_DB", hide_env = true, value_name = "FILE",
          help = sourced!("Database file", "RECONCILE_DB", "db", "app.db"))]
    db: Option<PathBuf>,
    #[arg(long, env = "RECONCILE_SCHEMA", hide_env = true, value_name = "DIR",
          help = sourced!("Schema directory of *.yaml files", "RECONCILE_SCHEMA", "schema", "schema"))]
    schema: Option<PathBuf>,
}

/// Lints to silence.
#[derive(Debug, clap::Args)]
struct LintArgs {
    #[arg(long = "allow-lint", env = "RECONCILE_ALLOW_LINTS", hide_env = true, value_name = "NAME",
          value_delimiter = ',',
          help = sourced!("Do not warn about this lint (repeatable, or comma-separated)", "RECONCILE_ALLOW_LINTS", "allow_lints", "none"))]
    allow_lint: Vec<String>,
}

/// How to run a change.
#[derive(Debug, clap::Args)]
struct RunArgs {
    /// Apply without asking
    #[arg(long)]
    yes: bool,
    /// Run destructive steps (their data is kept for the rollback) [reconcile.toml: allow_destructive] [default: false]
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
    /// The subcommand's matches, to tell a flag from its environment variable.
    matches: ArgMatches,
    out: Out,
    /// Settings already shown at `-vv`.
    shown: RefCell<BTreeSet<&'static str>>,
    /// `--busy-timeout` or RECONCILE_BUSY_TIMEOUT.
    busy_timeout: Option<u64>,
}

impl Settings {
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
    fn db(&self, flag: &Option<PathBuf>) -> PathBuf {
        self.resolve("db", flag.clone(), self.config.path(&self.config.db), PathBuf::from("app.db"))
    }
    fn schema(&self, flag: &Option<PathBuf>) -> PathBuf {
        self.resolve("schema", flag.clone(), self.config.path(&self.config.schema), PathBuf::from("schema"))
    }
    fn plans(&self, flag: &Option<PathBuf>) -> PathBuf {
        self.resolve("plans", flag.clone(), self.config.path(&self.config.plans), PathBuf::from("plans"))
    }
    /// The lints not to show; an unknown name is an error.
    fn allow_lints(&self, args: &LintArgs) -> Result<Vec<String>, Failure> {
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
    fn inspect(&self) -> InspectOptions {
        InspectOptions { exclude: self.config.exclude.clone() }
    }
    fn apply(&self, run: &RunArgs) -> ApplyOptions {
        let allow = self.resolve(
            "allow_destructive",
            run.allow_destructive.then_some(true),
            self.config.allow_destructive,
            false,
        );
        ApplyOptions {
            allow_destructive: allow,
            dry_run: run.dry_run,
            busy_timeout: self.busy_timeout(),
            inspect: self.inspect(),
            observer: self.out.observer(),
        }
    }
    /// How long to wait for a lock another connection holds.
    fn busy_timeout(&self) -> Duration {
        let ms = self.resolve("busy_timeout", self.busy_timeout, self.config.busy_timeout_ms, DEFAULT_BUSY_TIMEOUT_MS);
        Duration::from_millis(ms)
    }
    /// Prints `what` took `since` at `-vv`.
    fn timed(&self, what: &str, since: Instant) {
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
    let parsed = Cli::command().try_get_matches().and_then(|m| Cli::from_arg_matches(&m).map(|cli| (m, cli)));
    let (matches, cli) = match parsed {
        Ok(p) => p,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version: exit 0
        Err(e) => {
            // clap exits 2 on bad usage, which `drift` means as drift: a typo is an error (1).
            let _ = e.print();
            return ExitCode::from(1);
        }
    };
    let out = Out::new(cli.quiet, cli.verbose, cli.color);
    let started = Instant::now();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return exit_code(out, Err(Failure::Error(e))),
    };
    if out.verbose(2) {
        eprintln!("config: {}", config.describe());
    }
    let sub = matches.subcommand().map(|(_, m)| m.clone()).unwrap_or_default();
    let settings = Settings { config, matches: sub, out, shown: RefCell::default(), busy_timeout: cli.busy_timeout };
    let st = &settings;
    let result = match cli.command {
        Command::Inspect { db, output } => cmd_inspect(st, &st.db(&db.db), output.as_deref()),
        Command::Check { schema, lints } => cmd_check(st, &st.schema(&schema), &lints),
        Command::Plan { target, lints, format, out } => cmd_plan(st, &target, &lints, format, out.as_deref()),
        Command::Apply { target, run, plan, plans } => cmd_apply(st, &target, &run, plan.as_deref(), &plans),
        Command::Drift { target, format } => cmd_drift(st, &target, format),
        Command::Rollback { db, plan_id, run } => cmd_rollback(st, &st.db(&db.db), plan_id.as_deref(), &run),
        Command::History { db, format } => cmd_history(st, &st.db(&db.db), format),
        Command::Reset { target, yes } => cmd_reset(st, &target, yes),
        Command::Schema => {
            print_stdout(&sqlite_reconcile::json_schema());
            Ok(Outcome::Ok)
        }
        Command::Completions { shell } => {
            print_stdout(&generate::completions(shell, Cli::command()));
            Ok(Outcome::Ok)
        }
        Command::Man { command } => generate::man(Cli::command(), command.as_deref()).map(|page| {
            print_stdout(&page);
            Outcome::Ok
        }),
    };
    st.timed("finished", started);
    exit_code(out, result)
}

fn exit_code(out: Out, r: Result<Outcome, Failure>) -> ExitCode {
    match r {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Drift) => ExitCode::from(2),
        Err(Failure::Error(m)) => {
            eprintln!("{} {m}", out.paint("1;31", "error:"));
            ExitCode::from(1)
        }
        Err(Failure::Refused(m)) => {
            // Library refusals may already say so.
            eprintln!("{} {}", out.paint("1;33", "refused:"), m.strip_prefix("refused: ").unwrap_or(&m));
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
    let t = Instant::now();
    let timeout = st.busy_timeout();
    let conn = open_existing_read_only(db, timeout)?;
    let schema = inspect(&conn, &st.inspect()).map_err(|e| db_failure(db, timeout, e.into()))?;
    st.timed(&format!("inspected {}", db.display()), t);
    let yaml = sqlite_reconcile::to_yaml(&schema)?;
    match output {
        Some(path) => write_output(path, yaml.as_bytes())?,
        None => print_stdout(&yaml),
    }
    Ok(Outcome::Ok)
}

/// Writes an output file (`inspect -o`, `plan --out`) atomically, making its directory first as a
/// user asking for `schema/app.yaml` in a new project expects.
fn write_output(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let failed = |e: std::io::Error| Failure::Error(format!("{}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(failed)?;
    }
    store::write_atomic(path, bytes).map_err(failed)
}

/// Loads and validates the schema directory, timed at `-vv`.
fn load_desired(st: &Settings, schema: &Path) -> Result<sqlite_reconcile::Schema, Failure> {
    Ok(load_schema(st, schema)?.1)
}

/// Loads and validates the schema directory, timed at `-vv`: the YAML as read, and normalized.
fn load_schema(st: &Settings, schema: &Path) -> Result<(Loaded, sqlite_reconcile::Schema), Failure> {
    let t = Instant::now();
    let loaded = load::load_dir(schema)?;
    let desired = load::desired(&loaded)?;
    st.timed(&format!("loaded and validated {}", schema.display()), t);
    Ok((loaded, desired))
}

fn cmd_check(st: &Settings, schema: &Path, lints: &LintArgs) -> Result<Outcome, Failure> {
    let allow = st.allow_lints(lints)?;
    let t = Instant::now();
    let loaded = load::load_dir(schema)?;
    let desired = load::desired(&loaded)?;
    st.timed(&format!("loaded and validated {}", schema.display()), t);
    let s = &desired;
    if st.out.normal() {
        eprintln!(
            "{}: valid ({}, {}, {}, {}, {})",
            schema.display(),
            plural(s.tables.len(), "table", "tables"),
            plural(s.indexes().count(), "index", "indexes"),
            plural(s.views.len(), "view", "views"),
            plural(s.triggers.len(), "trigger", "triggers"),
            plural(s.virtual_tables.len(), "virtual table", "virtual tables")
        );
    }
    warn(st, &loaded, &lint::schema(&desired, &allow));
    Ok(Outcome::Ok)
}

/// Prints lint warnings, each placed in its file, unless `--quiet`.
fn warn(st: &Settings, loaded: &Loaded, lints: &[Lint]) {
    if !st.out.normal() || lints.is_empty() {
        return;
    }
    // A schema-wide habit (say, no index on any foreign key) shows a few times, then a count.
    const SHOWN_PER_LINT: usize = 5;
    for (name, _) in lint::LINTS {
        let of_lint: Vec<&Lint> = lints.iter().filter(|l| l.name == *name).collect();
        for l in of_lint.iter().take(SHOWN_PER_LINT) {
            let head = st.out.paint("1;33", &format!("warning[{}]:", l.name));
            eprintln!("{head} {}: `{}`: {}", loaded.file_of(&l.path), l.path, l.message);
        }
        if of_lint.len() > SHOWN_PER_LINT {
            let more = of_lint.len() - SHOWN_PER_LINT;
            let head = st.out.paint("1;33", &format!("warning[{name}]:"));
            eprintln!("{head} {} more like these", more);
        }
    }
    eprintln!("({}; silence one with --allow-lint NAME)", plural(lints.len(), "warning", "warnings"));
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

/// Inspects `conn` and plans the change to `desired`, timed at `-vv`.
fn prepare_on(
    st: &Settings,
    conn: &mut Connection,
    db: &Path,
    desired: &sqlite_reconcile::Schema,
) -> Result<Prepared, Failure> {
    let t = Instant::now();
    let prepared =
        reconciler::prepare(conn, desired, &st.inspect()).map_err(|e| db_failure(db, st.busy_timeout(), e))?;
    st.timed(&format!("inspected {} and planned the change and its rollback", db.display()), t);
    Ok(prepared)
}

/// Plans against the database, or against an empty one when the file does not exist yet
/// (planning never creates the file).
fn prepare(st: &Settings, db: &Path, desired: &sqlite_reconcile::Schema) -> Result<Prepared, Failure> {
    let mut conn =
        if db.exists() { open_existing_read_only(db, st.busy_timeout())? } else { Connection::open_in_memory()? };
    prepare_on(st, &mut conn, db, desired)
}

/// The plan as text for stderr, colored when color is on.
fn plan_text(st: &Settings, plan: &Plan) -> String {
    if st.out.color {
        render::text_colored(plan)
    } else {
        render::text(plan)
    }
}

fn cmd_plan(
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
        let json = serde_json::to_string_pretty(&prepared)? + "\n";
        write_output(out, json.as_bytes())?;
        if st.out.normal() {
            eprintln!("saved the plan to {} (against schema {})", out.display(), prepared.fingerprint_before);
        }
    }
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

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Shows the plan and asks, unless `--yes` or `--dry-run`; refuses without a terminal.
/// With `--quiet` the plan is shown only when asking.
fn confirm(st: &Settings, plan: &Plan, what: &str, db: &Path, run: &RunArgs) -> Result<(), Failure> {
    let asks = !(run.yes || run.dry_run);
    let terminal = std::io::stdin().is_terminal();
    let shown = st.out.normal() || (asks && terminal);
    if shown {
        eprint!("{}", plan_text(st, plan));
    }
    if !asks {
        return Ok(());
    }
    if !terminal {
        let review = if shown { "review the plan above" } else { "review it with `reconcile plan`" };
        return Err(Failure::Refused(format!("not a terminal and no --yes: {review} and rerun with --yes")));
    }
    let steps = plural(plan.steps.len(), "step", "steps");
    eprint!("\n{what} the {steps} above to {}? [y/N] ", db.display());
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        return Err(Failure::Refused("not applied".into()));
    }
    Ok(())
}

fn report(st: &Settings, r: &Report, verb: &str) {
    if !st.out.normal() {
        return;
    }
    let steps = plural(r.steps, "step", "steps");
    if r.dry_run {
        eprintln!("dry run: {steps} ran and verified in {}, then rolled back", human(r.elapsed));
        return;
    }
    let statements = plural(r.statements, "statement", "statements");
    eprintln!("{verb} {steps} ({statements}) in {}; verified", human(r.elapsed));
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
    plans: &Option<PathBuf>,
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
            let desired = load_desired(st, &st.schema(&target.schema))?;
            let mut conn = open_target(&db, timeout)?;
            let prepared = prepare_on(st, &mut conn, &db, &desired)?;
            (conn, prepared)
        }
    };
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
    let r = reconciler::execute(
        &mut conn,
        &prepared,
        &Run { kind: "apply", options, plans: Some(plans), ..Run::default() },
    )
    .map_err(|e| db_failure(&db, timeout, e))?;
    report(st, &r, "applied");
    Ok(Outcome::Ok)
}

fn cmd_rollback(st: &Settings, db: &Path, id: Option<&str>, run: &RunArgs) -> Result<Outcome, Failure> {
    if !db.exists() {
        return Err(Failure::Error(format!("{}: no such database file", db.display())));
    }
    let timeout = st.busy_timeout();
    let mut conn = open_target(db, timeout)?;
    let (entry, original) = reconciler::rollback_target(&conn, id).map_err(|e| db_failure(db, timeout, e))?;
    if st.out.normal() {
        eprintln!("rolling back {} ({}, applied {})", entry.id, entry.summary, entry.applied_at);
    }
    confirm(st, &original.rollback, "Roll back with", db, run)?;
    let r = reconciler::rollback_change(&mut conn, &entry, &original, st.apply(run))
        .map_err(|e| db_failure(db, timeout, e))?;
    report(st, &r, "rolled back with");
    Ok(Outcome::Ok)
}

fn cmd_history(st: &Settings, db: &Path, format: ListFormat) -> Result<Outcome, Failure> {
    let timeout = st.busy_timeout();
    let conn = open_existing_read_only(db, timeout)?;
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
    let mut conn = open_target(&db, timeout)?;
    let options = ApplyOptions {
        inspect: st.inspect(),
        observer: st.out.observer(),
        busy_timeout: timeout,
        ..ApplyOptions::default()
    };
    let r =
        reconciler::reset(&mut conn, &desired, seed.as_deref(), options).map_err(|e| db_failure(&db, timeout, e))?;
    report(st, &r, "reset:");
    Ok(Outcome::Ok)
}

fn cmd_drift(st: &Settings, target: &Target, format: ListFormat) -> Result<Outcome, Failure> {
    let (db, schema) = (st.db(&target.db), st.schema(&target.schema));
    let desired = load_desired(st, &schema)?;
    let t = Instant::now();
    let timeout = st.busy_timeout();
    let conn = open_existing_read_only(&db, timeout)?;
    let actual = inspect(&conn, &st.inspect()).map_err(|e| db_failure(&db, timeout, e.into()))?;
    st.timed(&format!("inspected {}", db.display()), t);
    let t = Instant::now();
    let changes = sqlite_reconcile::diff::diff(&actual, &desired);
    st.timed("compared", t);
    match format {
        ListFormat::Json => print_stdout(&render::drift_json(&db, &schema, &changes)),
        ListFormat::Text if st.out.normal() => {
            if changes.is_empty() {
                eprintln!("{}: in sync with {}", db.display(), schema.display());
            } else {
                let n = plural(changes.len(), "difference", "differences");
                eprintln!("{}: {n} from {}:", db.display(), schema.display());
                for c in &changes {
                    eprintln!("  {c}");
                }
            }
        }
        ListFormat::Text => {}
    }
    Ok(if changes.is_empty() { Outcome::Ok } else { Outcome::Drift })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    /// The help text names the variable clap actually reads, and the settings table lists it.
    #[test]
    fn help_names_the_variable_read() {
        let cmd = Cli::command();
        let mut seen = 0;
        for sub in std::iter::once(&cmd).chain(cmd.get_subcommands()) {
            for arg in sub.get_arguments() {
                let Some(env) = arg.get_env() else { continue };
                let env = env.to_string_lossy();
                let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
                assert!(help.contains(&format!("[env: {env}]")), "--{}: {help:?} does not name {env}", arg.get_id());
                assert!(SETTINGS.contains(&*env), "{env} is not in the settings table");
                seen += 1;
            }
        }
        assert!(seen > 5, "{seen}");
    }
}
