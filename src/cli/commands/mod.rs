//! The commands, one file each, and what several of them share: loading the schema, planning on
//! a connection, showing a plan and asking for it, reporting a change, lint warnings, writing
//! output. A command returns an `Outcome` or a `Failure`; it never picks an exit code or exits.
//! People's text goes to stderr, the output asked for (YAML, SQL, JSON) to stdout.

pub(crate) mod apply;
pub(crate) mod check;
pub(crate) mod drift;
pub(crate) mod fleet;
pub(crate) mod history;
pub(crate) mod inspect;
pub(crate) mod plan;
pub(crate) mod reset;
pub(crate) mod rollback;

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Instant;

use clap::CommandFactory;
use rusqlite::Connection;

use sqlite_reconcile::store;
use sqlite_reconcile::target::LocalFile;
use sqlite_reconcile::{lint, load, render, Lint, Loaded, Plan, Prepared, Report};

use super::args::{Cli, RunArgs};
use super::exit::{Failure, Outcome};
use super::generate;
use super::open::db_failure;
use super::output::human;
use super::settings::Settings;

/// `schema`: prints the JSON Schema of the YAML format.
pub(crate) fn schema() -> Result<Outcome, Failure> {
    print_stdout(&sqlite_reconcile::json_schema());
    Ok(Outcome::Ok)
}

/// `completions`: prints the completion script for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<Outcome, Failure> {
    print_stdout(&generate::completions(shell, Cli::command()));
    Ok(Outcome::Ok)
}

/// `man`: prints the man page, of `reconcile` or of one of its commands.
pub(crate) fn man(command: Option<&str>) -> Result<Outcome, Failure> {
    generate::man(Cli::command(), command).map(|page| {
        print_stdout(&page);
        Outcome::Ok
    })
}

fn print_stdout(s: &str) {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
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

/// Loads and validates the schema directory: the desired schema, normalized.
fn load_desired(st: &Settings, schema: &Path) -> Result<sqlite_reconcile::Schema, Failure> {
    Ok(load_schema(st, schema)?.1)
}

/// Loads and validates the schema directory, timed at `-vv`: the YAML as read, and normalized.
fn load_schema(st: &Settings, schema: &Path) -> Result<(Loaded, sqlite_reconcile::Schema), Failure> {
    let sources = load::read_dir(schema).map_err(Failure::library)?;
    load_sources(st, schema, &sources)
}

/// [`load_schema`] of the `sources` already read from the directory `schema`.
fn load_sources(
    st: &Settings,
    schema: &Path,
    sources: &[(String, String)],
) -> Result<(Loaded, sqlite_reconcile::Schema), Failure> {
    let t = Instant::now();
    let loaded = load::load_sources(sources).map_err(Failure::library)?;
    let desired = load::desired(&loaded).map_err(Failure::library)?;
    st.timed(&format!("loaded and validated {}", schema.display()), t);
    Ok((loaded, desired))
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

/// Inspects `conn` and plans the change to `desired`, timed at `-vv`.
fn prepare_on(
    st: &Settings,
    conn: &mut Connection,
    db: &Path,
    desired: &sqlite_reconcile::Schema,
) -> Result<Prepared, Failure> {
    let mut target = LocalFile::new(conn).map_err(|e| db_failure(db, st.busy_timeout(), e.into()))?;
    prepare_in(st, &mut target, db, desired)
}

/// Plans the change from `target` (a file or a server) to `desired`, timed at `-vv`.
fn prepare_in(
    st: &Settings,
    target: &mut dyn sqlite_reconcile::target::Target,
    db: &Path,
    desired: &sqlite_reconcile::Schema,
) -> Result<Prepared, Failure> {
    let t = Instant::now();
    let failure = |e: sqlite_reconcile::Error| db_failure(db, st.busy_timeout(), e);
    let prepared = target.prepare(desired, &st.inspect()).map_err(failure)?;
    st.timed(&format!("inspected {} and planned the change and its rollback", db.display()), t);
    Ok(prepared)
}

/// The plan as text for stderr, colored when color is on.
fn plan_text(st: &Settings, plan: &Plan) -> String {
    render::text_with(plan, &[], st.out.color)
}

/// Lint warnings with the file, line and column of their objects, for SARIF.
fn located(loaded: &Loaded, lints: &[Lint]) -> Vec<sqlite_reconcile::sarif::Located> {
    lints
        .iter()
        .map(|l| {
            let (file, line, column) = loaded.position_of(&l.path);
            sqlite_reconcile::sarif::Located { lint: l.clone(), file, line, column }
        })
        .collect()
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
    std::io::stdin().read_line(&mut answer).map_err(Failure::error)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        return Err(Failure::Refused("not applied".into()));
    }
    Ok(())
}

/// What a change did, unless `--quiet`: steps, statements and time, or the dry run's result; the
/// change id, plan files and backup.
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
