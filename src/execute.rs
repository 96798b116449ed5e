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
use crate::apply::{self, ApplyOptions, Hooks, Refusal};
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
}

impl Report {
    fn nothing() -> Report {
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
    /// For a rollback: the id of the change it undoes.
    pub rolls_back: Option<String>,
    /// For a rollback: the backup file to attach.
    pub attach: Option<PathBuf>,
}

struct Recorder<'a> {
    prepared: &'a Prepared,
    run: &'a Run,
    id: String,
    backup_dir: Option<PathBuf>,
    /// The backup file while it is written, between the first step and COMMIT.
    writing: Option<backup::BackupFile>,
    /// Set once the backup file is written.
    backup: Option<PathBuf>,
    attached: bool,
    staged: Option<store::Staged>,
}

impl Hooks for Recorder<'_> {
    fn before_begin(&mut self, conn: &Connection) -> Result<(), ApplyError> {
        if let Some(path) = &self.run.attach {
            conn.execute_batch(&format!(
                "ATTACH DATABASE {} AS {BACKUP_SCHEMA}",
                quote_str(&format!("file:{}?mode=ro", path.display()))
            ))
            .map_err(|e| {
                let message = format!("cannot open the backup {}: {e}", path.display());
                ApplyError::Store(StoreError::new("open the backup", Some(path.display().to_string()), message))
            })?;
            self.attached = true;
        }
        Ok(())
    }

    fn before_steps(&mut self, conn: &Connection, before: &Schema) -> Result<(), ApplyError> {
        let differences = diff(before, &self.prepared.before.without_hints());
        if !differences.is_empty() {
            return Err(Refusal::Stale(differences.iter().map(|c| c.to_string()).collect()).into());
        }
        self.id = history::next_id(conn, &self.prepared.fingerprint_after)?;
        if let (Some(dir), false) = (&self.backup_dir, self.run.options.dry_run) {
            let path = dir.join(format!("{}.db", self.id));
            let backups = &self.prepared.backups;
            // Values a backfill or default fills are kept as the rebuild copies the rows (or the
            // native backfill updates them), which spares a scan of the whole table.
            let during_copy: Vec<bool> = backup::kept_during_copy(backups, &self.prepared.before, &self.prepared.after)
                .into_iter()
                .zip(backups)
                .map(|(kept, b)| kept && backup::reads_kept_rows(&self.prepared.forward, b))
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
        Ok(())
    }

    fn row_filter(&mut self, step: &Step, index: usize) -> Option<String> {
        self.writing.as_mut()?.row_filter(step, index)
    }

    fn before_commit(&mut self, conn: &Connection, _after: &Schema, elapsed: Duration) -> Result<(), ApplyError> {
        if self.run.options.dry_run {
            return Ok(());
        }
        if let Some(file) = self.writing.take() {
            let _ = conn.remove_function(backup::KEEP_FN, -1);
            self.backup =
                Some(file.finish().map_err(|e| ApplyError::Store(StoreError::new("finish the backup", None, e)))?);
        }
        let (applied_at, _) = history::now_utc();
        let entry = HistoryEntry {
            id: self.id.clone(),
            kind: self.run.kind.to_string(),
            applied_at,
            tool_version: migration::TOOL_VERSION.to_string(),
            sqlite_version: self.prepared.sqlite_version.clone(),
            fingerprint_before: self.prepared.fingerprint_before.clone(),
            fingerprint_after: self.prepared.fingerprint_after.clone(),
            outcome: "applied".to_string(),
            rolls_back: self.run.rolls_back.clone(),
            backup: self.backup.as_ref().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()),
            steps: self.prepared.forward.steps.len() as i64,
            destructive: self.prepared.forward.destructive().count() as i64,
            elapsed_ms: elapsed.as_millis() as i64,
            summary: crate::render::summary(&self.prepared.forward),
        };
        history::record(conn, &entry, self.prepared).map_err(|e| {
            let message = format!("recording the change in {}: {e}", history::HISTORY_TABLE);
            ApplyError::Store(StoreError::new("record the change", Some(history::HISTORY_TABLE.to_string()), message))
        })?;
        if let Some(plans) = &self.run.plans {
            let staged = store::stage(plans, &entry, self.prepared, self.backup.as_deref()).map_err(|e| {
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
        if self.attached {
            let _ = conn.execute_batch(&format!("DETACH DATABASE {BACKUP_SCHEMA}"));
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
    let backup_dir = match (&db_path, prepared.backups.is_empty()) {
        (Some(db), false) => Some(backup::backup_dir(db)),
        _ => None,
    };
    let plans_existed = run.plans.as_ref().is_some_and(|p| p.exists());
    let mut recorder = Recorder {
        prepared,
        run,
        id: String::new(),
        backup_dir,
        writing: None,
        backup: None,
        attached: false,
        staged: None,
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
    // A dry run stages nothing and writes no backup, so only a committed change has these.
    let id = (!applied.dry_run).then(|| recorder.id.clone());
    let plan_dir = match recorder.staged.take() {
        Some(staged) => Some(staged.publish().map_err(|e| {
            let message = format!(
                "change {} is applied and recorded, but its plan files could not be moved into place: {e}",
                recorder.id
            );
            Error::Store(StoreError::new("publish the plan files", None, message))
        })?),
        None => None,
    };
    Ok(Report {
        id,
        summary: crate::render::summary(&prepared.forward),
        changes: prepared.forward.changes.clone(),
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
    let (entry, original) = history::rollback_target(conn, id)?;
    rollback_change(conn, &entry, &original, options)
}

/// Rolls back `original`, the change recorded as `entry` (found by [`history::rollback_target`]).
pub fn rollback_change(
    conn: &mut Connection,
    entry: &HistoryEntry,
    original: &Prepared,
    options: ApplyOptions,
) -> Result<Report, Error> {
    let attach = match &entry.backup {
        Some(name) => {
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
            Some(path)
        }
        None => None,
    };
    let inverse = Prepared {
        format: migration::FORMAT_VERSION,
        tool_version: migration::TOOL_VERSION.to_string(),
        sqlite_version: original.sqlite_version.clone(),
        fingerprint_before: original.fingerprint_after.clone(),
        fingerprint_after: original.fingerprint_before.clone(),
        before: original.after.without_hints(),
        after: original.before.clone(),
        forward: original.rollback.clone(),
        rollback: Plan::default(),
        backups: Vec::new(),
    };
    let run = Run { kind: "rollback", options, plans: None, rolls_back: Some(entry.id.clone()), attach };
    execute(conn, &inverse, &run).map_err(|e| match e {
        Error::Refused(Refusal::Stale(differences)) => {
            Error::Refused(Refusal::RollbackDoesNotFit { change: entry.id.clone(), differences })
        }
        other => other,
    })
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
    let facts = crate::facts::of(&before, crate::engine::sqlite_version(conn)?);
    let empty = Schema::default();
    let changes = crate::diff::compare(&before, desired).changes;
    let forward = plan::reset(&before, &crate::diff::compare(&empty, desired), changes, seed, &facts)?;
    let prepared = Prepared {
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
    };
    let mut options = options;
    options.allow_destructive = true;
    execute(conn, &prepared, &Run { kind: "reset", options, ..Run::default() })
}
