//! CLI: the front hall. `run` parses the arguments, resolves the settings, hands the work to one
//! command and turns its result into the exit code. This is the only module that knows about
//! terminals and exit codes (0 ok, 1 error, 2 drift, 3 refused); the library neither prints
//! nor exits.
//!
//! Where things are: `args` the clap definitions (their doc comments are the help text),
//! `settings` where each setting comes from, `commands` one file per command, `open` opening
//! databases, `exit` the exit statuses and the one mapping to them, `output` how much to print
//! and in which colors, `config` reconcile.toml, `generate` completions and man pages. Nothing
//! here but the dispatch: no command's work, no exit number.

mod args;
mod commands;
mod config;
mod exit;
mod generate;
mod open;
mod output;
mod settings;

use std::process::ExitCode;
use std::time::Instant;

use clap::{CommandFactory, FromArgMatches};

use args::{Cli, Command};
use config::Config;
use exit::{ExitStatus, Failure, Outcome};
use output::Out;
use settings::Settings;
use sqlite_reconcile::history::Undo;

/// Parses the process's arguments, runs the command, maps the result to an exit code.
pub fn run() -> ExitCode {
    ExitCode::from(run_with(std::env::args_os()))
}

/// [`run`] with the arguments given (the first is the program's name): the exit status. Help and
/// version end the process, as clap does. The Python module's `reconcile` command calls this.
pub fn run_with(args: impl IntoIterator<Item = std::ffi::OsString>) -> u8 {
    // First, before SQLite is used: an I/O error can then name its operation and file.
    sqlite_reconcile::oslog::install();
    let parsed = Cli::command().try_get_matches_from(args).and_then(|m| Cli::from_arg_matches(&m).map(|cli| (m, cli)));
    let (matches, cli) = match parsed {
        Ok(p) => p,
        Err(e) if !e.use_stderr() => e.exit(), // --help, --version: exit 0
        Err(e) => {
            // clap exits 2 on bad usage, which `drift` means as drift: a typo is an error (1).
            let _ = e.print();
            return ExitStatus::Error.into();
        }
    };
    let out = Out::new(cli.quiet, cli.verbose, cli.color);
    let started = Instant::now();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return exit::finish(out, Err(Failure::Error(e))).into(),
    };
    if out.verbose(2) {
        eprintln!("config: {}", config.describe());
    }
    let sub = matches.subcommand().map(|(_, m)| m.clone()).unwrap_or_default();
    let st = &Settings::new(config, sub, out, cli.busy_timeout, cli.auth_token.clone());
    let result = dispatch(st, cli.command);
    st.timed("finished", started);
    exit::finish(out, result).into()
}

/// Runs one command with its arguments.
fn dispatch(st: &Settings, command: Command) -> Result<Outcome, Failure> {
    use commands::{apply, check, drift, fleet, history, inspect, plan, reset, rollback};
    match command {
        Command::Inspect { db, output } => inspect::run(st, &st.db(&db.db), output.as_deref()),
        Command::Check { schema, lints, format } => check::run(st, &st.schema(&schema), &lints, format),
        Command::Plan { target, lints, format, out } => plan::run(st, &target, &lints, format, out.as_deref()),
        Command::Apply { target, run, plan, plans } => apply::run(st, &target, &run, plan.as_deref(), &plans),
        Command::Drift { target, format } => drift::run(st, &target, format),
        Command::Rollback { db, plan_id, to, steps, run } => {
            let which = match (plan_id.as_deref(), to.as_deref(), steps) {
                (_, Some(to), _) => Undo::To(to),
                (_, _, Some(n)) => Undo::Steps(n as usize),
                (Some(id), _, _) => Undo::Change(id),
                (None, None, None) => Undo::Newest,
            };
            rollback::run(st, &st.db(&db.db), which, &run)
        }
        Command::History { db, format } => history::run(st, &st.db(&db.db), format),
        Command::Reset { target, yes } => reset::run(st, &target, yes),
        Command::Fleet { action } => fleet::run(st, action),
        Command::Schema => commands::schema(),
        Command::Completions { shell } => commands::completions(shell),
        Command::Man { command } => commands::man(command.as_deref()),
    }
}
