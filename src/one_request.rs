//! One request: a change compiled for an engine without interactive transactions (rqlite; the
//! same shape as Cloudflare D1), whose statements run in one request that commits or rolls back
//! as a whole. Nothing can be read between them, so every check a local change makes before
//! COMMIT travels inside the request as a **guard**: a SELECT that raises an error (an integer
//! overflow, `abs(-9223372036854775808)`) when its condition holds, which rolls the whole
//! request back.
//!
//! The request is compiled on a **scratch copy**: an in-memory database built from the
//! schema rows read from the target (no data), on which the same statements run first. It
//! gives the schema the change starts from (inspected locally), the schema text the result
//! must have, and what the history row's bookkeeping reads (the history table's columns).
//!
//! The request, in order:
//! 1. guard **stale**: the target's schema text is still the one the scratch copy was built
//!    from (another change since the read fails it);
//! 2. `PRAGMA defer_foreign_keys = ON` where keys stay on, and the count of foreign-key
//!    violations before, kept in a table of the change;
//! 3. the values the change drops, copied into the target's own tables (as on a libSQL server);
//! 4. the steps;
//! 5. guard **foreign keys**: no more violations than before;
//! 6. guard **schema**: the target's schema text is the one the scratch copy has after the
//!    same statements (and the scratch copy's schema was verified against the desired one);
//! 7. the history row; for a dry run, a last guard that always fires.

use std::time::Instant;

use rusqlite::types::Value;
use rusqlite::Connection;

use crate::apply::{self, ApplyError, Refusal, Steps};
use crate::diff::diff;
use crate::engine::{Engine, ForeignKeyHold, Sql, Write};
use crate::error::Error;
use crate::execute::{self, Moved, Report, Run};
use crate::history;
use crate::inspect::{inspect, OWN_PREFIX};
use crate::migration::Prepared;
use crate::normalize::sqlite_message;
use crate::plan::StepKind;
use crate::sql::quote_ident as qi;
use crate::store;
use crate::store_error::StoreError;

/// The text of a database's schema: every row of `sqlite_schema` but SQLite's own, in one
/// order, each as type, name, table and SQL. The same query on the target and on the scratch
/// copy, so the two texts compare exactly.
pub const SCHEMA_TEXT: &str = "SELECT group_concat(type || char(31) || name || char(31) || tbl_name || char(31) || \
     coalesce(sql, ''), char(30)) FROM (SELECT type, name, tbl_name, sql FROM sqlite_schema \
     WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name)";

/// The rows of `sqlite_schema` to build the scratch copy from, in the order they were made.
const SCHEMA_ROWS: &str = "SELECT type, name, sql FROM sqlite_schema \
     WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid";

/// A SELECT that fails (an integer overflow) when `condition` holds.
pub fn guard(condition: &str) -> String {
    format!("SELECT CASE WHEN {condition} THEN abs(-9223372036854775808) END")
}

/// What a statement of the request is, to say what its failure means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// The schema was changed since it was read.
    Stale,
    /// Setting up (keys deferred, the violation count before).
    Setup,
    /// Keeping the values the change drops.
    Keep,
    /// A statement of step `index` (0-based).
    Step(usize),
    /// More foreign-key violations than before.
    ForeignKeys,
    /// The schema is not the one the plan must produce.
    Schema,
    /// The history row.
    Record,
    /// The end of a dry run.
    DryRun,
}

/// A statement of the request with its parameters.
#[derive(Debug, Clone)]
pub struct Statement {
    /// The SQL.
    pub sql: String,
    /// Its positional parameters.
    pub params: Vec<Value>,
    /// What it is.
    pub part: Part,
}

/// How one request ended.
#[derive(Debug)]
pub enum Sent {
    /// Every statement ran and the request committed.
    Committed,
    /// Statement `index` failed with `message`; nothing was changed.
    Failed { index: usize, message: String },
    /// The answer was lost: whether the request committed is not known.
    Lost(String),
}

/// An engine that runs a change as one request.
pub trait OneRequest: Sql {
    /// What the engine is.
    fn engine(&self) -> &Engine;
    /// Where it is, for messages and history ids.
    fn place(&self) -> &str;
    /// Runs `statements` as one transaction.
    fn send(&self, statements: &[Statement]) -> Result<Sent, ApplyError>;
}

/// The scratch copy of the target's schema and the request compiled on it.
struct Compiler {
    scratch: Connection,
    request: Vec<Statement>,
    part: Part,
}

/// The bookkeeping writes through a shared reference: statements run on the scratch copy and
/// are recorded for the request.
struct Recording<'a> {
    compiler: std::cell::RefCell<&'a mut Compiler>,
}

impl Sql for Recording<'_> {
    fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
        self.compiler.borrow().scratch.rows(sql, params)
    }
}

impl Write for Recording<'_> {
    fn run(&self, sql: &str, params: &[Value]) -> Result<(), rusqlite::Error> {
        self.compiler.borrow_mut().push(sql, params.to_vec())
    }
}

impl Compiler {
    /// Runs `sql` on the scratch copy and adds it to the request.
    fn push(&mut self, sql: &str, params: Vec<Value>) -> Result<(), rusqlite::Error> {
        self.scratch.run(sql, &params)?;
        self.request.push(Statement { sql: sql.to_string(), params, part: self.part.clone() });
        Ok(())
    }

    /// Adds a guard, which the scratch copy does not run.
    fn guard(&mut self, condition: &str, params: Vec<Value>, part: Part) {
        self.request.push(Statement { sql: guard(condition), params, part });
    }

    fn schema_text(&self) -> Result<Value, rusqlite::Error> {
        Ok(self.scratch.rows(SCHEMA_TEXT, &[])?.remove(0).remove(0))
    }
}

/// Builds the scratch copy from the target's schema rows.
fn scratch(rows: &[Vec<Value>]) -> Result<Connection, ApplyError> {
    let conn = Connection::open_in_memory()?;
    let text = |v: Option<&Value>| match v {
        Some(Value::Text(t)) => t.clone(),
        _ => String::new(),
    };
    // Views and triggers may name what was made after them: tables and indexes first.
    let mut ordered: Vec<&Vec<Value>> = rows.iter().collect();
    ordered.sort_by_key(|r| match text(r.first()).as_str() {
        "table" => 0,
        "index" => 1,
        "view" => 2,
        _ => 3,
    });
    for row in ordered {
        let sql = text(row.get(2));
        conn.execute_batch(&sql).map_err(|e| {
            ApplyError::Sqlite(format!(
                "the schema of `{}` cannot be copied to plan the request ({}): {sql}",
                text(row.get(1)),
                sqlite_message(&e)
            ))
        })?;
    }
    Ok(conn)
}

/// Runs `prepared` on `target` as one request: read the schema, plan again if it moved (under
/// the run's policy), compile, send; a stale schema found by the request's own guard is read
/// and planned again (twice at most) where the policy allows.
pub fn change(target: &dyn OneRequest, prepared: &Prepared, run: &Run) -> Result<Report, Error> {
    apply::allowed(&prepared.forward, &run.options).map_err(ApplyError::from)?;
    let start = Instant::now();
    let mut attempt = 0;
    loop {
        attempt += 1;
        match once(target, prepared, run, start) {
            Err(ApplyError::Refused(Refusal::Stale(_))) if run.moved != Moved::Refuse && attempt < 3 => continue,
            other => return other.map_err(Error::from),
        }
    }
}

fn once(target: &dyn OneRequest, given: &Prepared, run: &Run, start: Instant) -> Result<Report, ApplyError> {
    let opts = &run.options;
    let read = target.snapshot(&[SCHEMA_ROWS, SCHEMA_TEXT])?;
    let text_before = read[1].first().and_then(|r| r.first()).cloned().unwrap_or(Value::Null);
    let engine = target.engine();
    let keys_on = engine.foreign_keys == ForeignKeyHold::DeferOnly;
    let scratch = scratch(&read[0])?;
    // The copy enforces foreign keys as the target does.
    scratch.execute_batch(if keys_on { "PRAGMA foreign_keys = ON" } else { "PRAGMA foreign_keys = OFF" })?;
    let before = inspect(&scratch, &opts.inspect)?;
    let mut replanned = None;
    if !diff(&before, &given.before.without_hints()).is_empty() {
        match execute::moved(given, &before, run, engine.sqlite_version, keys_on)? {
            (Steps::Nothing, _) => return Ok(Report { already_done: true, ..Report::nothing() }),
            (_, again) => replanned = again,
        }
    }
    let current = replanned.as_ref().unwrap_or(given);
    let id = history::next_id(target, &current.fingerprint_after, target.place())?;
    let mut c = Compiler { scratch, request: Vec::new(), part: Part::Stale };
    c.guard(&format!("({SCHEMA_TEXT}) IS NOT ?1"), vec![text_before], Part::Stale);
    c.part = Part::Setup;
    if keys_on {
        c.push("PRAGMA defer_foreign_keys = ON", Vec::new())?;
    }
    let count = qi(&format!("{OWN_PREFIX}violations_{}", id.replace('-', "_")));
    c.push(&format!("CREATE TABLE {count} AS SELECT count(*) AS n FROM pragma_foreign_key_check"), Vec::new())?;
    let backup = (!opts.dry_run && !current.backups.is_empty()).then(|| crate::server::kept_prefix(&id));
    if let Some(prefix) = &backup {
        c.part = Part::Keep;
        for sql in crate::server::kept_statements(current, prefix) {
            c.push(&sql, Vec::new())?;
        }
    }
    for (i, step) in current.forward.steps.iter().enumerate() {
        c.part = Part::Step(i);
        for sql in &step.sql {
            match step.kind {
                StepKind::Seed => {
                    c.scratch.execute_batch(sql).map_err(|e| step_error(current, i, sql, &sqlite_message(&e)))?;
                    c.request.push(Statement { sql: sql.clone(), params: Vec::new(), part: c.part.clone() });
                }
                _ => c.push(sql, Vec::new()).map_err(|e| step_error(current, i, sql, &sqlite_message(&e)))?,
            }
        }
    }
    c.guard(
        &format!("(SELECT count(*) FROM pragma_foreign_key_check) > (SELECT n FROM {count})"),
        Vec::new(),
        Part::ForeignKeys,
    );
    c.part = Part::Setup;
    c.push(&format!("DROP TABLE {count}"), Vec::new())?;
    // The scratch copy's result is the desired schema; the target's must be the scratch copy's.
    let after = inspect(&c.scratch, &opts.inspect)?;
    let left = diff(&after, &current.after.without_hints());
    if !left.is_empty() {
        return Err(ApplyError::Verify(left));
    }
    let text_after = c.schema_text()?;
    c.guard(&format!("({SCHEMA_TEXT}) IS NOT ?1"), vec![text_after], Part::Schema);
    let mut recorded = Vec::new();
    let mut staged = None;
    c.part = Part::Record;
    if !opts.dry_run {
        let place = target.place().to_string();
        let elapsed = start.elapsed();
        let recording = Recording { compiler: std::cell::RefCell::new(&mut c) };
        let (ids, entry) = execute::record(&recording, run, &id, current, backup.clone(), elapsed, &place)?;
        recorded = ids;
        if let Some(plans) = &run.plans {
            let mut shown = current.clone();
            if let Some(prefix) = &backup {
                shown.rollback =
                    crate::rollback::with_kept_values_in(&shown.rollback, |t| qi(&format!("{prefix}_{t}")));
            }
            staged = Some(store::stage(plans, &entry, &shown, None).map_err(|e| {
                let message = format!("writing the plan files under {}: {e}", plans.display());
                ApplyError::Store(StoreError::new("write the plan files", Some(plans.display().to_string()), message))
            })?);
        }
    } else {
        c.guard("1", Vec::new(), Part::DryRun);
    }
    let statements = c.request.len();
    let sent = target.send(&c.request)?;
    let failed = |index: usize, message: String| -> ApplyError {
        match c.request.get(index).map(|s| &s.part) {
            Some(Part::Stale) => Refusal::Stale(vec![format!(
                "the schema of {} changed after it was read (another change ran meanwhile)",
                target.place()
            )])
            .into(),
            Some(Part::ForeignKeys) => ApplyError::ForeignKeyViolations(
                "the change leaves rows whose foreign keys point at no row (found by the request's check, \
                 counted with PRAGMA foreign_key_check)"
                    .to_string(),
            ),
            Some(Part::Schema) => ApplyError::Sqlite(format!(
                "the schema {} has after the change is not the one the plan produces on a copy of it; \
                 nothing was changed",
                target.place()
            )),
            Some(Part::Step(i)) => step_error(current, *i, &c.request[index].sql, &message),
            Some(Part::Keep) => ApplyError::Store(StoreError::new(
                "keep the values for the rollback",
                backup.clone(),
                format!("{message}: {}", c.request[index].sql),
            )),
            _ => ApplyError::Sqlite(format!("{message}; nothing was changed: {}", c.request[index].sql)),
        }
    };
    match sent {
        Sent::Committed if opts.dry_run => {
            return Err(ApplyError::Sqlite("the dry run's last check did not fire: the change was committed".into()))
        }
        Sent::Committed => {}
        Sent::Failed { index, .. } if opts.dry_run && c.request.get(index).map(|s| &s.part) == Some(&Part::DryRun) => {}
        Sent::Failed { index, message } => return Err(failed(index, message)),
        Sent::Lost(why) => settle(target, &why, recorded.first())?,
    }
    let id = recorded.first().cloned().unwrap_or_default();
    let plan_dir = store::publish_committed(staged, &id).map_err(ApplyError::Store)?;
    Ok(Report {
        id: recorded.first().cloned(),
        summary: crate::render::summary(&current.forward),
        changes: current.forward.changes.clone(),
        steps: current.forward.steps.len(),
        statements,
        elapsed: start.elapsed(),
        dry_run: opts.dry_run,
        plan_dir,
        backup: backup.map(std::path::PathBuf::from),
        already_done: false,
        replanned: replanned.is_some(),
        recorded,
    })
}

fn step_error(prepared: &Prepared, index: usize, sql: &str, message: &str) -> ApplyError {
    ApplyError::Step {
        index: index + 1,
        object: prepared.forward.steps.get(index).map(|s| s.object.clone()).unwrap_or_default(),
        sql: sql.to_string(),
        message: message.to_string(),
        diagnosis: None,
    }
}

/// The answer to the request was lost: it committed when its history row is there.
fn settle(target: &dyn OneRequest, why: &str, id: Option<&String>) -> Result<(), ApplyError> {
    let Some(id) = id else { return Err(ApplyError::Sqlite(format!("{why}; whether the change ran is not known"))) };
    let rows = target
        .rows(&format!("SELECT count(*) FROM {} WHERE id = ?1", history::HISTORY_TABLE), &[Value::Text(id.clone())]);
    match rows.ok().as_ref().and_then(|r| r.first()).and_then(|r| r.first()) {
        Some(Value::Integer(1)) => Ok(()),
        Some(_) => Err(ApplyError::Sqlite(format!(
            "{why}; the history has no change `{id}` (read back after the loss): nothing was changed"
        ))),
        None => Err(ApplyError::Sqlite(format!(
            "{why}; whether change `{id}` was committed could not be read back: see `reconcile history`"
        ))),
    }
}
