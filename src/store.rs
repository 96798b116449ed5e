//! Store: what an applied plan leaves behind.
//!
//! (The change itself is [`crate::migration::Prepared`]; its record in the database is
//! [`crate::history`].)
//! - The plan directory (`plans/<id>/forward.sql`, `rollback.sql`,
//!   `meta.json`): readable copies for review and version control, staged
//!   before COMMIT and renamed into place after it. Never table data.
//! - The backup file (`<db>.reconcile/<id>.db`): the values a destructive or
//!   rewriting step loses, copied while the forward plan holds the write lock.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::functions::Context;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

use crate::history::HistoryEntry;
use crate::migration::{Prepared, FORMAT_VERSION};
use crate::plan::{Plan, RowRead, RowReadRole, Step};
use crate::rollback::{Backup, BACKUP_SCHEMA};
use crate::sql::{quote_ident_if_needed as q, quote_str};

/// Writes `bytes` to `path` atomically: a temporary file beside it, synced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Plan files written to a hidden directory, renamed into place by [`Staged::publish`]; removed if dropped.
#[derive(Debug)]
pub struct Staged {
    tmp: Option<tempfile::TempDir>,
    target: PathBuf,
}

impl Staged {
    /// Moves the files to `<plans>/<id>`.
    pub fn publish(mut self) -> std::io::Result<PathBuf> {
        let Some(tmp) = self.tmp.take() else { return Ok(self.target.clone()) };
        let path = tmp.keep();
        fs::rename(&path, &self.target)?;
        if let Some(parent) = self.target.parent() {
            // Make the rename durable where the platform allows it.
            if let Ok(d) = fs::File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(self.target.clone())
    }
}

/// The metadata file of a stored change.
#[derive(Debug, Serialize)]
struct Meta<'a> {
    format: u32,
    id: &'a str,
    kind: &'a str,
    created_at: &'a str,
    tool_version: &'a str,
    sqlite_version: &'a str,
    fingerprint_before: &'a str,
    fingerprint_after: &'a str,
    backup: Option<&'a str>,
    backups: &'a [Backup],
    summary: String,
    changes: &'a [crate::diff::Change],
    steps: Vec<StepMeta<'a>>,
    rollback_steps: Vec<StepMeta<'a>>,
}

#[derive(Debug, Serialize)]
struct StepMeta<'a> {
    kind: crate::plan::StepKind,
    object: &'a str,
    risk: crate::Risk,
    comment: &'a str,
}

fn step_meta(p: &Plan) -> Vec<StepMeta<'_>> {
    p.steps.iter().map(|s| StepMeta { kind: s.kind, object: &s.object, risk: s.risk, comment: &s.comment }).collect()
}

/// Writes `forward.sql`, `rollback.sql` and `meta.json` of `entry` to a hidden directory under `plans`.
pub fn stage(
    plans: &Path,
    entry: &HistoryEntry,
    prepared: &Prepared,
    backup_path: Option<&Path>,
) -> std::io::Result<Staged> {
    fs::create_dir_all(plans)?;
    // Another database may have recorded a change with the same id in the same second: number the directory.
    let mut target = plans.join(&entry.id);
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = plans.join(format!("{}.{n}", entry.id));
    }
    let tmp = tempfile::Builder::new().prefix(&format!(".{}.", entry.id)).tempdir_in(plans)?;
    let forward = crate::render::sql(&prepared.forward);
    let mut rollback = String::new();
    if let Some(b) = backup_path {
        rollback.push_str(&format!(
            "-- Kept values come back from the backup file written when this plan was applied.\nATTACH DATABASE {} AS {BACKUP_SCHEMA};\n",
            quote_str(&b.display().to_string())
        ));
    }
    rollback.push_str(&crate::render::sql(&prepared.rollback));
    let meta = Meta {
        format: FORMAT_VERSION,
        id: &entry.id,
        kind: &entry.kind,
        created_at: &entry.applied_at,
        tool_version: &entry.tool_version,
        sqlite_version: &entry.sqlite_version,
        fingerprint_before: &entry.fingerprint_before,
        fingerprint_after: &entry.fingerprint_after,
        backup: entry.backup.as_deref(),
        backups: &prepared.backups,
        summary: entry.summary.clone(),
        changes: &prepared.forward.changes,
        steps: step_meta(&prepared.forward),
        rollback_steps: step_meta(&prepared.rollback),
    };
    let meta = serde_json::to_string_pretty(&meta).map_err(std::io::Error::other)? + "\n";
    for (name, text) in [("forward.sql", forward), ("rollback.sql", rollback), ("meta.json", meta)] {
        let mut f = fs::File::create(tmp.path().join(name))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    Ok(Staged { tmp: Some(tmp), target })
}

/// The directory of backup files beside `db`: `<db>.reconcile/`.
pub fn backup_dir(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".reconcile");
    db.with_file_name(name)
}

/// The SQL function a rebuild's row copy calls to keep a row's values in the backup file
/// ([`BackupFile::keep_function`]).
pub const KEEP_FN: &str = "_reconcile_keep";

/// A backup file being written: begun inside the forward plan's write lock before its
/// steps, finished (indexed, synced and renamed into place) before its COMMIT. A private
/// temporary file until then, removed if the plan fails.
pub struct BackupFile {
    path: PathBuf,
    tmp: tempfile::NamedTempFile,
    /// The open file, shared with the keep function while a row copy runs.
    out: Arc<Mutex<Option<Connection>>>,
    backups: Vec<Backup>,
    /// For each backup: filled during its table's row copy, not read before the steps.
    during_copy: Vec<bool>,
    /// For each backup: its row copy has run with the keep function.
    kept: Vec<bool>,
}

impl BackupFile {
    /// Creates the file's tables and copies from `conn` (inside its write transaction, before
    /// any step) the values of every backup not kept `during_copy` of its table's rebuild.
    pub fn begin(conn: &Connection, backups: &[Backup], during_copy: &[bool], path: &Path) -> Result<Self, String> {
        let dir = path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let tmp = tempfile::Builder::new()
            .prefix(".backup.")
            .tempfile_in(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let during_copy: Vec<bool> = (0..backups.len()).map(|i| during_copy.get(i) == Some(&true)).collect();
        let out = Self::write_scanned(conn, backups, &during_copy, tmp.path())
            .map_err(|e| format!("writing the backup {}: {e}", path.display()))?;
        Ok(BackupFile {
            path: path.to_path_buf(),
            tmp,
            out: Arc::new(Mutex::new(Some(out))),
            backups: backups.to_vec(),
            kept: vec![false; during_copy.len()],
            during_copy,
        })
    }

    fn write_scanned(
        conn: &Connection,
        backups: &[Backup],
        during_copy: &[bool],
        tmp: &Path,
    ) -> Result<Connection, rusqlite::Error> {
        let out = Connection::open(tmp)?;
        // A private file, synced and renamed into place only when complete: no journal, no syncs of its own.
        out.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; BEGIN")?;
        out.execute_batch("CREATE TABLE sequence (name TEXT NOT NULL, seq INTEGER)")?;
        for (b, later) in backups.iter().zip(during_copy) {
            let cols = b.aliases();
            out.execute_batch(&format!("CREATE TABLE {} ({})", q(&b.name), cols.join(", ")))?;
            // A backup of the counter alone keeps no rows.
            if !later && !b.columns.is_empty() {
                let mut insert = out.prepare(&insert_sql(b))?;
                let mut select = conn.prepare(&b.select_sql())?;
                let mut rows = select.query([])?;
                while let Some(row) = rows.next()? {
                    let values: Vec<Value> = (0..cols.len()).map(|i| row.get(i)).collect::<Result<_, _>>()?;
                    insert.execute(rusqlite::params_from_iter(values))?;
                }
            }
            if b.sequence {
                // Read now: a dropped table's sqlite_sequence row goes with it.
                // A table that never had a row has no counter row, and the backup keeps none.
                let seq: Option<i64> = conn
                    .query_row("SELECT seq FROM sqlite_sequence WHERE name = ?1", [&b.table], |r| r.get(0))
                    .optional()
                    .unwrap_or(None);
                if let Some(seq) = seq {
                    out.execute("INSERT INTO sequence (name, seq) VALUES (?1, ?2)", params![b.table, seq])?;
                }
            }
        }
        Ok(out)
    }

    /// The condition that keeps, as statement `sql` of `step` reads the rows, the
    /// values of the backups kept on the way (see [`reads_kept_rows`]); `None` when it keeps
    /// none (or they were kept already). Each row of a backup's condition calls [`KEEP_FN`]
    /// with the backup's index, the row's key and its values; the condition is true for
    /// every row, so the statement does what it did without it.
    pub fn row_filter(&mut self, step: &Step, index: usize) -> Option<String> {
        let read = step.row_read(index)?;
        let mut terms = Vec::new();
        for (i, b) in self.backups.iter().enumerate() {
            if !self.during_copy[i] || self.kept[i] {
                continue;
            }
            let Some(condition) = &b.condition else { continue };
            if !reads_for(read, b) {
                continue;
            }
            self.kept[i] = true;
            let args: Vec<String> =
                std::iter::once(i.to_string()).chain(b.key.iter().chain(&b.columns).map(|c| q(c))).collect();
            terms.push(format!("CASE WHEN {condition} THEN {KEEP_FN}({}) ELSE 1 END", args.join(", ")));
        }
        (!terms.is_empty()).then(|| terms.join(" AND "))
    }

    /// The body of [`KEEP_FN`]: writes one row of a backup kept during a row copy; true.
    pub fn keep_function(&self) -> impl Fn(&Context<'_>) -> rusqlite::Result<bool> + Send + 'static {
        let out = Arc::clone(&self.out);
        let inserts: Vec<(String, usize)> = self.backups.iter().map(|b| (insert_sql(b), b.aliases().len())).collect();
        move |ctx| {
            let fail =
                |m: &str| rusqlite::Error::UserFunctionError(format!("keeping values for the rollback: {m}").into());
            let index: i64 = ctx.get(0)?;
            let (sql, width) =
                usize::try_from(index).ok().and_then(|i| inserts.get(i)).ok_or_else(|| fail("no such backup"))?;
            if ctx.len() != width + 1 {
                return Err(fail("wrong number of values"));
            }
            let values: Vec<Value> = (1..ctx.len()).map(|i| ctx.get(i)).collect::<Result<_, _>>()?;
            let guard = out.lock().map_err(|_| fail("the backup file is unusable"))?;
            let conn = guard.as_ref().ok_or_else(|| fail("the backup file is closed"))?;
            conn.prepare_cached(sql)?.execute(rusqlite::params_from_iter(values))?;
            Ok(true)
        }
    }

    /// Indexes the kept values by key, closes the file, syncs it and renames it into place.
    /// Refused if a backup to be kept as the plan read its rows was not: its rollback would lose them.
    pub fn finish(self) -> Result<PathBuf, String> {
        let err = |e: rusqlite::Error| format!("writing the backup {}: {e}", self.path.display());
        if let Some(b) = self.backups.iter().zip(&self.during_copy).zip(&self.kept).find(|((_, d), k)| **d && !**k) {
            return Err(format!(
                "the plan never read the rows of `{}` whose values the backup {} was to keep",
                b.0 .0.table,
                self.path.display()
            ));
        }
        let out = self
            .out
            .lock()
            .map_err(|_| format!("the backup {} is unusable", self.path.display()))?
            .take()
            .ok_or_else(|| format!("the backup {} is closed", self.path.display()))?;
        for b in self.backups.iter().filter(|b| !b.key.is_empty()) {
            // The rollback finds each row's kept values by its key: without an index every row scans the table.
            let keys = b.lookup_aliases().join(", ");
            out.execute_batch(&format!("CREATE INDEX {} ON {} ({keys})", q(&format!("{}_key", b.name)), q(&b.name)))
                .map_err(err)?;
        }
        out.execute_batch("COMMIT").map_err(err)?;
        out.close().map_err(|(_, e)| err(e))?;
        self.tmp.as_file().sync_all().map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.tmp.persist(&self.path).map_err(|e| format!("{}: {}", self.path.display(), e.error))?;
        Ok(self.path)
    }
}

/// Whether `plan` reads the rows whose values `b` keeps in a statement that can keep them as
/// it goes: its table's rebuild copy, or the native backfill of its column.
pub fn reads_kept_rows(plan: &Plan, b: &Backup) -> bool {
    plan.steps.iter().filter_map(|s| s.row_read.as_ref()).any(|read| reads_for(read, b))
}

/// Whether `read` reads the rows of backup `b`: its table's row copy, or the native fill of its
/// one column.
fn reads_for(read: &RowRead, b: &Backup) -> bool {
    read.table.eq_ignore_ascii_case(&b.table)
        && match &read.role {
            RowReadRole::Copy => true,
            RowReadRole::Fill { column } => matches!(b.columns.as_slice(), [c] if c.eq_ignore_ascii_case(column)),
        }
}

/// The INSERT of one row of backup `b`'s table: its key, its values, its key after the plan.
fn insert_sql(b: &Backup) -> String {
    let placeholders: Vec<String> = (1..=b.aliases().len()).map(|i| format!("?{i}")).collect();
    format!("INSERT INTO {} VALUES ({})", q(&b.name), placeholders.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The statements the planner writes are the ones the backup recognizes as reading the rows
    /// a backfill fills: the native backfill of each column, and a rebuild's row copy.
    #[test]
    fn the_planners_fills_and_copies_keep_the_values_they_read() {
        for (column_b, native) in [
            ("{ name: b, type: INT, not_null: true, backfill: 0 }", true),
            ("{ name: b, type: INT, not_null: true, default: 7 }", false),
        ] {
            let yaml = format!(
                "tables:\n  t:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      \
                 - {{ name: a, type: TEXT, not_null: true, backfill: \"'x'\" }}\n      - {column_b}\n"
            );
            let loaded = crate::load::load_sources(&[("t.yaml", yaml.as_str())]).unwrap();
            let desired = crate::load::desired(&loaded).unwrap();
            let mut conn = Connection::open_in_memory().unwrap();
            conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, a TEXT, b INT)").unwrap();
            let prepared = crate::reconciler::prepare(&mut conn, &desired, &Default::default()).unwrap();
            let rebuilds = prepared.forward.steps.iter().any(|s| s.kind == crate::plan::StepKind::RebuildTable);
            assert_eq!(rebuilds, !native, "{:#?}", prepared.forward.steps);
            assert_eq!(prepared.backups.len(), 2);
            for b in &prepared.backups {
                assert!(reads_kept_rows(&prepared.forward, b), "{b:?} in {:#?}", prepared.forward.steps);
            }
        }
    }
}
