//! History: the table `_reconcile_history` inside the database, one row per applied change,
//! written in the same transaction as the change, so the record never disagrees with the
//! schema. It holds each change whole, so `rollback` needs nothing else; the change ids; and
//! which change a rollback undoes.

use rusqlite::types::Value;
use serde::{Deserialize, Serialize};

use crate::apply::Refusal;
use crate::engine::{Sql, Write};
use crate::error::Error;
use crate::migration::Prepared;
use crate::store_error::StoreError;

/// The history table's name; `inspect` leaves it out like every `_reconcile_` table.
pub const HISTORY_TABLE: &str = "_reconcile_history";

/// The current UTC time as `2026-11-21T10:30:00Z` and as the sortable `20261121-103000`.
pub fn now_utc() -> (String, String) {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    (format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}Z"), format!("{y:04}{mo:02}{d:02}-{h:02}{m:02}{s:02}"))
}

/// A new change id for `conn`, read under the write lock: the UTC time, the change's sequence number in
/// this database and 8 hex digits unique to this change (`20261121-103000-0004-ab12cd34`), so `ls` lists
/// them in order and two databases changed in the same second to the same schema, sharing one
/// `plans/` directory, never get the same id. The unique part hashes the fingerprint the change
/// produces, the database's file, the process, the time to the nanosecond and a counter of this
/// process. `place` names the database (its file, or its server's address).
pub fn next_id(db: &(impl Sql + ?Sized), fingerprint_after: &str, place: &str) -> Result<String, rusqlite::Error> {
    use sha2::{Digest, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static MADE: AtomicU64 = AtomicU64::new(0);
    let n: i64 = if has_history(db)? {
        match db.rows(&format!("SELECT count(*) FROM {HISTORY_TABLE}"), &[])?.first().and_then(|r| r.first()) {
            Some(Value::Integer(n)) => *n,
            _ => 0,
        }
    } else {
        0
    };
    let (_, compact) = now_utc();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let seed =
        format!("{fingerprint_after}|{place}|{}|{nanos}|{}", std::process::id(), MADE.fetch_add(1, Ordering::Relaxed));
    let unique: String = Sha256::digest(seed.as_bytes()).iter().take(4).map(|b| format!("{b:02x}")).collect();
    Ok(format!("{compact}-{:04}-{unique}", n + 1))
}

/// One row of the history table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The change's id.
    pub id: String,
    /// `apply`, `rollback` or `reset`.
    pub kind: String,
    /// When it was committed (UTC).
    pub applied_at: String,
    /// The tool version.
    pub tool_version: String,
    /// The SQLite version.
    pub sqlite_version: String,
    /// Fingerprint of the schema before.
    pub fingerprint_before: String,
    /// Fingerprint of the schema after.
    pub fingerprint_after: String,
    /// `applied`, or `rolled back` once a rollback undid it.
    pub outcome: String,
    /// For a rollback: the id of the change it undid.
    pub rolls_back: Option<String>,
    /// The backup file's name under `<db>.reconcile/`, if values were kept.
    pub backup: Option<String>,
    /// Number of steps.
    pub steps: i64,
    /// Number of destructive steps.
    pub destructive: i64,
    /// Time inside the transaction, in milliseconds.
    pub elapsed_ms: i64,
    /// The plan's one-line summary.
    pub summary: String,
}

const HISTORY_DDL: &str = "CREATE TABLE IF NOT EXISTS _reconcile_history (
  id TEXT PRIMARY KEY NOT NULL,
  kind TEXT NOT NULL,
  applied_at TEXT NOT NULL,
  tool_version TEXT NOT NULL,
  sqlite_version TEXT NOT NULL,
  fingerprint_before TEXT NOT NULL,
  fingerprint_after TEXT NOT NULL,
  outcome TEXT NOT NULL,
  rolls_back TEXT,
  backup TEXT,
  steps INTEGER NOT NULL,
  destructive INTEGER NOT NULL,
  elapsed_ms INTEGER NOT NULL,
  summary TEXT NOT NULL,
  record TEXT NOT NULL,
  source TEXT,
  schema_after TEXT
)";

/// The columns added since the history table was first made (`source`, `schema_after`: the
/// no-op fast path's [`Stamp`]), added to an older table when a change is recorded.
const ADDED_COLUMNS: &[&str] = &["source", "schema_after"];

const HISTORY_COLUMNS: &str = "id, kind, applied_at, tool_version, sqlite_version, fingerprint_before, \
     fingerprint_after, outcome, rolls_back, backup, steps, destructive, elapsed_ms, summary";

/// Records `entry` (and the whole change, for a later rollback) inside the open transaction,
/// with the `stamp` the no-op fast path compares when the change was made from a desired schema.
pub fn record(
    db: &(impl Write + ?Sized),
    entry: &HistoryEntry,
    prepared: &Prepared,
    stamp: Option<&Stamp>,
) -> Result<(), rusqlite::Error> {
    db.run(HISTORY_DDL, &[])?;
    let have = db.rows(&format!("SELECT name FROM pragma_table_info('{HISTORY_TABLE}')"), &[])?;
    for column in ADDED_COLUMNS.iter().filter(|c| !have.iter().any(|h| text(h.first()).as_deref() == Some(**c))) {
        db.run(&format!("ALTER TABLE {HISTORY_TABLE} ADD COLUMN {column} TEXT"), &[])?;
    }
    let json = serde_json::to_string(prepared).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let t = |s: &str| Value::Text(s.to_string());
    let maybe = |s: Option<&String>| s.map_or(Value::Null, |s| t(s));
    db.run(
        &format!("INSERT INTO {HISTORY_TABLE} ({HISTORY_COLUMNS}, record, source, schema_after) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"),
        &[
            t(&entry.id),
            t(&entry.kind),
            t(&entry.applied_at),
            t(&entry.tool_version),
            t(&entry.sqlite_version),
            t(&entry.fingerprint_before),
            t(&entry.fingerprint_after),
            t(&entry.outcome),
            maybe(entry.rolls_back.as_ref()),
            maybe(entry.backup.as_ref()),
            Value::Integer(entry.steps),
            Value::Integer(entry.destructive),
            Value::Integer(entry.elapsed_ms),
            t(&entry.summary),
            Value::Text(json),
            maybe(stamp.map(|s| &s.source)),
            maybe(stamp.map(|s| &s.schema)),
        ],
    )?;
    if let Some(undone) = &entry.rolls_back {
        db.run(&format!("UPDATE {HISTORY_TABLE} SET outcome = 'rolled back' WHERE id = ?1"), &[t(undone)])?;
    }
    Ok(())
}

/// What the no-op fast path compares, recorded with a change made from a desired schema: the
/// fingerprint of that schema as loaded ([`source_fingerprint`]) and of the database's schema
/// after the change ([`schema_fingerprint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// The desired schema as loaded.
    pub source: String,
    /// The database's schema after the change.
    pub schema: String,
}

/// The fingerprint of a desired schema as loaded: the names and bytes of its sources (a
/// schema directory's files, in order), with the tool's version and the `exclude` patterns,
/// which decide what "in sync" means. 16 hex digits of a SHA-256.
pub fn source_fingerprint<N: AsRef<str>, T: AsRef<[u8]>>(sources: &[(N, T)], exclude: &[String]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    hash.update(crate::migration::TOOL_VERSION.as_bytes());
    for pattern in exclude {
        hash.update(b"\0exclude\0");
        hash.update(pattern.as_bytes());
    }
    for (name, text) in sources {
        let name = name.as_ref();
        let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
        hash.update(format!("\0{base}\0{}\0", text.as_ref().len()).as_bytes());
        hash.update(text.as_ref());
    }
    hash.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// The fingerprint of the database's schema as `sqlite_schema` holds it, read in one query:
/// every managed object's type, name, table and SQL (what `inspect` leaves out is left out
/// here too), sorted; 16 hex digits of a SHA-256 of [`managed_schema`]'s text. With it, the SQL
/// of the history table (`None` when there is none), which says whether it records [`Stamp`]s.
pub fn schema_fingerprint(
    db: &(impl Sql + ?Sized),
    opts: &crate::inspect::InspectOptions,
) -> Result<(String, Option<String>), rusqlite::Error> {
    use sha2::{Digest, Sha256};
    let (text, history) = managed_schema(db, opts)?;
    let hash = Sha256::digest(text.as_bytes());
    Ok((hash.iter().take(8).map(|b| format!("{b:02x}")).collect(), history))
}

/// The managed rows of `sqlite_schema` as one text, in one query: each object's type, name,
/// table and SQL, each followed by a NUL, sorted by type and name. Two databases with the same
/// text have the same schema. With it, the SQL of the history table, if there is one.
pub fn managed_schema(
    db: &(impl Sql + ?Sized),
    opts: &crate::inspect::InspectOptions,
) -> Result<(String, Option<String>), rusqlite::Error> {
    let rows = db.rows("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name", &[])?;
    let mut text = String::new();
    let mut history = None;
    for row in &rows {
        let field = |i: usize| match row.get(i) {
            Some(Value::Text(t)) => t.as_str(),
            _ => "",
        };
        if field(1) == HISTORY_TABLE {
            history = Some(field(3).to_string());
        }
        if opts.excludes(field(1)) || opts.excludes(field(2)) {
            continue;
        }
        for i in 0..4 {
            text.push_str(field(i));
            text.push('\0');
        }
    }
    Ok((text, history))
}

/// Whether the database is still at the schema the newest recorded change left, and that
/// change was made from a desired schema whose sources have the fingerprint `source`: then it
/// is in sync with that schema, known without loading, inspecting or planning anything. Two
/// queries: `sqlite_schema`, then the newest history row. `false` whenever it cannot be told
/// (no history, a history from before stamps, a rollback newest, a hand change, other sources).
pub fn unchanged_since_recorded(
    db: &(impl Sql + ?Sized),
    source: &str,
    opts: &crate::inspect::InspectOptions,
) -> Result<bool, rusqlite::Error> {
    let (schema, history) = schema_fingerprint(db, opts)?;
    if !history.is_some_and(|sql| sql.contains("schema_after")) {
        return Ok(false);
    }
    let newest =
        db.rows(&format!("SELECT source, schema_after FROM {HISTORY_TABLE} ORDER BY rowid DESC LIMIT 1"), &[])?;
    Ok(matches!(newest.first().map(Vec::as_slice),
        Some([Value::Text(s), Value::Text(h)]) if *s == source && *h == schema))
}

fn has_history(db: &(impl Sql + ?Sized)) -> Result<bool, rusqlite::Error> {
    let rows = db.rows(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        &[Value::Text(HISTORY_TABLE.to_string())],
    )?;
    Ok(matches!(rows.first().and_then(|r| r.first()), Some(Value::Integer(n)) if *n > 0))
}

/// The history, newest first; empty when nothing was ever applied. Read through SQL alone.
pub fn history(db: &(impl Sql + ?Sized)) -> Result<Vec<HistoryEntry>, rusqlite::Error> {
    if !has_history(db)? {
        return Ok(Vec::new());
    }
    let rows = db.rows(&format!("SELECT {HISTORY_COLUMNS} FROM {HISTORY_TABLE} ORDER BY rowid DESC"), &[])?;
    rows.iter().map(|r| entry_from_row(r)).collect()
}

/// The recorded change `id`, with its history entry. Read through SQL alone.
pub fn recorded(db: &(impl Sql + ?Sized), id: &str) -> Result<Option<(HistoryEntry, Prepared)>, String> {
    if !has_history(db).map_err(|e| e.to_string())? {
        return Ok(None);
    }
    let rows = db
        .rows(
            &format!("SELECT {HISTORY_COLUMNS}, record FROM {HISTORY_TABLE} WHERE id = ?1"),
            &[Value::Text(id.to_string())],
        )
        .map_err(|e| e.to_string())?;
    let Some(row) = rows.first() else { return Ok(None) };
    let entry = entry_from_row(row).map_err(|e| e.to_string())?;
    let json = text(row.get(14)).ok_or_else(|| format!("history entry {id} has no record"))?;
    let prepared: Prepared =
        serde_json::from_str(&json).map_err(|e| format!("history entry {id} cannot be read back: {e}"))?;
    Ok(Some((entry, prepared)))
}

fn text(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::Text(s)) => Some(s.clone()),
        _ => None,
    }
}

/// One history row, read from the columns of `HISTORY_COLUMNS` in order.
fn entry_from_row(r: &[Value]) -> rusqlite::Result<HistoryEntry> {
    let wrong = |i: usize| rusqlite::Error::InvalidColumnType(i, "history".to_string(), rusqlite::types::Type::Null);
    let text_at = |i: usize| text(r.get(i)).ok_or_else(|| wrong(i));
    let int_at = |i: usize| match r.get(i) {
        Some(Value::Integer(n)) => Ok(*n),
        _ => Err(wrong(i)),
    };
    Ok(HistoryEntry {
        id: text_at(0)?,
        kind: text_at(1)?,
        applied_at: text_at(2)?,
        tool_version: text_at(3)?,
        sqlite_version: text_at(4)?,
        fingerprint_before: text_at(5)?,
        fingerprint_after: text_at(6)?,
        outcome: text_at(7)?,
        rolls_back: text(r.get(8)),
        backup: text(r.get(9)),
        steps: int_at(10)?,
        destructive: int_at(11)?,
        elapsed_ms: int_at(12)?,
        summary: text_at(13)?,
    })
}

/// Which recorded changes a rollback undoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undo<'a> {
    /// The newest applied change not yet rolled back.
    Newest,
    /// That change; refused when a change applied after it is still applied.
    Change(&'a str),
    /// Every applied change newer than that one (`rollback --to ID`).
    To(&'a str),
    /// The newest N applied changes (`rollback --steps N`).
    Steps(usize),
}

/// The changes `which` names, newest first, each with the change recorded whole. They follow
/// one another: each was applied to the schema the one before it produced (checked by their
/// fingerprints), else the change applied after a hand edit is named and nothing is returned.
/// Read through SQL alone.
pub fn rollback_targets(db: &(impl Sql + ?Sized), which: Undo<'_>) -> Result<Vec<(HistoryEntry, Prepared)>, Error> {
    let entries = history(db)?;
    let refuse = |why: String| -> Error { Refusal::NothingToRollBack(why).into() };
    let find = |id: &str| {
        entries
            .iter()
            .position(|e| e.id == id)
            .ok_or_else(|| refuse(format!("no change `{id}` in the history of this database")))
    };
    // Applied changes newest first, up to (not through) a reset, which cannot be rolled back.
    let applied = |newer: &[HistoryEntry]| -> Result<Vec<HistoryEntry>, Error> {
        let mut out = Vec::new();
        for e in newer {
            match (e.kind.as_str(), e.outcome.as_str()) {
                ("apply", "applied") => out.push(e.clone()),
                ("reset", _) => {
                    return Err(refuse(format!(
                        "change `{}` is a reset, which cannot be rolled back (apply the schema again to go forward)",
                        e.id
                    )))
                }
                _ => {}
            }
        }
        Ok(out)
    };
    let (undo, anchor) = match which {
        Undo::Newest => {
            let newest = entries
                .iter()
                .find(|e| e.kind == "apply" && e.outcome == "applied")
                .ok_or_else(|| refuse("no applied change to roll back in the history of this database".into()))?;
            (vec![newest.clone()], None)
        }
        Undo::Change(id) => {
            let entry = &entries[find(id)?];
            if entry.kind != "apply" {
                return Err(refuse(format!(
                    "change `{}` is a {}; only applied plans can be rolled back (apply the schema again to go forward)",
                    entry.id, entry.kind
                )));
            }
            if entry.outcome != "applied" {
                return Err(refuse(format!("change `{}` was already rolled back", entry.id)));
            }
            // Entries are newest first: those before this one were applied after it.
            let mut newer = entries.iter().take_while(|e| e.id != entry.id);
            if let Some(newer) = newer.find(|e| e.outcome == "applied" && e.kind != "rollback") {
                return Err(refuse(format!(
                    "change `{}` was applied after `{}`; roll that back first",
                    newer.id, entry.id
                )));
            }
            (vec![entry.clone()], None)
        }
        Undo::To(id) => {
            let at = find(id)?;
            let point = &entries[at];
            if point.outcome != "applied" || point.kind == "rollback" {
                return Err(refuse(format!(
                    "change `{id}` is not a point the database is at or was at: it is a {} that was {}; \
                     name an applied change",
                    point.kind, point.outcome
                )));
            }
            let undo = applied(&entries[..at])?;
            if undo.is_empty() {
                return Err(refuse(format!("no applied change is newer than `{id}`: the database is at that point")));
            }
            (undo, Some(point))
        }
        Undo::Steps(n) => {
            let newest_reset = entries.iter().position(|e| e.kind == "reset").unwrap_or(entries.len());
            let mut undo = applied(&entries[..newest_reset])?;
            if undo.len() < n || n == 0 {
                let why = match (n, undo.len()) {
                    (0, _) => "--steps 0 rolls nothing back; give at least 1".to_string(),
                    (_, 0) => "no applied change to roll back in the history of this database".to_string(),
                    (_, k) => format!("only {k} applied changes can be rolled back, not {n}"),
                };
                return Err(refuse(why));
            }
            undo.truncate(n);
            (undo, None)
        }
    };
    // Each change was applied to the schema the next older one produced.
    let olders = undo.iter().skip(1).map(Some).chain([anchor]);
    for (newer, older) in undo.iter().zip(olders) {
        if let Some(older) = older.filter(|o| o.fingerprint_after != newer.fingerprint_before) {
            return Err(refuse(format!(
                "change `{}` was applied to a schema that `{}` did not leave (the database was changed by hand in \
                 between), so rolling back past it would not restore what `{}` left",
                newer.id, older.id, older.id
            )));
        }
    }
    undo.iter()
        .map(|e| {
            recorded(db, &e.id)
                .map_err(|why| StoreError::new("read the history", Some(HISTORY_TABLE.to_string()), why).into())
                .and_then(|r| r.ok_or_else(|| refuse(format!("no change `{}` in the history", e.id))))
        })
        .collect()
}
