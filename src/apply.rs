//! Apply: the only writer of the target database.
//!
//! `PRAGMA foreign_keys=OFF` before `BEGIN IMMEDIATE` (it is a no-op inside a
//! transaction) and read back; every step; `foreign_key_check`; re-inspect and
//! compare with the desired schema; COMMIT, or ROLLBACK on any error; foreign
//! keys restored afterwards, also on error. Refuses journal modes that cannot
//! roll back safely. Data-dependent failures are diagnosed after the rollback:
//! the table, the constraint, how many rows and a few of their keys.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

use crate::diff::{diff, Change, Risk};
use crate::inspect::{inspect, InspectOptions};
use crate::model::{Schema, Table};
use crate::normalize::{execute_one, sqlite_message};
use crate::plan::{Plan, RowReadRole, Step, StepKind};
use crate::sql::{quote_ident_if_needed as q, quote_str};

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Run destructive steps (dropped tables or columns, narrowing types).
    pub allow_destructive: bool,
    /// Run data-dependent steps (they can fail on existing rows, and roll back if they do).
    pub allow_data_dependent: bool,
    /// Run everything, verify, then roll back.
    pub dry_run: bool,
    /// How long to wait for a lock another connection holds; the connection's own value is restored afterwards.
    pub busy_timeout: Duration,
    /// What inspect leaves out when verifying.
    pub inspect: InspectOptions,
    /// Told about each step as it runs; `None` runs the plan with no extra work at all.
    pub observer: Option<Arc<dyn Observer>>,
}

/// Watches an apply as it runs (the CLI prints steps, timings and a progress bar from it;
/// the library prints nothing). Every method has a default that does nothing.
pub trait Observer: Send + Sync {
    /// Before step `index` (0-based) of `total` runs.
    fn step_started(&self, _index: usize, _total: usize, _step: &Step) {}
    /// Before each statement of the current step runs.
    fn statement(&self, _sql: &str) {}
    /// After step `index` succeeded, with its wall time.
    fn step_finished(&self, _index: usize, _step: &Step, _elapsed: Duration) {}
    /// The least number of rows a rebuild's copy must have to be followed with
    /// [`Observer::copy_progress`]. `None` (the default) counts no rows and runs the copy as planned.
    fn copy_threshold(&self) -> Option<u64> {
        None
    }
    /// Rows of `table` copied so far out of `total`: at the start and every 1,024 rows.
    fn copy_progress(&self, _table: &str, _done: u64, _total: u64) {}
    /// After a followed copy: the rows it reached (all of them when it succeeded), and whether it succeeded.
    fn copy_finished(&self, _table: &str, _copied: u64, _ok: bool) {}
    /// After the result was re-inspected and compared with the desired schema, with the time that took.
    fn verified(&self, _elapsed: Duration) {}
    /// The write lock is held by `holder` (as far as it can be told); the apply waits for it, up
    /// to the busy timeout. Told once, before waiting.
    fn waiting(&self, _holder: &str) {}
}

impl std::fmt::Debug for dyn Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

/// The SQL function a followed copy calls once per row; registered only for that statement.
const PROGRESS_FN: &str = "_reconcile_progress";

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            allow_destructive: false,
            allow_data_dependent: true,
            dry_run: false,
            busy_timeout: Duration::from_secs(5),
            inspect: InspectOptions::default(),
            observer: None,
        }
    }
}

/// What an apply did.
#[derive(Debug, Clone)]
pub struct Applied {
    /// Steps run.
    pub steps: usize,
    /// Statements run.
    pub statements: usize,
    /// Wall time inside the transaction.
    pub elapsed: Duration,
    /// Whether it was rolled back on purpose (`dry_run`).
    pub dry_run: bool,
}

/// Why a change was refused by a rule of its own; nothing was run or changed. Callers that
/// know how to allow what was refused (the CLI's flags) say so themselves.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Destructive steps without permission.
    #[error("the plan has destructive steps ({})", .0.join("; "))]
    Destructive(Vec<String>),
    /// Data-dependent steps under a policy that forbids them.
    #[error("the plan has data-dependent steps ({}) and the policy does not allow them", .0.join("; "))]
    DataDependent(Vec<String>),
    /// The journal mode cannot guarantee atomicity.
    #[error("journal_mode={0} cannot roll back safely; switch to DELETE, TRUNCATE, PERSIST or WAL")]
    JournalMode(String),
    /// The database's schema is not the one the plan was made against.
    #[error("the database's schema is not the one this plan was made against: {}", .0.join("; "))]
    Stale(Vec<String>),
    /// The database's schema is not the one the change to roll back produced.
    #[error(
        "the database's schema is not the one change `{change}` produced, so its rollback would not fit: {}",
        .differences.join("; ")
    )]
    RollbackDoesNotFit {
        /// The change's id.
        change: String,
        /// How the database differs, from its side.
        differences: Vec<String>,
    },
    /// There is no change (or not this one) that can be rolled back; the reason in words.
    #[error("{0}")]
    NothingToRollBack(String),
}

/// Why an apply did not happen or was rolled back.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// Refused by a rule (destructive or data-dependent steps, the journal mode, a stale plan);
    /// nothing was run.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// Another connection kept the database locked for longer than the busy timeout; nothing was changed.
    #[error(
        "the database is locked: {holder}; gave up after waiting {} ms (the busy timeout), nothing was changed; \
         try again when it is done, or wait longer",
        .waited.as_millis()
    )]
    Busy {
        /// How long it waited.
        waited: Duration,
        /// Who holds the lock, as far as SQLite tells: [`WRITE_LOCK`], [`WRITING`] or [`READING`].
        holder: &'static str,
    },
    /// The database file, its directory or its filesystem does not allow writing; nothing was changed.
    #[error(
        "the database cannot be written: {0}; nothing was changed (check the permissions of the database file \
         and of its directory, where SQLite creates its journal, and that its filesystem is mounted read-write)"
    )]
    ReadOnly(String),
    /// The disk filled up while the plan ran; everything was rolled back.
    #[error(
        "the disk is full: {0}; nothing was changed (a rebuild needs free space beside the database for a copy \
         of the table and for the journal or WAL of the pages it changes)"
    )]
    DiskFull(String),
    /// foreign_keys could not be turned off.
    #[error("could not turn foreign keys off (is a transaction open on this connection?)")]
    ForeignKeys,
    /// A step failed; everything was rolled back.
    #[error("step {index} ({object}) failed, nothing was changed: {message}{}\n  in: {sql}", diagnosis.as_ref().map(|d| format!("\n  {d}")).unwrap_or_default())]
    Step {
        /// 1-based step number.
        index: usize,
        /// object of the step
        object: String,
        /// failing statement
        sql: String,
        /// SQLite's message
        message: String,
        /// offending rows, and what to do
        diagnosis: Option<Box<Diagnosis>>,
    },
    /// Rows violate foreign keys after the plan; everything was rolled back.
    #[error(
        "foreign keys violated, nothing was changed: {0}; fix the rows or the references, or remove the rows first"
    )]
    ForeignKeyViolations(String),
    /// The result differs from the desired schema: a planner bug; rolled back.
    #[error("verification failed (planner bug), nothing was changed; the result differs from the desired schema: {}", .0.iter().map(|c| c.to_string()).collect::<Vec<_>>().join("; "))]
    Verify(Vec<Change>),
    /// Work around the plan (backup, history, plan files) failed; rolled back.
    #[error("{0}; nothing was changed")]
    Store(crate::store_error::StoreError),
    /// Any other SQLite error; rolled back.
    #[error("{0}")]
    Sqlite(String),
}

/// [`ApplyError::Busy`] at `BEGIN IMMEDIATE`: another writer.
pub const WRITE_LOCK: &str = "another connection holds the write lock";
/// [`ApplyError::Busy`] while reading before the transaction (rollback-journal mode).
pub const WRITING: &str = "another connection is writing it";
/// [`ApplyError::Busy`] inside the transaction: writing to the file waits for readers (rollback-journal mode).
pub const READING: &str = "other connections are reading it (in rollback-journal mode a write to the file \
     waits until no one reads; WAL mode lets readers and a writer run together)";

impl ApplyError {
    /// A busy error after waiting `waited`, with the holder known from where it happened.
    fn busy(waited: Duration, holder: &'static str) -> ApplyError {
        ApplyError::Busy { waited, holder }
    }

    /// The same error; a busy one not yet placed is told that it waited `waited` and that `holder` held the lock.
    fn busy_as(self, waited: Duration, holder: &'static str) -> ApplyError {
        match self {
            ApplyError::Busy { holder: "", .. } => ApplyError::busy(waited, holder),
            other => other,
        }
    }
}

/// Whether SQLite gave up waiting for a lock another connection holds.
pub fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if matches!(f.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// Whether the database file, its directory or its filesystem refused a write.
pub fn is_read_only(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ReadOnly)
}

/// Whether the disk (or the database's page limit) is full.
pub fn is_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull)
}

impl From<rusqlite::Error> for ApplyError {
    fn from(e: rusqlite::Error) -> Self {
        // The wait and the holder are filled in where the phase is known (`apply_with`, `run`).
        if is_busy(&e) {
            return ApplyError::busy(Duration::ZERO, "");
        }
        if is_read_only(&e) {
            return ApplyError::ReadOnly(sqlite_message(&e));
        }
        if is_full(&e) {
            return ApplyError::DiskFull(sqlite_message(&e));
        }
        // An I/O error says which operation failed, as its extended result code tells.
        match crate::oslog::operation_of(&e) {
            Some(op) => ApplyError::Sqlite(format!("{} ({op} failed)", sqlite_message(&e))),
            None => ApplyError::Sqlite(sqlite_message(&e)),
        }
    }
}

impl From<crate::inspect::InspectError> for ApplyError {
    fn from(e: crate::inspect::InspectError) -> Self {
        match e {
            crate::inspect::InspectError::Sqlite(e) => e.into(),
            other => ApplyError::Sqlite(other.to_string()),
        }
    }
}

/// What to run, decided by [`Hooks::before_steps`] once the write lock is held.
#[derive(Debug)]
pub enum Steps {
    /// The plan as given.
    AsGiven,
    /// Another plan, made from the schema found under the lock (another process changed it
    /// since the given plan was made).
    Replanned(Plan),
    /// Nothing: the database already has the desired schema. The transaction ends without a write.
    Nothing,
}

/// Work done inside the plan's transaction besides its steps.
pub trait Hooks {
    /// Before BEGIN, with foreign keys already off (ATTACH must happen outside a transaction).
    fn before_begin(&mut self, _conn: &Connection) -> Result<(), ApplyError> {
        Ok(())
    }
    /// After BEGIN IMMEDIATE: the schema under the write lock, when the hooks can tell it without
    /// reading it all; `None` (the default) reads it with `inspect`.
    fn known_before(&mut self, _conn: &Connection) -> Result<Option<Schema>, ApplyError> {
        Ok(None)
    }
    /// After the steps and the foreign key check: the schema they left, when the hooks can tell
    /// it without reading it all (the exact rows of `sqlite_schema` of a result verified before);
    /// `None` (the default) reads it with `inspect`. Either way it is compared with the desired
    /// schema.
    fn known_after(&mut self, _conn: &Connection) -> Result<Option<Schema>, ApplyError> {
        Ok(None)
    }
    /// After BEGIN IMMEDIATE and before the first step, with the schema found: the write lock
    /// is held, so what runs is decided here (see [`Steps`]).
    fn before_steps(&mut self, _conn: &Connection, _before: &Schema) -> Result<Steps, ApplyError> {
        Ok(Steps::AsGiven)
    }
    /// A condition, true for every row, to run statement `index` of `step` with, for what the
    /// functions it calls record on the way; it goes into the statement's condition slot
    /// ([`Step::with_condition`]; only a [`crate::plan::RowRead`] statement has one). Asked
    /// just before each statement runs.
    fn row_filter(&mut self, _step: &Step, _index: usize) -> Option<String> {
        None
    }
    /// After verification and before COMMIT, with the verified schema and the time spent so far.
    fn before_commit(&mut self, _conn: &Connection, _after: &Schema, _elapsed: Duration) -> Result<(), ApplyError> {
        Ok(())
    }
    /// After COMMIT or ROLLBACK, also on error.
    fn after_end(&mut self, _conn: &Connection) {}
}

/// No extra work.
pub struct NoHooks;
impl Hooks for NoHooks {}

/// Runs `plan` on `conn` in one transaction and verifies that the result equals `desired`.
pub fn apply(conn: &mut Connection, plan: &Plan, desired: &Schema, opts: &ApplyOptions) -> Result<Applied, ApplyError> {
    apply_with(conn, plan, desired, opts, &mut NoHooks)
}

/// [`apply`], with `hooks` run at their points of the transaction.
pub fn apply_with(
    conn: &mut Connection,
    plan: &Plan,
    desired: &Schema,
    opts: &ApplyOptions,
    hooks: &mut dyn Hooks,
) -> Result<Applied, ApplyError> {
    allowed(plan, opts)?;
    with_busy_timeout(conn, opts.busy_timeout, |conn| {
        apply_locked(conn, plan, desired, opts, hooks).map_err(|e| e.busy_as(opts.busy_timeout, WRITING))
    })
}

/// The policies, in one place: a plan with destructive steps runs only with
/// `allow_destructive`, one with data-dependent steps only with `allow_data_dependent`.
pub fn allowed(plan: &Plan, opts: &ApplyOptions) -> Result<(), Refusal> {
    let of = |risk: Risk| -> Vec<String> {
        plan.steps.iter().filter(|s| s.risk == risk).map(|s| s.comment.clone()).collect()
    };
    if !opts.allow_destructive {
        let destructive = of(Risk::Destructive);
        if !destructive.is_empty() {
            return Err(Refusal::Destructive(destructive));
        }
    }
    if !opts.allow_data_dependent {
        let data_dependent = of(Risk::DataDependent);
        if !data_dependent.is_empty() {
            return Err(Refusal::DataDependent(data_dependent));
        }
    }
    Ok(())
}

/// Runs `f` with `timeout` as the connection's busy timeout; the caller's own comes back
/// afterwards, also on error (like foreign_keys). An error of `f` wins over one restoring it.
pub(crate) fn with_busy_timeout<T, E: From<rusqlite::Error>>(
    conn: &mut Connection,
    timeout: Duration,
    f: impl FnOnce(&mut Connection) -> Result<T, E>,
) -> Result<T, E> {
    let before: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0))?;
    conn.busy_timeout(timeout)?;
    let result = f(conn);
    let restore = conn.execute_batch(&format!("PRAGMA busy_timeout = {before}"));
    let done = result?;
    restore?;
    Ok(done)
}

/// [`apply_with`] once the busy timeout is set.
fn apply_locked(
    conn: &mut Connection,
    plan: &Plan,
    desired: &Schema,
    opts: &ApplyOptions,
    hooks: &mut dyn Hooks,
) -> Result<Applied, ApplyError> {
    if conn.is_readonly(rusqlite::MAIN_DB)? {
        return Err(ApplyError::ReadOnly("it could only be opened read-only".to_string()));
    }
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    let in_memory = conn.path().is_none_or(|p| p.is_empty());
    if mode.eq_ignore_ascii_case("off") || (mode.eq_ignore_ascii_case("memory") && !in_memory) {
        return Err(Refusal::JournalMode(mode).into());
    }
    let fk_before: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let fk_now: bool = conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
    let result = if fk_now {
        Err(ApplyError::ForeignKeys)
    } else {
        crate::normalize::with_stand_ins(conn, desired, |conn| {
            hooks.before_begin(conn).and_then(|()| run(conn, plan, desired, opts, hooks))
        })
    };
    if result.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    hooks.after_end(conn);
    let restore = conn.execute_batch(if fk_before { "PRAGMA foreign_keys = ON" } else { "PRAGMA foreign_keys = OFF" });
    let applied = result?;
    restore?;
    Ok(applied)
}

fn run(
    conn: &mut Connection,
    plan: &Plan,
    desired: &Schema,
    opts: &ApplyOptions,
    hooks: &mut dyn Hooks,
) -> Result<Applied, ApplyError> {
    let start = Instant::now();
    if let Err(e) = begin_immediate(conn, opts) {
        return Err(if is_busy(&e) { ApplyError::busy(opts.busy_timeout, WRITE_LOCK) } else { e.into() });
    }
    // With the write lock held, only readers can keep the plan from writing to the file.
    run_in_transaction(conn, plan, desired, opts, hooks, start).map_err(|e| e.busy_as(opts.busy_timeout, READING))
}

/// `BEGIN IMMEDIATE`, waiting up to the busy timeout. An observer is told first when another
/// connection holds the write lock, and by whom: the lock is tried once without waiting.
fn begin_immediate(conn: &mut Connection, opts: &ApplyOptions) -> rusqlite::Result<()> {
    let Some(o) = &opts.observer else { return conn.execute_batch("BEGIN IMMEDIATE") };
    conn.busy_timeout(Duration::ZERO)?;
    let first = conn.execute_batch("BEGIN IMMEDIATE");
    conn.busy_timeout(opts.busy_timeout)?;
    match first {
        Err(e) if is_busy(&e) => {
            let holder = conn.path().and_then(crate::lock::write_lock_holder);
            o.waiting(holder.as_deref().unwrap_or("another connection"));
            conn.execute_batch("BEGIN IMMEDIATE")
        }
        other => other,
    }
}

fn run_in_transaction(
    conn: &mut Connection,
    plan: &Plan,
    desired: &Schema,
    opts: &ApplyOptions,
    hooks: &mut dyn Hooks,
    start: Instant,
) -> Result<Applied, ApplyError> {
    let before = match hooks.known_before(conn)? {
        Some(known) => known,
        None => inspect(conn, &opts.inspect)?,
    };
    let replanned;
    let plan = match hooks.before_steps(conn, &before)? {
        Steps::AsGiven => plan,
        Steps::Replanned(p) => {
            replanned = p;
            &replanned
        }
        Steps::Nothing => {
            conn.execute_batch("ROLLBACK")?;
            return Ok(Applied { steps: 0, statements: 0, elapsed: start.elapsed(), dry_run: opts.dry_run });
        }
    };
    let mut statements = 0;
    let observer = opts.observer.as_ref();
    for (i, step) in plan.steps.iter().enumerate() {
        let step_start = observer.map(|o| {
            o.step_started(i, plan.steps.len(), step);
            Instant::now()
        });
        for (k, sql) in step.sql.iter().enumerate() {
            let filter = hooks.row_filter(step, k);
            let ran = match observer {
                None => run_statement(conn, step, k, filter.as_deref()),
                Some(o) => observed_statement(conn, o, step, k, filter.as_deref()),
            };
            if let Err(e) = ran {
                // A lock, a read-only file or a full disk is about the database, not about this step.
                if is_busy(&e) || is_read_only(&e) || is_full(&e) {
                    return Err(e.into());
                }
                let message = tidy(&sqlite_message(&e));
                // Diagnose on the untouched database.
                let _ = conn.execute_batch("ROLLBACK");
                let diagnosis =
                    diagnose(conn, &before, desired, &step.object, &native_message(sql, &message)).map(Box::new);
                return Err(ApplyError::Step {
                    index: i + 1,
                    object: step.object.clone(),
                    sql: sql.clone(),
                    message,
                    diagnosis,
                });
            }
            statements += 1;
        }
        if let (Some(o), Some(t)) = (observer, step_start) {
            o.step_finished(i, step, t.elapsed());
        }
    }
    let violations = foreign_key_violations(conn, &before)?;
    if !violations.is_empty() {
        return Err(ApplyError::ForeignKeyViolations(violations));
    }
    let verify_start = Instant::now();
    let after = match hooks.known_after(conn)? {
        Some(known) => known,
        None => inspect(conn, &opts.inspect)?,
    };
    let left = diff(&after, &desired.without_hints());
    if !left.is_empty() {
        return Err(ApplyError::Verify(left));
    }
    if let Some(o) = observer {
        o.verified(verify_start.elapsed());
    }
    hooks.before_commit(conn, &after, start.elapsed())?;
    conn.execute_batch(if opts.dry_run { "ROLLBACK" } else { "COMMIT" })?;
    Ok(Applied { steps: plan.steps.len(), statements, elapsed: start.elapsed(), dry_run: opts.dry_run })
}

/// Runs statement `index` of `step`: one statement at a time, only a seed script (reset) is a
/// script. `filter`, from [`Hooks::row_filter`], goes into the statement's condition slot.
fn run_statement(conn: &Connection, step: &Step, index: usize, filter: Option<&str>) -> rusqlite::Result<()> {
    if step.kind == StepKind::Seed {
        return conn.execute_batch(&step.sql[index]);
    }
    execute_one(conn, &step.with_condition(index, filter))
}

/// Runs one statement of `step` for an observer. A rebuild's row copy over at least
/// [`Observer::copy_threshold`] rows runs with `WHERE _reconcile_progress()`: a function
/// that returns true and counts each row it sees, so the count is exact and the rows
/// copied are the same. The function exists only while that statement runs.
fn observed_statement(
    conn: &Connection,
    o: &Arc<dyn Observer>,
    step: &Step,
    index: usize,
    filter: Option<&str>,
) -> rusqlite::Result<()> {
    o.statement(&step.sql[index]);
    let copy = step.row_read(index).filter(|r| r.role == RowReadRole::Copy).map(|r| r.table.as_str());
    let (Some(min), Some(table)) = (o.copy_threshold(), copy) else {
        return run_statement(conn, step, index, filter);
    };
    let total: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", q(table)), [], |r| r.get(0))?;
    let total = u64::try_from(total).unwrap_or(0);
    if total < min {
        return run_statement(conn, step, index, filter);
    }
    let done = Arc::new(AtomicU64::new(0));
    let (counter, sink, name) = (done.clone(), o.clone(), table.to_string());
    // Not SQLITE_DETERMINISTIC: SQLite could then call a function without arguments only once.
    conn.create_scalar_function(
        PROGRESS_FN,
        0,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        move |_| {
            let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
            if n % 1024 == 0 {
                sink.copy_progress(&name, n, total);
            }
            Ok(true)
        },
    )?;
    o.copy_progress(table, 0, total);
    // The progress function comes first, so it sees every row.
    let condition = match filter {
        Some(f) => format!("{PROGRESS_FN}() AND ({f})"),
        None => format!("{PROGRESS_FN}()"),
    };
    let result = execute_one(conn, &step.with_condition(index, Some(&condition)));
    let removed = conn.remove_function(PROGRESS_FN, 0);
    o.copy_finished(table, done.load(Ordering::Relaxed), result.is_ok());
    result?;
    removed
}

/// SQLite's message with the rebuild's temporary table name replaced by the real one.
fn tidy(message: &str) -> String {
    message.replace(&format!("{}new_", crate::inspect::OWN_PREFIX), "")
}

/// `foreign_key_check` summarised per table and parent: counts and sample rowids. A reference
/// to a table that is not in the database, and was not before the plan either (a dangling
/// reference, which SQLite accepts), makes every row with a key a violation: those are the
/// database's own, not the plan's, and are left out.
pub(crate) fn foreign_key_violations(
    db: &(impl crate::engine::Sql + ?Sized),
    before: &Schema,
) -> Result<String, rusqlite::Error> {
    use rusqlite::types::Value;
    let rows = db.rows(
        "SELECT \"table\", rowid, parent, lower(parent) IN (SELECT lower(name) FROM sqlite_schema WHERE type = 'table') \
         FROM pragma_foreign_key_check ORDER BY 1, 3, 2",
        &[],
    )?;
    let mut groups: std::collections::BTreeMap<(String, String), (usize, Vec<String>)> = Default::default();
    for row in rows {
        let text = |i: usize| match row.get(i) {
            Some(Value::Text(t)) => t.clone(),
            _ => String::new(),
        };
        let (table, parent) = (text(0), text(2));
        let rowid = match row.get(1) {
            Some(Value::Integer(r)) => r.to_string(),
            _ => "?".to_string(),
        };
        let parent_exists = matches!(row.get(3), Some(Value::Integer(1)));
        if !parent_exists && before.table(&parent).is_none() {
            continue;
        }
        let g = groups.entry((table, parent)).or_default();
        g.0 += 1;
        if g.1.len() < 5 {
            g.1.push(rowid);
        }
    }
    Ok(groups
        .into_iter()
        .map(|((t, p), (n, sample))| {
            format!("`{t}`: {n} rows reference missing `{p}` rows (e.g. rowid {})", sample.join(", "))
        })
        .collect::<Vec<_>>()
        .join("; "))
}

/// Native ALTER forms fail with a bare "constraint failed": name the constraint from the statement.
fn native_message(sql: &str, message: &str) -> String {
    if message != "constraint failed" {
        return message.to_string();
    }
    let Ok(toks) = crate::sql::tokens(sql) else { return message.to_string() };
    let words: Vec<String> = toks.iter().map(|t| t.text.to_ascii_uppercase()).collect();
    for (i, w) in words.iter().enumerate() {
        if w == "COLUMN" && words.get(i + 2).map(String::as_str) == Some("SET") {
            return format!("NOT NULL constraint failed: {}", crate::sql::unquote(toks[i + 1].text));
        }
        if w == "CONSTRAINT" && words.get(i + 2).map(String::as_str) == Some("CHECK") {
            return format!("CHECK constraint failed: {}", crate::sql::unquote(toks[i + 1].text));
        }
    }
    message.to_string()
}

/// The rows that made a data-dependent step fail, found on the database as it was.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnosis {
    /// The table the rows are in.
    pub table: String,
    /// The constraint they break: `NOT NULL column \`x\``, `UNIQUE (a, b)`, `CHECK name`.
    pub constraint: String,
    /// How many rows break it (for UNIQUE, how many groups of rows share a value), when counted.
    pub count: Option<i64>,
    /// The keys of a few of them (rowids, or the primary key of a WITHOUT ROWID table).
    pub sample_keys: Vec<String>,
    /// The whole sentence, with what to do.
    pub text: String,
}

impl std::fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

/// Counts and samples the rows behind a constraint failure, on the database as it was.
fn diagnose(conn: &Connection, before: &Schema, desired: &Schema, object: &str, message: &str) -> Option<Diagnosis> {
    let want = desired.table(object).map(|(_, t)| t);
    // A table renamed in the same plan is found under its old name.
    let (table_name, have) =
        before.table(object).or_else(|| want.and_then(|w| w.renamed_from.as_deref()).and_then(|o| before.table(o)))?;
    let keys = sample_key(have);
    let t = q(table_name);
    let count_where = |cond: &str| -> Option<(i64, Vec<String>)> {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {t} WHERE {cond}"), [], |r| r.get(0)).ok()?;
        let mut stmt = conn.prepare(&format!("SELECT CAST({keys} AS TEXT) FROM {t} WHERE {cond} LIMIT 5")).ok()?;
        let sample = stmt.query_map([], |r| r.get::<_, Option<String>>(0)).ok()?.flatten().flatten().collect();
        Some((n, sample))
    };
    let found = |constraint: String, count: Option<i64>, sample_keys: Vec<String>, text: String| Diagnosis {
        table: table_name.to_string(),
        constraint,
        count,
        sample_keys,
        text,
    };
    let key_label = if have.without_rowid { "key" } else { "rowid" };
    if let Some(rest) = message.strip_prefix("NOT NULL constraint failed: ") {
        let col = rest.rsplit('.').next()?.trim();
        let source = have
            .column(col)
            .map(|c| c.name.clone())
            .or_else(|| want.and_then(|w| w.column(col)).and_then(|c| c.renamed_from.clone()));
        let (n, sample) = match source {
            Some(src) => count_where(&format!("{} IS NULL", q(&src)))?,
            None => count_where("1")?,
        };
        let text = format!(
            "`{table_name}`: {n} rows have no value for NOT NULL column `{col}` (e.g. {key_label} {}); add `backfill: <expr>` (or a default) to that column, or `convert`",
            sample.join(", ")
        );
        return Some(found(format!("NOT NULL column `{col}`"), Some(n), sample, text));
    }
    if let Some(rest) = message.strip_prefix("UNIQUE constraint failed: ") {
        let cols: Vec<String> =
            rest.split(',').filter_map(|c| c.trim().rsplit('.').next().map(|s| q(s.trim()))).collect();
        let constraint = format!("UNIQUE ({})", rest.trim());
        if cols.iter().any(|c| have.column(&crate::sql::unquote(c)).is_none()) {
            let text = format!("`{table_name}`: existing rows are not unique on ({rest}); remove the duplicates or `convert` the column");
            return Some(found(constraint, None, Vec::new(), text));
        }
        let list = cols.join(", ");
        let n: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM (SELECT 1 FROM {t} GROUP BY {list} HAVING count(*) > 1)"),
                [],
                |r| r.get(0),
            )
            .ok()?;
        let text = format!(
            "`{table_name}`: {n} groups of rows share a value of ({}); remove the duplicates or `convert` the column",
            rest.trim()
        );
        return Some(found(constraint, Some(n), Vec::new(), text));
    }
    if message.starts_with("CHECK constraint failed") {
        let name = message.split(':').nth(1).map(str::trim).unwrap_or("");
        let want = want?;
        let check = want.checks.iter().chain(want.columns.iter().flat_map(|c| c.checks.iter())).find(|c| {
            c.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(name))
                || crate::sql::canonical(name) == c.expr.canonical()
        })?;
        let (n, sample) = count_where(&format!("NOT ({})", check.expr))?;
        let name = check.name.clone().unwrap_or_else(|| check.expr.to_string());
        let text = format!(
            "`{table_name}`: {n} rows violate CHECK `{name}` (e.g. {key_label} {}); fix them first, or `convert` the column",
            sample.join(", ")
        );
        return Some(found(format!("CHECK `{name}`"), Some(n), sample, text));
    }
    None
}

fn sample_key(t: &Table) -> String {
    if t.without_rowid {
        let cols = t.primary_key_columns();
        let parts: Vec<String> = cols.iter().map(|c| q(c)).collect();
        if parts.is_empty() {
            return quote_str("?");
        }
        parts.join(" || '/' || ")
    } else {
        "rowid".to_string()
    }
}
