//! Model: the one `Schema` type for desired (YAML) and actual (inspected) schemas.
//!
//! Plain values with serde and schemars derives; the YAML format is these types.
//! Invariant: no I/O here. Equality of expressions is by tokens (`Expr`), so
//! quoting, keyword case, whitespace and redundant outer parentheses never count.
//! Migration hints (`renamed_from`, `convert`, `backfill`) live on the same
//! values but are not part of the schema: `Schema::without_hints` drops them.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlite3_parser::dialect::TokenType;

use crate::sql;

/// A whole database schema: the objects `reconcile` manages. In YAML, the
/// top level of each file in the schema directory; the files are merged and
/// each object is declared in exactly one of them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Ordinary tables, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(example = serde_json::json!({"jobs": {"columns": [{"name": "id", "type": "INTEGER", "primary_key": true}]}}))]
    pub tables: BTreeMap<String, Table>,
    /// Virtual tables (FTS5 and others), by name. Described by their whole
    /// CREATE statement; created and dropped, never rebuilt.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(example = serde_json::json!({"jobs_fts": {"sql": "CREATE VIRTUAL TABLE jobs_fts USING fts5(title, content='jobs', content_rowid='id')"}}))]
    pub virtual_tables: BTreeMap<String, VirtualTable>,
    /// Triggers, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(example = serde_json::json!({"jobs_touch": {"sql": "CREATE TRIGGER jobs_touch AFTER UPDATE OF title ON jobs BEGIN UPDATE jobs SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id; END"}}))]
    pub triggers: BTreeMap<String, Trigger>,
    /// Views, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(example = serde_json::json!({"queued_jobs": {"sql": "SELECT id, title FROM jobs WHERE status = 'queued'"}}))]
    pub views: BTreeMap<String, View>,
    /// SQL functions the application registers on its own connections, by name,
    /// that views, triggers or expressions call. Not database objects: `reconcile`
    /// gives each a stand-in (returning NULL) on its scratch databases so that the
    /// views and triggers calling it can be checked there, and never runs one on
    /// the database. Like the migration hints, not part of the schema.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(example = serde_json::json!({"user_setting": {"args": 1}}))]
    pub functions: BTreeMap<String, Function>,
}

/// An application SQL function: how many arguments it takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Function {
    /// The number of arguments (0 to 127); omitted, any number.
    #[schemars(example = &1)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<u8>,
}

/// An ordinary table (not a virtual table).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Migration hint: the table's previous name. Acts only while the old
    /// name exists and this one does not.
    #[schemars(example = &"job")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// Columns in order; the order is part of the schema.
    #[schemars(example = serde_json::json!([{"name": "id", "type": "INTEGER", "primary_key": true}, {"name": "title", "type": "TEXT", "not_null": true}]))]
    pub columns: Vec<Column>,
    /// Table-level PRIMARY KEY, for composite keys (or a named/ordered one).
    /// Written as a list of column names, or as `{name, columns, on_conflict}`.
    #[schemars(example = serde_json::json!(["job_id", "tag_id"]))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key: Option<Key>,
    /// Table-level UNIQUE constraints, each a list of columns or `{name, columns, on_conflict}`.
    #[schemars(example = serde_json::json!([["owner_id", "name"], {"name": "uq_jobs_slug", "columns": ["project_id", "slug COLLATE NOCASE"], "on_conflict": "replace"}]))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unique: Vec<Key>,
    /// Table-level CHECK constraints.
    #[schemars(example = serde_json::json!([{"name": "job_runs_finished_ck", "expr": "finished_at IS NULL OR finished_at >= started_at"}]))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// Table-level FOREIGN KEY constraints (composite or named ones).
    #[schemars(example = serde_json::json!([{"name": "fk_run_job", "columns": ["project_id", "job_no"], "references": "jobs", "referenced_columns": ["project_id", "no"], "on_delete": "cascade"}]))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_keys: Vec<ForeignKey>,
    /// `STRICT` table.
    #[schemars(example = true)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub strict: bool,
    /// `WITHOUT ROWID` table.
    #[schemars(example = true)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub without_rowid: bool,
    /// Indexes on this table, by name (index names are unique in the database).
    #[schemars(example = serde_json::json!({"ix_jobs_queue": {"columns": ["priority DESC", "created_at"], "where": "status = 'queued'"}}))]
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub indexes: BTreeMap<String, Index>,
}

/// A column of a table. A table's columns are a list: their order is part of the schema.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// Column name.
    #[schemars(example = &"created_at")]
    pub name: String,
    /// Declared type, free text as SQLite allows (`TEXT`, `VARCHAR(255)`), or none. One quoted
    /// token (`'"my type"'`) stands for its text without the quotes, as SQLite reads it.
    #[schemars(example = &"VARCHAR(255)")]
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub ty: Option<String>,
    /// Column-level PRIMARY KEY.
    #[schemars(example = true)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub primary_key: bool,
    /// Sort order of a column-level PRIMARY KEY (`desc`); ascending when absent.
    #[schemars(example = &"desc")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key_order: Option<SortOrder>,
    /// ON CONFLICT clause of a column-level PRIMARY KEY.
    #[schemars(example = &"replace")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_key_on_conflict: Option<Conflict>,
    /// AUTOINCREMENT (only on an INTEGER PRIMARY KEY).
    #[schemars(example = true)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub autoincrement: bool,
    /// NOT NULL.
    #[schemars(example = true)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub not_null: bool,
    /// ON CONFLICT clause of NOT NULL.
    #[schemars(example = &"ignore")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_null_on_conflict: Option<Conflict>,
    /// Column-level UNIQUE.
    #[schemars(example = true)]
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    /// ON CONFLICT clause of a column-level UNIQUE.
    #[schemars(example = &"replace")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_on_conflict: Option<Conflict>,
    /// DEFAULT: an SQL literal or expression, e.g. `'QUEUED'`, `0`, `CURRENT_TIMESTAMP`.
    #[schemars(example = &"'queued'")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Expr>,
    /// COLLATE name (`NOCASE`, `RTRIM`, `BINARY` or an application collation).
    #[schemars(example = &"NOCASE")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collate: Option<String>,
    /// Column-level CHECK constraints.
    #[schemars(example = serde_json::json!([{"name": "jobs_status_ck", "expr": "status IN ('queued', 'done')"}]))]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub checks: Vec<Check>,
    /// Column-level REFERENCES clause.
    #[schemars(example = serde_json::json!({"table": "projects", "column": "id", "on_delete": "cascade"}))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<References>,
    /// GENERATED ALWAYS AS (expr) VIRTUAL or STORED.
    #[schemars(example = serde_json::json!({"expr": "price_cents * quantity", "stored": true}))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<Generated>,
    /// Migration hint: the column's previous name.
    #[schemars(example = &"url")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_from: Option<String>,
    /// Migration hint: expression that computes this column from the old row,
    /// used only when this column's own definition changes in a plan.
    #[schemars(example = &"CASE explicit WHEN 'YES' THEN 1 ELSE 0 END")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub convert: Option<Expr>,
    /// Migration hint: value for NULLs when the column becomes NOT NULL.
    #[schemars(example = &"'unknown@example.com'")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backfill: Option<Expr>,
}

/// A PRIMARY KEY or UNIQUE constraint over one or more columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Key {
    /// Constraint name (`CONSTRAINT name`).
    pub name: Option<String>,
    /// Key columns, each a column name optionally followed by `COLLATE x` and `ASC`/`DESC`.
    pub columns: Vec<IndexedColumn>,
    /// ON CONFLICT clause.
    pub on_conflict: Option<Conflict>,
}

impl JsonSchema for Key {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Key".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // Two YAML shapes: the short list of terms, or a map when the key has a name or a conflict clause.
        let terms = generator.subschema_for::<Vec<IndexedColumn>>();
        let conflict = generator.subschema_for::<Conflict>();
        schemars::json_schema!({
            "description": "A PRIMARY KEY or UNIQUE constraint: a list of terms (`[job_id, tag_id]`), or a map with `columns` when it has a name or an ON CONFLICT clause.",
            "anyOf": [
                terms,
                {
                    "type": "object",
                    "properties": {
                        "columns": {
                            "description": "Key columns, each a column name optionally followed by `COLLATE x` and `ASC`/`DESC`.",
                            "type": "array",
                            "items": generator.subschema_for::<IndexedColumn>(),
                            "examples": [["project_id", "slug COLLATE NOCASE"]]
                        },
                        "name": {
                            "description": "Constraint name (`CONSTRAINT name`).",
                            "type": "string",
                            "examples": ["uq_jobs_slug"]
                        },
                        "on_conflict": {
                            "description": "ON CONFLICT clause.",
                            "allOf": [conflict],
                            "examples": ["replace"]
                        }
                    },
                    "required": ["columns"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFull {
    #[serde(default)]
    name: Option<String>,
    columns: Vec<IndexedColumn>,
    #[serde(default)]
    on_conflict: Option<Conflict>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum KeyRepr {
    Short(Vec<IndexedColumn>),
    Full(KeyFull),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match KeyRepr::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a list of column names or a map with `columns` (and optional `name`, `on_conflict`)",
            )
        })? {
            KeyRepr::Short(columns) => Ok(Key { name: None, columns, on_conflict: None }),
            KeyRepr::Full(k) => Ok(Key { name: k.name, columns: k.columns, on_conflict: k.on_conflict }),
        }
    }
}

#[derive(Serialize)]
struct KeyOut<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: &'a Option<String>,
    columns: &'a [IndexedColumn],
    #[serde(skip_serializing_if = "Option::is_none")]
    on_conflict: &'a Option<Conflict>,
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The short form, a list of terms, whenever nothing else is set.
        if self.name.is_none() && self.on_conflict.is_none() {
            self.columns.serialize(s)
        } else {
            KeyOut { name: &self.name, columns: &self.columns, on_conflict: &self.on_conflict }.serialize(s)
        }
    }
}

/// One term of an index or key: a column or an expression, with collation and order.
/// Written in YAML as SQL: `created_at`, `created_at DESC`, `lower(title)`, `name COLLATE NOCASE`.
#[derive(Debug, Clone, PartialEq, JsonSchema)]
#[schemars(with = "String")]
pub struct IndexedColumn {
    /// The column name or expression.
    pub expr: Expr,
    /// COLLATE name.
    pub collate: Option<String>,
    /// ASC or DESC when given.
    pub order: Option<SortOrder>,
}

impl IndexedColumn {
    /// Parses an index or key term: `expr [COLLATE name] [ASC|DESC]`.
    pub fn parse(text: &str) -> Result<IndexedColumn, String> {
        let toks = sql::tokens(text).map_err(|e| format!("`{text}`: {e}"))?;
        if toks.is_empty() {
            return Err("an empty index term".to_string());
        }
        let mut end = toks.len();
        let mut order = None;
        match toks[end - 1].ty {
            TokenType::TK_ASC => {
                order = Some(SortOrder::Asc);
                end -= 1;
            }
            TokenType::TK_DESC => {
                order = Some(SortOrder::Desc);
                end -= 1;
            }
            _ => {}
        }
        let mut collate = None;
        if end >= 3 && toks[end - 2].ty == TokenType::TK_COLLATE {
            collate = Some(sql::collation(&sql::unquote(toks[end - 1].text)));
            end -= 2;
        }
        if end == 0 {
            return Err(format!("`{text}`: no column or expression before the ordering"));
        }
        let expr_text = &text[toks[0].start..toks[end - 1].end];
        sql::check_expression(expr_text).map_err(|e| format!("`{text}`: {e}"))?;
        Ok(IndexedColumn { expr: Expr::new(expr_text), collate, order })
    }

    /// A bare column term.
    pub fn column(name: &str) -> Self {
        IndexedColumn { expr: Expr::new(sql::quote_ident_if_needed(name)), collate: None, order: None }
    }

    /// The column name when the term is a single identifier.
    pub fn column_name(&self) -> Option<String> {
        sql::single_identifier(self.expr.as_str())
    }
}

impl fmt::Display for IndexedColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expr.as_str())?;
        if let Some(c) = &self.collate {
            write!(f, " COLLATE {}", sql::quote_ident_if_needed(c))?;
        }
        match self.order {
            Some(SortOrder::Asc) => f.write_str(" ASC"),
            Some(SortOrder::Desc) => f.write_str(" DESC"),
            None => Ok(()),
        }
    }
}

impl Serialize for IndexedColumn {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // A bare column shows as its name, quoted only when it must be (`"group"`, `"my col"`).
        // A name written in double quotes keeps them: when no column has it, SQLite reads it
        // as a string, which the bare name would not be.
        let double_quoted = self.expr.as_str().starts_with('"');
        match (self.column_name(), &self.collate, self.order) {
            (Some(name), None, None) if !double_quoted => s.serialize_str(&sql::quote_ident_if_needed(&name)),
            _ => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for IndexedColumn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        IndexedColumn::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// ASC or DESC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortOrder {
    /// ASC
    Asc,
    /// DESC
    Desc,
}

/// An ON CONFLICT resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    /// ROLLBACK
    Rollback,
    /// ABORT
    Abort,
    /// FAIL
    Fail,
    /// IGNORE
    Ignore,
    /// REPLACE
    Replace,
}

impl Conflict {
    /// The SQL keyword.
    pub fn sql(self) -> &'static str {
        match self {
            Conflict::Rollback => "ROLLBACK",
            Conflict::Abort => "ABORT",
            Conflict::Fail => "FAIL",
            Conflict::Ignore => "IGNORE",
            Conflict::Replace => "REPLACE",
        }
    }
}

/// A CHECK constraint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Constraint name (`CONSTRAINT name CHECK (...)`).
    #[schemars(example = &"jobs_status_ck")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The boolean SQL expression.
    #[schemars(example = &"attempt >= 1")]
    pub expr: Expr,
}

/// A column-level REFERENCES clause.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct References {
    /// Constraint name (`CONSTRAINT name REFERENCES ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"fk_jobs_project")]
    pub name: Option<String>,
    /// Parent table; it must be declared in the schema.
    #[schemars(example = &"projects")]
    pub table: String,
    /// Parent column; the parent's primary key when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"id")]
    pub column: Option<String>,
    /// ON DELETE action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"cascade")]
    pub on_delete: Option<FkAction>,
    /// ON UPDATE action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"set_null")]
    pub on_update: Option<FkAction>,
    /// `DEFERRABLE INITIALLY DEFERRED`: the reference is checked at COMMIT.
    #[serde(default, skip_serializing_if = "is_false")]
    #[schemars(example = true)]
    pub deferred: bool,
}

/// A table-level FOREIGN KEY constraint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForeignKey {
    /// Constraint name (`CONSTRAINT name FOREIGN KEY ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"fk_run_job")]
    pub name: Option<String>,
    /// Child columns in this table.
    #[schemars(example = ["project_id", "job_no"])]
    pub columns: Vec<String>,
    /// Parent table; it must be declared in the schema.
    #[schemars(example = &"jobs")]
    pub references: String,
    /// Parent columns, as many as `columns`; the parent's primary key when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(example = ["project_id", "no"])]
    pub referenced_columns: Vec<String>,
    /// ON DELETE action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"cascade")]
    pub on_delete: Option<FkAction>,
    /// ON UPDATE action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"cascade")]
    pub on_update: Option<FkAction>,
    /// `DEFERRABLE INITIALLY DEFERRED`: the reference is checked at COMMIT.
    #[serde(default, skip_serializing_if = "is_false")]
    #[schemars(example = true)]
    pub deferred: bool,
}

/// A foreign-key action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FkAction {
    /// SET NULL
    SetNull,
    /// SET DEFAULT
    SetDefault,
    /// CASCADE
    Cascade,
    /// RESTRICT
    Restrict,
    /// NO ACTION
    NoAction,
}

impl FkAction {
    /// The SQL words.
    pub fn sql(self) -> &'static str {
        match self {
            FkAction::SetNull => "SET NULL",
            FkAction::SetDefault => "SET DEFAULT",
            FkAction::Cascade => "CASCADE",
            FkAction::Restrict => "RESTRICT",
            FkAction::NoAction => "NO ACTION",
        }
    }
}

/// A generated column's expression and storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Generated {
    /// The expression, over other columns of the same row.
    #[schemars(example = &"price_cents * quantity")]
    pub expr: Expr,
    /// STORED when true, VIRTUAL otherwise.
    #[serde(default, skip_serializing_if = "is_false")]
    #[schemars(example = true)]
    pub stored: bool,
}

/// An index of a table, by name; index names are unique in the whole database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Indexed terms in order: column names or expressions, each optionally
    /// followed by `COLLATE x` and `ASC`/`DESC`. At least one.
    #[schemars(example = ["priority DESC", "created_at"])]
    pub columns: Vec<IndexedColumn>,
    /// UNIQUE index.
    #[serde(default, skip_serializing_if = "is_false")]
    #[schemars(example = true)]
    pub unique: bool,
    /// Partial index condition: only rows where it is true are indexed.
    #[serde(rename = "where", default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"status = 'queued'")]
    pub where_: Option<Expr>,
    /// Migration hint: the index's previous name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(example = &"ix_jobs_waiting")]
    pub renamed_from: Option<String>,
}

/// A trigger, as its whole CREATE TRIGGER statement: any timing (BEFORE,
/// AFTER, INSTEAD OF on a view), event (INSERT, DELETE, UPDATE, UPDATE OF
/// columns) and WHEN clause.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// `CREATE TRIGGER name ... ON table ... BEGIN ... END`; `name` must be the
    /// key, `table` a table or view of the schema.
    #[schemars(example = &"CREATE TRIGGER jobs_touch AFTER UPDATE OF title ON jobs BEGIN UPDATE jobs SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id; END")]
    pub sql: String,
}

/// A view, as its SELECT (or its whole CREATE VIEW statement, for a column list).
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct View {
    /// The SELECT statement, or the whole `CREATE VIEW name(columns) AS SELECT ...`
    /// to name the view's columns (`name` must then be the key).
    #[schemars(example = &"SELECT id, title FROM jobs WHERE status = 'queued'")]
    pub sql: String,
}

/// A virtual table (FTS5 and others), as its whole CREATE VIRTUAL TABLE
/// statement. Created and dropped, never rebuilt; its shadow tables are not
/// part of the schema.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VirtualTable {
    /// `CREATE VIRTUAL TABLE name USING module(args)`; `name` must be the key.
    #[schemars(example = &"CREATE VIRTUAL TABLE jobs_fts USING fts5(title, content='jobs', content_rowid='id')")]
    pub sql: String,
}

impl PartialEq for Trigger {
    fn eq(&self, other: &Self) -> bool {
        sql::canonical(&self.sql) == sql::canonical(&other.sql)
    }
}

impl PartialEq for View {
    fn eq(&self, other: &Self) -> bool {
        sql::canonical(&sql::view_create_sql("v", &self.sql)) == sql::canonical(&sql::view_create_sql("v", &other.sql))
    }
}

impl PartialEq for VirtualTable {
    fn eq(&self, other: &Self) -> bool {
        sql::canonical(&self.sql) == sql::canonical(&other.sql)
    }
}

/// An SQL expression kept as written; equality is by canonical tokens.
#[derive(Clone)]
pub struct Expr {
    text: String,
    canon: String,
}

impl Expr {
    /// An expression from its SQL text.
    pub fn new(text: impl Into<String>) -> Self {
        let text = text.into();
        let canon = sql::canonical(&text);
        Expr { text, canon }
    }
    /// The text as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
    /// The canonical token form used for comparison.
    pub fn canonical(&self) -> &str {
        &self.canon
    }
}

impl JsonSchema for Expr {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Expr".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // YAML numbers and booleans are accepted too (see `Deserialize` below).
        schemars::json_schema!({
            "description": "One SQL expression, as text: no `;`, balanced parentheses. Compared by tokens, so quoting, keyword case, whitespace and redundant outer parentheses never count; literals do (`'0'` is not `0`). A YAML number or boolean is taken as its SQL literal (`true` is 1).",
            "type": ["string", "number", "boolean"]
        })
    }
}

impl PartialEq for Expr {
    fn eq(&self, other: &Self) -> bool {
        self.canon == other.canon
    }
}

impl fmt::Debug for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Expr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // YAML scalars such as `0` or `true` arrive as numbers or booleans; keep their text.
        let v = serde_yaml::Value::deserialize(d)?;
        let text = match v {
            serde_yaml::Value::String(s) => s,
            serde_yaml::Value::Number(n) => n.to_string(),
            serde_yaml::Value::Bool(b) => if b { "1" } else { "0" }.to_string(),
            _ => return Err(serde::de::Error::custom("expected an SQL expression as a string")),
        };
        Ok(Expr::new(text))
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Schema {
    /// The same schema with every migration hint removed.
    pub fn without_hints(&self) -> Schema {
        let mut s = self.clone();
        for t in s.tables.values_mut() {
            t.renamed_from = None;
            for c in &mut t.columns {
                c.renamed_from = None;
                c.convert = None;
                c.backfill = None;
            }
            for i in t.indexes.values_mut() {
                i.renamed_from = None;
            }
        }
        s.functions.clear();
        s
    }

    /// Finds a table by name, case-insensitively as SQLite does.
    pub fn table(&self, name: &str) -> Option<(&String, &Table)> {
        self.tables.get_key_value(name).or_else(|| self.tables.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)))
    }

    /// Every index in the schema with its table: (index name, table name, index).
    pub fn indexes(&self) -> impl Iterator<Item = (&String, &String, &Index)> {
        self.tables.iter().flat_map(|(t, table)| table.indexes.iter().map(move |(n, i)| (n, t, i)))
    }

    /// Whether the schema declares nothing.
    pub fn is_empty(&self) -> bool {
        self.tables.is_empty() && self.virtual_tables.is_empty() && self.triggers.is_empty() && self.views.is_empty()
    }
}

impl Table {
    /// Finds a column by name, case-insensitively.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// The primary-key column names, in key order (empty for a rowid table without one).
    pub fn primary_key_columns(&self) -> Vec<String> {
        if let Some(pk) = &self.primary_key {
            return pk.columns.iter().filter_map(|c| c.column_name()).collect();
        }
        self.columns.iter().filter(|c| c.primary_key).map(|c| c.name.clone()).collect()
    }

    /// Whether the table has an INTEGER PRIMARY KEY that aliases the rowid.
    pub fn has_rowid_alias(&self) -> bool {
        if self.without_rowid {
            return false;
        }
        let pk = self.primary_key_columns();
        if pk.len() != 1 {
            return false;
        }
        let Some(col) = self.column(&pk[0]) else { return false };
        let integer = col.ty.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("INTEGER"));
        // `INTEGER PRIMARY KEY DESC` written on the column is the documented exception.
        let desc_quirk = col.primary_key && col.primary_key_order == Some(SortOrder::Desc);
        integer && !desc_quirk
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexed_terms() {
        let t = IndexedColumn::parse("created_at DESC").unwrap();
        assert_eq!(t.column_name().as_deref(), Some("created_at"));
        assert_eq!(t.order, Some(SortOrder::Desc));
        let t = IndexedColumn::parse("lower(title) COLLATE nocase").unwrap();
        assert_eq!(t.column_name(), None);
        assert_eq!(t.collate.as_deref(), Some("NOCASE"));
        assert!(IndexedColumn::parse("a); DROP TABLE x; --").is_err());
    }
}
