//! Rebuild: the 12-step table rebuild of lang_altertable §7, as one step.
//!
//! Create the new table under a name that cannot collide (`_reconcile_new_*`,
//! a prefix users may not take), copy the rows (rowids kept for rowid tables,
//! generated columns computed again, a column that stops being generated
//! keeping the values it computed, `convert` and `backfill` applied where they
//! belong), carry the AUTOINCREMENT high-water mark, drop the old table, rename
//! the new one. Indexes, triggers and views are recreated by other steps.

use std::collections::BTreeMap;

use super::{step, RowRead, RowReadRole, Step, StepKind};
use crate::diff::{column_differences, Risk};
use crate::model::{Column, Table};
use crate::sql::{ddl, quote_ident_if_needed as q, quote_str, rename_column_ref};

/// The rebuild step for table `name`: `original` is the table as stored,
/// `have` the same with renames applied (keyed by desired names), `want` the goal.
/// `renamed` are the (new, old) column renames already run natively before
/// this step, so the old rows have the new names.
#[allow(clippy::too_many_arguments)]
pub(super) fn rebuild(
    name: &str,
    original: &Table,
    have: &Table,
    want: &Table,
    risk: Risk,
    renamed: &[(String, String)],
    restore: &BTreeMap<(String, String), String>,
    keys_on: bool,
) -> Step {
    // With keys on the old table is renamed away first (see `keys_on`): the new one is created
    // under its own name and filled from the old one, dropped later.
    let (tmp, source) = match keys_on {
        false => (format!("{}new_{name}", crate::inspect::OWN_PREFIX), name.to_string()),
        true => (name.to_string(), super::keys_on::old_name(name)),
    };
    let mut sql = vec![ddl::create_table(&tmp, want)];
    let mut copy = None;
    let mut hints = Vec::new();
    let mut into = Vec::new();
    let mut from = Vec::new();
    let keep_rowid = !have.without_rowid && !want.without_rowid;
    if keep_rowid {
        into.push("rowid".to_string());
        from.push("rowid".to_string());
    }
    for w in &want.columns {
        if w.generated.is_some() {
            continue;
        }
        // A rollback's kept values come first; a column that stops being generated keeps the
        // values it computed.
        let kept = restore.get(&(name.to_ascii_lowercase(), w.name.to_ascii_lowercase()));
        let value = match (kept, have.column(&w.name)) {
            (Some(e), _) => Some(format!("({})", renamed_names(e, name, renamed))),
            (None, Some(h)) => Some(copied_value(name, original, h, w, renamed, &mut hints)),
            (None, None) => w.backfill.as_ref().map(|b| {
                hints.push(format!("backfill on {name}.{}", w.name));
                format!("({})", renamed_names(b.as_str(), name, renamed))
            }),
        };
        if let Some(v) = value {
            into.push(q(&w.name));
            from.push(v);
        }
    }
    if !into.is_empty() {
        // OR ABORT: the new table's ON CONFLICT clauses (REPLACE, IGNORE) would otherwise drop
        // or merge rows that break its constraints instead of failing the plan.
        let from_table = match keys_on {
            false => q(name),
            true => format!("{} AS {}", q(&source), q(name)),
        };
        sql.push(format!("{}{}) SELECT {} FROM {from_table}", copy_prefix(&tmp), into.join(", "), from.join(", ")));
        copy = Some(RowRead { statement: sql.len() - 1, table: name.to_string(), role: RowReadRole::Copy });
    }
    let had_autoinc = original.columns.iter().any(|c| c.autoincrement);
    let wants_autoinc = want.columns.iter().any(|c| c.autoincrement);
    if had_autoinc && wants_autoinc {
        // The high-water mark survives deleted top rows (SQLITE.md A.2).
        let (old, new) = (quote_str(&source), quote_str(&tmp));
        sql.push(format!(
            "INSERT INTO sqlite_sequence (name, seq) SELECT {new}, 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = {new})"
        ));
        sql.push(format!(
            "UPDATE sqlite_sequence SET seq = max(seq, coalesce((SELECT seq FROM sqlite_sequence WHERE name = {old}), 0)) WHERE name = {new}"
        ));
    }
    if wants_autoinc {
        // A table that never had a row has no counter row, and gets none: SQLite writes a 0 for
        // an INSERT of no rows, which would be left behind (`sqlite_sequence` stays row for row).
        let (old, new) = (quote_str(&source), quote_str(&tmp));
        sql.push(format!(
            "DELETE FROM sqlite_sequence WHERE name = {new} AND seq = 0 AND NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = {old})"
        ));
    }
    if !keys_on {
        sql.push(format!("DROP TABLE {}", q(name)));
        sql.push(format!("ALTER TABLE {} RENAME TO {}", q(&tmp), q(name)));
    }
    let mut s =
        step(StepKind::RebuildTable, name, sql, format!("rebuild table `{name}` (create, copy, drop, rename)"), risk);
    s.hints = hints;
    s.row_read = copy;
    s
}

/// How a rebuild's row copy into `tmp` begins.
fn copy_prefix(tmp: &str) -> String {
    format!("INSERT OR ABORT INTO {} (", q(tmp))
}

/// The SELECT expression that fills desired column `w` from the old row.
fn copied_value(
    table: &str,
    original: &Table,
    have: &Column,
    w: &Column,
    renamed_first: &[(String, String)],
    hints: &mut Vec<String>,
) -> String {
    // `have` carries the desired name after a rename; the old row still has the stored name,
    // unless the renames ran before this step.
    let original_name = original
        .columns
        .iter()
        .find(|c| c.name.eq_ignore_ascii_case(&have.name))
        .or_else(|| w.renamed_from.as_deref().and_then(|r| original.column(r)))
        .map(|c| c.name.clone())
        .unwrap_or_else(|| have.name.clone());
    let renamed = !original_name.eq_ignore_ascii_case(&w.name);
    let stored = if renamed_first.is_empty() { original_name } else { have.name.clone() };
    let own_change = renamed || column_differences(have, w).iter().any(|what| what.converts());
    let mut value = match &w.convert {
        // `convert` runs only when this column's own definition changes (DESIGN.md).
        Some(c) if own_change => {
            hints.push(format!("convert on {table}.{}", w.name));
            // It is written against the old names; the renames already ran.
            let c = renamed_names(c.as_str(), table, renamed_first);
            format!("({c})")
        }
        _ => q(&stored),
    };
    if w.not_null && !have.not_null {
        if let Some(b) = &w.backfill {
            hints.push(format!("backfill on {table}.{}", w.name));
            value = format!("coalesce({value}, {})", renamed_names(b.as_str(), table, renamed_first));
        } else if let Some(d) = &w.default {
            value = format!("coalesce({value}, {})", d.as_str());
        }
    }
    value
}

/// A hint's expression, written against the old column names, after the renames that already ran.
fn renamed_names(expr: &str, table: &str, renamed_first: &[(String, String)]) -> String {
    renamed_first.iter().fold(expr.to_string(), |e, (new, old)| rename_column_ref(&e, table, old, new))
}
