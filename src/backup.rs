//! Backup: what a change drops or rewrites, and where it is kept.
//!
//! [`backups`] says, from the schemas before and after a change, which values its rollback
//! needs back: the rows of a dropped table, the values of a dropped, converted or retyped
//! column, the NULLs a backfill fills, an AUTOINCREMENT counter that goes. [`BackupFile`]
//! writes them into a file beside the database (`<db>.reconcile/<id>.db`), inside the forward
//! plan's write lock, either before its steps or as the rebuild's row copy reads them
//! ([`KEEP_FN`]); the file is finished (indexed, synced, renamed into place) before COMMIT.
//! `rollback` plans the steps that put them back. Never in `plans/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rusqlite::functions::Context;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::diff::{affinity, apply_renames, column_differences, Diff, What};
use crate::model::{Schema, Table};
use crate::plan::{Plan, RowRead, RowReadRole, Step};
use crate::sql::quote_ident_if_needed as q;

/// The schema name the backup file is attached under while a rollback runs.
pub const BACKUP_SCHEMA: &str = "reconcile_backup";

/// Values a forward plan loses or rewrites, kept so its rollback can restore them.
///
/// Names are those of the schema before the forward plan, which is the schema
/// the rollback restores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    /// The backup table's name inside the backup file (`b1`, `b2`, ...).
    pub name: String,
    /// The table the values come from.
    pub table: String,
    /// The key that finds a row again: the rowid, or a WITHOUT ROWID table's primary key.
    pub key: Vec<String>,
    /// The columns whose values are kept.
    pub columns: Vec<String>,
    /// When the forward plan converts a key column: for each key column, the SQL (against the
    /// names before the plan) of its value after the plan, by which the rollback finds the row.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_after: Vec<String>,
    /// Only rows matching this SQL condition (the rows a backfill fills).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// The table is dropped: the rollback inserts its rows instead of updating them.
    #[serde(default)]
    pub whole_table: bool,
    /// The table has AUTOINCREMENT: its `sqlite_sequence` value is kept too.
    #[serde(default)]
    pub sequence: bool,
    /// Why the values are kept, in words.
    pub reason: String,
}

impl Backup {
    /// The backup table's columns: `k0..` for the key, `c0..` for the values.
    pub fn key_aliases(&self) -> Vec<String> {
        (0..self.key.len()).map(|i| format!("k{i}")).collect()
    }
    /// The value columns' names inside the backup table.
    pub fn column_aliases(&self) -> Vec<String> {
        (0..self.columns.len()).map(|i| format!("c{i}")).collect()
    }
    /// The names of the keys after the forward plan inside the backup table: `a0..`, if any.
    pub fn key_after_aliases(&self) -> Vec<String> {
        (0..self.key_after.len()).map(|i| format!("a{i}")).collect()
    }
    /// Every column of the backup table: keys, values, keys after the plan.
    pub fn aliases(&self) -> Vec<String> {
        let mut all = self.key_aliases();
        all.extend(self.column_aliases());
        all.extend(self.key_after_aliases());
        all
    }
    /// The columns the rollback finds a row by: the keys after the plan when they change.
    pub fn lookup_aliases(&self) -> Vec<String> {
        if self.key_after.is_empty() {
            self.key_aliases()
        } else {
            self.key_after_aliases()
        }
    }
    /// The SELECT that reads the kept values from the database before the forward plan.
    pub fn select_sql(&self) -> String {
        let cols: Vec<String> =
            self.key.iter().chain(self.columns.iter()).map(|c| q(c)).chain(self.key_after.iter().cloned()).collect();
        let mut s = format!("SELECT {} FROM {}", cols.join(", "), q(&self.table));
        if let Some(cond) = &self.condition {
            s.push_str(&format!(" WHERE {cond}"));
        }
        s
    }
}

/// The rowid's name in `t`, or `None` when every alias is taken by a column. A rowid key is
/// one of its aliases that no column shadows, so spelling it bare reaches the rowid.
fn rowid_name(t: &Table) -> Option<&'static str> {
    ["_rowid_", "rowid", "oid"].into_iter().find(|n| t.column(n).is_none())
}

/// How the rows of `before` (the table as the rollback restores it) are found again.
fn row_key(before: &Table, after: Option<&Table>) -> Option<Vec<String>> {
    // Rowids survive a rebuild only between rowid tables.
    let rowid_kept = !before.without_rowid && after.is_none_or(|a| !a.without_rowid);
    if let Some(alias) = rowid_name(before).filter(|_| rowid_kept) {
        return Some(vec![alias.to_string()]);
    }
    let pk = before.primary_key_columns();
    if pk.is_empty() {
        None
    } else {
        Some(pk)
    }
}

/// What the forward plan from `before` to `desired` loses or rewrites.
pub fn backups(diff: &Diff<'_>) -> Vec<Backup> {
    let (before, desired, renamed) = (diff.actual, diff.desired, &diff.renamed);
    let mut out = Vec::new();
    let mut next = |b: Backup| {
        let name = format!("b{}", out.len() + 1);
        out.push(Backup { name, ..b });
    };
    for (name, have) in &before.tables {
        // The desired name of this table, following a rename.
        let new_name = renamed
            .tables
            .iter()
            .find(|(_, old)| old.eq_ignore_ascii_case(name))
            .map(|(n, _)| n.clone())
            .or_else(|| desired.table(name).map(|(n, _)| n.clone()));
        let want = new_name.as_deref().and_then(|n| desired.tables.get(n));
        let stored: Vec<String> =
            have.columns.iter().filter(|c| c.generated.is_none()).map(|c| c.name.clone()).collect();
        let Some(want) = want else {
            if !stored.is_empty() {
                next(dropped_table(name, have, stored));
            }
            continue;
        };
        let Some(key) = row_key(have, Some(want)) else { continue };
        let column_renames = new_name.as_deref().and_then(|n| renamed.columns.get(n)).cloned().unwrap_or_default();
        let desired_name = |old: &str| {
            column_renames
                .iter()
                .find(|(_, o)| o.eq_ignore_ascii_case(old))
                .map(|(n, _)| n.clone())
                .unwrap_or_else(|| old.to_string())
        };
        let mut rewritten = Vec::new();
        let mut reasons = Vec::new();
        // A key column the forward plan converts: the row is found again by its converted key,
        // computed now with the same `convert`, and its old key is a kept value.
        let converted = |k: &str| {
            let (h, w) = (have.column(k)?, want.column(&desired_name(k))?);
            let own_change = !h.name.eq_ignore_ascii_case(&w.name)
                || column_differences(h, w).iter().any(|what| matches!(what, What::Type { .. }));
            w.convert.as_ref().filter(|_| own_change).map(|e| format!("({})", e.as_str()))
        };
        let after: Vec<Option<String>> = key.iter().map(|k| converted(k)).collect();
        let mut key_after = Vec::new();
        if after.iter().any(Option::is_some) {
            for (k, a) in key.iter().zip(after) {
                if a.is_some() {
                    rewritten.push(k.clone());
                    reasons.push(format!("key `{k}` is converted"));
                }
                key_after.push(a.unwrap_or_else(|| q(k)));
            }
        }
        for c in have.columns.iter().filter(|c| c.generated.is_none()) {
            if key.iter().any(|k| k.eq_ignore_ascii_case(&c.name)) {
                continue;
            }
            let Some(w) = want.column(&desired_name(&c.name)) else {
                rewritten.push(c.name.clone());
                reasons.push(format!("`{}` is dropped", c.name));
                continue;
            };
            if w.generated.is_some() {
                rewritten.push(c.name.clone());
                reasons.push(format!("`{}` becomes generated", c.name));
            } else if w.convert.is_some() {
                rewritten.push(c.name.clone());
                reasons.push(format!("`{}` is converted", c.name));
            } else if affinity(c.ty.as_deref()) != affinity(w.ty.as_deref()) || (want.strict && !have.strict) {
                rewritten.push(c.name.clone());
                reasons.push(format!("`{}` changes type", c.name));
            } else if !c.not_null && w.not_null && (w.backfill.is_some() || w.default.is_some()) {
                next(Backup {
                    name: String::new(),
                    table: name.clone(),
                    key: key.clone(),
                    columns: vec![c.name.clone()],
                    key_after: Vec::new(),
                    condition: Some(format!("{} IS NULL", q(&c.name))),
                    whole_table: false,
                    sequence: false,
                    reason: format!("NULLs of `{name}.{}` are filled", c.name),
                });
            }
        }
        // A table that loses AUTOINCREMENT loses its `sqlite_sequence` row; its rollback puts it back.
        let loses_counter =
            have.columns.iter().any(|c| c.autoincrement) && !want.columns.iter().any(|c| c.autoincrement);
        if loses_counter {
            reasons.push("its AUTOINCREMENT counter is dropped".to_string());
        }
        if !rewritten.is_empty() || loses_counter {
            next(Backup {
                name: String::new(),
                table: name.clone(),
                key,
                columns: rewritten,
                key_after,
                condition: None,
                whole_table: false,
                sequence: loses_counter,
                reason: format!("in `{name}`: {}", reasons.join(", ")),
            });
        }
    }
    out
}

/// A dropped table's backup: all its stored columns, and the rowid unless a column is the rowid.
fn dropped_table(name: &str, have: &Table, stored: Vec<String>) -> Backup {
    let mut key = Vec::new();
    if let Some(alias) = rowid_name(have).filter(|_| !have.without_rowid && !have.has_rowid_alias()) {
        key.push(alias.to_string());
    }
    Backup {
        name: String::new(),
        table: name.to_string(),
        key,
        columns: stored,
        key_after: Vec::new(),
        condition: None,
        whole_table: true,
        sequence: have.columns.iter().any(|c| c.autoincrement),
        reason: format!("table `{name}` is dropped"),
    }
}

/// For each of `backups`, whether its values can be kept as the forward plan's rebuild of
/// its table copies the rows, instead of by a scan of the table before the plan runs: the
/// values a backfill or default fills (the backup has a condition) of a table that keeps its
/// name and its columns' names, so the condition and the key read the same in the copy.
/// The applier also checks that the plan copies that table.
pub fn kept_during_copy(backups: &[Backup], before: &Schema, desired: &Schema) -> Vec<bool> {
    let renamed = apply_renames(before, desired);
    let touched = |table: &str| {
        renamed.tables.iter().any(|(new, old)| new.eq_ignore_ascii_case(table) || old.eq_ignore_ascii_case(table))
            || renamed.columns.iter().any(|(t, pairs)| t.eq_ignore_ascii_case(table) && !pairs.is_empty())
    };
    // The keep function takes the key and the values as arguments: well under SQLite's limit.
    let few = |b: &Backup| b.key.len() + b.columns.len() < 100;
    backups.iter().map(|b| b.condition.is_some() && !b.whole_table && few(b) && !touched(&b.table)).collect()
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
            .map_err(|e| format!("writing the backup {}: {}", path.display(), crate::normalize::sqlite_message(&e)))?;
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
        // SQLite falls back to read-only when the file cannot be opened for writing: say so.
        if out.is_readonly(rusqlite::MAIN_DB)? {
            let message = "open for writing failed: the file could be opened read-only only".to_string();
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(message),
            ));
        }
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
        let err = |e: rusqlite::Error| {
            format!("writing the backup {}: {}", self.path.display(), crate::normalize::sqlite_message(&e))
        };
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
            let prepared = crate::migration::prepare(&mut conn, &desired, &Default::default()).unwrap();
            let rebuilds = prepared.forward.steps.iter().any(|s| s.kind == crate::plan::StepKind::RebuildTable);
            assert_eq!(rebuilds, !native, "{:#?}", prepared.forward.steps);
            assert_eq!(prepared.backups.len(), 2);
            for b in &prepared.backups {
                assert!(reads_kept_rows(&prepared.forward, b), "{b:?} in {:#?}", prepared.forward.steps);
            }
        }
    }
}
