//! A database copied whole from one engine to another through SQL: every object's stored SQL as
//! written, every row with its rowid, the AUTOINCREMENT counters. The scenario harness puts a
//! scenario's database on a libSQL server with it, and reads the server back into a local file
//! after each change, so the checks compare exactly what the server holds, value for value.

use rusqlite::types::Value;
use sqlite_reconcile::engine::{Sql, Write};
use sqlite_reconcile::sql::quote_ident;

/// Copies every table (rows included), index, view and trigger of `src` into `dst`, an empty
/// database whose foreign keys are off: tables and rows first, then indexes, views and
/// triggers (so no trigger fires), then `sqlite_sequence`.
pub fn copy_database(src: &(impl Sql + ?Sized), dst: &impl Write) -> Result<(), String> {
    fn e(what: &str) -> impl Fn(rusqlite::Error) -> String + '_ {
        move |err| format!("{what}: {err}")
    }
    let objects = src
        .rows("SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid", &[])
        .map_err(e("read sqlite_schema"))?;
    let text = |v: &Value| match v {
        Value::Text(t) => t.clone(),
        _ => String::new(),
    };
    let objects: Vec<(String, String, String)> =
        objects.iter().map(|r| (text(&r[0]), text(&r[1]), text(&r[2]))).collect();
    // Shadow tables of virtual tables are made by their virtual table.
    let shadows: Vec<String> = objects
        .iter()
        .filter(|(kind, _, sql)| kind == "table" && sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL TABLE"))
        .map(|(_, name, _)| format!("{}_", name.to_ascii_lowercase()))
        .collect();
    let shadow = |name: &str| shadows.iter().any(|p| name.to_ascii_lowercase().starts_with(p));
    for (kind, name, sql) in &objects {
        if kind == "table" && !name.starts_with("sqlite_") && !shadow(name) {
            dst.run(sql, &[]).map_err(e(&format!("create {name}")))?;
        }
    }
    for (kind, name, sql) in &objects {
        if kind != "table" || name.starts_with("sqlite_") || shadow(name) {
            continue;
        }
        if sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL TABLE") {
            continue;
        }
        copy_rows(src, dst, name)?;
    }
    for (kind, name, sql) in &objects {
        if kind != "table" {
            dst.run(sql, &[]).map_err(e(&format!("create {kind} {name}")))?;
        }
    }
    let has_sequence = objects.iter().any(|(_, name, _)| name == "sqlite_sequence");
    let counters = match has_sequence {
        true => src.rows("SELECT name, seq FROM sqlite_sequence", &[]).map_err(e("read sqlite_sequence"))?,
        false => Vec::new(),
    };
    // SQLite makes `sqlite_sequence` with the first AUTOINCREMENT table and keeps it when that
    // table goes: a source may have one, empty, that no table of the copy makes.
    if !counters.is_empty() {
        dst.run("DELETE FROM sqlite_sequence", &[]).map_err(e("clear sqlite_sequence"))?;
        for row in counters {
            dst.run("INSERT INTO sqlite_sequence (name, seq) VALUES (?1, ?2)", &row)
                .map_err(e("write sqlite_sequence"))?;
        }
    }
    Ok(())
}

/// The rows of `table`, rowid included where it has one, generated columns left out.
fn copy_rows(src: &(impl Sql + ?Sized), dst: &impl Write, table: &str) -> Result<(), String> {
    let columns = src
        .rows(
            "SELECT name FROM pragma_table_xinfo(?1) WHERE hidden NOT IN (2, 3) ORDER BY cid",
            &[Value::Text(table.to_string())],
        )
        .map_err(|err| format!("columns of {table}: {err}"))?;
    let mut names: Vec<String> = columns
        .iter()
        .filter_map(|r| match &r[0] {
            Value::Text(t) => Some(quote_ident(t)),
            _ => None,
        })
        .collect();
    let t = quote_ident(table);
    let with_rowid = src.rows(&format!("SELECT rowid FROM {t} LIMIT 0"), &[]).is_ok();
    // A column named like the rowid hides it; the rowid is then that column.
    if with_rowid
        && !names.iter().any(|n| ["\"rowid\"", "\"_rowid_\"", "\"oid\""].contains(&n.to_ascii_lowercase().as_str()))
    {
        names.insert(0, "_rowid_".to_string());
    }
    let list = names.join(", ");
    let rows = src.rows(&format!("SELECT {list} FROM {t}"), &[]).map_err(|err| format!("rows of {table}: {err}"))?;
    let slots: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let insert = format!("INSERT INTO {t} ({list}) VALUES ({})", slots.join(", "));
    for row in rows {
        dst.run(&insert, &row).map_err(|err| format!("copy a row of {table}: {err}"))?;
    }
    Ok(())
}
