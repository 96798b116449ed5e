//! Inspect: a live SQLite connection → `Schema`.
//!
//! Reads the schema through SQL queries alone (`sqlite_schema`, pragmas), three of
//! them whatever the size of the schema, through [`Sql`], so any engine that speaks
//! SQLite's SQL can be inspected in three round trips. Pragmas give what they
//! expose exactly; the stored CREATE text, parsed, gives the rest. Objects the
//! tool does not manage are skipped: `sqlite_*`, virtual-table shadow tables,
//! the tool's own `_reconcile_*` tables, and names matched by `exclude`.
//! Invariant: reads only, never writes.

use std::collections::{BTreeSet, HashMap};

use rusqlite::types::Value;

use crate::engine::Sql;
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

/// Every column of every ordinary table of `main`, in one query.
const TABLE_XINFO: &str = "SELECT t.name, x.name, x.hidden, x.type \
     FROM main.sqlite_schema AS t, pragma_table_xinfo(t.name, 'main') AS x \
     WHERE t.type = 'table' ORDER BY t.name, x.cid";

/// A text cell (NULL and other kinds read as empty).
fn text(v: &Value) -> String {
    match v {
        Value::Text(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        _ => String::new(),
    }
}

/// An integer cell (anything else reads as 0).
fn int(v: &Value) -> i64 {
    match v {
        Value::Integer(i) => *i,
        _ => 0,
    }
}

/// A column as SQLite reports it: (name, hidden, declared type).
type ColumnInfo = (String, i64, String);

/// Reads the managed schema of the `main` database, in three queries.
pub fn inspect(db: &(impl Sql + ?Sized), opts: &InspectOptions) -> Result<Schema, InspectError> {
    // One snapshot: a commit of another connection between the three reads would make them
    // disagree (a table in `sqlite_schema` that `pragma_table_list` did not list).
    let mut read = db.snapshot(&[TABLE_LIST, SCHEMA_ROWS, TABLE_XINFO])?.into_iter();
    let (table_list, rows, xinfo) =
        (read.next().unwrap_or_default(), read.next().unwrap_or_default(), read.next().unwrap_or_default());
    let mut shadow: BTreeSet<String> = BTreeSet::new();
    // Table name → (WITHOUT ROWID, STRICT) as SQLite reports them.
    let mut flags: HashMap<String, (bool, bool)> = HashMap::new();
    for r in table_list {
        let name = text(&r[0]);
        if text(&r[1]) == "shadow" {
            shadow.insert(name.clone());
        }
        flags.insert(name, (int(&r[2]) != 0, int(&r[3]) != 0));
    }
    let mut schema = Schema::default();
    let mut indexes = Vec::new();
    let mut columns: HashMap<String, Vec<ColumnInfo>> = HashMap::new();
    for r in xinfo {
        columns.entry(text(&r[0])).or_default().push((text(&r[1]), int(&r[2]), text(&r[3])));
    }
    for row in &rows {
        let (kind, name, tbl_name, text) = (text(&row[0]), text(&row[1]), text(&row[2]), text(&row[3]));
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
                let reported = columns.get(&name).map(Vec::as_slice).unwrap_or_default();
                cross_check(reported, &mut table, flags.get(&name).copied()).map_err(|m| err("table", m))?;
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

/// Checks the parsed CREATE TABLE against what SQLite itself reports: the same
/// columns in the same order, the same generated columns (hidden 2 = VIRTUAL,
/// 3 = STORED), and the same WITHOUT ROWID and STRICT flags (`flags`, from
/// `pragma_table_list`). A mismatch means the parse went wrong, which must not
/// pass as a schema difference. Column types are taken from SQLite.
fn cross_check(rows: &[ColumnInfo], table: &mut Table, flags: Option<(bool, bool)>) -> Result<(), String> {
    let parsed: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    let actual: Vec<&str> = rows.iter().map(|(n, _, _)| n.as_str()).collect();
    if parsed != actual {
        return Err(format!("parsed columns {parsed:?} but SQLite reports {actual:?}"));
    }
    for (col, (_, hidden, declared)) in table.columns.iter_mut().zip(rows) {
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
pub fn sqlite_version(db: &(impl Sql + ?Sized)) -> Result<(u32, u32, u32), rusqlite::Error> {
    crate::engine::sqlite_version(db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

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
