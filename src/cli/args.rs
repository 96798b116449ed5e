//! The command line's shape: the clap structs and enums, whose doc comments are the help
//! text (snapshot tests compare it byte for byte), and the help's constant parts. Only
//! declarations: nothing here reads settings, opens a database or picks an exit code.

use std::path::PathBuf;

use clap::{ArgAction, Parser, Subcommand};

use sqlite_reconcile::lint;

use super::output::ColorChoice;

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
pub(crate) struct Cli {
    /// Config file [env: RECONCILE_CONFIG] [default: ./reconcile.toml, if present]
    #[arg(long, global = true, env = "RECONCILE_CONFIG", hide_env = true, value_name = "FILE", help_heading = GLOBAL)]
    pub(crate) config: Option<PathBuf>,
    /// Color the plan: auto (on a terminal, without NO_COLOR), always, never [env: RECONCILE_COLOR] [default: auto]
    #[arg(long, global = true, env = "RECONCILE_COLOR", hide_env = true, value_enum, value_name = "WHEN", hide_possible_values = true, help_heading = GLOBAL)]
    pub(crate) color: Option<ColorChoice>,
    /// Print only errors and the output asked for (JSON, SQL, YAML; the plan when asking to confirm)
    #[arg(short, long, global = true, conflicts_with = "verbose", help_heading = GLOBAL)]
    pub(crate) quiet: bool,
    /// More detail: -v each step with its SQL and time as it runs; -vv also setting sources and stage timings
    #[arg(short, long, global = true, action = ArgAction::Count, help_heading = GLOBAL)]
    pub(crate) verbose: u8,
    #[arg(long, global = true, env = "RECONCILE_BUSY_TIMEOUT", hide_env = true, value_name = "MS", help_heading = GLOBAL,
          help = sourced!("Milliseconds to wait for a lock another connection holds", "RECONCILE_BUSY_TIMEOUT", "busy_timeout_ms", "5000"))]
    pub(crate) busy_timeout: Option<u64>,
    /// Auth token (a JWT) for a libSQL server given as --db http://...; never printed [env: RECONCILE_AUTH_TOKEN, then LIBSQL_AUTH_TOKEN] [default: none]
    #[arg(long, global = true, value_name = "TOKEN", help_heading = GLOBAL)]
    pub(crate) auth_token: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
        /// Output format: text (stderr) or sarif (stdout, the lint warnings as SARIF 2.1.0)
        #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
        format: CheckFormat,
    },
    /// Show the ordered steps that would bring the database to the schema, with lint warnings
    #[command(after_help = lints_help())]
    Plan {
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        lints: LintArgs,
        /// Output format: text (stderr); sql, json, markdown (a pull-request comment) or sarif (the
        /// plan-time lint warnings) on stdout
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
        /// Output format: text (stderr); json or markdown (a pull-request comment) on stdout
        #[arg(long, value_enum, default_value_t = DriftFormat::Text)]
        format: DriftFormat,
    },
    /// Undo the last applied change (or PLAN_ID, those newer than --to ID, the last --steps N) in one transaction
    #[command(after_help = PRECEDENCE)]
    Rollback {
        #[command(flatten)]
        db: Db,
        /// The change to undo, as listed by `history` [default: the last applied]
        #[arg(conflicts_with_all = ["to", "steps"])]
        plan_id: Option<String>,
        /// Undo every applied change newer than this one, back to the schema it left
        #[arg(long, value_name = "ID", conflicts_with = "steps")]
        to: Option<String>,
        /// Undo the last N applied changes
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        steps: Option<u32>,
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
    /// Many databases (a database per tenant) brought to one schema, planned once per distinct schema
    #[command(after_help = PRECEDENCE)]
    Fleet {
        #[command(subcommand)]
        action: FleetAction,
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

/// What `fleet` does.
#[derive(Debug, Subcommand)]
pub(crate) enum FleetAction {
    /// Show each distinct plan once, with the databases it applies to
    #[command(after_help = PRECEDENCE)]
    Plan {
        #[command(flatten)]
        fleet: FleetArgs,
        /// Output format: text (stderr) or json (stdout)
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Apply to every database, each in its own transaction: exit 0 all in sync, 1 any failed, 3 any refused
    #[command(after_help = PRECEDENCE)]
    Apply {
        #[command(flatten)]
        fleet: FleetArgs,
        /// Apply without asking
        #[arg(long)]
        yes: bool,
        /// Run destructive steps (their data is kept for the rollback) [reconcile.toml: allow_destructive] [default: false]
        #[arg(long)]
        allow_destructive: bool,
        /// Apply to N databases first (of those needing the change); stop if any of them fails
        #[arg(long, value_name = "N", default_value_t = 0)]
        canary: usize,
        /// After a failure: stop (finish those running, start no more) or continue
        #[arg(long, value_enum, value_name = "WHAT", default_value_t = OnErrorArg::Continue)]
        on_error: OnErrorArg,
        /// Record each database's outcome in FILE as it happens (JSON lines), for a rerun to read
        #[arg(long, value_name = "FILE")]
        state: Option<PathBuf>,
        /// The longest one database's change may take, lock wait included
        #[arg(long, value_name = "SECONDS")]
        timeout: Option<f64>,
        /// Output format: text (stderr) or json (stdout)
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
    /// Compare every database with the schema: exit 0 all in sync, 2 any differs, 1 any failed
    #[command(after_help = PRECEDENCE)]
    Drift {
        #[command(flatten)]
        fleet: FleetArgs,
        /// Output format: text (stderr) or json (stdout)
        #[arg(long, value_enum, default_value_t = ListFormat::Text)]
        format: ListFormat,
    },
}

/// The databases of a fleet and the schema.
#[derive(Debug, clap::Args)]
pub(crate) struct FleetArgs {
    /// The databases: a quoted glob ('tenants/*.db'), @FILE (a path or URL a line), a path or a URL; repeatable
    #[arg(long, value_name = "SPEC", required = true, num_args = 1..)]
    pub(crate) targets: Vec<String>,
    #[arg(long, env = "RECONCILE_SCHEMA", hide_env = true, value_name = "DIR",
          help = sourced!("Schema directory of *.yaml files", "RECONCILE_SCHEMA", "schema", "schema"))]
    pub(crate) schema: Option<PathBuf>,
    /// Databases worked on at once [default: the number of cores]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) jobs: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OnErrorArg {
    Stop,
    Continue,
}

/// The database file.
#[derive(Debug, clap::Args)]
pub(crate) struct Db {
    #[arg(long, env = "RECONCILE_DB", hide_env = true, value_name = "FILE",
          help = sourced!("Database file", "RECONCILE_DB", "db", "app.db"))]
    pub(crate) db: Option<PathBuf>,
}

/// The database and the schema directory.
#[derive(Debug, clap::Args)]
pub(crate) struct Target {
    #[arg(long, env = "RECONCILE_DB", hide_env = true, value_name = "FILE",
          help = sourced!("Database file", "RECONCILE_DB", "db", "app.db"))]
    pub(crate) db: Option<PathBuf>,
    #[arg(long, env = "RECONCILE_SCHEMA", hide_env = true, value_name = "DIR",
          help = sourced!("Schema directory of *.yaml files", "RECONCILE_SCHEMA", "schema", "schema"))]
    pub(crate) schema: Option<PathBuf>,
}

/// Lints to silence.
#[derive(Debug, clap::Args)]
pub(crate) struct LintArgs {
    #[arg(long = "allow-lint", env = "RECONCILE_ALLOW_LINTS", hide_env = true, value_name = "NAME",
          value_delimiter = ',',
          help = sourced!("Do not warn about this lint (repeatable, or comma-separated)", "RECONCILE_ALLOW_LINTS", "allow_lints", "none"))]
    pub(crate) allow_lint: Vec<String>,
}

/// How to run a change.
#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    /// Apply without asking
    #[arg(long)]
    pub(crate) yes: bool,
    /// Run destructive steps (their data is kept for the rollback) [reconcile.toml: allow_destructive] [default: false]
    #[arg(long)]
    pub(crate) allow_destructive: bool,
    /// Run everything, verify, then roll back
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    Text,
    Sql,
    Json,
    Markdown,
    Sarif,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum DriftFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum CheckFormat {
    Text,
    Sarif,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum ListFormat {
    Text,
    Json,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

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
