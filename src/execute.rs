//! Execute: a prepared change run with its bookkeeping, around `apply`: the stale-schema check
//! and the backup inside the write lock, the history row and the staged plan files before COMMIT
//! (so the record never disagrees with the schema), the plan files published after it. The same
//! for a rollback (the recorded change's inverse, refused when it would not fit) and for `reset`.
//! Used by the CLI (`apply`, `apply --plan`, `rollback`, `reset`) and by [`crate::Reconciler`].

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

use crate::apply::ApplyError;
use crate::apply::{self, ApplyOptions, Hooks, Refusal, Steps};
use crate::backup::{self, BACKUP_SCHEMA};
use crate::diff::{diff, Change};
use crate::error::Error;
use crate::history::{self, HistoryEntry};
use crate::inspect::inspect;
use crate::migration::{self, Prepared};
use crate::model::Schema;
use crate::plan::{self, Plan, Step};
use crate::sql::quote_str;
use crate::store;
use crate::store_error::StoreError;

/// What a reconcile did.
#[derive(Debug, Clone)]
pub struct Report {
    /// The id of the recorded change; `None` when nothing changed.
    pub id: Option<String>,
    /// The one-line summary of the plan.
    pub summary: String,
    /// The differences resolved.
    pub changes: Vec<Change>,
    /// Steps run.
    pub steps: usize,
    /// Statements run.
    pub statements: usize,
    /// Time inside the transaction.
    pub elapsed: Duration,
    /// Whether everything ran and was rolled back on purpose.
    pub dry_run: bool,
    /// Where the plan files were written.
    pub plan_dir: Option<PathBuf>,
    /// Where the values the plan drops or rewrites were kept.
    pub backup: Option<PathBuf>,
    /// The database already had the desired schema when the write lock was taken: another
    /// process applied the change while this one waited. Nothing was written.
    pub already_done: bool,
    /// The change was planned again under the write lock, from a schema another process had
    /// changed since it was first planned: `summary` and `changes` are of the change that ran.
    pub replanned: bool,
    /// The history rows written, in order (a rollback of several changes writes one for each).
    pub recorded: Vec<String>,
}

impl Report {
    /// Nothing done: the database was in sync.
    pub fn nothing() -> Report {
        Report {
            id: None,
            summary: crate::render::summary(&Plan::default()),
            changes: Vec::new(),
            steps: 0,
            statements: 0,
            elapsed: Duration::ZERO,
            dry_run: false,
            plan_dir: None,
            backup: None,
            already_done: false,
            replanned: false,
            recorded: Vec::new(),
        }
    }
}

/// How to run a prepared change.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// `apply`, `rollback` or `reset`, as recorded in the history.
    pub kind: &'static str,
    /// Apply options (destructive permission, dry run, busy timeout, excludes).
    pub options: ApplyOptions,
    /// Where to write the plan files, if anywhere.
    pub plans: Option<PathBuf>,
    /// What to do when the schema found under the write lock is not the one the change was
    /// planned against (another process changed it meanwhile).
    pub moved: Moved,
    /// The fingerprint of the desired schema as loaded ([`history::source_fingerprint`]), when
    /// the change was made from one: recorded with the database's schema after it, for the
    /// no-op fast path ([`history::unchanged_since_recorded`]).
    pub source: Option<String>,
    /// For a rollback: the changes it undoes, newest first, each recorded as its own history row.
    pub undoes: Vec<Undone>,
    /// For a rollback: the backup files to attach, each under its schema name.
    pub attach: Vec<(String, PathBuf)>,
    /// The fingerprint of `sqlite_schema` ([`history::schema_fingerprint`]) of the database the
    /// change was planned against, when the caller read it (a fleet plans once for many
    /// databases with one fingerprint). Found again under the write lock, the schema is the
    /// plan's `before` and is not read again; otherwise it is read as always.
    pub planned_on: Option<String>,
    /// Results already verified against the same desired schema (a fleet's): a result whose
    /// `sqlite_schema` rows are exactly those of one of them is verified by that comparison,
    /// not by a second full read; a new one is read in full and added.
    pub verified: Option<std::sync::Arc<Verified>>,
}

/// The results a full verification found equal to one desired schema, by the exact text of
/// their managed `sqlite_schema` rows ([`history::managed_schema`]), with the schema read.
#[derive(Debug, Default)]
pub struct Verified {
    found: std::sync::Mutex<std::collections::HashMap<String, Schema>>,
}

impl Verified {
    /// How many distinct results were verified in full.
    pub fn len(&self) -> usize {
        self.found.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// None yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What a change does when the schema it finds under the write lock is not the one it was
/// planned against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Moved {
    /// Refused as stale, nothing run: a saved plan, a rollback.
    #[default]
    Refuse,
    /// In sync when the database already has the desired schema (another process applied the
    /// same change), else refused as stale: a plan a person confirmed at the prompt.
    AcceptDone,
    /// In sync when the database already has the desired schema, else planned again from what
    /// was found and run, under the same policy: an apply of a schema with `--yes`, the library.
    Replan,
}

/// A recorded change a rollback undoes, with its own inverse: the history row of its rollback
/// holds that.
#[derive(Debug, Clone)]
pub struct Undone {
    /// The id of the change undone.
    pub id: String,
    /// Its inverse alone.
    pub inverse: Prepared,
}

struct Recorder<'a> {
    prepared: &'a Prepared,
    /// The change planned again under the write lock, when the schema had moved.
    replanned: Option<Prepared>,
    run: &'a Run,
    id: String,
    backup_dir: Option<PathBuf>,
    /// The backup file while it is written, between the first step and COMMIT.
    writing: Option<backup::BackupFile>,
    /// Set once the backup file is written.
    backup: Option<PathBuf>,
    attached: Vec<String>,
    staged: Option<store::Staged>,
    /// The ids recorded, in order.
    recorded: Vec<String>,
    /// The text of the result's `sqlite_schema` rows, when it was read to look it up in
    /// `run.verified` and not found there: added once the full verification passes.
    result_text: Option<String>,
}

impl Recorder<'_> {
    /// The change that runs: the one given, or the one planned again under the lock.
    fn prepared(&self) -> &Prepared {
        self.replanned.as_ref().unwrap_or(self.prepared)
    }

    /// The schema found under the write lock, `before`, is not the one the change was planned
    /// against: see [`moved`].
    fn moved(&mut self, conn: &Connection, before: &Schema) -> Result<Steps, ApplyError> {
        let (steps, replanned) = moved(self.prepared, before, self.run, crate::engine::sqlite_version(conn)?, false)?;
        self.replanned = replanned;
        Ok(steps)
    }
}

/// What a change does when the schema found under the write lock, `before`, is not the one
/// `prepared` was planned against: the run's [`Moved`] says. `Steps::Nothing` when the work is
/// found done; a change planned again (on SQLite `version`, with foreign keys that stay on when
/// `keys_on`, under the run's policy) with the steps to run instead; or a refusal that tells the
/// differences from the database's side.
pub(crate) fn moved(
    prepared: &Prepared,
    before: &Schema,
    run: &Run,
    version: (u32, u32, u32),
    keys_on: bool,
) -> Result<(Steps, Option<Prepared>), ApplyError> {
    if run.moved != Moved::Refuse {
        let desired = &prepared.after;
        if diff(before, &desired.without_hints()).is_empty() {
            return Ok((Steps::Nothing, None));
        }
        if run.moved == Moved::Replan {
            let again = migration::prepare_keys_on(before.clone(), desired, version, keys_on)
                .map_err(|e| ApplyError::Sqlite(format!("planning again under the write lock: {e}")))?;
            apply::allowed(&again.forward, &run.options)?;
            return Ok((Steps::Replanned(again.forward.clone()), Some(again)));
        }
    }
    let found = diff(&prepared.before.without_hints(), before);
    Err(Refusal::Stale(found.iter().map(Change::as_found).collect()).into())
}

/// Records the change `prepared` ran as `id` inside its transaction on `db` (at `place`, a file
/// or a server): one history row, or one per change a rollback undoes (newest first, each
/// holding that change's own inverse), with the fast path's stamp when the change was made from
/// a desired schema. The ids recorded, and the first row.
pub(crate) fn record(
    db: &(impl crate::engine::Write + ?Sized),
    run: &Run,
    id: &str,
    prepared: &Prepared,
    backup: Option<String>,
    elapsed: Duration,
    place: &str,
) -> Result<(Vec<String>, HistoryEntry), ApplyError> {
    let changes: Vec<(Option<&str>, &Prepared)> = if run.undoes.is_empty() {
        vec![(None, prepared)]
    } else {
        run.undoes.iter().map(|u| (Some(u.id.as_str()), &u.inverse)).collect()
    };
    let stamp = match &run.source {
        Some(source) => {
            let (schema, _) = history::schema_fingerprint(db, &run.options.inspect)?;
            Some(history::Stamp { source: source.clone(), schema })
        }
        None => None,
    };
    let (mut first, mut recorded) = (None, Vec::new());
    for (i, (rolls_back, prepared)) in changes.into_iter().enumerate() {
        let id = if i == 0 { id.to_string() } else { history::next_id(db, &prepared.fingerprint_after, place)? };
        let (applied_at, _) = history::now_utc();
        let entry = HistoryEntry {
            id: id.clone(),
            kind: run.kind.to_string(),
            applied_at,
            tool_version: migration::TOOL_VERSION.to_string(),
            sqlite_version: prepared.sqlite_version.clone(),
            fingerprint_before: prepared.fingerprint_before.clone(),
            fingerprint_after: prepared.fingerprint_after.clone(),
            outcome: "applied".to_string(),
            rolls_back: rolls_back.map(str::to_string),
            backup: if rolls_back.is_none() { backup.clone() } else { None },
            steps: prepared.forward.steps.len() as i64,
            destructive: prepared.forward.destructive().count() as i64,
            elapsed_ms: elapsed.as_millis() as i64,
            summary: crate::render::summary(&prepared.forward),
        };
        let stamp = if rolls_back.is_none() { stamp.as_ref() } else { None };
        history::record(db, &entry, prepared, stamp).map_err(|e| {
            let message = format!("recording the change in {}: {e}", history::HISTORY_TABLE);
            ApplyError::Store(StoreError::new("record the change", Some(history::HISTORY_TABLE.to_string()), message))
        })?;
        recorded.push(id);
        first.get_or_insert(entry);
    }
    let first = first.ok_or_else(|| ApplyError::Sqlite("nothing to record".to_string()))?;
    Ok((recorded, first))
}

impl Hooks for Recorder<'_> {
    fn before_begin(&mut self, conn: &Connection) -> Result<(), ApplyError> {
        for (schema, path) in &self.run.attach {
            conn.execute_batch(&format!(
                "ATTACH DATABASE {} AS {schema}",
                quote_str(&format!("file:{}?mode=ro", path.display()))
            ))
            .map_err(|e| {
                let message = format!("cannot open the backup {}: {e}", path.display());
                ApplyError::Store(StoreError::new("open the backup", Some(path.display().to_string()), message))
            })?;
            self.attached.push(schema.clone());
        }
        Ok(())
    }

    fn known_before(&mut self, conn: &Connection) -> Result<Option<Schema>, ApplyError> {
        let Some(planned_on) = &self.run.planned_on else { return Ok(None) };
        // The same rows of `sqlite_schema` read as the same schema: the one planned against.
        let (now, _) = history::schema_fingerprint(conn, &self.run.options.inspect)?;
        Ok((now == *planned_on).then(|| self.prepared.before.clone()))
    }

    fn known_after(&mut self, conn: &Connection) -> Result<Option<Schema>, ApplyError> {
        let Some(verified) = &self.run.verified else { return Ok(None) };
        let (text, _) = history::managed_schema(conn, &self.run.options.inspect)?;
        let found = verified.found.lock().unwrap_or_else(|p| p.into_inner()).get(&text).cloned();
        if found.is_none() {
            self.result_text = Some(text);
        }
        Ok(found)
    }

    fn before_steps(&mut self, conn: &Connection, before: &Schema) -> Result<Steps, ApplyError> {
        let mut steps = Steps::AsGiven;
        if !diff(before, &self.prepared.before.without_hints()).is_empty() {
            steps = self.moved(conn, before)?;
            if matches!(steps, Steps::Nothing) {
                return Ok(steps);
            }
        }
        self.id = history::next_id(conn, &self.prepared().fingerprint_after, conn.path().unwrap_or_default())?;
        let prepared = self.replanned.as_ref().unwrap_or(self.prepared);
        if let (Some(dir), false, false) = (&self.backup_dir, self.run.options.dry_run, prepared.backups.is_empty()) {
            let path = dir.join(format!("{}.db", self.id));
            let backups = &prepared.backups;
            // Values a backfill or default fills are kept as the rebuild copies the rows (or the
            // native backfill updates them), which spares a scan of the whole table.
            let during_copy: Vec<bool> = backup::kept_during_copy(backups, &prepared.before, &prepared.after)
                .into_iter()
                .zip(backups)
                .map(|(kept, b)| kept && backup::reads_kept_rows(&prepared.forward, b))
                .collect();
            let file = backup::BackupFile::begin(conn, backups, &during_copy, &path).map_err(|e| {
                ApplyError::Store(StoreError::new("write the backup", Some(path.display().to_string()), e))
            })?;
            if during_copy.contains(&true) {
                conn.create_scalar_function(
                    backup::KEEP_FN,
                    -1,
                    FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
                    file.keep_function(),
                )?;
            }
            self.writing = Some(file);
        }
        Ok(steps)
    }

    fn row_filter(&mut self, step: &Step, index: usize) -> Option<String> {
        self.writing.as_mut()?.row_filter(step, index)
    }

    fn before_commit(&mut self, conn: &Connection, after: &Schema, elapsed: Duration) -> Result<(), ApplyError> {
        // Verified in full just now: the next result with the same rows needs no second read.
        if let (Some(verified), Some(text)) = (&self.run.verified, self.result_text.take()) {
            verified.found.lock().unwrap_or_else(|p| p.into_inner()).insert(text, after.clone());
        }
        if self.run.options.dry_run {
            return Ok(());
        }
        if let Some(file) = self.writing.take() {
            let _ = conn.remove_function(backup::KEEP_FN, -1);
            self.backup =
                Some(file.finish().map_err(|e| ApplyError::Store(StoreError::new("finish the backup", None, e)))?);
        }
        let backup = self.backup.as_ref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned());
        let place = conn.path().unwrap_or_default().to_string();
        let (recorded, first) = record(conn, self.run, &self.id, self.prepared(), backup, elapsed, &place)?;
        self.recorded = recorded;
        if let Some(plans) = &self.run.plans {
            let staged = store::stage(plans, &first, self.prepared(), self.backup.as_deref()).map_err(|e| {
                let message = format!("writing the plan files under {}: {e}", plans.display());
                ApplyError::Store(StoreError::new("write the plan files", Some(plans.display().to_string()), message))
            })?;
            self.staged = Some(staged);
        }
        Ok(())
    }

    fn after_end(&mut self, conn: &Connection) {
        // A backup file not finished is removed with its temporary file.
        if self.writing.take().is_some() {
            let _ = conn.remove_function(backup::KEEP_FN, -1);
        }
        for schema in self.attached.drain(..) {
            let _ = conn.execute_batch(&format!("DETACH DATABASE {schema}"));
        }
    }
}

/// Applies `prepared` with its bookkeeping: the stale-schema check inside the
/// write lock, the backup, the history row and the plan files.
pub fn execute(conn: &mut Connection, prepared: &Prepared, run: &Run) -> Result<Report, Error> {
    if prepared.is_empty() {
        return Ok(Report::nothing());
    }
    let db_path = conn.path().filter(|p| !p.is_empty()).map(PathBuf::from);
    // A change planned again under the lock may keep values where the one given did not.
    let backup_dir = match (&db_path, prepared.backups.is_empty() && run.moved != Moved::Replan) {
        (Some(db), false) => Some(backup::backup_dir(db)),
        _ => None,
    };
    let plans_existed = run.plans.as_ref().is_some_and(|p| p.exists());
    let mut recorder = Recorder {
        prepared,
        replanned: None,
        run,
        id: String::new(),
        backup_dir,
        writing: None,
        backup: None,
        attached: Vec::new(),
        staged: None,
        recorded: Vec::new(),
        result_text: None,
    };
    let result = apply::apply_with(conn, &prepared.forward, &prepared.after, &run.options, &mut recorder);
    let applied = match result {
        Ok(a) => a,
        Err(e) => {
            // Nothing was changed, so nothing is left beside the database either: the backup, the staged
            // plan files, and the directories made for them when they are empty.
            if let Some(b) = &recorder.backup {
                let _ = std::fs::remove_file(b);
            }
            if let Some(dir) = &recorder.backup_dir {
                let _ = std::fs::remove_dir(dir);
            }
            drop(recorder.staged.take());
            if let (Some(plans), false) = (&run.plans, plans_existed) {
                let _ = std::fs::remove_dir(plans);
            }
            return Err(e.into());
        }
    };
    if applied.steps == 0 {
        // Another process brought the database to the desired schema while this one waited.
        return Ok(Report { already_done: true, ..Report::nothing() });
    }
    // A dry run stages nothing and writes no backup, so only a committed change has these.
    let id = (!applied.dry_run).then(|| recorder.id.clone());
    let plan_dir = store::publish_committed(recorder.staged.take(), &recorder.id)?;
    let prepared = recorder.prepared();
    Ok(Report {
        id,
        summary: crate::render::summary(&prepared.forward),
        changes: prepared.forward.changes.clone(),
        already_done: false,
        replanned: recorder.replanned.is_some(),
        recorded: if applied.dry_run { Vec::new() } else { recorder.recorded.clone() },
        steps: applied.steps,
        statements: applied.statements,
        elapsed: applied.elapsed,
        dry_run: applied.dry_run,
        plan_dir,
        backup: recorder.backup.clone(),
    })
}

/// Rolls back the change `id` (or the newest one), with every guarantee of apply, verified against the schema
/// recorded before it. Refused when the database's schema is not the one that change produced.
pub fn rollback(conn: &mut Connection, id: Option<&str>, options: ApplyOptions) -> Result<Report, Error> {
    let which = id.map_or(history::Undo::Newest, history::Undo::Change);
    let changes = history::rollback_targets(&*conn, which)?;
    rollback_changes(conn, &changes, options)
}

/// Rolls back `changes`, recorded changes newest first that follow one another (found by
/// [`history::rollback_targets`]), in one transaction: each one's rollback plan in turn, the
/// values each one kept restored from its own backup, verified against the schema recorded
/// before the oldest. Refused, naming the change, when a backup is missing, and as a whole when
/// the database's schema is not the one the newest produced.
pub fn rollback_changes(
    conn: &mut Connection,
    changes: &[(HistoryEntry, Prepared)],
    options: ApplyOptions,
) -> Result<Report, Error> {
    let Some((newest, _)) = changes.first() else {
        return Err(Refusal::NothingToRollBack("no change to roll back".into()).into());
    };
    let kept: Vec<&HistoryEntry> = changes.iter().map(|(e, _)| e).filter(|e| e.backup.is_some()).collect();
    let room = usize::try_from(conn.limit(rusqlite::limits::Limit::SQLITE_LIMIT_ATTACHED)?).unwrap_or(0);
    if kept.len() > room {
        return Err(Refusal::NothingToRollBack(format!(
            "{} of these changes kept values in backup files, and SQLite attaches at most {room} files to one \
             transaction; roll back fewer changes at a time (--steps {room})",
            kept.len()
        ))
        .into());
    }
    // One backup keeps its usual name; several are attached under one name each.
    let renamed = kept.len() > 1;
    let mut attach = Vec::new();
    let (whole, undoes) = combined_inverse(changes, |i, entry, name, rollback| {
        let schema = if renamed { format!("{BACKUP_SCHEMA}_{}", i + 1) } else { BACKUP_SCHEMA.to_string() };
        attach.push((schema.clone(), backup_path(conn, entry, name)?));
        Ok(if renamed {
            crate::rollback::with_kept_values_in(&rollback, |t| format!("{schema}.{t}"))
        } else {
            rollback
        })
    })?;
    let run = Run { kind: "rollback", options, undoes, attach, ..Run::default() };
    execute(conn, &whole, &run).map_err(|e| e.rollback_of(&newest.id))
}

/// `changes` (recorded changes newest first) undone as one change: each one's rollback plan
/// in turn, from the schema the newest produced to the one the oldest was planned against;
/// with each change's own inverse, which its history row records. A change that kept values
/// has its rollback plan passed through `kept` (its index, entry, backup name and plan), which
/// says where those values are read from.
pub(crate) fn combined_inverse(
    changes: &[(HistoryEntry, Prepared)],
    mut kept: impl FnMut(usize, &HistoryEntry, &str, Plan) -> Result<Plan, Error>,
) -> Result<(Prepared, Vec<Undone>), Error> {
    let (Some((_, first)), Some((_, oldest))) = (changes.first(), changes.last()) else {
        return Err(Refusal::NothingToRollBack("no change to roll back".into()).into());
    };
    let mut forward = Plan::default();
    let mut undoes = Vec::new();
    for (i, (entry, original)) in changes.iter().enumerate() {
        let mut rollback = original.rollback.clone();
        if let Some(name) = &entry.backup {
            rollback = kept(i, entry, name, rollback)?;
        }
        let offset = forward.changes.len();
        forward.changes.extend(rollback.changes.iter().cloned());
        forward.steps.extend(rollback.steps.into_iter().map(|mut s| {
            s.serves.iter_mut().for_each(|c| *c += offset);
            s
        }));
        undoes.push(Undone { id: entry.id.clone(), inverse: inverse(original, original.rollback.clone()) });
    }
    let whole = Prepared {
        before: first.after.without_hints(),
        fingerprint_before: first.fingerprint_after.clone(),
        after: oldest.before.clone(),
        fingerprint_after: oldest.fingerprint_before.clone(),
        ..inverse(first, forward)
    };
    Ok((whole, undoes))
}

impl Error {
    /// A stale refusal of the rollback of `change` (and those after it) said as such.
    pub(crate) fn rollback_of(self, change: &str) -> Error {
        match self {
            Error::Refused(Refusal::Stale(differences)) => {
                Error::Refused(Refusal::RollbackDoesNotFit { change: change.to_string(), differences })
            }
            other => other,
        }
    }
}

/// The change that undoes `original` with `forward` (its rollback plan): from the schema it
/// produced back to the one it was planned against.
fn inverse(original: &Prepared, forward: Plan) -> Prepared {
    Prepared {
        format: migration::FORMAT_VERSION,
        tool_version: migration::TOOL_VERSION.to_string(),
        sqlite_version: original.sqlite_version.clone(),
        fingerprint_before: original.fingerprint_after.clone(),
        fingerprint_after: original.fingerprint_before.clone(),
        before: original.after.without_hints(),
        after: original.before.clone(),
        forward,
        rollback: Plan::default(),
        backups: Vec::new(),
    }
}

/// The backup file `name` of change `entry`, beside the database; refused, naming the change,
/// when it is missing.
fn backup_path(conn: &Connection, entry: &HistoryEntry, name: &str) -> Result<PathBuf, Error> {
    let db = conn.path().filter(|p| !p.is_empty()).map(PathBuf::from).ok_or_else(|| {
        Error::Store(StoreError::new(
            "open the backup",
            None,
            "the change kept values in a backup file, but this database has no file",
        ))
    })?;
    let path = backup::backup_dir(&db).join(name);
    if !path.exists() {
        let message = format!(
            "the backup {} of change `{}` is missing; its rollback would lose the values it kept",
            path.display(),
            entry.id
        );
        return Err(StoreError::new("open the backup", Some(path.display().to_string()), message).into());
    }
    Ok(path)
}

/// Drops every managed object and builds `desired` from scratch, then runs `seed` (development only: the
/// caller checks the environment). Recorded in the history; cannot be rolled back.
pub fn reset(
    conn: &mut Connection,
    desired: &Schema,
    seed: Option<&str>,
    options: ApplyOptions,
) -> Result<Report, Error> {
    let before = inspect(conn, &options.inspect)?;
    let prepared = reset_change(before, crate::engine::sqlite_version(conn)?, desired, seed)?;
    execute(conn, &prepared, &reset_run(options))
}

/// The change a reset makes from `before` (on SQLite `version`): every managed object dropped,
/// `desired` built, `seed` run; no rollback.
pub fn reset_change(
    before: Schema,
    version: (u32, u32, u32),
    desired: &Schema,
    seed: Option<&str>,
) -> Result<Prepared, Error> {
    let facts = crate::facts::of(&before, version);
    let empty = Schema::default();
    let changes = crate::diff::compare(&before, desired).changes;
    let forward = plan::reset(&before, &crate::diff::compare(&empty, desired), changes, seed, &facts)?;
    Ok(Prepared {
        format: migration::FORMAT_VERSION,
        tool_version: migration::TOOL_VERSION.to_string(),
        sqlite_version: migration::version_string(facts.sqlite_version),
        fingerprint_before: migration::fingerprint(&before),
        fingerprint_after: migration::fingerprint(desired),
        before,
        after: desired.clone(),
        forward,
        rollback: Plan::default(),
        backups: Vec::new(),
    })
}

/// How a reset runs: its destructive steps allowed (the caller checked the environment).
pub fn reset_run(options: ApplyOptions) -> Run {
    Run { kind: "reset", options: ApplyOptions { allow_destructive: true, ..options }, ..Run::default() }
}
