//! Diff: two inspected `Schema`s → typed `Change`s, each with a `Risk`.
//!
//! Both sides come from `inspect`, so spelling differences are gone. Renames
//! come only from `renamed_from` hints, never guessed. Invariant: no I/O.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::model::{Column, Expr, Index, Schema, Table};
use crate::sql;

/// How risky a change is for the data in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// Cannot fail on existing rows and loses nothing.
    Safe,
    /// Can fail on existing rows (NOT NULL, UNIQUE, CHECK, FK, STRICT types).
    DataDependent,
    /// Loses data (a dropped table or column, a narrowing type change).
    Destructive,
}

impl fmt::Display for Risk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Risk::Safe => "safe",
            Risk::DataDependent => "data-dependent",
            Risk::Destructive => "destructive",
        })
    }
}

/// One difference between the actual and the desired schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The object's kind: table, column, index, view, trigger, virtual table.
    pub kind: std::borrow::Cow<'static, str>,
    /// The object's name (`table.column` for columns).
    pub object: String,
    /// What changes, in words.
    pub what: String,
    /// Its risk.
    pub risk: Risk,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`: {} [{}]", self.kind, self.object, self.what, self.risk)
    }
}

fn change(kind: &'static str, object: impl Into<String>, what: impl Into<String>, risk: Risk) -> Change {
    Change { kind: std::borrow::Cow::Borrowed(kind), object: object.into(), what: what.into(), risk }
}

/// Every difference between `actual` and `desired`, in a stable order.
pub fn diff(actual: &Schema, desired: &Schema) -> Vec<Change> {
    let renamed = apply_renames(actual, desired);
    let mut out = Vec::new();
    for (name, want) in &desired.tables {
        match renamed.schema.tables.get(name) {
            None => out.push(change("table", name, "create", Risk::Safe)),
            Some(have) => {
                if let Some(old) = renamed.tables.get(name) {
                    out.push(change("table", name, format!("rename from `{old}`"), Risk::Safe));
                }
                for (new, old) in renamed.columns.get(name).into_iter().flatten() {
                    out.push(change("column", format!("{name}.{new}"), format!("rename from `{old}`"), Risk::Safe));
                }
                diff_table(&mut out, name, have, want);
            }
        }
    }
    for name in renamed.schema.tables.keys() {
        if !desired.tables.contains_key(name) {
            out.push(change("table", name, "drop (its rows are lost)", Risk::Destructive));
        }
    }
    diff_named(&mut out, "virtual table", &actual.virtual_tables, &desired.virtual_tables, Risk::Destructive);
    diff_named(&mut out, "view", &actual.views, &desired.views, Risk::Safe);
    diff_named(&mut out, "trigger", &actual.triggers, &desired.triggers, Risk::Safe);
    out
}

/// The actual schema with the desired schema's renames applied, as SQLite's
/// `ALTER TABLE ... RENAME` would leave it: table and column names, keys,
/// foreign keys (also other tables' references), index terms and CHECK or
/// generated expressions. Tables are keyed by their desired names.
#[derive(Debug, Clone, Default)]
pub struct Renamed<'a> {
    /// The renamed actual schema (the actual one itself when nothing is renamed).
    pub schema: Cow<'a, Schema>,
    /// New table name → old table name, for renamed tables.
    pub tables: BTreeMap<String, String>,
    /// Table (new name) → [(new column name, old column name)].
    pub columns: BTreeMap<String, Vec<(String, String)>>,
}

/// Applies `renamed_from` hints of `desired` to `actual` (see `Renamed`).
pub fn apply_renames<'a>(actual: &'a Schema, desired: &Schema) -> Renamed<'a> {
    let mut r = Renamed { schema: Cow::Borrowed(actual), ..Renamed::default() };
    // Table renames first, then column renames under the new names.
    for (name, want) in &desired.tables {
        if actual.table(name).is_some() {
            continue;
        }
        let Some(old) = want.renamed_from.as_deref() else { continue };
        let Some((old_key, _)) = actual.table(old) else { continue };
        let old_key = old_key.clone();
        let schema = r.schema.to_mut();
        if let Some(t) = schema.tables.remove(&old_key) {
            schema.tables.insert(name.clone(), t);
            r.tables.insert(name.clone(), old_key.clone());
            for t in schema.tables.values_mut() {
                for fk in &mut t.foreign_keys {
                    if fk.references.eq_ignore_ascii_case(&old_key) {
                        fk.references = name.clone();
                    }
                }
                for c in &mut t.columns {
                    if let Some(rf) = &mut c.references {
                        if rf.table.eq_ignore_ascii_case(&old_key) {
                            rf.table = name.clone();
                        }
                    }
                }
            }
        }
    }
    // Case-only differences in a table name are not renames: key the actual table by the desired spelling.
    for name in desired.tables.keys() {
        if r.schema.tables.contains_key(name) {
            continue;
        }
        if let Some(k) = r.schema.tables.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned() {
            let schema = r.schema.to_mut();
            if let Some(t) = schema.tables.remove(&k) {
                schema.tables.insert(name.clone(), t);
            }
        }
    }
    for (name, want) in &desired.tables {
        let Some(have) = r.schema.tables.get(name) else { continue };
        let mut pairs = Vec::new();
        for c in &want.columns {
            if have.column(&c.name).is_some() {
                continue;
            }
            if let Some(old) = c.renamed_from.as_deref().and_then(|o| have.column(o)) {
                pairs.push((c.name.clone(), old.name.clone()));
            }
        }
        if pairs.is_empty() {
            continue;
        }
        for (new, old) in &pairs {
            rename_column(r.schema.to_mut(), name, old, new);
        }
        r.columns.insert(name.clone(), pairs);
    }
    r
}

/// Renames a column everywhere SQLite's RENAME COLUMN would rewrite it in tables and indexes.
fn rename_column(s: &mut Schema, table: &str, old: &str, new: &str) {
    let sub = |e: &Expr| Expr::new(sql::rename_identifier(e.as_str(), old, new));
    if let Some(t) = s.tables.get_mut(table) {
        for c in &mut t.columns {
            if c.name.eq_ignore_ascii_case(old) {
                c.name = new.to_string();
            }
            for ck in &mut c.checks {
                ck.expr = sub(&ck.expr);
            }
            if let Some(g) = &mut c.generated {
                g.expr = sub(&g.expr);
            }
        }
        let fix_key = |k: &mut crate::model::Key| {
            for ic in &mut k.columns {
                ic.expr = sub(&ic.expr);
            }
        };
        if let Some(pk) = &mut t.primary_key {
            fix_key(pk);
        }
        t.unique.iter_mut().for_each(fix_key);
        for ck in &mut t.checks {
            ck.expr = sub(&ck.expr);
        }
        for fk in &mut t.foreign_keys {
            for c in &mut fk.columns {
                if c.eq_ignore_ascii_case(old) {
                    *c = new.to_string();
                }
            }
        }
        for i in t.indexes.values_mut() {
            for ic in &mut i.columns {
                ic.expr = sub(&ic.expr);
            }
            if let Some(w) = &mut i.where_ {
                *w = sub(w);
            }
        }
    }
    // Other tables' references to this column.
    for t in s.tables.values_mut() {
        for fk in &mut t.foreign_keys {
            if fk.references.eq_ignore_ascii_case(table) {
                for c in &mut fk.referenced_columns {
                    if c.eq_ignore_ascii_case(old) {
                        *c = new.to_string();
                    }
                }
            }
        }
        for c in &mut t.columns {
            if let Some(rf) = &mut c.references {
                if rf.table.eq_ignore_ascii_case(table)
                    && rf.column.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(old))
                {
                    rf.column = Some(new.to_string());
                }
            }
        }
    }
}

fn diff_named<V: PartialEq>(
    out: &mut Vec<Change>,
    kind: &'static str,
    have: &std::collections::BTreeMap<String, V>,
    want: &std::collections::BTreeMap<String, V>,
    drop_risk: Risk,
) {
    for (name, w) in want {
        match have.get(name) {
            None => out.push(change(kind, name, "create", Risk::Safe)),
            Some(h) if h != w => {
                out.push(change(kind, name, "replace (definition changed)", drop_risk.min(Risk::DataDependent)))
            }
            Some(_) => {}
        }
    }
    for name in have.keys() {
        if !want.contains_key(name) {
            out.push(change(kind, name, "drop", drop_risk));
        }
    }
}

fn diff_table(out: &mut Vec<Change>, name: &str, have: &Table, want: &Table) {
    for c in &want.columns {
        let obj = format!("{name}.{}", c.name);
        match have.column(&c.name) {
            None => out.push(change("column", obj, "add", added_column_risk(c))),
            Some(old) => {
                for (what, risk) in column_differences(old, c) {
                    out.push(change("column", &obj, what, risk));
                }
            }
        }
    }
    for c in &have.columns {
        if want.column(&c.name).is_none() {
            let risk = if c.generated.is_some() { Risk::Safe } else { Risk::Destructive };
            out.push(change("column", format!("{name}.{}", c.name), "drop (its values are lost)", risk));
        }
    }
    let tbl = |what: String, risk: Risk| change("table", name, what, risk);
    let want_order: Vec<String> =
        want.columns.iter().filter(|c| have.column(&c.name).is_some()).map(|c| c.name.to_ascii_lowercase()).collect();
    let have_order: Vec<String> =
        have.columns.iter().map(|c| c.name.to_ascii_lowercase()).filter(|n| want_order.contains(n)).collect();
    if want_order != have_order {
        out.push(tbl("column order changes".into(), Risk::Safe));
    }
    if have.primary_key != want.primary_key {
        out.push(tbl("primary key changes".into(), Risk::DataDependent));
    }
    if !same_set(&have.unique, &want.unique) {
        out.push(tbl("UNIQUE constraints change".into(), Risk::DataDependent));
    }
    if !same_set(&have.checks, &want.checks) {
        let added = want.checks.iter().any(|c| !have.checks.contains(c));
        out.push(tbl("CHECK constraints change".into(), if added { Risk::DataDependent } else { Risk::Safe }));
    }
    if !same_set(&have.foreign_keys, &want.foreign_keys) {
        let added = want.foreign_keys.iter().any(|c| !have.foreign_keys.contains(c));
        out.push(tbl("foreign keys change".into(), if added { Risk::DataDependent } else { Risk::Safe }));
    }
    if have.strict != want.strict {
        out.push(tbl(
            if want.strict { "becomes STRICT" } else { "stops being STRICT" }.into(),
            if want.strict { Risk::DataDependent } else { Risk::Safe },
        ));
    }
    if have.without_rowid != want.without_rowid {
        out.push(tbl(
            if want.without_rowid { "becomes WITHOUT ROWID" } else { "gets a rowid" }.into(),
            Risk::DataDependent,
        ));
    }
    for (iname, wi) in &want.indexes {
        match have.indexes.get(iname) {
            None => out.push(change(
                "index",
                iname,
                format!("create on `{name}`"),
                if wi.unique { Risk::DataDependent } else { Risk::Safe },
            )),
            Some(hi) if !same_index(hi, wi) => out.push(change(
                "index",
                iname,
                "replace (definition changed)",
                if wi.unique { Risk::DataDependent } else { Risk::Safe },
            )),
            Some(_) => {}
        }
    }
    for iname in have.indexes.keys() {
        if !want.indexes.contains_key(iname) {
            out.push(change("index", iname, "drop", Risk::Safe));
        }
    }
}

/// Whether two indexes have the same definition; the `renamed_from` hint is
/// not part of it (a hint left in the YAML after its rename must stay inert).
pub(crate) fn same_index(a: &Index, b: &Index) -> bool {
    a.columns == b.columns && a.unique == b.unique && a.where_ == b.where_
}

/// Whether two constraint lists hold the same items, in any order.
pub(crate) fn same_set<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// The risk of adding a column to a table that may hold rows.
pub fn added_column_risk(c: &Column) -> Risk {
    let needs_value = c.not_null && c.default.is_none() && c.backfill.is_none() && c.generated.is_none();
    if needs_value || !c.checks.is_empty() || c.unique || c.references.is_some() {
        Risk::DataDependent
    } else {
        Risk::Safe
    }
}

/// The differences between two versions of one column, with their risks.
pub fn column_differences(old: &Column, new: &Column) -> Vec<(String, Risk)> {
    let mut out = Vec::new();
    let ty = |c: &Column| c.ty.as_deref().map(|t| t.to_ascii_uppercase());
    if ty(old) != ty(new) {
        let narrowing = new.convert.is_none() && is_narrowing(old.ty.as_deref(), new.ty.as_deref());
        out.push((
            format!("type {} → {}", old.ty.as_deref().unwrap_or("(none)"), new.ty.as_deref().unwrap_or("(none)")),
            if narrowing { Risk::Destructive } else { Risk::DataDependent },
        ));
    }
    if old.not_null != new.not_null || old.not_null_on_conflict != new.not_null_on_conflict {
        out.push(if new.not_null {
            ("becomes NOT NULL".into(), Risk::DataDependent)
        } else {
            ("becomes nullable".into(), Risk::Safe)
        });
    }
    if old.default != new.default {
        out.push((format!("default {} → {}", show(&old.default), show(&new.default)), Risk::Safe));
    }
    if old.collate.as_deref().map(str::to_ascii_lowercase) != new.collate.as_deref().map(str::to_ascii_lowercase) {
        out.push(("collation changes".into(), Risk::DataDependent));
    }
    if old.primary_key != new.primary_key
        || old.primary_key_order != new.primary_key_order
        || old.primary_key_on_conflict != new.primary_key_on_conflict
        || old.autoincrement != new.autoincrement
    {
        out.push(("primary key changes".into(), Risk::DataDependent));
    }
    if old.unique != new.unique || old.unique_on_conflict != new.unique_on_conflict {
        out.push((
            if new.unique { "becomes UNIQUE" } else { "stops being UNIQUE" }.into(),
            if new.unique { Risk::DataDependent } else { Risk::Safe },
        ));
    }
    if old.checks != new.checks {
        out.push(("CHECK changes".into(), Risk::DataDependent));
    }
    if old.references != new.references {
        out.push(("REFERENCES changes".into(), Risk::DataDependent));
    }
    if old.generated.is_none() && new.generated.is_some() {
        // Its stored values give way to computed ones.
        out.push(("becomes generated (its stored values are lost)".into(), Risk::Destructive));
    } else if old.generated != new.generated {
        out.push(("generated expression changes".into(), Risk::Safe));
    }
    out
}

fn show(e: &Option<crate::model::Expr>) -> String {
    e.as_ref().map(|e| e.as_str().to_string()).unwrap_or_else(|| "(none)".into())
}

/// SQLite's type affinity of a declared type (datatype3.html §3.1).
pub fn affinity(ty: Option<&str>) -> &'static str {
    let Some(t) = ty else { return "BLOB" };
    let t = t.to_ascii_uppercase();
    if t.contains("INT") {
        "INTEGER"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "TEXT"
    } else if t.contains("BLOB") || t.is_empty() {
        "BLOB"
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "REAL"
    } else {
        "NUMERIC"
    }
}

/// A type change that can rewrite stored values: text or blob to a numeric
/// affinity, or a real/numeric to an integer.
fn is_narrowing(old: Option<&str>, new: Option<&str>) -> bool {
    matches!(
        (affinity(old), affinity(new)),
        ("TEXT" | "BLOB", "INTEGER" | "REAL" | "NUMERIC") | ("REAL" | "NUMERIC", "INTEGER")
    )
}

/// Whether identifier `name` appears as a word in SQL text (used to find what
/// an expression or trigger body refers to; a superset is safe).
pub fn mentions(text: &str, name: &str) -> bool {
    sql::tokens(text).is_ok_and(|toks| toks.iter().any(|t| sql::unquote(t.text).eq_ignore_ascii_case(name)))
}
