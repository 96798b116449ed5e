//! Plan: (actual, desired) → ordered `Step`s.
//!
//! Native `ALTER TABLE` where SQLite allows it on the running version, a
//! 12-step rebuild otherwise (`rebuild.rs`). Views and triggers that read a
//! changed table are dropped before and recreated after. Steps form a
//! dependency graph (petgraph) ordered by one tie-break key, so the same input
//! gives a byte-identical plan. Invariant: no I/O; the caller supplies what it
//! read from the database (`Facts`).

mod graph;
mod keys_on;
mod rebuild;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use crate::diff::{self, same_index, same_set, Change, Diff, Renamed, Risk};
use crate::model::{Column, Schema, Table};
use crate::sql::{self, ddl, quote_ident_if_needed as q};

/// What the planner needs to know about the database beyond its schema.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// SQLite version as (major, minor, patch).
    pub sqlite_version: (u32, u32, u32),
    /// For each actual view, the tables and views it reads (from the authorizer).
    pub view_reads: BTreeMap<String, BTreeSet<String>>,
    /// A rollback's kept values: (table, column), lower-cased → the SQL expression, written
    /// against the names the table has before the plan, that a rebuild copies into that
    /// column instead of its current value.
    pub restore: BTreeMap<(String, String), String>,
    /// The engine's foreign keys stay on during a change (only deferred): a rebuilt table that
    /// others reference is rebuilt with them, renamed away first (see `keys_on`).
    pub keys_on: bool,
}

impl Facts {
    /// Whether the 3.53 ALTER forms (ADD/DROP CONSTRAINT CHECK, SET/DROP NOT NULL) exist.
    pub fn has_alter_constraints(&self) -> bool {
        self.sqlite_version >= (3, 53, 0)
    }
}

/// The kind of a step; its rank is the phase it runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// DROP TRIGGER
    DropTrigger,
    /// DROP VIEW
    DropView,
    /// DROP INDEX
    DropIndex,
    /// DROP TABLE (virtual)
    DropVirtualTable,
    /// DROP TABLE
    DropTable,
    /// ALTER TABLE RENAME TO
    RenameTable,
    /// Native ALTER TABLE
    AlterTable,
    /// The 12-step rebuild
    RebuildTable,
    /// CREATE TABLE
    CreateTable,
    /// CREATE VIRTUAL TABLE
    CreateVirtualTable,
    /// CREATE INDEX
    CreateIndex,
    /// CREATE VIEW
    CreateView,
    /// CREATE TRIGGER
    CreateTrigger,
    /// Values a rollback puts back from the backup file
    RestoreData,
    /// The development seed script (`reset`)
    Seed,
}

/// One step of a plan: SQL statements that run in order inside the plan's transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// What kind of step.
    pub kind: StepKind,
    /// The object it acts on.
    pub object: String,
    /// The statements, each without a trailing `;`.
    pub sql: Vec<String>,
    /// Why, in words.
    pub comment: String,
    /// Its risk.
    pub risk: Risk,
    /// Migration hints this step used (`convert on feed.explicit`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hints: Vec<String>,
    /// For a rebuild: the table's dependents that the plan recreates unchanged around it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keeps: Vec<Kept>,
    /// The statement of the step that reads a table's rows, with a slot for a condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_read: Option<RowRead>,
    /// The changes of the plan this step serves, as indexes into [`Plan::changes`]: those of its
    /// own object (a table's and its columns', an index's, a view's, a trigger's). Empty for a
    /// dependent dropped and made again unchanged around another step (see `keeps`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serves: Vec<usize>,
}

/// A statement that reads a table's rows one by one, to which the applier may add a condition
/// that is true for every row (to count them for a progress bar, or to keep values for the
/// rollback as they are read): [`Step::with_condition`] puts it in its slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowRead {
    /// Which statement of the step (0-based).
    pub statement: usize,
    /// The table whose rows it reads.
    pub table: String,
    /// What the statement is.
    pub role: RowReadRole,
}

/// The role of a [`RowRead`] statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowReadRole {
    /// A rebuild's copy of every row into the new table: `INSERT ... SELECT ... FROM t`, with no
    /// WHERE of its own; the condition becomes its WHERE.
    Copy,
    /// The native fill of a column's NULLs: `UPDATE t SET c = (...) WHERE c IS NULL`; the
    /// condition is ANDed to its WHERE.
    Fill {
        /// The column filled.
        column: String,
    },
}

impl Step {
    /// The [`RowRead`] of statement `index`, if it is the one.
    pub fn row_read(&self, index: usize) -> Option<&RowRead> {
        self.row_read.as_ref().filter(|r| r.statement == index)
    }

    /// Statement `index` with `condition` in its slot (the statement as it is without one, or
    /// when it has no slot).
    pub fn with_condition(&self, index: usize, condition: Option<&str>) -> String {
        let sql = self.sql.get(index).map(String::as_str).unwrap_or_default();
        match (self.row_read(index).map(|r| &r.role), condition) {
            (Some(RowReadRole::Copy), Some(c)) => format!("{sql} WHERE {c}"),
            (Some(RowReadRole::Fill { .. }), Some(c)) => format!("{sql} AND ({c})"),
            _ => sql.to_string(),
        }
    }
}

/// A dependent of a rebuilt table (an index on it, a view that reads it, a trigger
/// that names it) which the plan drops or loses with the old table and recreates unchanged.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Kept {
    /// `index`, `view` or `trigger`.
    pub kind: KeptKind,
    /// Its name.
    pub name: String,
}

/// The kind of a [`Kept`] dependent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeptKind {
    /// An index on the table.
    Index,
    /// A view that reads the table, directly or through other views.
    View,
    /// A trigger on the table, or one whose body names it or such a view.
    Trigger,
}

/// An ordered plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The differences the plan resolves.
    pub changes: Vec<Change>,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
    /// The highest risk of any step.
    pub fn risk(&self) -> Risk {
        self.steps.iter().map(|s| s.risk).max().unwrap_or(Risk::Safe)
    }
    /// The destructive steps.
    pub fn destructive(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.risk == Risk::Destructive)
    }
    /// Whether any step needs foreign keys off (every plan that touches tables does).
    pub fn touches_tables(&self) -> bool {
        self.steps.iter().any(|s| s.kind >= StepKind::DropTable && s.kind <= StepKind::CreateTable)
    }
}

/// A plan that cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Views or triggers that depend on each other in a circle.
    #[error("views depend on each other in a cycle: {}", .0.join(" → "))]
    Cycle(Vec<String>),
    /// A hint that cannot be honoured.
    #[error("{0}")]
    Hint(String),
    /// A step this engine cannot run safely with its foreign keys on.
    #[error("{0}")]
    KeysOn(String),
}

/// Plans the steps that resolve `diff` (from `diff::compare`): the changes from its actual
/// schema to its desired one, with the renames it found.
pub fn plan(diff: &Diff<'_>, facts: &Facts) -> Result<Plan, PlanError> {
    let (actual, desired, renamed, changes) = (diff.actual, diff.desired, &diff.renamed, &diff.changes);
    check_hints(actual, desired)?;
    if changes.is_empty() {
        return Ok(Plan::default());
    }
    let mut d = Draft::default();
    table_steps(&mut d, actual, desired, renamed, changes, facts);
    // With keys on, the tables that reference a rebuilt table are rebuilt with it.
    let group = match facts.keys_on {
        true => keys_on::group(&d.rebuilt, &renamed.schema, desired),
        false => BTreeSet::new(),
    };
    if !group.is_empty() {
        d = Draft { group: group.clone(), ..Draft::default() };
        table_steps(&mut d, actual, desired, renamed, changes, facts);
    }
    virtual_table_steps(&mut d, actual, desired);
    index_steps(&mut d, &renamed.schema, desired);
    let affected_views = view_steps(&mut d, actual, desired, facts);
    trigger_steps(&mut d, actual, desired, &affected_views);
    let mut steps = d.steps;
    for s in steps.iter_mut().filter(|s| s.kind == StepKind::RebuildTable) {
        let old = renamed.tables.get(&s.object).map(String::as_str);
        s.keeps = kept_dependents(&s.object, old, actual, &renamed.schema, desired, facts);
    }
    let mut steps = graph::order(steps, desired)?;
    if facts.keys_on {
        steps = keys_on::arrange(steps, &group, &renamed.schema)?;
    }
    for s in &mut steps {
        s.serves = served(s, changes);
    }
    Ok(Plan { changes: changes.clone(), steps })
}

/// The changes `step` serves: those whose object, or whose table, is the step's object.
fn served(step: &Step, changes: &[Change]) -> Vec<usize> {
    let own = |name: &str| name.eq_ignore_ascii_case(&step.object);
    changes.iter().enumerate().filter(|(_, c)| c.table().map_or(own(&c.object), own)).map(|(i, _)| i).collect()
}

/// The steps of `reset` (development only): drop every object of the actual schema (their data
/// with them), build the desired one from nothing (`build`: the comparison of an empty schema
/// with it), then run the `seed` script if there is one. `changes` are the differences the
/// reset resolves, for the record.
pub fn reset(
    actual: &Schema,
    build: &Diff<'_>,
    changes: Vec<Change>,
    seed: Option<&str>,
    facts: &Facts,
) -> Result<Plan, PlanError> {
    let drop = |kind: StepKind, what: &str, stmt: &str, name: &str| {
        step(kind, name, vec![format!("{stmt} {}", q(name))], format!("drop {what} `{name}`"), Risk::Destructive)
    };
    let mut steps = Vec::new();
    steps.extend(actual.triggers.keys().map(|n| drop(StepKind::DropTrigger, "trigger", "DROP TRIGGER", n)));
    steps.extend(actual.views.keys().map(|n| drop(StepKind::DropView, "view", "DROP VIEW", n)));
    steps.extend(
        actual.virtual_tables.keys().map(|n| drop(StepKind::DropVirtualTable, "virtual table", "DROP TABLE", n)),
    );
    steps.extend(actual.tables.keys().map(|n| drop(StepKind::DropTable, "table", "DROP TABLE", n)));
    let facts = Facts { sqlite_version: facts.sqlite_version, ..Facts::default() };
    steps.extend(plan(build, &facts)?.steps);
    if let Some(seed) = seed.filter(|s| !s.trim().is_empty()) {
        steps.push(step(StepKind::Seed, "seed", vec![seed.to_string()], "run the seed script".to_string(), Risk::Safe));
    }
    Ok(Plan { changes, steps })
}

/// The steps planned so far, and what they leave to the dependents' steps.
#[derive(Default)]
struct Draft {
    steps: Vec<Step>,
    /// Tables whose dependents (views, triggers naming them) must be dropped and recreated.
    touched: BTreeSet<String>,
    /// Tables rebuilt (their indexes go with the old table).
    rebuilt: BTreeSet<String>,
    /// With keys on: the tables rebuilt together, renamed away first (lower-cased).
    group: BTreeSet<String>,
}

/// The highest risk among each table's own and its columns' changes.
fn table_risks(changes: &[Change]) -> HashMap<&str, Risk> {
    let mut risks: HashMap<&str, Risk> = HashMap::new();
    for c in changes.iter() {
        let Some(table) = c.table() else { continue };
        let r = risks.entry(table).or_insert(Risk::Safe);
        *r = (*r).max(c.risk());
    }

    risks
}

/// Tables renamed, created, changed (natively or by a rebuild) and dropped.
fn table_steps(
    d: &mut Draft,
    actual: &Schema,
    desired: &Schema,
    renamed: &Renamed<'_>,
    changes: &[Change],
    facts: &Facts,
) {
    let risks = table_risks(changes);
    let table_risk = |name: &str| risks.get(name).copied().unwrap_or(Risk::Safe);
    let have_all = &renamed.schema;
    for (new, old) in &renamed.tables {
        d.touched.insert(old.to_ascii_lowercase());
        d.touched.insert(new.to_ascii_lowercase());
        d.steps.push(step(
            StepKind::RenameTable,
            new,
            vec![format!("ALTER TABLE {} RENAME TO {}", q(old), q(new))],
            format!("rename table `{old}` to `{new}`"),
            Risk::Safe,
        ));
    }
    // Tables whose column renames SQLite cannot run natively, and the tables that
    // reference a column they rename: both are rebuilt, the renames done by the copy.
    let rename_in_copy: BTreeSet<String> = renamed
        .columns
        .iter()
        .filter(|(t, pairs)| {
            let original = renamed.tables.get(*t).map(String::as_str).unwrap_or(t.as_str());
            actual.table(original).is_some_and(|(_, o)| pairs.iter().any(|(_, old)| !renames_natively(o, old)))
        })
        .map(|(t, _)| t.clone())
        .collect();
    let references_renamed = |t: &Table| {
        rename_in_copy.iter().any(|p| {
            let new_names: Vec<&String> = renamed.columns[p].iter().map(|(n, _)| n).collect();
            let hit = |table: &str, col: &str| {
                table.eq_ignore_ascii_case(p) && new_names.iter().any(|n| n.eq_ignore_ascii_case(col))
            };
            t.columns
                .iter()
                .filter_map(|c| c.references.as_ref())
                .any(|r| r.column.as_deref().is_some_and(|c| hit(&r.table, c)))
                || t.foreign_keys.iter().any(|f| f.referenced_columns.iter().any(|c| hit(&f.references, c)))
        })
    };
    for (name, want) in &desired.tables {
        let Some(have) = have_all.tables.get(name) else {
            d.steps.push(step(
                StepKind::CreateTable,
                name,
                vec![ddl::create_table(name, want)],
                format!("create table `{name}`"),
                Risk::Safe,
            ));
            continue;
        };
        let original =
            renamed.tables.get(name).and_then(|o| actual.tables.get(o)).or_else(|| actual.table(name).map(|(_, t)| t));
        let Some(original) = original else { continue };
        let column_renames = renamed.columns.get(name).cloned().unwrap_or_default();
        let in_copy = rename_in_copy.contains(name);
        let in_group = d.group.contains(&name.to_ascii_lowercase());
        let forced = references_renamed(want) || in_group;
        if have == want && column_renames.is_empty() && !forced {
            continue;
        }
        let risk = table_risk(name);
        // A column a rollback brings back with kept values it cannot be added empty with.
        // So is a key column it gives its old values back: only a copy into a new table can.
        let pk = want.primary_key_columns();
        let refilled = want.columns.iter().any(|c| {
            let kept = facts.restore.contains_key(&(name.to_ascii_lowercase(), c.name.to_ascii_lowercase()));
            kept && ((have.column(&c.name).is_none() && (c.not_null || !c.checks.is_empty()))
                || pk.iter().any(|k| k.eq_ignore_ascii_case(&c.name)))
        });
        let native =
            if in_copy || forced || refilled { None } else { native_steps(name, have, want, &column_renames, facts) };
        match native {
            Some(native) => {
                let structural = native.iter().any(|(_, dropped_or_renamed)| *dropped_or_renamed);
                if structural {
                    d.touched.insert(name.to_ascii_lowercase());
                }
                d.steps.extend(native.into_iter().map(|(s, _)| s));
            }
            None => {
                d.touched.insert(name.to_ascii_lowercase());
                d.rebuilt.insert(name.clone());
                // Renamed natively first, so SQLite rewrites what names the columns elsewhere
                // (other tables' foreign keys); the rebuild then copies from the new names.
                let renamed_first: &[(String, String)] = if in_copy { &[] } else { &column_renames };
                for (new, old) in renamed_first {
                    d.steps.push(step(
                        StepKind::AlterTable,
                        name,
                        vec![format!("ALTER TABLE {} RENAME COLUMN {} TO {}", q(name), q(old), q(new))],
                        format!("rename column `{name}.{old}` to `{new}`"),
                        Risk::Safe,
                    ));
                }
                d.steps.push(rebuild::rebuild(
                    name,
                    original,
                    have,
                    want,
                    risk,
                    renamed_first,
                    &facts.restore,
                    in_group,
                ));
            }
        }
    }
    for name in have_all.tables.keys() {
        if !desired.tables.contains_key(name) {
            d.touched.insert(name.to_ascii_lowercase());
            d.steps.push(step(
                StepKind::DropTable,
                name,
                vec![format!("DROP TABLE {}", q(name))],
                format!("drop table `{name}` and its rows"),
                Risk::Destructive,
            ));
        }
    }
}

/// Virtual tables: created and dropped whole, never rebuilt.
fn virtual_table_steps(d: &mut Draft, actual: &Schema, desired: &Schema) {
    for (name, v) in &actual.virtual_tables {
        if desired.virtual_tables.get(name) != Some(v) {
            d.touched.insert(name.to_ascii_lowercase());
            d.steps.push(step(
                StepKind::DropVirtualTable,
                name,
                vec![format!("DROP TABLE {}", q(name))],
                format!("drop virtual table `{name}` and its rows"),
                Risk::Destructive,
            ));
        }
    }
    for (name, v) in &desired.virtual_tables {
        if actual.virtual_tables.get(name) != Some(v) {
            d.steps.push(step(
                StepKind::CreateVirtualTable,
                name,
                vec![sql::trim_statement(&v.sql).to_string()],
                format!("create virtual table `{name}`"),
                Risk::Safe,
            ));
        }
    }
}

/// Indexes: on rebuilt tables they vanish with the old table and come back from the desired
/// schema; elsewhere only changed ones are replaced.
fn index_steps(d: &mut Draft, have_all: &Schema, desired: &Schema) {
    for (name, want) in &desired.tables {
        let have = have_all.tables.get(name);
        for (iname, wi) in &want.indexes {
            let same = have.and_then(|h| h.indexes.get(iname)).is_some_and(|hi| same_index(hi, wi));
            if !same || d.rebuilt.contains(name) {
                let risk = if wi.unique && have.is_some() { Risk::DataDependent } else { Risk::Safe };
                d.steps.push(step(
                    StepKind::CreateIndex,
                    iname,
                    vec![ddl::create_index(iname, name, wi)],
                    format!("create index `{iname}` on `{name}`"),
                    risk,
                ));
            }
        }
    }
    for (tname, have) in &have_all.tables {
        if d.rebuilt.contains(tname) {
            continue;
        }
        let want = desired.tables.get(tname);
        if want.is_none() {
            continue; // dropped with the table
        }
        for (iname, hi) in &have.indexes {
            if !want.and_then(|w| w.indexes.get(iname)).is_some_and(|wi| same_index(hi, wi)) {
                d.steps.push(step(
                    StepKind::DropIndex,
                    iname,
                    vec![format!("DROP INDEX {}", q(iname))],
                    format!("drop index `{iname}`"),
                    Risk::Safe,
                ));
            }
        }
    }
}

/// Views: drop those that read a touched table or view (transitively), or changed, and create
/// them again; returns the views dropped.
fn view_steps(d: &mut Draft, actual: &Schema, desired: &Schema, facts: &Facts) -> BTreeSet<String> {
    let mut affected_views: BTreeSet<String> = BTreeSet::new();
    loop {
        let before = affected_views.len();
        for (vname, v) in &actual.views {
            if affected_views.contains(vname) {
                continue;
            }
            let reads = view_reads(facts, vname, &v.sql, actual);
            let hit = reads.iter().any(|r| {
                d.touched.contains(&r.to_ascii_lowercase()) || affected_views.iter().any(|a| a.eq_ignore_ascii_case(r))
            });
            if hit || desired.views.get(vname) != Some(v) {
                affected_views.insert(vname.clone());
            }
        }
        if affected_views.len() == before {
            break;
        }
    }
    for vname in &affected_views {
        d.steps.push(step(
            StepKind::DropView,
            vname,
            vec![format!("DROP VIEW {}", q(vname))],
            format!("drop view `{vname}`"),
            Risk::Safe,
        ));
    }
    for (vname, v) in &desired.views {
        if actual.views.get(vname) != Some(v) || affected_views.contains(vname) {
            d.steps.push(step(
                StepKind::CreateView,
                vname,
                vec![sql::view_create_sql(vname, &v.sql)],
                format!("create view `{vname}`"),
                Risk::Safe,
            ));
        }
    }

    affected_views
}

/// Triggers: drop those on or naming a touched table or affected view, or changed, and create
/// them again.
fn trigger_steps(d: &mut Draft, actual: &Schema, desired: &Schema, affected_views: &BTreeSet<String>) {
    let mut affected_triggers = BTreeSet::new();
    for (tname, t) in &actual.triggers {
        let names_touched = d.touched.iter().chain(affected_views.iter()).any(|n| diff::mentions(&t.sql, n));
        if names_touched || desired.triggers.get(tname) != Some(t) {
            affected_triggers.insert(tname.clone());
            d.steps.push(step(
                StepKind::DropTrigger,
                tname,
                vec![format!("DROP TRIGGER {}", q(tname))],
                format!("drop trigger `{tname}`"),
                Risk::Safe,
            ));
        }
    }
    for (tname, t) in &desired.triggers {
        if actual.triggers.get(tname) != Some(t) || affected_triggers.contains(tname) {
            d.steps.push(step(
                StepKind::CreateTrigger,
                tname,
                vec![sql::trim_statement(&t.sql).to_string()],
                format!("create trigger `{tname}`"),
                Risk::Safe,
            ));
        }
    }
}

/// What a rebuild of `name` (formerly `old`) recreates unchanged: its unchanged
/// indexes, and the unchanged views and triggers that depend on it.
fn kept_dependents(
    name: &str,
    old: Option<&str>,
    actual: &Schema,
    have_all: &Schema,
    desired: &Schema,
    facts: &Facts,
) -> Vec<Kept> {
    let mut kept = Vec::new();
    if let (Some(have), Some(want)) = (have_all.tables.get(name), desired.tables.get(name)) {
        for (iname, wi) in &want.indexes {
            if have.indexes.get(iname).is_some_and(|hi| same_index(hi, wi)) {
                kept.push(Kept { kind: KeptKind::Index, name: iname.clone() });
            }
        }
    }
    // The names that reach the table: its own, its old one, and the views reading it.
    let mut names: Vec<String> = std::iter::once(name).chain(old).map(str::to_ascii_lowercase).collect();
    let mut views: BTreeSet<&String> = BTreeSet::new();
    loop {
        let found = actual.views.iter().filter(|(v, _)| !views.contains(v)).find(|(v, def)| {
            view_reads(facts, v, &def.sql, actual).iter().any(|r| names.contains(&r.to_ascii_lowercase()))
        });
        let Some((v, _)) = found else { break };
        views.insert(v);
        names.push(v.to_ascii_lowercase());
    }
    for v in views {
        if desired.views.get(v) == actual.views.get(v) {
            kept.push(Kept { kind: KeptKind::View, name: v.clone() });
        }
    }
    for (tname, t) in &actual.triggers {
        if names.iter().any(|n| diff::mentions(&t.sql, n)) && desired.triggers.get(tname) == Some(t) {
            kept.push(Kept { kind: KeptKind::Trigger, name: tname.clone() });
        }
    }
    kept
}

fn view_reads(facts: &Facts, name: &str, sql_text: &str, actual: &Schema) -> BTreeSet<String> {
    if let Some(r) = facts.view_reads.get(name) {
        return r.clone();
    }
    // Without the authorizer's answer, every table or view named in the text (a superset).
    actual
        .tables
        .keys()
        .chain(actual.views.keys())
        .chain(actual.virtual_tables.keys())
        .filter(|n| diff::mentions(sql_text, n))
        .cloned()
        .collect()
}

fn step(kind: StepKind, object: &str, sql: Vec<String>, comment: String, risk: Risk) -> Step {
    Step {
        kind,
        object: object.to_string(),
        sql,
        comment,
        risk,
        hints: Vec::new(),
        keeps: Vec::new(),
        row_read: None,
        serves: Vec::new(),
    }
}

fn check_hints(actual: &Schema, desired: &Schema) -> Result<(), PlanError> {
    for (name, t) in &desired.tables {
        if let Some(old) = &t.renamed_from {
            if actual.table(name).is_some() && actual.table(old).is_some() && !old.eq_ignore_ascii_case(name) {
                return Err(PlanError::Hint(format!(
                    "table `{name}` has `renamed_from: {old}`, but both `{old}` and `{name}` exist; drop or rename one by hand, or remove the hint"
                )));
            }
        }
        let Some((_, have)) = actual.table(name).or_else(|| t.renamed_from.as_deref().and_then(|o| actual.table(o)))
        else {
            continue;
        };
        for c in &t.columns {
            if let Some(old) = &c.renamed_from {
                if have.column(&c.name).is_some() && have.column(old).is_some() && !old.eq_ignore_ascii_case(&c.name) {
                    return Err(PlanError::Hint(format!(
                        "column `{name}.{}` has `renamed_from: {old}`, but both `{old}` and `{}` exist in the database",
                        c.name, c.name
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Native ALTER steps that take `have` (renames applied) to `want`, or `None`
/// when SQLite needs a rebuild. The flag on each step says whether it drops or
/// renames a column (so views and triggers reading the table must be recreated),
/// or updates rows (so the table's triggers are held off and do not fire).
fn native_steps(
    name: &str,
    have: &Table,
    want: &Table,
    renames: &[(String, String)],
    facts: &Facts,
) -> Option<Vec<(Step, bool)>> {
    let alter = facts.has_alter_constraints();
    if have.primary_key != want.primary_key
        || !same_set(&have.unique, &want.unique)
        || !same_set(&have.foreign_keys, &want.foreign_keys)
        || have.strict != want.strict
        || have.without_rowid != want.without_rowid
    {
        return None;
    }
    // Kept columns must stay in order; new ones may only be appended.
    let kept: Vec<&Column> = want.columns.iter().filter(|c| have.column(&c.name).is_some()).collect();
    let added: Vec<&Column> = want.columns.iter().filter(|c| have.column(&c.name).is_none()).collect();
    if want.columns.iter().take(kept.len()).any(|c| have.column(&c.name).is_none()) {
        return None;
    }
    let have_order: Vec<&Column> = have.columns.iter().filter(|c| want.column(&c.name).is_some()).collect();
    if have_order.iter().zip(&kept).any(|(a, b)| !a.name.eq_ignore_ascii_case(&b.name)) {
        return None;
    }
    let mut out: Vec<(Step, bool)> = Vec::new();
    let t = q(name);
    for (new, old) in renames {
        out.push((
            step(
                StepKind::AlterTable,
                name,
                vec![format!("ALTER TABLE {t} RENAME COLUMN {} TO {}", q(old), q(new))],
                format!("rename column `{name}.{old}` to `{new}`"),
                Risk::Safe,
            ),
            true,
        ));
    }
    let not_null_steps = native_not_null(name, have, &kept, alter)?;
    let (check_drops, check_adds) = native_checks(name, have, want, alter)?;
    let drops = native_drops(name, have, want)?;
    let adds = native_adds(name, &added)?;
    // Indexes are handled by the caller; anything else left over needs a rebuild.
    // Added before dropped: SQLite refuses to drop a table's last column.
    out.extend(check_drops);
    out.extend(adds);
    out.extend(drops);
    out.extend(not_null_steps);
    out.extend(check_adds);
    Some(out)
}

/// Kept columns: identical, or differing only in NOT NULL (3.53+): the SET/DROP NOT NULL steps
/// (a SET with the backfill or default filled first), or `None` when a rebuild is needed.
fn native_not_null(name: &str, have: &Table, kept: &[&Column], alter: bool) -> Option<Vec<(Step, bool)>> {
    let t = q(name);
    let mut not_null_steps = Vec::new();
    for w in kept {
        let h = have.column(&w.name)?;
        let mut h2 = h.clone();
        h2.not_null = w.not_null;
        h2.name = w.name.clone();
        if !same_column(&h2, w) {
            return None;
        }
        if h.not_null != w.not_null {
            if !alter || h.not_null_on_conflict.is_some() || w.not_null_on_conflict.is_some() || w.generated.is_some() {
                return None;
            }
            let c = q(&w.name);
            if w.not_null {
                let mut sqls = Vec::new();
                let mut hints = Vec::new();
                let fill =
                    w.backfill.as_ref().map(|b| (b, "backfill")).or_else(|| w.default.as_ref().map(|d| (d, "default")));
                let mut row_read = None;
                if let Some((e, how)) = fill {
                    let (starts, ends) = fill_ends(name, &w.name);
                    sqls.push(format!("{starts}{e}{ends}"));
                    let role = RowReadRole::Fill { column: w.name.clone() };
                    row_read = Some(RowRead { statement: sqls.len() - 1, table: name.to_string(), role });
                    if how == "backfill" {
                        hints.push(format!("backfill on {name}.{}", w.name));
                    }
                }
                sqls.push(format!("ALTER TABLE {t} ALTER COLUMN {c} SET NOT NULL"));
                let mut s = step(
                    StepKind::AlterTable,
                    name,
                    sqls,
                    format!("column `{name}.{}` becomes NOT NULL", w.name),
                    Risk::DataDependent,
                );
                s.hints = hints;
                s.row_read = row_read;
                not_null_steps.push((s, fill.is_some()));
            } else {
                not_null_steps.push((
                    step(
                        StepKind::AlterTable,
                        name,
                        vec![format!("ALTER TABLE {t} ALTER COLUMN {c} DROP NOT NULL")],
                        format!("column `{name}.{}` becomes nullable", w.name),
                        Risk::Safe,
                    ),
                    false,
                ));
            }
        }
    }
    Some(not_null_steps)
}

/// The native steps that drop CHECKs, and those that add them.
type CheckSteps = (Vec<(Step, bool)>, Vec<(Step, bool)>);

/// CHECKs: equal, or named ones dropped and added natively (3.53+), in an order the native
/// forms give; `None` when a rebuild is needed.
fn native_checks(name: &str, have: &Table, want: &Table, alter: bool) -> Option<CheckSteps> {
    let t = q(name);
    let mut check_drops = Vec::new();
    let mut check_adds = Vec::new();
    if !same_set(&have.checks, &want.checks) {
        if !alter {
            return None;
        }
        for c in &have.checks {
            if !want.checks.contains(c) {
                let n = c.name.as_ref()?;
                check_drops.push((
                    step(
                        StepKind::AlterTable,
                        name,
                        vec![format!("ALTER TABLE {t} DROP CONSTRAINT {}", q(n))],
                        format!("drop CHECK `{n}` of `{name}`"),
                        Risk::Safe,
                    ),
                    false,
                ));
            }
        }
        for c in &want.checks {
            if !have.checks.contains(c) {
                let n = c.name.as_ref()?;
                check_adds.push((
                    step(
                        StepKind::AlterTable,
                        name,
                        vec![format!("ALTER TABLE {t} ADD CONSTRAINT {} CHECK ({})", q(n), c.expr)],
                        format!("add CHECK `{n}` to `{name}`"),
                        Risk::DataDependent,
                    ),
                    false,
                ));
            }
        }
        // The native forms append at the end: only when the desired order matches that.
        let kept_checks: Vec<_> = have.checks.iter().filter(|c| want.checks.contains(c)).collect();
        let expect: Vec<_> =
            kept_checks.into_iter().chain(want.checks.iter().filter(|c| !have.checks.contains(c))).collect();
        if expect.len() != want.checks.len() || expect.iter().zip(&want.checks).any(|(a, b)| *a != b) {
            return None;
        }
    }
    Some((check_drops, check_adds))
}

/// Dropped columns: only where DROP COLUMN is allowed.
fn native_drops(name: &str, have: &Table, want: &Table) -> Option<Vec<(Step, bool)>> {
    let t = q(name);
    let mut drops = Vec::new();
    for h in &have.columns {
        if want.column(&h.name).is_some() {
            continue;
        }
        if !droppable(have, h) {
            return None;
        }
        let risk = if h.generated.is_some() { Risk::Safe } else { Risk::Destructive };
        drops.push((
            step(
                StepKind::AlterTable,
                name,
                vec![format!("ALTER TABLE {t} DROP COLUMN {}", q(&h.name))],
                format!("drop column `{name}.{}`", h.name),
                risk,
            ),
            true,
        ));
    }
    Some(drops)
}

/// Added columns: only within ADD COLUMN's restrictions.
fn native_adds(name: &str, added: &[&Column]) -> Option<Vec<(Step, bool)>> {
    let t = q(name);
    let mut adds = Vec::new();
    for w in added {
        if !addable(w) {
            return None;
        }
        let risk = diff::added_column_risk(w);
        adds.push((
            step(
                StepKind::AlterTable,
                name,
                vec![format!("ALTER TABLE {t} ADD COLUMN {}", ddl::column_def(w))],
                format!("add column `{name}.{}`", w.name),
                risk,
            ),
            false,
        ));
    }
    Some(adds)
}

fn same_column(a: &Column, b: &Column) -> bool {
    let strip = |c: &Column| Column {
        renamed_from: None,
        convert: None,
        backfill: None,
        name: c.name.to_ascii_lowercase(),
        ty: c.ty.as_ref().map(|t| t.to_ascii_uppercase()),
        ..c.clone()
    };
    strip(a) == strip(b)
}

/// Whether SQLite's RENAME COLUMN works on column `old` of `t`. It fails on the
/// key of a WITHOUT ROWID table when that key is one column declared `INTEGER`
/// and a table-level UNIQUE also names it ("error in table t after rename: no
/// such column"): that constraint is not rewritten (SQLite 3.40 to 3.54).
fn renames_natively(t: &Table, old: &str) -> bool {
    let pk = t.primary_key_columns();
    let integer_key = pk.len() == 1
        && pk[0].eq_ignore_ascii_case(old)
        && t.column(old).and_then(|c| c.ty.as_deref()).is_some_and(|ty| ty.eq_ignore_ascii_case("INTEGER"));
    let in_unique =
        t.unique.iter().any(|k| k.columns.iter().any(|c| c.column_name().is_some_and(|n| n.eq_ignore_ascii_case(old))));
    !(t.without_rowid && integer_key && in_unique)
}

/// ALTER TABLE ADD COLUMN's restrictions (lang_altertable §3).
fn addable(c: &Column) -> bool {
    if c.primary_key || c.unique {
        return false;
    }
    if c.generated.as_ref().is_some_and(|g| g.stored) {
        return false;
    }
    if let Some(d) = &c.default {
        if !ddl::is_constant_default(d) {
            return false;
        }
    }
    let null_default = c.default.as_ref().is_none_or(|d| d.canonical() == "null");
    if c.not_null && c.generated.is_none() && null_default {
        return false;
    }
    if c.references.is_some() && !null_default {
        return false;
    }
    // A NOT NULL column with a backfill asks for values a default cannot give.
    if c.not_null && c.backfill.is_some() {
        return false;
    }
    true
}

/// ALTER TABLE DROP COLUMN's restrictions (lang_altertable §4). Indexes on the
/// column are dropped before (they cannot be in the desired schema).
fn droppable(t: &Table, c: &Column) -> bool {
    let n = &c.name;
    if c.primary_key || c.unique || t.primary_key_columns().iter().any(|p| p.eq_ignore_ascii_case(n)) {
        return false;
    }
    if t.unique.iter().any(|k| k.columns.iter().any(|ic| diff::mentions(ic.expr.as_str(), n))) {
        return false;
    }
    if t.checks.iter().any(|ck| diff::mentions(ck.expr.as_str(), n)) {
        return false;
    }
    if c.references.is_some() || t.foreign_keys.iter().any(|fk| fk.columns.iter().any(|x| x.eq_ignore_ascii_case(n))) {
        return false;
    }
    if t.columns.iter().any(|o| o.generated.as_ref().is_some_and(|g| diff::mentions(g.expr.as_str(), n))) {
        return false;
    }
    true
}

/// How the native backfill of `column` in `table` begins and ends, around the fill
/// expression: `UPDATE OR ABORT t SET c = (` ... `) WHERE c IS NULL` (a [`RowReadRole::Fill`]).
fn fill_ends(table: &str, column: &str) -> (String, String) {
    // OR ABORT: a column's own ON CONFLICT (REPLACE, IGNORE) must not decide for the migration.
    (format!("UPDATE OR ABORT {} SET {} = (", q(table), q(column)), format!(") WHERE {} IS NULL", q(column)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(yaml: &str) -> Schema {
        crate::load::desired(&crate::load::load_sources(&[("s.yaml", yaml)]).unwrap()).unwrap()
    }

    /// Every change is served by a step, and a step that serves changes names its own.
    #[test]
    fn steps_name_the_changes_they_serve() {
        let before = schema(
            "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: a, type: TEXT }\nviews:\n  v:\n    sql: SELECT a FROM t\n",
        );
        let after = schema(
            "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: a, type: TEXT, collate: NOCASE }\n      - { name: b, type: TEXT }\n    indexes:\n      t_b: { columns: [b] }\n",
        );
        let p =
            plan(&diff::compare(&before, &after), &Facts { sqlite_version: (3, 54, 0), ..Facts::default() }).unwrap();
        for (i, c) in p.changes.iter().enumerate() {
            assert!(p.steps.iter().any(|s| s.serves.contains(&i)), "no step serves {c}: {:#?}", p.steps);
        }
        let rebuild = p.steps.iter().find(|s| s.kind == StepKind::RebuildTable).unwrap();
        let served: Vec<String> = rebuild.serves.iter().map(|&i| p.changes[i].to_string()).collect();
        assert!(served.iter().any(|c| c.contains("t.a") && c.contains("collation")), "{served:?}");
        assert!(served.iter().any(|c| c.contains("t.b") && c.contains("add")), "{served:?}");
        let index = p.steps.iter().find(|s| s.kind == StepKind::CreateIndex).unwrap();
        assert_eq!(index.serves.len(), 1, "{:#?}", p.changes);
        let drop_view = p.steps.iter().find(|s| s.kind == StepKind::DropView).unwrap();
        assert!(drop_view.serves.iter().all(|&i| p.changes[i].object == "v"));
    }
}
