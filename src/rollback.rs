//! Rollback: the inverse of a forward plan, planned with it from the same inputs.
//!
//! The rollback plan takes the schema the forward plan produces back to the
//! schema it started from. It is planned by the same planner with every rename
//! inverted (a table renamed `a → b` is renamed `b → a`), so data follows the
//! renames back instead of being dropped and recreated. What a forward plan
//! loses or rewrites — the rows of a dropped table, the values of a dropped,
//! converted or retyped column, the NULLs a backfill filled — is described by
//! [`Backup`]s (`backup`). The applier copies those values into a backup file beside the
//! database inside the forward plan's write lock; the rollback plan's last
//! steps put them back from that file, attached as [`BACKUP_SCHEMA`], with the
//! table's triggers held off so restoring rows fires nothing.
//!
//! Invariant: no I/O.

use std::collections::BTreeMap;

use crate::backup::{Backup, BACKUP_SCHEMA};
use crate::diff::{mentions, Diff, Risk};
use crate::model::Schema;
use crate::plan::{self, Facts, Plan, PlanError, Step, StepKind};
use crate::sql::{quote_ident_if_needed as q, quote_str};

/// `before` with `desired`'s renames inverted: the goal of the rollback plan, with the hints that lead back.
fn inverted(diff: &Diff<'_>) -> Schema {
    let (before, renamed) = (diff.actual, &diff.renamed);
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
fn kept_values(diff: &Diff<'_>, backups: &[Backup]) -> BTreeMap<(String, String), String> {
    let (before, desired, renamed) = (diff.actual, diff.desired, &diff.renamed);
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
pub fn plan_rollback(diff: &Diff<'_>, backups: &[Backup], after_facts: &Facts) -> Result<Plan, PlanError> {
    let before = diff.actual;
    let after = diff.desired.without_hints();
    let goal = inverted(diff);
    let facts = Facts { restore: kept_values(diff, backups), ..after_facts.clone() };
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
        serves: Vec::new(),
    }
}

/// `plan` reading its kept values from elsewhere than the backup attached as [`BACKUP_SCHEMA`]:
/// each `reconcile_backup.TABLE` becomes `table(TABLE)`, token by token. A rollback of several
/// changes attaches each one's backup under a name of its own; a server keeps them in tables.
pub fn with_kept_values_in(plan: &Plan, table: impl Fn(&str) -> String) -> Plan {
    let mut plan = plan.clone();
    for step in &mut plan.steps {
        for sql in &mut step.sql {
            let Ok(toks) = crate::sql::tokens(sql) else { continue };
            let mut out = String::with_capacity(sql.len());
            let mut last = 0;
            let mut i = 0;
            while i < toks.len() {
                let (t, dot, name) = (&toks[i], toks.get(i + 1), toks.get(i + 2));
                if let (Some(dot), Some(name)) = (dot, name) {
                    if dot.text == "." && crate::sql::unquote(t.text) == BACKUP_SCHEMA {
                        out.push_str(&sql[last..t.start]);
                        out.push_str(&table(&crate::sql::unquote(name.text)));
                        last = name.end;
                        i += 3;
                        continue;
                    }
                }
                i += 1;
            }
            out.push_str(&sql[last..]);
            *sql = out;
        }
    }
    plan
}
