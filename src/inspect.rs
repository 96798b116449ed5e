//! Inspect: a live SQLite connection → `Schema`.
//!
//! Reads the schema through SQL queries alone (`sqlite_schema`, pragmas), so
//! any engine that speaks SQLite's SQL can be inspected. Pragmas give what they
//! expose exactly; the stored CREATE text, parsed, gives the rest. Objects the
//! tool does not manage are skipped: `sqlite_*`, virtual-table shadow tables,
//! the tool's own `_reconcile_*` tables, and names matched by `exclude`.
//! Invariant: reads only, never writes.

use std::collections::{BTreeSet, HashMap};

use rusqlite::Connection;

use crate::model::{Schema, Table, Trigger, View, VirtualTable};
use crate::sql::{self, parse};

/// Prefix of the tool's own bookkeeping tables; never managed.
pub const OWN_PREFIX: &str = "_reconcile_";

/// An error while reading a database's schema.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// A query failed (not a database, locked, corrupt).
    #[error("reading the schema: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Stored DDL that could not be understood.
    #[error("{kind} `{name}`: cannot understand its stored SQL: {message}")]
    Parse {
        /// table, index, trigger or view
        kind: &'static str,
        /// object name
        name: String,
        /// what went wrong
        message: String,
    },
}

/// Which objects inspect leaves out, beyond the ones it never manages.
#[derive(Debug, Clone, Default)]
pub struct InspectOptions {
    /// Glob patterns (`*`, `?`) of object names to leave out.
    pub exclude: Vec<String>,
}

impl InspectOptions {
    /// Whether a name is left out.
    pub fn excludes(&self, name: &str) -> bool {
        is_unmanaged(name) || self.exclude.iter().any(|p| glob_match(p, name))
    }
}

/// Names the tool never manages, whatever the configuration.
pub fn is_unmanaged(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("sqlite_") || lower.starts_with(OWN_PREFIX)
}

/// Minimal glob: `*` any run, `?` any one character; case-insensitive like SQLite names.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => go(&p[1..], n) || (!n.is_empty() && go(p, &n[1..])),
            (Some('?'), Some(_)) => go(&p[1..], &n[1..]),
            (Some(a), Some(b)) => a.eq_ignore_ascii_case(b) && go(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    go(&p, &n)
}

const SCHEMA_ROWS: &str = "SELECT type, name, tbl_name, sql FROM main.sqlite_schema \
     WHERE sql IS NOT NULL ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, name";

/// Every table of `main` with its kind and flags, in one pass: the pragma lists
/// all tables whatever its WHERE, so asking per table would cost O(tables²).
const TABLE_LIST: &str = "SELECT name, type, wr, strict FROM pragma_table_list WHERE schema = 'main'";

/// Reads the managed schema of the `main` database.
pub fn inspect(conn: &Connection, opts: &InspectOptions) -> Result<Schema, InspectError> {
    let mut shadow: BTreeSet<String> = BTreeSet::new();
    // Table name → (WITHOUT ROWID, STRICT) as SQLite reports them.
    let mut flags: HashMap<String, (bool, bool)> = HashMap::new();
    {
        let mut stmt = conn.prepare_cached(TABLE_LIST)?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let name: String = r.get(0)?;
            let kind: String = r.get(1)?;
            if kind == "shadow" {
                shadow.insert(name.clone());
            }
            flags.insert(name, (r.get(2)?, r.get(3)?));
        }
    }
    let mut schema = Schema::default();
    let mut indexes = Vec::new();
    let mut stmt = conn.prepare_cached(SCHEMA_ROWS)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let kind: String = row.get(0)?;
        let name: String = row.get(1)?;
        let tbl_name: String = row.get(2)?;
        let text: String = row.get(3)?;
        if opts.excludes(&name) || shadow.contains(&name) {
            continue;
        }
        let err = |kind: &'static str, message: String| InspectError::Parse { kind, name: name.clone(), message };
        match kind.as_str() {
            "table" if is_virtual(&text) => {
                schema.virtual_tables.insert(name, VirtualTable { sql: text });
            }
            "table" => {
                let (_, mut table) = parse::create_table(&text).map_err(|m| err("table", m))?;
                cross_check(conn, &name, &mut table, flags.get(&name).copied()).map_err(|m| err("table", m))?;
                schema.tables.insert(name, table);
            }
            "index" => {
                if opts.excludes(&tbl_name) {
                    continue;
                }
                let (_, _, index) = parse::create_index(&text).map_err(|m| err("index", m))?;
                indexes.push((name, tbl_name, index));
            }
            "view" => {
                parse::create_view(&text).map_err(|m| err("view", m))?;
                schema.views.insert(name, View { sql: sql::view_body(&text) });
            }
            "trigger" => {
                if opts.excludes(&tbl_name) {
                    continue;
                }
                parse::create_trigger(&text).map_err(|m| err("trigger", m))?;
                schema.triggers.insert(name, Trigger { sql: text });
            }
            _ => {}
        }
    }
    for (name, tbl_name, index) in indexes {
        if let Some(t) = schema.tables.get_mut(&tbl_name) {
            t.indexes.insert(name, index);
        } else if let Some(key) = schema.tables.keys().find(|k| k.eq_ignore_ascii_case(&tbl_name)).cloned() {
            if let Some(t) = schema.tables.get_mut(&key) {
                t.indexes.insert(name, index);
            }
        }
    }
    Ok(schema)
}

const TABLE_XINFO: &str = "SELECT name, hidden, type FROM pragma_table_xinfo(?1, 'main') ORDER BY cid";

/// Checks the parsed CREATE TABLE against what SQLite itself reports: the same
/// columns in the same order, the same generated columns (hidden 2 = VIRTUAL,
/// 3 = STORED), and the same WITHOUT ROWID and STRICT flags (`flags`, from
/// `pragma_table_list`). A mismatch means the parse went wrong, which must not
/// pass as a schema difference. Column types are taken from SQLite.
fn cross_check(conn: &Connection, name: &str, table: &mut Table, flags: Option<(bool, bool)>) -> Result<(), String> {
    let mut stmt = conn.prepare_cached(TABLE_XINFO).map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map([name], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, String>(2)?)))
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(|e| e.to_string())?;
    let parsed: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    let actual: Vec<&str> = rows.iter().map(|(n, _, _)| n.as_str()).collect();
    if parsed != actual {
        return Err(format!("parsed columns {parsed:?} but SQLite reports {actual:?}"));
    }
    for (col, (_, hidden, declared)) in table.columns.iter_mut().zip(&rows) {
        // The declared type as SQLite has it (exact where the parser's reading of an odd
        // quoted type is not), in the one spelling of `ddl::canonical_type`.
        let declared = declared.to_ascii_uppercase();
        col.ty = (!declared.is_empty()).then(|| crate::sql::ddl::canonical_type(&declared).unwrap_or(declared));
        let parsed_hidden = match &col.generated {
            None => 0,
            Some(g) if g.stored => 3,
            Some(_) => 2,
        };
        if parsed_hidden != *hidden {
            return Err(format!(
                "column `{}`: parsed as {} but SQLite reports hidden={hidden}",
                col.name,
                match parsed_hidden {
                    0 => "not generated",
                    2 => "generated VIRTUAL",
                    _ => "generated STORED",
                }
            ));
        }
    }
    let (wr, strict) = flags.ok_or_else(|| "SQLite does not list this table in pragma_table_list".to_string())?;
    if (wr, strict) != (table.without_rowid, table.strict) {
        return Err(format!(
            "parsed WITHOUT ROWID={} STRICT={} but SQLite reports WITHOUT ROWID={wr} STRICT={strict}",
            table.without_rowid, table.strict
        ));
    }
    Ok(())
}

fn is_virtual(create_sql: &str) -> bool {
    let mut words = create_sql.split_whitespace();
    words.next().is_some_and(|w| w.eq_ignore_ascii_case("CREATE"))
        && words.next().is_some_and(|w| w.eq_ignore_ascii_case("VIRTUAL"))
}

/// The SQLite library version of a connection, as (major, minor, patch).
pub fn sqlite_version(conn: &Connection) -> Result<(u32, u32, u32), rusqlite::Error> {
    let v: String = conn.query_row("SELECT sqlite_version()", [], |r| r.get(0))?;
    let mut it = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    Ok((it.next().unwrap_or(0), it.next().unwrap_or(0), it.next().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("alembic_*", "alembic_version"));
        assert!(glob_match("t?", "T1"));
        assert!(!glob_match("t?", "t12"));
    }

    #[test]
    fn skips_unmanaged_objects() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE a(id INTEGER PRIMARY KEY AUTOINCREMENT, x);
             CREATE TABLE _reconcile_history(id);
             CREATE VIRTUAL TABLE docs USING fts5(body);
             CREATE INDEX a_x ON a(x);",
        )
        .unwrap();
        let s = inspect(&c, &InspectOptions::default()).unwrap();
        assert_eq!(s.tables.keys().collect::<Vec<_>>(), vec!["a"]);
        assert_eq!(s.virtual_tables.keys().collect::<Vec<_>>(), vec!["docs"]);
        assert!(s.tables["a"].indexes.contains_key("a_x"));
    }
}
