//! Cascade: what a plan's rebuilt and dropped tables are to the tables that reference them. A
//! rebuild drops the old table, and a `DROP TABLE` with foreign keys on runs an implicit `DELETE`
//! whose `ON DELETE` actions (CASCADE, SET NULL, SET DEFAULT) reach every child row, the most
//! feared SQLite accident. The report lists, for each rebuilt or dropped table, the child tables
//! whose foreign keys reference it, with their actions, their row counts where the database is
//! at hand, and how the plan keeps them safe. Every plan format shows it.

use serde::Serialize;

use crate::engine::{ForeignKeyHold, Sql};
use crate::model::{FkAction, Schema};
use crate::plan::{Plan, StepKind};
use crate::sql::quote_ident_if_needed as q;

/// A rebuilt or dropped table that other tables (or itself) reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parent {
    /// The table.
    pub table: String,
    /// What the plan does to it: `rebuild` or `drop`.
    pub step: &'static str,
    /// The tables whose foreign keys reference it.
    pub children: Vec<Child>,
}

/// A foreign key of a child table to a rebuilt or dropped parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Child {
    /// The child table (the parent itself for a self-reference).
    pub table: String,
    /// Its referencing columns.
    pub columns: Vec<String>,
    /// `ON DELETE`: `cascade`, `set_null`, `set_default`, `restrict` or `no_action`.
    pub on_delete: FkAction,
    /// `ON UPDATE`, the same.
    pub on_update: FkAction,
    /// Its rows now, where the database was read (`None` when planned against no database).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rows: Option<i64>,
    /// How the plan keeps its rows from the parent's drop.
    pub kept_by: Safety,
}

/// How a plan keeps a child's rows from its parent's drop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Safety {
    /// Foreign keys are off in the change's session: the drop acts on no child, and
    /// `foreign_key_check` verifies every reference before COMMIT.
    KeysOff,
    /// Keys stay on (an rqlite node with `-fk`): the child is rebuilt with its parent, every
    /// table of the group renamed away first, keys deferred (see `plan::keys_on`).
    RebuiltWithIt,
    /// Keys stay on: the child is rebuilt without the reference before its parent is dropped.
    RebuiltFirst,
    /// The plan drops the child too.
    DroppedToo,
}

impl Safety {
    /// In words, for the text and markdown formats.
    pub fn describe(self) -> &'static str {
        match self {
            Safety::KeysOff => "foreign keys off during the change, references checked before COMMIT",
            Safety::RebuiltWithIt => "rebuilt with it (keys stay on: renamed away first, keys deferred)",
            Safety::RebuiltFirst => "rebuilt without the reference before the drop",
            Safety::DroppedToo => "dropped too",
        }
    }
}

/// SQL's name of an action.
pub fn action_sql(a: FkAction) -> &'static str {
    match a {
        FkAction::Cascade => "CASCADE",
        FkAction::SetNull => "SET NULL",
        FkAction::SetDefault => "SET DEFAULT",
        FkAction::Restrict => "RESTRICT",
        FkAction::NoAction => "NO ACTION",
    }
}

/// The rebuilt and dropped tables of `plan` (made against `before`, on an engine holding foreign
/// keys as `hold`) that tables of `before` reference, with those references. Row counts are
/// left out; [`count_rows`] reads them.
pub fn of(before: &Schema, plan: &Plan, hold: ForeignKeyHold) -> Vec<Parent> {
    let acted = |kind: StepKind| -> Vec<&str> {
        plan.steps.iter().filter(|s| s.kind == kind).map(|s| s.object.as_str()).collect()
    };
    let (rebuilt, dropped) = (acted(StepKind::RebuildTable), acted(StepKind::DropTable));
    let has = |list: &[&str], name: &str| list.iter().any(|n| n.eq_ignore_ascii_case(name));
    let mut out = Vec::new();
    for (step, parents) in [("rebuild", &rebuilt), ("drop", &dropped)] {
        for parent in parents.iter() {
            let mut children = Vec::new();
            for (name, t) in &before.tables {
                let by_columns = t.columns.iter().filter_map(|c| {
                    let r = c.references.as_ref()?;
                    Some((vec![c.name.clone()], &r.table, r.on_delete, r.on_update))
                });
                let by_keys =
                    t.foreign_keys.iter().map(|f| (f.columns.clone(), &f.references, f.on_delete, f.on_update));
                for (columns, references, on_delete, on_update) in by_columns.chain(by_keys) {
                    if !references.eq_ignore_ascii_case(parent) {
                        continue;
                    }
                    let kept_by = if has(&dropped, name) && !name.eq_ignore_ascii_case(parent) {
                        Safety::DroppedToo
                    } else if hold == ForeignKeyHold::PerSession {
                        Safety::KeysOff
                    } else if step == "rebuild" {
                        Safety::RebuiltWithIt
                    } else {
                        Safety::RebuiltFirst
                    };
                    children.push(Child {
                        table: name.clone(),
                        columns,
                        on_delete: on_delete.unwrap_or(FkAction::NoAction),
                        on_update: on_update.unwrap_or(FkAction::NoAction),
                        rows: None,
                        kept_by,
                    });
                }
            }
            if !children.is_empty() {
                out.push(Parent { table: parent.to_string(), step, children });
            }
        }
    }
    out
}

/// Fills in each child's row count from `db`, in one query.
pub fn count_rows(db: &(impl Sql + ?Sized), parents: &mut [Parent]) -> Result<(), rusqlite::Error> {
    let counts: Vec<String> = parents
        .iter()
        .flat_map(|p| p.children.iter().map(|c| format!("(SELECT count(*) FROM {})", q(&c.table))))
        .collect();
    if counts.is_empty() {
        return Ok(());
    }
    let rows = db.rows(&format!("SELECT {}", counts.join(", ")), &[])?;
    let values = rows.into_iter().next().unwrap_or_default();
    let mut it = values.into_iter();
    for c in parents.iter_mut().flat_map(|p| p.children.iter_mut()) {
        if let Some(rusqlite::types::Value::Integer(n)) = it.next() {
            c.rows = Some(n);
        }
    }
    Ok(())
}
