//! Rows as the scenario checks compare them: every table's rows keyed by rowid (or by primary
//! key), by column name, and the `sqlite_sequence` counters. Reads only; it never writes a
//! database.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::Connection;
use sqlite_reconcile::sql::quote_ident;
use sqlite_reconcile::Schema;

pub type Rows = BTreeMap<String, BTreeMap<String, Value>>;

/// The AUTOINCREMENT counters, row for row (by name): `sqlite_sequence` is no table of the
/// schema, so `all_rows` leaves it out.
pub fn sequence_rows(conn: &Connection) -> Vec<(String, Value)> {
    let exists: bool = conn
        .query_row("SELECT count(*) > 0 FROM sqlite_schema WHERE name = 'sqlite_sequence'", [], |r| r.get(0))
        .unwrap();
    if !exists {
        return Vec::new();
    }
    let mut stmt = conn.prepare("SELECT name, seq FROM sqlite_sequence ORDER BY name, seq").unwrap();
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, Value>(1)?))).unwrap();
    rows.map(Result::unwrap).collect()
}

/// Rows of a table keyed by rowid (or the primary key for WITHOUT ROWID tables), by column name.
pub fn table_rows(conn: &Connection, schema: &Schema, table: &str) -> Rows {
    let by_rowid = !schema.tables[table].without_rowid;
    keyed_rows(conn, schema, table, by_rowid)
}

/// Rows keyed by rowid, or by primary key (for WITHOUT ROWID tables or a toggle between the two).
pub fn keyed_rows(conn: &Connection, schema: &Schema, table: &str, by_rowid: bool) -> Rows {
    let t = &schema.tables[table];
    let pk = t.primary_key_columns();
    let key_expr = if by_rowid || pk.is_empty() {
        "rowid".to_string()
    } else {
        pk.iter().map(|c| format!("quote({})", quote_ident(c))).collect::<Vec<_>>().join(" || '/' || ")
    };
    let mut stmt = conn.prepare(&format!("SELECT {key_expr} AS __key, * FROM {}", quote_ident(table))).unwrap();
    let names: Vec<String> = stmt.column_names().map(|s| s.to_string()).collect();
    let mut out = Rows::new();
    let mut q = stmt.query([]).unwrap();
    while let Some(r) = q.next().unwrap() {
        let key = match cell(r, 0) {
            Value::Integer(i) => format!("{i:012}"),
            Value::Text(s) => s,
            other => format!("{other:?}"),
        };
        let mut m = BTreeMap::new();
        for (i, n) in names.iter().enumerate().skip(1) {
            m.insert(n.to_ascii_lowercase(), cell(r, i));
        }
        out.insert(key, m);
    }
    out
}

/// A value as stored; text that is not UTF-8 (SQLite allows it) is shown by its bytes.
fn cell(r: &rusqlite::Row<'_>, i: usize) -> Value {
    match r.get_ref(i).unwrap() {
        rusqlite::types::ValueRef::Text(b) => {
            Value::Text(String::from_utf8(b.to_vec()).unwrap_or_else(|_| format!("<text bytes {b:?}>")))
        }
        rusqlite::types::ValueRef::Null => Value::Null,
        rusqlite::types::ValueRef::Integer(i) => Value::Integer(i),
        rusqlite::types::ValueRef::Real(f) => Value::Real(f),
        rusqlite::types::ValueRef::Blob(b) => Value::Blob(b.to_vec()),
    }
}

/// Re-keys rows by the values of `cols` (names as in the rows).
pub(super) fn rekey(rows: &Rows, cols: &[String]) -> Rows {
    if cols.is_empty() {
        return rows.clone();
    }
    rows.values()
        .map(|r| {
            let key = cols
                .iter()
                .map(|c| match r.get(&c.to_ascii_lowercase()) {
                    Some(Value::Integer(i)) => i.to_string(),
                    Some(Value::Text(t)) => format!("'{}'", t.replace('\'', "''")),
                    Some(Value::Real(f)) => f.to_string(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join("/");
            (key, r.clone())
        })
        .collect()
}

/// An integer stored again under REAL or NUMERIC affinity is the same value.
pub(super) fn same_number(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Integer(i), Value::Real(f)) | (Value::Real(f), Value::Integer(i)) => *i as f64 == *f,
        _ => false,
    }
}

pub fn all_rows(conn: &Connection, schema: &Schema) -> BTreeMap<String, Rows> {
    schema.tables.keys().map(|t| (t.clone(), table_rows(conn, schema, t))).collect()
}

/// The schema and every row of the database at `db`.
pub fn state(db: &std::path::Path) -> (Schema, BTreeMap<String, Rows>) {
    let conn = Connection::open(db).expect("open the database");
    let schema = sqlite_reconcile::inspect(&conn, &sqlite_reconcile::InspectOptions::default()).expect("inspect");
    let rows = all_rows(&conn, &schema);
    (schema, rows)
}
