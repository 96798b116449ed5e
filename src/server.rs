//! Server: a libSQL server as a [`Target`]. A change runs in one Hrana stream held from the first
//! request to the last, so that what a local connection keeps for its session holds here too:
//! `PRAGMA foreign_keys = OFF` and `BEGIN IMMEDIATE` in one request (keys read back in it), the
//! schema read again under the write lock, the kept values copied into the server's own tables
//! (`_reconcile_kept_<id>_b1`, ...), the steps, `foreign_key_check` and the verification read
//! inside the transaction, the history row, then COMMIT and the setting restored in one request.
//! A stream lost on the way ends the server's transaction; a loss at COMMIT is settled by
//! reading the history back.
//!
//! What differs from a local file: no functions of this process run on the server, so a
//! rebuild's row copy shows no progress and the values a backfill fills are kept by a scan
//! before the steps; there is no backup file and no attached database. The plan files go to
//! `plans/` as for a file, staged before COMMIT and published after it; their `rollback.sql`
//! reads the kept values from the server's tables.

use std::time::{Duration, Instant};

use rusqlite::types::Value;

use crate::apply::{self, ApplyError, Refusal, Steps};
use crate::diff::diff;
use crate::engine::{Engine, Sql};
use crate::error::Error;
use crate::execute::{self, Report, Run};
use crate::history::{self, HistoryEntry};
use crate::inspect::{inspect, InspectOptions, OWN_PREFIX};
use crate::migration::{self, Prepared};
use crate::model::Schema;
use crate::normalize::sqlite_message;
use crate::plan::StepKind;
use crate::remote::{Client, RemoteError, Stream, StreamError, StreamLost};
use crate::sql::quote_ident as qi;
use crate::store;
use crate::store_error::StoreError;

/// A libSQL server reached over Hrana-over-HTTP.
#[derive(Debug)]
pub struct Server {
    client: Client,
    engine: Engine,
}

impl Server {
    /// Connects to the server at `url` with an optional JWT `token` (see [`Client::connect`]).
    pub fn connect(url: &str, token: Option<&str>) -> Result<Server, RemoteError> {
        Server::new(Client::connect(url, token)?)
    }

    /// The server behind `client`.
    pub fn new(client: Client) -> Result<Server, RemoteError> {
        let engine = client.engine().map_err(|e| RemoteError::new(sqlite_message(&e)))?;
        Ok(Server { client, engine })
    }

    /// The client, for what only a server has (its address, the requests sent).
    pub fn client(&self) -> &Client {
        &self.client
    }
}

impl Sql for Server {
    fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
        self.client.rows(sql, params)
    }

    fn sqlite_version(&self) -> Result<(u32, u32, u32), rusqlite::Error> {
        self.client.sqlite_version()
    }
}

impl crate::target::Target for Server {
    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn prepare(&mut self, desired: &Schema, opts: &InspectOptions) -> Result<Prepared, Error> {
        migration::prepare_with(&self.client, desired, opts)
    }

    fn execute(&mut self, prepared: &Prepared, run: &Run) -> Result<Report, Error> {
        if prepared.is_empty() {
            return Ok(Report::nothing());
        }
        change(&self.client, prepared, run).map_err(Error::from)
    }

    fn rollback(
        &mut self,
        changes: &[(HistoryEntry, Prepared)],
        options: crate::apply::ApplyOptions,
    ) -> Result<Report, Error> {
        rollback_with_kept_tables(self, changes, options)
    }
}

/// [`Target::rollback`] on a target that keeps a change's dropped values in its own tables
/// (a libSQL server, an rqlite node): each change's rollback reads them there, refused, naming
/// the change, when they are gone.
pub(crate) fn rollback_with_kept_tables(
    target: &mut dyn crate::target::Target,
    changes: &[(HistoryEntry, Prepared)],
    options: crate::apply::ApplyOptions,
) -> Result<Report, Error> {
    let Some((newest, _)) = changes.first() else {
        return Err(Refusal::NothingToRollBack("no change to roll back".into()).into());
    };
    let (whole, undoes) = execute::combined_inverse(changes, |_, entry, prefix, rollback| {
        kept_tables_exist(&*target, entry, prefix)?;
        Ok(crate::rollback::with_kept_values_in(&rollback, |t| qi(&format!("{prefix}_{t}"))))
    })?;
    let run = Run { kind: "rollback", options, undoes, ..Run::default() };
    target.execute(&whole, &run).map_err(|e| e.rollback_of(&newest.id))
}

/// The prefix of the tables that keep what change `id` drops or rewrites.
pub(crate) fn kept_prefix(id: &str) -> String {
    format!("{OWN_PREFIX}kept_{}", id.replace('-', "_"))
}

/// Refuses, naming the change, a rollback whose kept values are gone from the server.
fn kept_tables_exist(client: &(impl Sql + ?Sized), entry: &HistoryEntry, prefix: &str) -> Result<(), Error> {
    let found = client.rows(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name LIKE ?1 ESCAPE '\\'",
        &[Value::Text(format!("{}\\_%", prefix.replace('_', "\\_")))],
    )?;
    if matches!(found.first().and_then(|r| r.first()), Some(Value::Integer(n)) if *n > 0) {
        return Ok(());
    }
    let message = format!(
        "the tables `{prefix}_*` that keep the values change `{}` dropped are missing; its rollback would lose them",
        entry.id
    );
    Err(StoreError::new("read the kept values", Some(prefix.to_string()), message).into())
}

/// An error of the stream as the applier says it.
fn stream_error(e: StreamError) -> ApplyError {
    match e {
        StreamError::Lost(lost) => lost_error(&lost),
        StreamError::Statement { error, .. } => statement_error(&error).unwrap_or_else(|| error.into()),
    }
}

fn lost_error(lost: &StreamLost) -> ApplyError {
    ApplyError::Sqlite(format!("{lost}; nothing was changed: the change had not been committed"))
}

/// sqld's answer to a statement of a transaction it ended: one that held the write lock for more
/// than 5 s while another connection waited to write.
const TIMED_OUT: &str = "Transaction timed out";

/// A statement's error, said as what it means when the server had ended the transaction.
fn statement_error(error: &rusqlite::Error) -> Option<ApplyError> {
    (sqlite_message(error) == TIMED_OUT).then(|| {
        ApplyError::Sqlite(format!(
            "the server ended the change's transaction ({TIMED_OUT}): a libSQL server takes the write lock from a \
             transaction that has held it for more than 5 s when another connection waits to write; nothing was \
             changed; apply again when the server's writers are quiet"
        ))
    })
}

/// Runs `prepared` on the server behind `client` as one change in one stream.
fn change(client: &Client, prepared: &Prepared, run: &Run) -> Result<Report, ApplyError> {
    apply::allowed(&prepared.forward, &run.options)?;
    let start = Instant::now();
    let stream = client.stream();
    let opened = stream
        .batch(&["PRAGMA foreign_keys", "PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys", "BEGIN IMMEDIATE"])
        .map_err(|e| match e {
            StreamError::Statement { index: 3, error, .. } if apply::is_busy(&error) => {
                ApplyError::Busy { waited: Duration::ZERO, holder: apply::WRITE_LOCK }
            }
            other => stream_error(other),
        })?;
    let flag = |i: usize| {
        matches!(opened.get(i).and_then(|e| e.rows.first()).and_then(|r| r.first()), Some(Value::Integer(1)))
    };
    let (keys_before, keys_now) = (flag(0), flag(2));
    let restore = if keys_before { "PRAGMA foreign_keys = ON" } else { "PRAGMA foreign_keys = OFF" };
    let result = if keys_now && prepared.forward.touches_tables() {
        Err(ApplyError::ForeignKeys)
    } else {
        in_transaction(client, &stream, prepared, run, start)
    };
    match result {
        Ok(done) => {
            let end = if run.options.dry_run { "ROLLBACK" } else { "COMMIT" };
            match stream.batch(&[end, restore]) {
                Ok(_) => {}
                Err(StreamError::Lost(lost)) => settle(client, &lost, &done)?,
                Err(other) => return Err(stream_error(other)),
            }
            let _ = stream.close();
            done.report(prepared, run.options.dry_run, start)
        }
        Err(e) => {
            // Before COMMIT was sent, a lost stream leaves a transaction the server rolls back
            // when it ends the stream: whatever failed, the change was not committed.
            let ended = stream.batch(&["ROLLBACK", restore]);
            let _ = stream.close();
            match ended {
                Err(StreamError::Lost(lost)) => Err(lost_error(&lost)),
                _ => Err(e),
            }
        }
    }
}

/// The stream was lost at COMMIT: the change is committed when its history row is there.
fn settle(client: &Client, lost: &StreamLost, done: &Done) -> Result<(), ApplyError> {
    let Some(id) = done.recorded.first() else { return Err(lost_error(lost)) };
    let rows = client
        .rows(&format!("SELECT count(*) FROM {} WHERE id = ?1", history::HISTORY_TABLE), &[Value::Text(id.clone())]);
    match rows.ok().as_ref().and_then(|r| r.first()).and_then(|r| r.first()) {
        Some(Value::Integer(1)) => Ok(()),
        Some(_) => Err(ApplyError::Sqlite(format!(
            "{lost}; the history has no change `{id}` (read back after the loss): nothing was changed"
        ))),
        None => Err(ApplyError::Sqlite(format!(
            "{lost}; whether change `{id}` was committed could not be read back: see `reconcile history`"
        ))),
    }
}

/// What ran inside the transaction.
#[derive(Default)]
struct Done {
    /// The change planned again under the write lock, when the schema had moved.
    replanned: Option<Prepared>,
    statements: usize,
    recorded: Vec<String>,
    /// The prefix of the server tables holding the values the change dropped or rewrote.
    backup: Option<String>,
    /// The plan files, written to a hidden directory of `plans/` before COMMIT.
    staged: Option<store::Staged>,
    /// The database already had the desired schema: nothing ran.
    nothing: bool,
}

impl Done {
    /// The report of `given` (or of the change planned again instead), its plan files published.
    fn report(self, given: &Prepared, dry_run: bool, start: Instant) -> Result<Report, ApplyError> {
        if self.nothing {
            return Ok(Report { already_done: true, ..Report::nothing() });
        }
        let id = self.recorded.first().cloned().unwrap_or_default();
        let plan_dir = store::publish_committed(self.staged, &id).map_err(ApplyError::Store)?;
        let prepared = self.replanned.as_ref().unwrap_or(given);
        Ok(Report {
            id: if dry_run { None } else { self.recorded.first().cloned() },
            summary: crate::render::summary(&prepared.forward),
            changes: prepared.forward.changes.clone(),
            steps: prepared.forward.steps.len(),
            statements: self.statements,
            elapsed: start.elapsed(),
            dry_run,
            plan_dir,
            backup: self.backup.map(std::path::PathBuf::from),
            already_done: false,
            replanned: self.replanned.is_some(),
            recorded: if dry_run { Vec::new() } else { self.recorded },
        })
    }
}

fn in_transaction(
    client: &Client,
    stream: &Stream<'_>,
    prepared: &Prepared,
    run: &Run,
    start: Instant,
) -> Result<Done, ApplyError> {
    let opts = &run.options;
    let before = inspect(stream, &opts.inspect)?;
    let mut done = Done::default();
    if !diff(&before, &prepared.before.without_hints()).is_empty() {
        match execute::moved(prepared, &before, run, client.sqlite_version()?, false)? {
            (Steps::Nothing, _) => return Ok(Done { nothing: true, ..done }),
            (_, again) => done.replanned = again,
        }
    }
    let current = done.replanned.as_ref().unwrap_or(prepared);
    let id = history::next_id(stream, &current.fingerprint_after, client.url())?;
    if !opts.dry_run && !current.backups.is_empty() {
        let prefix = kept_prefix(&id);
        keep(stream, current, &prefix)?;
        done.backup = Some(prefix);
    }
    // Every statement of every step in one request, each run only if the one before succeeded;
    // a reset's seed script, a script of statements, after them in a `sequence` request.
    let mut statements = Vec::new();
    let mut seeds = Vec::new();
    for (i, step) in current.forward.steps.iter().enumerate() {
        match step.kind {
            StepKind::Seed => seeds.extend(step.sql.iter().map(|sql| (i, sql.as_str()))),
            _ => statements.extend(step.sql.iter().map(|sql| (i, sql.as_str()))),
        }
    }
    let sql: Vec<&str> = statements.iter().map(|(_, s)| *s).collect();
    stream.batch(&sql).map_err(|e| match e {
        StreamError::Statement { index, sql, error } => statement_error(&error).unwrap_or_else(|| {
            let step = &current.forward.steps[statements[index].0];
            ApplyError::Step {
                index: statements[index].0 + 1,
                object: step.object.clone(),
                sql,
                message: sqlite_message(&error),
                diagnosis: None,
            }
        }),
        lost => stream_error(lost),
    })?;
    for (i, script) in seeds {
        stream.sequence(script).map_err(|e| match e {
            StreamError::Statement { error, .. } => statement_error(&error).unwrap_or_else(|| ApplyError::Step {
                index: i + 1,
                object: current.forward.steps[i].object.clone(),
                sql: "the seed script".to_string(),
                message: sqlite_message(&error),
                diagnosis: None,
            }),
            lost => stream_error(lost),
        })?;
        done.statements += 1;
    }
    done.statements += sql.len();
    let violations = apply::foreign_key_violations(stream, &before)?;
    if !violations.is_empty() {
        return Err(ApplyError::ForeignKeyViolations(violations));
    }
    let after = inspect(stream, &opts.inspect)?;
    let left = diff(&after, &current.after.without_hints());
    if !left.is_empty() {
        return Err(ApplyError::Verify(left));
    }
    if !opts.dry_run {
        let (recorded, entry) =
            execute::record(stream, run, &id, current, done.backup.clone(), start.elapsed(), client.url())?;
        done.recorded = recorded;
        if let Some(plans) = &run.plans {
            // Its `rollback.sql` reads the kept values where this change keeps them: the
            // server's own tables.
            let mut shown = current.clone();
            if let Some(prefix) = &done.backup {
                shown.rollback =
                    crate::rollback::with_kept_values_in(&shown.rollback, |t| qi(&format!("{prefix}_{t}")));
            }
            let staged = store::stage(plans, &entry, &shown, None).map_err(|e| {
                let message = format!("writing the plan files under {}: {e}", plans.display());
                ApplyError::Store(StoreError::new("write the plan files", Some(plans.display().to_string()), message))
            })?;
            done.staged = Some(staged);
        }
    }
    Ok(done)
}

/// Copies what `prepared` drops or rewrites into tables of the server named `<prefix>_b1`, ...
/// (and `<prefix>_sequence` for the AUTOINCREMENT counters), inside the change's transaction:
/// the rollback plan reads them where a local file's reads its backup file.
fn keep(db: &Stream<'_>, prepared: &Prepared, prefix: &str) -> Result<(), ApplyError> {
    let sql = kept_statements(prepared, prefix);
    let refs: Vec<&str> = sql.iter().map(String::as_str).collect();
    db.batch(&refs).map_err(|e| match e {
        StreamError::Statement { sql, error, .. } => ApplyError::Store(StoreError::new(
            "keep the values for the rollback",
            Some(prefix.to_string()),
            format!("{}: {sql}", sqlite_message(&error)),
        )),
        lost => stream_error(lost),
    })?;
    Ok(())
}

/// The statements that copy what `prepared` drops or rewrites into the database's own tables
/// `<prefix>_b1`, ... and `<prefix>_sequence`, for an engine with no backup file beside it.
pub(crate) fn kept_statements(prepared: &Prepared, prefix: &str) -> Vec<String> {
    let table = |name: &str| qi(&format!("{prefix}_{name}"));
    let mut sql = vec![format!("CREATE TABLE {} (name TEXT NOT NULL, seq INTEGER)", table("sequence"))];
    for b in &prepared.backups {
        let t = table(&b.name);
        sql.push(format!("CREATE TABLE {t} ({})", b.aliases().join(", ")));
        if !b.columns.is_empty() {
            sql.push(format!("INSERT INTO {t} {}", b.select_sql()));
        }
        let keys = b.lookup_aliases();
        if !keys.is_empty() {
            sql.push(format!("CREATE INDEX {} ON {t} ({})", table(&format!("{}_key", b.name)), keys.join(", ")));
        }
        if b.sequence {
            sql.push(format!(
                "INSERT INTO {} SELECT name, seq FROM sqlite_sequence WHERE name = {}",
                table("sequence"),
                crate::sql::quote_str(&b.table)
            ));
        }
    }
    sql
}
