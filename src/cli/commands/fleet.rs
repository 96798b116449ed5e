//! `fleet plan|apply|drift`: many databases brought to one schema. The members come from
//! `--targets` (globs, `@FILE` lists, paths, URLs); the library reads, groups, plans and
//! changes them (`sqlite_reconcile::fleet`). This file shows each distinct plan once, asks,
//! draws the progress line, journals `--state`, and says the outcome: a summary by outcome with
//! the errors, or JSON (docs/JSON.md).

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sqlite_reconcile::fleet::{
    self, Fleet, FleetObserver, FleetOptions, Member, MemberReport, OnError, Outcome as Ended, StateFile, Survey,
};
use sqlite_reconcile::{history, load, render};

use super::{load_sources, plan_text, plural, print_stdout};
use crate::cli::args::{FleetAction, FleetArgs, ListFormat, OnErrorArg, RunArgs};
use crate::cli::exit::{ExitStatus, Failure, Outcome};
use crate::cli::output::human;
use crate::cli::settings::Settings;

/// How many members a group's line names before "and N more".
const NAMED: usize = 3;

/// Runs one `fleet` action.
pub(crate) fn run(st: &Settings, action: FleetAction) -> Result<Outcome, Failure> {
    match action {
        FleetAction::Plan { fleet, format } => {
            let (fl, members, survey) = survey(st, &fleet, None)?;
            match format {
                ListFormat::Json => print_stdout(&plans_json(&fl, &members, &survey)),
                ListFormat::Text => eprint!("{}", plans_text(st, &members, &survey)),
            }
            Ok(Outcome::Told(if survey.unreadable.is_empty() { ExitStatus::Success } else { ExitStatus::Error }))
        }
        FleetAction::Drift { fleet, format } => {
            let start = Instant::now();
            let (fl, members, survey) = survey(st, &fleet, None)?;
            let reports = fl.drift(&members, &survey);
            finish(st, format, &reports, start, Verb::Drift)
        }
        FleetAction::Apply { fleet, yes, allow_destructive, canary, on_error, state, timeout, format } => {
            let run = RunArgs { yes, allow_destructive, dry_run: false };
            let on_error = match on_error {
                OnErrorArg::Stop => OnError::Stop,
                OnErrorArg::Continue => OnError::Continue,
            };
            let timeout = match timeout {
                Some(t) if !(t > 0.0 && t.is_finite()) => {
                    return Err(Failure::Error(format!("--timeout {t}: give a number of seconds above 0")))
                }
                t => t.map(Duration::from_secs_f64),
            };
            let tuning = Tuning { run: &run, canary, on_error, timeout };
            let start = Instant::now();
            let (fl, members, survey) = survey(st, &fleet, Some(tuning))?;
            if matches!(format, ListFormat::Text) && st.out.normal() {
                eprint!("{}", plans_text(st, &members, &survey));
            }
            confirm(&run, &survey)?;
            let journal = match &state {
                Some(path) => Some(open_state(st, path, &survey, &members)?),
                None => None,
            };
            let watcher = Progress::new(st, matches!(format, ListFormat::Text), journal);
            let reports = fl.apply(&members, &survey, &watcher);
            watcher.done();
            if let Some(e) = watcher.journal_error() {
                eprintln!("warning: the state file could not be written: {e}");
            }
            finish(st, format, &reports, start, Verb::Apply)
        }
    }
}

/// What `fleet apply` adds to the fleet's options.
struct Tuning<'a> {
    run: &'a RunArgs,
    canary: usize,
    on_error: OnError,
    timeout: Option<Duration>,
}

/// Loads the schema, lists the members, reads and groups them, plans each group.
fn survey(st: &Settings, args: &FleetArgs, tuning: Option<Tuning>) -> Result<(Fleet, Vec<Member>, Survey), Failure> {
    let schema = st.schema(&args.schema);
    let sources = load::read_dir(&schema).map_err(Failure::library)?;
    let (_, desired) = load_sources(st, &schema, &sources)?;
    let source = history::source_fingerprint(&sources, &st.inspect().exclude);
    let members = fleet::members(&args.targets, Path::new("")).map_err(|e| Failure::Error(format!("--targets {e}")))?;
    let none = RunArgs { yes: false, allow_destructive: false, dry_run: false };
    let run = tuning.as_ref().map_or(&none, |t| t.run);
    let mut apply = st.apply(run);
    apply.observer = None;
    let mut options = FleetOptions { apply, auth_token: st.auth_token(), ..FleetOptions::default() };
    if let Some(jobs) = args.jobs {
        options.jobs = jobs as usize;
    }
    if let Some(t) = tuning {
        options.canary = t.canary;
        options.on_error = t.on_error;
        options.timeout = t.timeout;
    }
    let fl = Fleet::new(desired, Some(source), options);
    let t = Instant::now();
    let survey = fl.survey(&members);
    st.timed(
        &format!(
            "read and grouped {} and planned {}",
            plural(members.len(), "database", "databases"),
            plural(survey.groups.len(), "schema", "schemas")
        ),
        t,
    );
    Ok((fl, members, survey))
}

/// The first few names of `of`, and how many more.
fn named(members: &[Member], of: &[usize]) -> String {
    let names: Vec<String> = of.iter().take(NAMED).map(|&i| members[i].name()).collect();
    match of.len().saturating_sub(NAMED) {
        0 => names.join(", "),
        more => format!("{}, and {more} more", names.join(", ")),
    }
}

/// Each distinct plan once, with the members it applies to; then the unreadable.
fn plans_text(st: &Settings, members: &[Member], survey: &Survey) -> String {
    let mut out = format!(
        "{} in {}:\n",
        plural(members.len(), "database", "databases"),
        plural(survey.groups.len(), "distinct schema", "distinct schemas")
    );
    for g in &survey.groups {
        let who = format!("{} ({})", plural(g.members.len(), "database", "databases"), named(members, &g.members));
        match &g.plan {
            Ok(p) if p.is_empty() => out.push_str(&format!("\n- schema {}: {who}: in sync\n", g.fingerprint)),
            Ok(p) => {
                out.push_str(&format!("\n- schema {}: {who}: {}\n", g.fingerprint, render::summary(&p.forward)));
                // The steps, without the summary line that ends a plan's text.
                let text = plan_text(st, &p.forward);
                let steps = text.trim_end().rsplit_once('\n').map_or(text.as_str(), |(steps, _)| steps);
                for line in steps.trim_end().lines() {
                    out.push_str(&format!("    {line}\n"));
                }
            }
            Err(e) => out.push_str(&format!("\n- schema {}: {who}: cannot be planned: {e}\n", g.fingerprint)),
        }
    }
    if !survey.unreadable.is_empty() {
        out.push_str(&format!("\n- {} could not be read:\n", plural(survey.unreadable.len(), "database", "databases")));
        for (_, r) in &survey.unreadable {
            out.push_str(&format!("    {}: {}\n", r.target, r.error.as_deref().unwrap_or("")));
        }
    }
    out
}

/// `fleet plan --format json` (docs/JSON.md).
#[derive(serde::Serialize)]
struct PlansJson<'a> {
    version: u32,
    databases: usize,
    plans: Vec<PlanJson>,
    unreadable: Vec<&'a MemberReport>,
}

/// One distinct plan and the databases it applies to.
#[derive(serde::Serialize)]
struct PlanJson {
    fingerprint: String,
    in_sync: bool,
    /// The plan as `plan --format json` prints it; absent when it could not be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    plan: Option<serde_json::Value>,
    /// Why `fleet apply` would refuse it (the permission it needs).
    #[serde(skip_serializing_if = "Option::is_none")]
    refused: Option<String>,
    /// Why it could not be made.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    count: usize,
    targets: Vec<String>,
}

/// The distinct plans, each with its fingerprint, steps and members.
fn plans_json(fl: &Fleet, members: &[Member], survey: &Survey) -> String {
    let plans = survey
        .groups
        .iter()
        .map(|g| {
            let targets: Vec<String> = g.members.iter().map(|&i| members[i].name()).collect();
            let (plan, refused, error) = match &g.plan {
                Ok(p) => (
                    serde_json::from_str(&render::json(&p.forward)).ok(),
                    sqlite_reconcile::apply::allowed(&p.forward, &fl.options().apply).err().map(|r| r.to_string()),
                    None,
                ),
                Err(e) => (None, None, Some(e.clone())),
            };
            PlanJson {
                fingerprint: g.fingerprint.clone(),
                in_sync: g.in_sync(),
                plan,
                refused,
                error,
                count: targets.len(),
                targets,
            }
        })
        .collect();
    let doc = PlansJson {
        version: 1,
        databases: members.len(),
        plans,
        unreadable: survey.unreadable.iter().map(|(_, r)| r).collect(),
    };
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// `fleet apply|drift --format json` (docs/JSON.md).
#[derive(serde::Serialize)]
struct OutcomesJson<'a> {
    version: u32,
    databases: usize,
    seconds: f64,
    /// How many ended each way, by outcome (absent outcomes left out).
    totals: std::collections::BTreeMap<Ended, usize>,
    targets: &'a [MemberReport],
}

/// Asks before changing, as `apply` does: `--yes` goes on; without a terminal, refused.
fn confirm(run: &RunArgs, survey: &Survey) -> Result<(), Failure> {
    let changing = survey.groups.iter().any(|g| matches!(&g.plan, Ok(p) if !p.is_empty()));
    if run.yes || !changing {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::Refused(
            "not a terminal and no --yes: review the plans with `reconcile fleet plan` and rerun with --yes".into(),
        ));
    }
    eprint!("\nApply the plans above to their databases? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).map_err(Failure::error)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        return Err(Failure::Refused("not applied".into()));
    }
    Ok(())
}

/// Opens the state file, saying what the run it holds finished.
fn open_state(st: &Settings, path: &Path, survey: &Survey, members: &[Member]) -> Result<StateFile, Failure> {
    let (file, previous) =
        StateFile::open(path).map_err(|e| Failure::Error(format!("--state {}: {e}", path.display())))?;
    if st.out.normal() && !previous.is_empty() {
        // Converged before and still at the fingerprint it was left at: nothing to do again.
        let kept = members
            .iter()
            .zip(&survey.fingerprints)
            .filter(|(m, fp)| {
                previous.get(&m.name()).is_some_and(|r| {
                    matches!(r.outcome, Ended::Applied | Ended::InSync) && r.fingerprint_after.as_ref() == fp.as_ref()
                })
            })
            .count();
        eprintln!(
            "{}: {} recorded by an earlier run, {kept} of them converged and unchanged since",
            path.display(),
            plural(previous.len(), "database", "databases")
        );
    }
    Ok(file)
}

/// The progress line on a terminal, and the state file journal.
struct Progress {
    bar: bool,
    started: Instant,
    drawn: Mutex<(Option<Instant>, usize)>,
    journal: Option<StateFile>,
    journal_error: Mutex<Option<String>>,
    failures: std::sync::atomic::AtomicUsize,
}

impl Progress {
    fn new(st: &Settings, text: bool, journal: Option<StateFile>) -> Progress {
        Progress {
            bar: text && st.out.normal() && std::io::stderr().is_terminal(),
            started: Instant::now(),
            drawn: Mutex::new((None, 0)),
            journal,
            journal_error: Mutex::new(None),
            failures: Default::default(),
        }
    }

    fn done(&self) {
        let drawn = self.drawn.lock().unwrap_or_else(|p| p.into_inner());
        if drawn.1 > 0 {
            eprintln!();
        }
    }

    fn journal_error(&self) -> Option<String> {
        self.journal_error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl FleetObserver for Progress {
    fn ended(&self, report: &MemberReport, done: usize, total: usize) {
        use std::sync::atomic::Ordering;
        if let Some(j) = &self.journal {
            if let Err(e) = j.record(report) {
                *self.journal_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
        }
        if report.outcome == Ended::Failed {
            self.failures.fetch_add(1, Ordering::SeqCst);
        }
        if !self.bar {
            return;
        }
        let mut drawn = self.drawn.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if done < total && drawn.0.is_some_and(|t| now - t < Duration::from_millis(100)) {
            return;
        }
        const CELLS: usize = 24;
        let filled = done * CELLS / total.max(1);
        let line = format!(
            "  [{}{}]  {done}/{total} databases  {} failed  {}",
            "#".repeat(filled),
            "-".repeat(CELLS - filled),
            self.failures.load(Ordering::SeqCst),
            human(self.started.elapsed())
        );
        let pad = drawn.1.saturating_sub(line.chars().count());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}{:pad$}", "");
        let _ = err.flush();
        *drawn = (Some(now), line.chars().count());
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Verb {
    Apply,
    Drift,
}

/// The summary (or JSON) and the exit status: 1 if any failed; otherwise 3 if any was refused
/// (`apply`) or 2 if any differs (`drift`); otherwise 0.
fn finish(
    st: &Settings,
    format: ListFormat,
    reports: &[MemberReport],
    start: Instant,
    verb: Verb,
) -> Result<Outcome, Failure> {
    let totals = fleet::totals(reports);
    let count = |o: Ended| totals.get(&o).copied().unwrap_or(0);
    let status = if count(Ended::Failed) > 0 {
        ExitStatus::Error
    } else if count(Ended::Refused) > 0 {
        ExitStatus::Refused
    } else if count(Ended::Drifted) > 0 || (verb == Verb::Apply && count(Ended::Skipped) > 0) {
        if verb == Verb::Drift {
            ExitStatus::Drift
        } else {
            ExitStatus::Error
        }
    } else {
        ExitStatus::Success
    };
    let elapsed = start.elapsed();
    match format {
        ListFormat::Json => {
            let doc = OutcomesJson {
                version: 1,
                databases: reports.len(),
                seconds: elapsed.as_secs_f64(),
                totals,
                targets: reports,
            };
            print_stdout(&(serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"));
        }
        ListFormat::Text if !st.out.normal() && status == ExitStatus::Success => {}
        ListFormat::Text => {
            let parts: Vec<String> = totals.iter().map(|(o, n)| format!("{n} {}", o.word())).collect();
            let rate = reports.len() as f64 / elapsed.as_secs_f64().max(1e-9);
            eprintln!(
                "{}: {} in {} ({rate:.0} databases/s)",
                plural(reports.len(), "database", "databases"),
                parts.join(", "),
                human(elapsed)
            );
            for r in reports.iter().filter(|r| matches!(r.outcome, Ended::Failed | Ended::Refused)) {
                let head = if r.outcome == Ended::Failed {
                    st.out.paint("1;31", "failed:")
                } else {
                    st.out.paint("1;33", "refused:")
                };
                eprintln!("{head} {}: {}", r.target, r.error.as_deref().unwrap_or(""));
            }
            let skipped: Vec<&MemberReport> = reports.iter().filter(|r| r.outcome == Ended::Skipped).collect();
            if let Some(first) = skipped.first() {
                eprintln!(
                    "{} {}",
                    plural(skipped.len(), "database was", "databases were"),
                    first.error.as_deref().unwrap_or("skipped")
                );
            }
        }
    }
    Ok(Outcome::Told(status))
}
