//! Rollback: the inverse of a forward plan, planned with it from the same inputs.
//!
//! The rollback plan takes the schema the forward plan produces back to the
//! schema it started from. It is planned by the same planner with every rename
//! inverted (a table renamed `a → b` is renamed `b → a`), so data follows the
//! renames back instead of being dropped and recreated. What a forward plan
//! loses or rewrites — the rows of a dropped table, the values of a dropped,
//! converted or retyped column, the NULLs a backfill filled — is described by
//! [`Backup`]s. The applier copies those values into a backup file beside the
//! database inside the forward plan's write lock; the rollback plan's last
//! steps put them back from that file, attached as [`BACKUP_SCHEMA`], with the
//! table's triggers held off so restoring rows fires nothing.
//!
//! Invariant: no I/O; the backup file is read and written by `apply`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::diff::{affinity, apply_renames, column_differences, mentions, Risk, What};
use crate::model::{Schema, Table};
use crate::plan::{self, Facts, Plan, PlanError, Step, StepKind};
use crate::sql::{quote_ident_if_needed as q, quote_str};

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
pub fn backups(before: &Schema, desired: &Schema) -> Vec<Backup> {
    let renamed = apply_renames(before, desired);
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

/// `before` with `desired`'s renames inverted: the goal of the rollback plan, with the hints that lead back.
fn inverted(before: &Schema, desired: &Schema) -> Schema {
    let renamed = apply_renames(before, desired);
    let mut goal = before.without_hints();
    for (new, old) in &renamed.tables {
        if let Some(t) = goal.tables.get_mut(old) {
            t.renamed_from = Some(new.clone());
        }
    }
    for (table, pairs) in &renamed.columns {
        let old_table = renamed.tables.get(table).cloned().unwrap_or_else(|| table.clone());
        let Some((key, _)) = goal.table(&old_table) else { continue };
        let key = key.clone();
        if let Some(t) = goal.tables.get_mut(&key) {
            for (new, old) in pairs {
                if let Some(c) = t.columns.iter_mut().find(|c| c.name.eq_ignore_ascii_case(old)) {
                    c.renamed_from = Some(new.clone());
                }
            }
        }
    }
    goal
}

/// The alias of a backup table inside the rollback's statements: the tool's own
/// prefix, so no user table or column shadows it.
const KEPT: &str = "_reconcile_kept";

/// The rollback's kept values, for the planner (`Facts::restore`): a column whose
/// values the forward plan drops, rewrites or fills comes back in the rollback's
/// rebuild already holding them, read from the backup. A NOT NULL, UNIQUE, CHECKed
/// or STRICT column cannot come back empty, all at its default, or holding the
/// rewritten values, to be fixed by the restore step afterwards.
fn kept_values(before: &Schema, desired: &Schema, backups: &[Backup]) -> BTreeMap<(String, String), String> {
    let renamed = apply_renames(before, desired);
    let mut out = BTreeMap::new();
    for b in backups.iter().filter(|b| !b.whole_table) {
        let new_table = renamed
            .tables
            .iter()
            .find(|(_, old)| old.eq_ignore_ascii_case(&b.table))
            .map(|(n, _)| n.clone())
            .unwrap_or_else(|| b.table.clone());
        let Some((_, want)) = desired.table(&new_table) else { continue };
        let Some((_, goal)) = before.table(&b.table) else { continue };
        let pairs = renamed.columns.get(&new_table).cloned().unwrap_or_default();
        // The name a column of `before` has in the table the rollback starts from.
        let now = |old: &str| {
            pairs.iter().find(|(_, o)| o.eq_ignore_ascii_case(old)).map(|(n, _)| n.clone()).unwrap_or(old.to_string())
        };
        let t = q(&b.table);
        let matches: Vec<String> = b
            .lookup_aliases()
            .iter()
            .zip(&b.key)
            .map(|(alias, k)| format!("{KEPT}.{alias} = {t}.{}", q(&now(k))))
            .collect();
        let from = format!("FROM {BACKUP_SCHEMA}.{} AS {KEPT} WHERE {}", q(&b.name), matches.join(" AND "));
        for (c, alias) in b.columns.iter().zip(b.column_aliases()) {
            // Rows with no kept value (written since, or not among the rows a backfill
            // filled; a kept NULL is a value) keep what they have: a column the forward
            // plan dropped gets its default.
            let otherwise = if want.column(&now(c)).is_some() {
                q(&now(c))
            } else {
                let col = goal.column(c);
                col.and_then(|x| x.default.as_ref()).map(|d| d.as_str().to_string()).unwrap_or_else(|| "NULL".into())
            };
            out.insert(
                (b.table.to_ascii_lowercase(), c.to_ascii_lowercase()),
                format!("CASE WHEN EXISTS (SELECT 1 {from}) THEN (SELECT {KEPT}.{alias} {from}) ELSE {otherwise} END"),
            );
        }
    }
    out
}

/// Plans the rollback of the forward plan `before → desired`: `after_facts`
/// describe the database as the forward plan leaves it.
pub fn plan_rollback(
    before: &Schema,
    desired: &Schema,
    backups: &[Backup],
    after_facts: &Facts,
) -> Result<Plan, PlanError> {
    let after = desired.without_hints();
    let goal = inverted(before, desired);
    let facts = Facts { restore: kept_values(before, desired, backups), ..after_facts.clone() };
    let mut p = plan::plan(&crate::diff::compare(&after, &goal), &facts)?;
    for b in backups {
        p.steps.push(restore_step(before, b));
    }
    Ok(p)
}

/// Puts kept values back, with the triggers that name the table held off so nothing fires.
fn restore_step(before: &Schema, b: &Backup) -> Step {
    let src = format!("{BACKUP_SCHEMA}.{}", q(&b.name));
    let keys = b.key_aliases();
    let cols = b.column_aliases();
    let held: Vec<(&String, &String)> =
        before.triggers.iter().filter(|(_, t)| mentions(&t.sql, &b.table)).map(|(n, t)| (n, &t.sql)).collect();
    let mut sql: Vec<String> = held.iter().map(|(n, _)| format!("DROP TRIGGER {}", q(n))).collect();
    let t = q(&b.table);
    if b.whole_table {
        let into: Vec<String> = b.key.iter().chain(b.columns.iter()).map(|c| q(c)).collect();
        let from: Vec<String> = keys.iter().chain(cols.iter()).cloned().collect();
        sql.push(format!("INSERT OR ABORT INTO main.{t} ({}) SELECT {} FROM {src}", into.join(", "), from.join(", ")));
        if b.sequence {
            let name = quote_str(&b.table);
            sql.push(format!("DELETE FROM main.sqlite_sequence WHERE name = {name}"));
            sql.push(format!(
                "INSERT INTO main.sqlite_sequence (name, seq) SELECT {name}, seq FROM {BACKUP_SCHEMA}.sequence WHERE name = {name} AND seq IS NOT NULL"
            ));
        }
    } else if b.columns.is_empty() {
        // Only the counter is kept.
    } else {
        // Keys compare exactly, without affinity (`+`): the kept keys are the table's own values, and an
        // affinity-free comparison can use the backup table's key index instead of scanning it for every row.
        let target: Vec<String> = b.key.iter().map(|k| format!("+{t}.{}", q(k))).collect();
        let matches = if keys.len() == 1 {
            format!("{KEPT}.{} = {}", keys[0], target[0])
        } else {
            format!(
                "({}) = ({})",
                keys.iter().map(|k| format!("{KEPT}.{k}")).collect::<Vec<_>>().join(", "),
                target.join(", ")
            )
        };
        let set_cols: Vec<String> = b.columns.iter().map(|c| q(c)).collect();
        let key_cols: Vec<String> = b.key.iter().map(|k| format!("+{}", q(k))).collect();
        let (lhs, rhs) = if set_cols.len() == 1 {
            (set_cols[0].clone(), format!("(SELECT {KEPT}.{} FROM {src} AS {KEPT} WHERE {matches})", cols[0]))
        } else {
            (
                format!("({})", set_cols.join(", ")),
                format!(
                    "(SELECT {} FROM {src} AS {KEPT} WHERE {matches})",
                    cols.iter().map(|c| format!("{KEPT}.{c}")).collect::<Vec<_>>().join(", ")
                ),
            )
        };
        let key_list = if key_cols.len() == 1 { key_cols[0].clone() } else { format!("({})", key_cols.join(", ")) };
        sql.push(format!(
            "UPDATE OR ABORT main.{t} SET {lhs} = {rhs} WHERE {key_list} IN (SELECT {} FROM {src})",
            keys.join(", ")
        ));
    }
    if b.sequence && !b.whole_table {
        // The counter the table had, or the one it has now if rows written since went past it.
        let name = quote_str(&b.table);
        let kept = format!("(SELECT seq FROM {BACKUP_SCHEMA}.sequence WHERE name = {name})");
        sql.push(format!(
            "UPDATE main.sqlite_sequence SET seq = max(seq, {kept}) WHERE name = {name} AND {kept} IS NOT NULL"
        ));
        sql.push(format!(
            "INSERT INTO main.sqlite_sequence (name, seq) SELECT {name}, {kept} WHERE {kept} IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM main.sqlite_sequence WHERE name = {name})"
        ));
    }
    sql.extend(held.iter().map(|(_, s)| crate::sql::trim_statement(s).to_string()));
    Step {
        kind: StepKind::RestoreData,
        object: b.table.clone(),
        sql,
        comment: format!("restore kept values of `{}` ({})", b.table, b.reason),
        risk: Risk::Safe,
        hints: Vec::new(),
        keeps: Vec::new(),
        row_read: None,
    }
}
