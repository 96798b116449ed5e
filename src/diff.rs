//! Diff: two inspected `Schema`s → typed `Change`s, each with a `Risk` that follows from
//! what the change is ([`What::risk`]), and the renames, computed once ([`Diff`]).
//!
//! Both sides come from `inspect`, so spelling differences are gone. Renames
//! come only from `renamed_from` hints, never guessed. The words people read
//! (and the JSON formats carry) are the `Display` of the typed change.
//! Invariant: no I/O.

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

/// The kind of object a change is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ObjectKind {
    /// An ordinary table.
    Table,
    /// A column (the object is `table.column`).
    Column,
    /// An index.
    Index,
    /// A view.
    View,
    /// A trigger.
    Trigger,
    /// A virtual table.
    VirtualTable,
}

impl ObjectKind {
    /// Its name in words and in the JSON formats.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Table => "table",
            ObjectKind::Column => "column",
            ObjectKind::Index => "index",
            ObjectKind::View => "view",
            ObjectKind::Trigger => "trigger",
            ObjectKind::VirtualTable => "virtual table",
        }
    }

    fn parse(s: &str) -> Option<ObjectKind> {
        [Self::Table, Self::Column, Self::Index, Self::View, Self::Trigger, Self::VirtualTable]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What changes about an object. Each variant holds what its risk depends on.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// Created.
    Create,
    /// A table dropped with its rows.
    DropTable,
    /// Dropped (a virtual table's rows are lost; a view, trigger or index holds none).
    Drop,
    /// Dropped and created again with another definition (views, triggers, virtual tables).
    Replace,
    /// Renamed by a `renamed_from` hint.
    RenameFrom(String),
    /// A column added; `constrained` when existing rows can fail it (NOT NULL without a value,
    /// CHECK, UNIQUE, REFERENCES).
    AddColumn {
        /// Existing rows can fail it.
        constrained: bool,
    },
    /// A column dropped; a generated one holds no values of its own.
    DropColumn {
        /// It was generated.
        generated: bool,
    },
    /// A column's declared type; `narrowing` when SQLite may rewrite stored values (no `convert`).
    Type {
        /// The type before.
        from: Option<String>,
        /// The type after.
        to: Option<String>,
        /// Stored values may be rewritten.
        narrowing: bool,
    },
    /// A column becomes NOT NULL (`true`) or nullable.
    NotNull(bool),
    /// A column's default.
    Default {
        /// Before, as SQL or `(none)`.
        from: String,
        /// After, as SQL or `(none)`.
        to: String,
    },
    /// A column's collation.
    Collation,
    /// A column's or a table's primary key.
    PrimaryKey,
    /// A column becomes UNIQUE (`true`) or stops being UNIQUE.
    Unique(bool),
    /// A column's CHECKs.
    Check,
    /// A column's REFERENCES.
    References,
    /// A stored column becomes generated: its values are lost.
    BecomesGenerated,
    /// A generated column's expression (or whether it is stored).
    GeneratedExpression,
    /// The order of a table's columns.
    ColumnOrder,
    /// A table's UNIQUE constraints.
    UniqueConstraints,
    /// A table's CHECK constraints; `added` when one is new.
    Checks {
        /// A constraint is new.
        added: bool,
    },
    /// A table's foreign keys; `added` when one is new.
    ForeignKeys {
        /// A key is new.
        added: bool,
    },
    /// A table becomes STRICT (`true`) or stops being STRICT.
    Strict(bool),
    /// A table becomes WITHOUT ROWID (`true`) or gets a rowid.
    WithoutRowid(bool),
    /// An index created on a table.
    CreateIndex {
        /// The table.
        table: String,
        /// A UNIQUE index (existing rows can fail it).
        unique: bool,
    },
    /// An index dropped and created with another definition.
    ReplaceIndex {
        /// A UNIQUE index.
        unique: bool,
    },
    /// A change read back from a stored plan: its words and its risk as recorded.
    Recorded {
        /// The words.
        text: String,
        /// The risk.
        risk: Risk,
    },
}

impl What {
    /// The risk of this change to an object of `kind`.
    pub fn risk(&self, kind: ObjectKind) -> Risk {
        use Risk::*;
        let data_dependent_if = |b: bool| if b { DataDependent } else { Safe };
        match self {
            What::Create | What::RenameFrom(_) | What::Default { .. } | What::GeneratedExpression => Safe,
            What::ColumnOrder => Safe,
            What::DropTable | What::BecomesGenerated => Destructive,
            What::Drop => {
                if kind == ObjectKind::VirtualTable {
                    Destructive
                } else {
                    Safe
                }
            }
            What::Replace => data_dependent_if(kind == ObjectKind::VirtualTable),
            What::AddColumn { constrained } => data_dependent_if(*constrained),
            What::DropColumn { generated } => {
                if *generated {
                    Safe
                } else {
                    Destructive
                }
            }
            What::Type { narrowing, .. } => {
                if *narrowing {
                    Destructive
                } else {
                    DataDependent
                }
            }
            What::NotNull(now) | What::Unique(now) | What::Strict(now) => data_dependent_if(*now),
            What::Collation | What::PrimaryKey | What::Check | What::References => DataDependent,
            What::UniqueConstraints | What::WithoutRowid(_) => DataDependent,
            What::Checks { added } | What::ForeignKeys { added } => data_dependent_if(*added),
            What::CreateIndex { unique, .. } | What::ReplaceIndex { unique } => data_dependent_if(*unique),
            What::Recorded { risk, .. } => *risk,
        }
    }

    /// Whether the change is to a column's own definition that `convert` is for (its type, or
    /// its generated expression): only then does a rebuild run the column's `convert`.
    pub fn converts(&self) -> bool {
        matches!(self, What::Type { .. } | What::GeneratedExpression)
    }
}

impl fmt::Display for What {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let or_none = |t: &Option<String>| t.clone().unwrap_or_else(|| "(none)".to_string());
        match self {
            What::Create => f.write_str("create"),
            What::DropTable => f.write_str("drop (its rows are lost)"),
            What::Drop => f.write_str("drop"),
            What::Replace | What::ReplaceIndex { .. } => f.write_str("replace (definition changed)"),
            What::RenameFrom(old) => write!(f, "rename from `{old}`"),
            What::AddColumn { .. } => f.write_str("add"),
            What::DropColumn { .. } => f.write_str("drop (its values are lost)"),
            What::Type { from, to, .. } => write!(f, "type {} → {}", or_none(from), or_none(to)),
            What::NotNull(true) => f.write_str("becomes NOT NULL"),
            What::NotNull(false) => f.write_str("becomes nullable"),
            What::Default { from, to } => write!(f, "default {from} → {to}"),
            What::Collation => f.write_str("collation changes"),
            What::PrimaryKey => f.write_str("primary key changes"),
            What::Unique(true) => f.write_str("becomes UNIQUE"),
            What::Unique(false) => f.write_str("stops being UNIQUE"),
            What::Check => f.write_str("CHECK changes"),
            What::References => f.write_str("REFERENCES changes"),
            What::BecomesGenerated => f.write_str("becomes generated (its stored values are lost)"),
            What::GeneratedExpression => f.write_str("generated expression changes"),
            What::ColumnOrder => f.write_str("column order changes"),
            What::UniqueConstraints => f.write_str("UNIQUE constraints change"),
            What::Checks { .. } => f.write_str("CHECK constraints change"),
            What::ForeignKeys { .. } => f.write_str("foreign keys change"),
            What::Strict(true) => f.write_str("becomes STRICT"),
            What::Strict(false) => f.write_str("stops being STRICT"),
            What::WithoutRowid(true) => f.write_str("becomes WITHOUT ROWID"),
            What::WithoutRowid(false) => f.write_str("gets a rowid"),
            What::CreateIndex { table, .. } => write!(f, "create on `{table}`"),
            What::Recorded { text, .. } => f.write_str(text),
        }
    }
}

/// One difference between the actual and the desired schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The object's kind.
    pub kind: ObjectKind,
    /// The object's name (`table.column` for columns).
    pub object: String,
    /// What changes.
    pub what: What,
}

impl Change {
    /// A change of `object` (of `kind`).
    pub fn new(kind: ObjectKind, object: impl Into<String>, what: What) -> Change {
        Change { kind, object: object.into(), what }
    }

    /// Its risk, from what it is.
    pub fn risk(&self) -> Risk {
        self.what.risk(self.kind)
    }

    /// This change, read as a difference found in a database: `self` leads from the schema a
    /// plan expected to the one found, and is told from the database's side ("the database now
    /// has table `jobs`, which the plan did not expect").
    pub fn as_found(&self) -> String {
        let (kind, o) = (self.kind.as_str(), &self.object);
        match &self.what {
            What::Create | What::AddColumn { .. } | What::CreateIndex { .. } => {
                format!("the database now has {kind} `{o}`, which the plan did not expect")
            }
            What::Drop | What::DropTable | What::DropColumn { .. } => {
                format!("the database no longer has {kind} `{o}`, which the plan expected")
            }
            What::Type { from, to, .. } => format!(
                "{kind} `{o}` is now of type {}, where the plan expected {}",
                to.as_deref().unwrap_or("(none)"),
                from.as_deref().unwrap_or("(none)")
            ),
            What::NotNull(now) => {
                let (is, was) = if *now { ("NOT NULL", "nullable") } else { ("nullable", "NOT NULL") };
                format!("{kind} `{o}` is now {is}, where the plan expected it {was}")
            }
            What::Replace | What::ReplaceIndex { .. } => {
                format!("{kind} `{o}` has another definition in the database than the plan expected")
            }
            what => format!("{kind} `{o}` differs in the database from what the plan expected ({what})"),
        }
    }

    /// The table the change belongs to: the table itself, or a column's table.
    pub fn table(&self) -> Option<&str> {
        match self.kind {
            ObjectKind::Table => Some(&self.object),
            ObjectKind::Column => self.object.split_once('.').map(|(t, _)| t),
            _ => None,
        }
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`: {} [{}]", self.kind.as_str(), self.object, self.what, self.risk())
    }
}

/// The JSON (and stored) form: `{kind, object, what, risk}`, the words of the typed change.
#[derive(Serialize, Deserialize)]
struct ChangeRecord {
    kind: String,
    object: String,
    what: String,
    risk: Risk,
}

impl Serialize for Change {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ChangeRecord {
            kind: self.kind.as_str().to_string(),
            object: self.object.clone(),
            what: self.what.to_string(),
            risk: self.risk(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Change {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = ChangeRecord::deserialize(d)?;
        let kind = ObjectKind::parse(&r.kind)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown kind of change `{}`", r.kind)))?;
        Ok(Change { kind, object: r.object, what: What::Recorded { text: r.what, risk: r.risk } })
    }
}

fn change(kind: ObjectKind, object: impl Into<String>, what: What) -> Change {
    Change::new(kind, object, what)
}

/// The differences between two schemas with the renames that lead from one to the other:
/// what the planner works from.
#[derive(Debug, Clone)]
pub struct Diff<'a> {
    /// The actual schema.
    pub actual: &'a Schema,
    /// The desired schema.
    pub desired: &'a Schema,
    /// The actual schema with the desired schema's renames applied.
    pub renamed: Renamed<'a>,
    /// Every difference, in a stable order.
    pub changes: Vec<Change>,
}

/// Compares `actual` with `desired`: the renames, once, and every difference.
pub fn compare<'a>(actual: &'a Schema, desired: &'a Schema) -> Diff<'a> {
    let renamed = apply_renames(actual, desired);
    let changes = changes(&renamed, desired);
    Diff { actual, desired, renamed, changes }
}

/// Every difference between `actual` and `desired`, in a stable order.
pub fn diff(actual: &Schema, desired: &Schema) -> Vec<Change> {
    compare(actual, desired).changes
}

fn changes(renamed: &Renamed<'_>, desired: &Schema) -> Vec<Change> {
    let mut out = Vec::new();
    for (name, want) in &desired.tables {
        match renamed.schema.tables.get(name) {
            None => out.push(change(ObjectKind::Table, name, What::Create)),
            Some(have) => {
                if let Some(old) = renamed.tables.get(name) {
                    out.push(change(ObjectKind::Table, name, What::RenameFrom(old.clone())));
                }
                for (new, old) in renamed.columns.get(name).into_iter().flatten() {
                    out.push(change(ObjectKind::Column, format!("{name}.{new}"), What::RenameFrom(old.clone())));
                }
                diff_table(&mut out, name, have, want);
            }
        }
    }
    for name in renamed.schema.tables.keys() {
        if !desired.tables.contains_key(name) {
            out.push(change(ObjectKind::Table, name, What::DropTable));
        }
    }
    let actual = &renamed.schema;
    diff_named(&mut out, ObjectKind::VirtualTable, &actual.virtual_tables, &desired.virtual_tables);
    diff_named(&mut out, ObjectKind::View, &actual.views, &desired.views);
    diff_named(&mut out, ObjectKind::Trigger, &actual.triggers, &desired.triggers);
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
    kind: ObjectKind,
    have: &std::collections::BTreeMap<String, V>,
    want: &std::collections::BTreeMap<String, V>,
) {
    for (name, w) in want {
        match have.get(name) {
            None => out.push(change(kind, name, What::Create)),
            Some(h) if h != w => out.push(change(kind, name, What::Replace)),
            Some(_) => {}
        }
    }
    for name in have.keys() {
        if !want.contains_key(name) {
            out.push(change(kind, name, What::Drop));
        }
    }
}

fn diff_table(out: &mut Vec<Change>, name: &str, have: &Table, want: &Table) {
    for c in &want.columns {
        let obj = format!("{name}.{}", c.name);
        match have.column(&c.name) {
            None => out.push(change(
                ObjectKind::Column,
                obj,
                What::AddColumn { constrained: added_column_risk(c) == Risk::DataDependent },
            )),
            Some(old) => {
                for what in column_differences(old, c) {
                    out.push(change(ObjectKind::Column, &obj, what));
                }
            }
        }
    }
    for c in &have.columns {
        if want.column(&c.name).is_none() {
            let what = What::DropColumn { generated: c.generated.is_some() };
            out.push(change(ObjectKind::Column, format!("{name}.{}", c.name), what));
        }
    }
    let tbl = |what: What| change(ObjectKind::Table, name, what);
    let want_order: Vec<String> =
        want.columns.iter().filter(|c| have.column(&c.name).is_some()).map(|c| c.name.to_ascii_lowercase()).collect();
    let have_order: Vec<String> =
        have.columns.iter().map(|c| c.name.to_ascii_lowercase()).filter(|n| want_order.contains(n)).collect();
    if want_order != have_order {
        out.push(tbl(What::ColumnOrder));
    }
    if have.primary_key != want.primary_key {
        out.push(tbl(What::PrimaryKey));
    }
    if !same_set(&have.unique, &want.unique) {
        out.push(tbl(What::UniqueConstraints));
    }
    if !same_set(&have.checks, &want.checks) {
        out.push(tbl(What::Checks { added: want.checks.iter().any(|c| !have.checks.contains(c)) }));
    }
    if !same_set(&have.foreign_keys, &want.foreign_keys) {
        out.push(tbl(What::ForeignKeys { added: want.foreign_keys.iter().any(|c| !have.foreign_keys.contains(c)) }));
    }
    if have.strict != want.strict {
        out.push(tbl(What::Strict(want.strict)));
    }
    if have.without_rowid != want.without_rowid {
        out.push(tbl(What::WithoutRowid(want.without_rowid)));
    }
    for (iname, wi) in &want.indexes {
        match have.indexes.get(iname) {
            None => out.push(change(
                ObjectKind::Index,
                iname,
                What::CreateIndex { table: name.to_string(), unique: wi.unique },
            )),
            Some(hi) if !same_index(hi, wi) => {
                out.push(change(ObjectKind::Index, iname, What::ReplaceIndex { unique: wi.unique }))
            }
            Some(_) => {}
        }
    }
    for iname in have.indexes.keys() {
        if !want.indexes.contains_key(iname) {
            out.push(change(ObjectKind::Index, iname, What::Drop));
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

/// The differences between two versions of one column.
pub fn column_differences(old: &Column, new: &Column) -> Vec<What> {
    let mut out = Vec::new();
    let ty = |c: &Column| c.ty.as_deref().map(|t| t.to_ascii_uppercase());
    if ty(old) != ty(new) {
        let narrowing = new.convert.is_none() && is_narrowing(old.ty.as_deref(), new.ty.as_deref());
        out.push(What::Type { from: old.ty.clone(), to: new.ty.clone(), narrowing });
    }
    if old.not_null != new.not_null || old.not_null_on_conflict != new.not_null_on_conflict {
        out.push(What::NotNull(new.not_null));
    }
    if old.default != new.default {
        out.push(What::Default { from: show(&old.default), to: show(&new.default) });
    }
    if old.collate.as_deref().map(str::to_ascii_lowercase) != new.collate.as_deref().map(str::to_ascii_lowercase) {
        out.push(What::Collation);
    }
    if old.primary_key != new.primary_key
        || old.primary_key_order != new.primary_key_order
        || old.primary_key_on_conflict != new.primary_key_on_conflict
        || old.autoincrement != new.autoincrement
    {
        out.push(What::PrimaryKey);
    }
    if old.unique != new.unique || old.unique_on_conflict != new.unique_on_conflict {
        out.push(What::Unique(new.unique));
    }
    if old.checks != new.checks {
        out.push(What::Check);
    }
    if old.references != new.references {
        out.push(What::References);
    }
    if old.generated.is_none() && new.generated.is_some() {
        // Its stored values give way to computed ones.
        out.push(What::BecomesGenerated);
    } else if old.generated != new.generated {
        out.push(What::GeneratedExpression);
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
