//! Fleet: one desired schema reconciled across many databases (a database per tenant). Every
//! target's schema is fingerprinted with one query ([`history::schema_fingerprint`]); targets
//! with the same fingerprint form a group, planned once against one of them; each target that
//! needs the change gets it in its own transaction through [`execute::execute`], with every
//! guarantee a single database has (the write lock, the schema read again under it, the
//! verification, the history, the backup of what is dropped). One target failing never touches
//! another: `--canary` applies to a few first and stops when one fails, `--on-error stop` starts
//! no more after a failure, and every outcome can be journaled to a state file as it happens.
//!
//! Two reads a single database makes are spared when they cannot tell anything new: under the
//! write lock, a member whose fingerprint is still its group's has the plan's schema (its
//! `sqlite_schema` is the one planned against); after the steps, a result whose `sqlite_schema`
//! rows are exactly those of a result already verified in full is that verified schema. Each
//! is one query instead of a full `inspect`; anything else is read and verified in full.
//!
//! The CLI (`reconcile fleet`) and an application that opens its tenant databases itself
//! ([`Fleet::reconcile`]) share the plan cache: one plan per distinct schema, whatever the
//! number of databases.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};

use crate::apply::{self, ApplyOptions};
use crate::engine::Sql;
use crate::error::Error;
use crate::execute::{self, Moved, Run, Verified};
use crate::history;
use crate::migration::{self, Prepared};
use crate::model::Schema;
use crate::remote;
use crate::server::Server;
use crate::target::Target as _;

/// One database of a fleet: a file, or a libSQL server's database given by its URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Member {
    /// A database file; never created by the fleet.
    File(PathBuf),
    /// A libSQL server (`http://`, `https://`, `libsql://`).
    Url(String),
}

impl Member {
    /// The name reports use: the path as given, or the URL.
    pub fn name(&self) -> String {
        match self {
            Member::File(p) => p.display().to_string(),
            Member::Url(u) => u.clone(),
        }
    }
}

/// The members `specs` name, in order, each once: a glob of files (`tenants/*.db`, matched one
/// path component at a time, sorted), `@FILE` (one path or URL a line, `#` comments and blank
/// lines skipped, relative paths read from the file's directory), a URL, or a path. Relative
/// paths are taken from `base`. A glob that matches nothing, or an unreadable `@FILE`, is an error.
pub fn members(specs: &[String], base: &Path) -> Result<Vec<Member>, String> {
    let mut found = Vec::new();
    for spec in specs {
        if let Some(list) = spec.strip_prefix('@') {
            let path = base.join(list);
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let dir = path.parent().unwrap_or(base).to_path_buf();
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
                found.push(member(line, &dir));
            }
        } else if !remote::is_url(spec) && spec.contains(['*', '?', '[']) {
            let matched = glob(base, spec).map_err(|e| format!("`{spec}`: {e}"))?;
            if matched.is_empty() {
                return Err(format!("`{spec}` matched no files"));
            }
            found.extend(matched.into_iter().map(Member::File));
        } else {
            found.push(member(spec, base));
        }
    }
    let mut seen = std::collections::HashSet::new();
    found.retain(|m| seen.insert(m.clone()));
    Ok(found)
}

fn member(text: &str, base: &Path) -> Member {
    if remote::is_url(text) {
        Member::Url(text.to_string())
    } else {
        let path = Path::new(text);
        Member::File(if path.is_absolute() { path.to_path_buf() } else { base.join(path) })
    }
}

/// The files matching `pattern` (wildcards `*`, `?`, `[...]` in any component), sorted; hidden
/// entries only when the component asks for them.
fn glob(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, std::io::Error> {
    let start = if Path::new(pattern).is_absolute() { PathBuf::from("/") } else { base.to_path_buf() };
    let mut current = vec![start];
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        let mut next = Vec::new();
        for dir in &current {
            if !part.contains(['*', '?', '[']) {
                let p = dir.join(part);
                if p.exists() {
                    next.push(p);
                }
                continue;
            }
            let listed = if dir.as_os_str().is_empty() { Path::new(".") } else { dir.as_path() };
            let Ok(entries) = std::fs::read_dir(listed) else { continue };
            for entry in entries {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().to_string();
                if name.starts_with('.') && !part.starts_with('.') {
                    continue;
                }
                let is_dir = entry.file_type()?.is_dir();
                if crate::inspect::glob_match(part, &name) && is_dir != last {
                    next.push(dir.join(&name));
                }
            }
        }
        next.sort();
        current = next;
    }
    Ok(current)
}

/// How one member ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Already had the desired schema; nothing written.
    InSync,
    /// Changed to the desired schema and recorded.
    Applied,
    /// Its change needs a permission not given (destructive steps); nothing written.
    Refused,
    /// Could not be read, planned or changed; nothing written.
    Failed,
    /// Differs from the desired schema (`fleet drift`, `fleet plan`).
    Drifted,
    /// Not started: the canary failed, or `--on-error stop` after a failure.
    Skipped,
}

impl Outcome {
    /// The word reports use.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::InSync => "in sync",
            Outcome::Applied => "applied",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
            Outcome::Drifted => "drifted",
            Outcome::Skipped => "skipped",
        }
    }
}

/// What happened to one member.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberReport {
    /// The member's name ([`Member::name`]).
    pub target: String,
    pub outcome: Outcome,
    /// Its schema's fingerprint when read, if it could be read.
    pub fingerprint_before: Option<String>,
    /// Its schema's fingerprint after the change (the same as before when nothing ran).
    pub fingerprint_after: Option<String>,
    /// The history id of the change made.
    pub change_id: Option<String>,
    /// Why it failed, was refused or skipped.
    pub error: Option<String>,
    /// Wall time spent on it (reading, planning its share, changing).
    pub seconds: f64,
}

impl MemberReport {
    fn new(member: &Member, outcome: Outcome, fingerprint: Option<&str>) -> MemberReport {
        MemberReport {
            target: member.name(),
            outcome,
            fingerprint_before: fingerprint.map(str::to_string),
            fingerprint_after: fingerprint.map(str::to_string),
            change_id: None,
            error: None,
            seconds: 0.0,
        }
    }

    fn with_error(mut self, error: impl Into<String>) -> MemberReport {
        self.error = Some(error.into());
        self
    }
}

/// What to do after a member fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnError {
    /// Finish the changes running, start no more.
    Stop,
    /// Go on with the others.
    #[default]
    Continue,
}

/// How a fleet runs.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    /// Each member's change: destructive permission, dry run, lock wait, excludes. The observer
    /// is not used.
    pub apply: ApplyOptions,
    /// Members worked on at once.
    pub jobs: usize,
    /// Apply to this many members first (of those that need a change), and stop if any fails.
    pub canary: usize,
    pub on_error: OnError,
    /// The longest one member's change may take, lock wait included (files only: a server's
    /// requests have their own timeouts).
    pub timeout: Option<Duration>,
    /// The token for members that are libSQL servers.
    pub auth_token: Option<String>,
}

impl Default for FleetOptions {
    fn default() -> FleetOptions {
        FleetOptions {
            apply: ApplyOptions::default(),
            jobs: std::thread::available_parallelism().map(usize::from).unwrap_or(1),
            canary: 0,
            on_error: OnError::Continue,
            timeout: None,
            auth_token: None,
        }
    }
}

/// Told about each member as it ends (the CLI draws progress and journals the state file).
pub trait FleetObserver: Sync {
    /// `report` is member `done` of `total` to end.
    fn ended(&self, _report: &MemberReport, _done: usize, _total: usize) {}
}

/// An observer that does nothing.
pub struct Quiet;
impl FleetObserver for Quiet {}

/// Members with one schema, and the change planned once for all of them.
#[derive(Debug)]
pub struct Group {
    /// The schema's fingerprint.
    pub fingerprint: String,
    /// The change, planned against the group's first member; the error when it could not be.
    pub plan: Result<Arc<Prepared>, String>,
    /// The members (indexes into the list surveyed), in order.
    pub members: Vec<usize>,
}

impl Group {
    /// The group already has the desired schema.
    pub fn in_sync(&self) -> bool {
        matches!(&self.plan, Ok(p) if p.is_empty())
    }
}

/// Every member read and grouped by schema, each group planned.
#[derive(Debug, Default)]
pub struct Survey {
    /// By first appearance.
    pub groups: Vec<Group>,
    /// Members that could not be read, with why.
    pub unreadable: Vec<(usize, MemberReport)>,
    /// Each member's fingerprint, when read.
    pub fingerprints: Vec<Option<String>>,
}

/// A desired schema and how to bring members to it.
pub struct Fleet {
    desired: Schema,
    source: Option<String>,
    options: FleetOptions,
    /// Plans by engine and schema fingerprint.
    plans: Mutex<HashMap<String, Arc<Prepared>>>,
    /// The results verified in full so far: a member whose result has the same `sqlite_schema`
    /// rows is verified by comparing them.
    verified: Arc<Verified>,
}

impl Fleet {
    /// A fleet brought to `desired` (normalized); `source` is the YAML's fingerprint
    /// ([`history::source_fingerprint`]), recorded with each change for the no-op fast path.
    pub fn new(desired: Schema, source: Option<String>, options: FleetOptions) -> Fleet {
        Fleet { desired, source, options, plans: Mutex::new(HashMap::new()), verified: Arc::default() }
    }

    /// The options.
    pub fn options(&self) -> &FleetOptions {
        &self.options
    }

    /// How many distinct plans were made so far (one per engine and schema).
    pub fn plans_made(&self) -> usize {
        self.plans.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// How many distinct results were verified by a full read so far; every other change was
    /// verified by comparing its `sqlite_schema` rows with one of them.
    pub fn results_verified_in_full(&self) -> usize {
        self.verified.len()
    }

    /// Reads every member's fingerprint (one query each, `jobs` at a time), groups them, and
    /// plans each group once.
    pub fn survey(&self, members: &[Member]) -> Survey {
        let read: Vec<Result<(String, String), String>> =
            parallel(members.len(), self.options.jobs, |i| self.fingerprint(&members[i]).map_err(|e| e.to_string()));
        let mut survey = Survey::default();
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for (i, r) in read.into_iter().enumerate() {
            match r {
                Ok((key, fingerprint)) => {
                    survey.fingerprints.push(Some(fingerprint.clone()));
                    let g = *by_key.entry(key.clone()).or_insert_with(|| {
                        let plan = self.plan_for(&key, || self.prepare(&members[i]));
                        survey.groups.push(Group { fingerprint, plan, members: Vec::new() });
                        survey.groups.len() - 1
                    });
                    survey.groups[g].members.push(i);
                }
                Err(e) => {
                    survey.fingerprints.push(None);
                    survey.unreadable.push((i, MemberReport::new(&members[i], Outcome::Failed, None).with_error(e)));
                }
            }
        }
        survey
    }

    /// Each member as `fleet drift` tells it: in sync, drifted, or failed (unreadable, or its
    /// group could not be planned).
    pub fn drift(&self, members: &[Member], survey: &Survey) -> Vec<MemberReport> {
        let mut reports: Vec<Option<MemberReport>> = vec![None; members.len()];
        for (i, r) in &survey.unreadable {
            reports[*i] = Some(r.clone());
        }
        for g in &survey.groups {
            for &i in &g.members {
                let fp = Some(g.fingerprint.as_str());
                reports[i] = Some(match &g.plan {
                    Ok(p) if p.is_empty() => MemberReport::new(&members[i], Outcome::InSync, fp),
                    Ok(_) => MemberReport::new(&members[i], Outcome::Drifted, fp),
                    Err(e) => MemberReport::new(&members[i], Outcome::Failed, fp).with_error(e.clone()),
                });
            }
        }
        reports.into_iter().flatten().collect()
    }

    /// Brings every member to the desired schema: the unreadable fail, groups in sync are left
    /// alone, groups whose change is not allowed are refused whole, and each other member is
    /// changed in its own transaction, the canary first. Reports come back in member order.
    pub fn apply(&self, members: &[Member], survey: &Survey, observer: &dyn FleetObserver) -> Vec<MemberReport> {
        let total = members.len();
        let done = AtomicUsize::new(0);
        let reports: Mutex<Vec<Option<MemberReport>>> = Mutex::new(vec![None; total]);
        let end = |i: usize, report: MemberReport| {
            observer.ended(&report, done.fetch_add(1, Ordering::SeqCst) + 1, total);
            reports.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(report);
        };
        for (i, r) in &survey.unreadable {
            end(*i, r.clone());
        }
        let mut work: Vec<(usize, &str, Arc<Prepared>)> = Vec::new();
        for g in &survey.groups {
            let fp = Some(g.fingerprint.as_str());
            match &g.plan {
                Err(e) => g
                    .members
                    .iter()
                    .for_each(|&i| end(i, MemberReport::new(&members[i], Outcome::Failed, fp).with_error(e.clone()))),
                Ok(p) if p.is_empty() => {
                    g.members.iter().for_each(|&i| end(i, MemberReport::new(&members[i], Outcome::InSync, fp)))
                }
                Ok(p) => match apply::allowed(&p.forward, &self.options.apply) {
                    Err(refusal) => g.members.iter().for_each(|&i| {
                        end(i, MemberReport::new(&members[i], Outcome::Refused, fp).with_error(refusal.to_string()))
                    }),
                    Ok(()) => work.extend(g.members.iter().map(|&i| (i, g.fingerprint.as_str(), p.clone()))),
                },
            }
        }
        work.sort_by_key(|(i, _, _)| *i);
        let canary = self.options.canary.min(work.len());
        let stop = AtomicBool::new(false);
        let mut why_stopped = "";
        let run = |batch: &[(usize, &str, Arc<Prepared>)], stop_on_failure: bool| {
            let next = AtomicUsize::new(0);
            let failed = AtomicBool::new(false);
            std::thread::scope(|s| {
                for _ in 0..self.options.jobs.clamp(1, batch.len().max(1)) {
                    s.spawn(|| loop {
                        if stop_on_failure && stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let k = next.fetch_add(1, Ordering::SeqCst);
                        let Some((i, fp, prepared)) = batch.get(k) else { break };
                        let report = self.change(&members[*i], fp, prepared);
                        if report.outcome == Outcome::Failed {
                            failed.store(true, Ordering::SeqCst);
                            if stop_on_failure {
                                stop.store(true, Ordering::SeqCst);
                            }
                        }
                        end(*i, report);
                    });
                }
            });
            failed.load(Ordering::SeqCst)
        };
        let (first, rest) = work.split_at(canary);
        if !first.is_empty() && run(first, self.options.on_error == OnError::Stop) {
            stop.store(true, Ordering::SeqCst);
            why_stopped = "not started: a canary failed";
        }
        if !stop.load(Ordering::SeqCst) {
            run(rest, self.options.on_error == OnError::Stop);
            why_stopped = "not started: stopped after a failure (--on-error stop)";
        }
        let mut reports = reports.into_inner().unwrap_or_else(|p| p.into_inner());
        for (i, fp, _) in &work {
            if reports[*i].is_none() {
                let report = MemberReport::new(&members[*i], Outcome::Skipped, Some(fp)).with_error(why_stopped);
                observer.ended(&report, done.fetch_add(1, Ordering::SeqCst) + 1, total);
                reports[*i] = Some(report);
            }
        }
        reports.into_iter().flatten().collect()
    }

    /// Brings one database the application opened itself to the desired schema, planning once
    /// per distinct schema across calls (from any thread).
    pub fn reconcile(&self, conn: &mut Connection) -> Result<MemberReport, Error> {
        let start = Instant::now();
        let (fingerprint, _) = history::schema_fingerprint(&*conn, &self.options.apply.inspect)?;
        let key = format!("local/{fingerprint}");
        let prepared =
            self.plan_for(&key, || migration::prepare(conn, &self.desired, &self.options.apply.inspect).map(Arc::new))?;
        let name = conn.path().unwrap_or("(in memory)").to_string();
        let member = Member::File(PathBuf::from(&name));
        if prepared.is_empty() {
            return Ok(MemberReport::new(&member, Outcome::InSync, Some(&fingerprint)));
        }
        apply::allowed(&prepared.forward, &self.options.apply)?;
        let run = Run { planned_on: Some(fingerprint.clone()), ..self.run() };
        let report = execute::execute(conn, &prepared, &run)?;
        let (after, _) = history::schema_fingerprint(&*conn, &self.options.apply.inspect)?;
        let mut r = MemberReport::new(
            &member,
            if report.id.is_some() { Outcome::Applied } else { Outcome::InSync },
            Some(&fingerprint),
        );
        r.fingerprint_after = Some(after);
        r.change_id = report.id;
        r.seconds = start.elapsed().as_secs_f64();
        Ok(r)
    }

    fn run(&self) -> Run {
        Run {
            kind: "apply",
            options: ApplyOptions { observer: None, ..self.options.apply.clone() },
            moved: Moved::Replan,
            source: self.source.clone(),
            verified: Some(self.verified.clone()),
            ..Run::default()
        }
    }

    /// The cached plan for `key`, made with `make` the first time (an error is not kept).
    fn plan_for<E>(&self, key: &str, make: impl FnOnce() -> Result<Arc<Prepared>, E>) -> Result<Arc<Prepared>, E> {
        if let Some(p) = self.plans.lock().unwrap_or_else(|p| p.into_inner()).get(key) {
            return Ok(p.clone());
        }
        let made = make()?;
        Ok(self.plans.lock().unwrap_or_else(|p| p.into_inner()).entry(key.to_string()).or_insert(made).clone())
    }

    /// The member's plan key (engine and fingerprint) and fingerprint, in one query (a server:
    /// one more request to connect).
    fn fingerprint(&self, member: &Member) -> Result<(String, String), Error> {
        let opts = &self.options.apply.inspect;
        match member {
            Member::File(path) => {
                let conn = open_read_only(path, self.options.apply.busy_timeout)?;
                let (fp, _) = history::schema_fingerprint(&conn, opts)?;
                Ok((format!("local/{fp}"), fp))
            }
            Member::Url(url) => {
                let client = remote::Client::connect(url, self.options.auth_token.as_deref()).map_err(Error::from)?;
                let (fp, _) = history::schema_fingerprint(&client, opts)?;
                let (a, b, c) = client.sqlite_version()?;
                Ok((format!("{a}.{b}.{c}/{fp}"), fp))
            }
        }
    }

    /// The change for `member`'s schema.
    fn prepare(&self, member: &Member) -> Result<Arc<Prepared>, String> {
        let opts = &self.options.apply.inspect;
        let prepared = match member {
            Member::File(path) => open_read_only(path, self.options.apply.busy_timeout)
                .map_err(Error::from)
                .and_then(|conn| migration::prepare_with(&conn, &self.desired, opts)),
            Member::Url(url) => remote::Client::connect(url, self.options.auth_token.as_deref())
                .map_err(Error::from)
                .and_then(|client| migration::prepare_with(&client, &self.desired, opts)),
        };
        prepared.map(Arc::new).map_err(|e| format!("planning against {}: {e}", member.name()))
    }

    /// Runs `prepared` on `member` in its own transaction.
    fn change(&self, member: &Member, fingerprint: &str, prepared: &Prepared) -> MemberReport {
        let start = Instant::now();
        let mut report = MemberReport::new(member, Outcome::Applied, Some(fingerprint));
        let mut run = self.run();
        run.planned_on = Some(fingerprint.to_string());
        let result = match member {
            Member::File(path) => self.change_file(path, prepared, &mut run, start),
            Member::Url(url) => remote::Client::connect(url, self.options.auth_token.as_deref())
                .map_err(Error::from)
                .and_then(|client| {
                    let mut server = Server::new(client).map_err(Error::from)?;
                    let r = server.execute(prepared, &run)?;
                    let (after, _) = history::schema_fingerprint(&server, &run.options.inspect)?;
                    Ok((r, after))
                }),
        };
        report.seconds = start.elapsed().as_secs_f64();
        match result {
            Ok((r, after)) => {
                report.outcome = if r.id.is_some() { Outcome::Applied } else { Outcome::InSync };
                report.change_id = r.id;
                report.fingerprint_after = Some(after);
            }
            Err(e) => {
                report.outcome = match e {
                    Error::Refused(_) => Outcome::Refused,
                    _ => Outcome::Failed,
                };
                let timed_out = self.options.timeout.filter(|t| start.elapsed() >= *t);
                report.error = Some(match (timed_out, &e) {
                    (Some(t), Error::Apply(apply::ApplyError::Busy { .. })) => format!(
                        "the database is locked: another connection holds the write lock; gave up at the timeout \
                         ({:.2} s), nothing was changed",
                        t.as_secs_f64()
                    ),
                    (Some(t), e) if e.to_string().contains("interrupted") => format!(
                        "the change was still running at the timeout ({:.2} s) and was stopped; nothing was changed",
                        t.as_secs_f64()
                    ),
                    (_, e) => e.to_string(),
                });
            }
        }
        report
    }

    fn change_file(
        &self,
        path: &Path,
        prepared: &Prepared,
        run: &mut Run,
        start: Instant,
    ) -> Result<(execute::Report, String), Error> {
        let mut conn =
            Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
        if let Some(limit) = self.options.timeout {
            run.options.busy_timeout = run.options.busy_timeout.min(limit);
            let deadline = start + limit;
            conn.progress_handler(1000, Some(move || Instant::now() >= deadline))?;
        }
        conn.busy_timeout(run.options.busy_timeout)?;
        let r = execute::execute(&mut conn, prepared, run)?;
        let (after, _) = history::schema_fingerprint(&conn, &run.options.inspect)?;
        Ok((r, after))
    }
}

/// Opens an existing database file for reading only, never creating it.
fn open_read_only(path: &Path, busy: Duration) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(busy)?;
    Ok(conn)
}

/// `f(0..n)` on up to `jobs` threads, results in order.
fn parallel<T: Send>(n: usize, jobs: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let next = AtomicUsize::new(0);
    let out: Mutex<Vec<Option<T>>> = Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let v = f(i);
                out.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(v);
            });
        }
    });
    out.into_inner().unwrap_or_else(|p| p.into_inner()).into_iter().flatten().collect()
}

/// The outcomes journaled as they happen, one JSON line each, so a rerun can say what an
/// interrupted run finished. A run starts with a `{"run": ...}` line; a line cut short by a
/// crash is skipped when read.
pub struct StateFile {
    file: Mutex<std::fs::File>,
}

impl StateFile {
    /// Opens (creating) `path` for appending, and reads the outcomes it holds, the newest for
    /// each member.
    pub fn open(path: &Path) -> Result<(StateFile, HashMap<String, MemberReport>), std::io::Error> {
        let mut previous = HashMap::new();
        if let Ok(text) = std::fs::read_to_string(path) {
            for line in text.lines() {
                if let Ok(r) = serde_json::from_str::<MemberReport>(line) {
                    previous.insert(r.target.clone(), r);
                }
            }
        }
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        writeln!(file, "{}", serde_json::json!({ "run": started.as_secs() }))?;
        Ok((StateFile { file: Mutex::new(file) }, previous))
    }

    /// Appends `report` at once.
    pub fn record(&self, report: &MemberReport) -> Result<(), std::io::Error> {
        let line = serde_json::to_string(report).map_err(std::io::Error::other)? + "\n";
        self.file.lock().unwrap_or_else(|p| p.into_inner()).write_all(line.as_bytes())
    }
}

/// How many members ended each way.
pub fn totals(reports: &[MemberReport]) -> std::collections::BTreeMap<Outcome, usize> {
    let mut t = std::collections::BTreeMap::new();
    for r in reports {
        *t.entry(r.outcome).or_insert(0) += 1;
    }
    t
}
