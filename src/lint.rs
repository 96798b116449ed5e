//! Lints: things SQLite accepts that are probably not what was meant.
//!
//! Each lint has a name, and a warning names its lint, the YAML path of the
//! object and what is wrong. `plan` and `check` print them; a name in the
//! allow list (config `allow_lints`, `RECONCILE_ALLOW_LINTS`, `--allow-lint`)
//! silences it. Lints never stop a command.

use std::collections::BTreeSet;

use rusqlite::config::DbConfig;
use rusqlite::Connection;
use serde::Serialize;
use sqlite3_parser::dialect::TokenType;

use crate::diff::{affinity, apply_renames};
use crate::model::{Schema, Table};
use crate::normalize;
use crate::sql::{self, parse};

/// Every lint: its name and what it warns about.
pub const LINTS: &[(&str, &str)] = &[
    ("trigger-update-of-unknown-column", "a trigger's `UPDATE OF` list names a column its table does not have"),
    ("foreign-key-without-index", "a foreign key whose child columns no index, primary key or UNIQUE starts with"),
    ("not-null-without-default", "a NOT NULL column added to an existing table with neither a default nor a backfill"),
    ("unexpected-affinity", "a type name SQLite gives an affinity its spelling does not suggest (`STRING` is NUMERIC)"),
    ("utc-modifier-on-now", "`'now'` with the `'utc'` modifier, whose result depends on the SQLite version"),
    (
        "double-quoted-string",
        "a double-quoted string literal, which SQLite reads as a string only when no column has that name",
    ),
    ("dangling-reference", "a foreign key to a table that is not in the schema (left behind by a table swap)"),
    (
        "not-prepared",
        "a view or trigger this SQLite could not prepare (an application function, or nested too deep): left unchecked",
    ),
];

/// One warning.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lint {
    /// The lint's name (see [`LINTS`]).
    pub name: &'static str,
    /// YAML path of the object, e.g. `tables.posts.foreign_keys[0]`.
    pub path: String,
    /// What is wrong, and what to do instead.
    pub message: String,
}

impl std::fmt::Display for Lint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "warning[{}]: `{}`: {}", self.name, self.path, self.message)
    }
}

/// Names in `allow` that are no lint's name.
pub fn unknown_names(allow: &[String]) -> Vec<String> {
    allow.iter().filter(|a| !LINTS.iter().any(|(n, _)| n == a)).cloned().collect()
}

/// The lints of a desired schema, without those named in `allow`.
pub fn schema(desired: &Schema, allow: &[String]) -> Vec<Lint> {
    let mut out = Vec::new();
    for (name, t) in &desired.tables {
        affinities(name, t, &mut out);
        foreign_key_indexes(desired, name, t, &mut out);
        dangling_references(desired, name, t, &mut out);
    }
    not_prepared(desired, &mut out);
    for (name, tr) in &desired.triggers {
        trigger_update_of(desired, name, &tr.sql, &mut out);
    }
    utc_modifiers(desired, &mut out);
    double_quoted_strings(desired, &mut out);
    out.retain(|l| !allow.iter().any(|a| a == l.name));
    out
}

/// The lints of a change from `actual` to `desired`: those of the desired
/// schema, and NOT NULL columns added to tables that exist.
pub fn plan(actual: &Schema, desired: &Schema, allow: &[String]) -> Vec<Lint> {
    let mut out = schema(desired, allow);
    if !allow.iter().any(|a| a == "not-null-without-default") {
        let renamed = apply_renames(actual, desired);
        for (name, want) in &desired.tables {
            let Some(have) = renamed.schema.tables.get(name) else { continue };
            for c in &want.columns {
                let added = have.column(&c.name).is_none();
                if added && c.not_null && c.default.is_none() && c.backfill.is_none() && c.generated.is_none() {
                    out.push(Lint {
                        name: "not-null-without-default",
                        path: format!("tables.{name}.columns.{}", c.name),
                        message: format!(
                            "NOT NULL column added to the existing table `{name}` with neither `default` nor \
                             `backfill`: the apply fails if the table has rows"
                        ),
                    });
                }
            }
        }
    }
    out
}

/// Type names whose affinity their spelling does not suggest: an `INT` inside
/// another word (`FLOATING POINT` is INTEGER), or a name that falls through
/// to NUMERIC without being a numeric or date name (`STRING`, `JSON`, `UUID`).
fn affinities(table: &str, t: &Table, out: &mut Vec<Lint>) {
    if t.strict {
        return;
    }
    const INTEGERS: &[&str] =
        &["INT", "INTEGER", "TINYINT", "SMALLINT", "MEDIUMINT", "BIGINT", "UNSIGNED BIG INT", "INT2", "INT4", "INT8"];
    const NUMERICS: &[&str] =
        &["NUMERIC", "DECIMAL", "NUMBER", "BOOLEAN", "BOOL", "DATE", "DATETIME", "TIMESTAMP", "TIME", "MONEY"];
    for c in &t.columns {
        let Some(ty) = c.ty.as_deref() else { continue };
        let base = ty.split('(').next().unwrap_or("").split_whitespace().collect::<Vec<_>>().join(" ");
        let base = base.to_ascii_uppercase();
        let surprise = match affinity(Some(ty)) {
            "INTEGER" => !INTEGERS.contains(&base.as_str()),
            "NUMERIC" => !NUMERICS.contains(&base.as_str()),
            _ => false,
        };
        if surprise {
            let aff = affinity(Some(ty));
            let hint = if aff == "NUMERIC" {
                "text that looks like a number is stored as a number; write TEXT (or another name with CHAR, CLOB \
                 or TEXT in it) for text"
            } else {
                "any type name containing `INT` is INTEGER; write REAL for floating point"
            };
            out.push(Lint {
                name: "unexpected-affinity",
                path: format!("tables.{table}.columns.{}", c.name),
                message: format!("type `{ty}` has {aff} affinity in SQLite: {hint}"),
            });
        }
    }
}

/// Whether `columns` (case-insensitive) are the first columns, in any order,
/// of `key`.
fn starts_with(key: &[String], columns: &[String]) -> bool {
    key.len() >= columns.len() && columns.iter().all(|c| key[..columns.len()].iter().any(|k| k.eq_ignore_ascii_case(c)))
}

fn foreign_key_indexes(schema: &Schema, table: &str, t: &Table, out: &mut Vec<Lint>) {
    let key_columns = |cols: &[crate::model::IndexedColumn]| -> Vec<String> {
        cols.iter().map(|c| c.column_name().unwrap_or_default()).collect()
    };
    let mut keys: Vec<Vec<String>> = Vec::new();
    keys.extend(t.columns.iter().filter(|c| c.primary_key || c.unique).map(|c| vec![c.name.clone()]));
    keys.extend(t.primary_key.iter().map(|k| key_columns(&k.columns)));
    keys.extend(t.unique.iter().map(|k| key_columns(&k.columns)));
    keys.extend(t.indexes.values().filter(|i| i.where_.is_none()).map(|i| key_columns(&i.columns)));
    let mut fks: Vec<(String, Vec<String>, &str)> = Vec::new();
    for c in &t.columns {
        if let Some(r) = &c.references {
            fks.push((format!("tables.{table}.columns.{}.references", c.name), vec![c.name.clone()], &r.table));
        }
    }
    for (k, fk) in t.foreign_keys.iter().enumerate() {
        fks.push((format!("tables.{table}.foreign_keys[{k}]"), fk.columns.clone(), &fk.references));
    }
    for (path, columns, parent) in fks {
        // A parent that is not in the schema has no rows to delete (`dangling-reference` warns of it).
        if columns.is_empty() || keys.iter().any(|k| starts_with(k, &columns)) || schema.table(parent).is_none() {
            continue;
        }
        out.push(Lint {
            name: "foreign-key-without-index",
            path,
            message: format!(
                "no index on `{table}` starts with ({}): each delete or key update in `{parent}` scans `{table}` \
                 to check or act on this foreign key; add an index on these columns",
                columns.join(", ")
            ),
        });
    }
}

/// Foreign keys whose parent table is not in the schema: SQLite accepts them, and a table swap
/// (`ALTER TABLE t RENAME TO t_old`, a new `t`, `DROP TABLE t_old`) leaves them behind.
fn dangling_references(schema: &Schema, table: &str, t: &Table, out: &mut Vec<Lint>) {
    let column_refs = t.columns.iter().filter_map(|c| {
        c.references.as_ref().map(|r| (format!("tables.{table}.columns.{}.references", c.name), r.table.as_str()))
    });
    let table_refs = t
        .foreign_keys
        .iter()
        .enumerate()
        .map(|(k, fk)| (format!("tables.{table}.foreign_keys[{k}]"), fk.references.as_str()));
    for (path, parent) in column_refs.chain(table_refs) {
        if schema.table(parent).is_some() {
            continue;
        }
        out.push(Lint {
            name: "dangling-reference",
            path,
            message: format!(
                "references table `{parent}`, which is not in the schema: while foreign keys are on, inserting or \
                 updating a row of `{table}` whose key is not NULL fails; point the reference at the table that \
                 replaced `{parent}`"
            ),
        });
    }
}

/// Views and triggers that SQLite could not prepare in a scratch database for a reason beyond
/// this build (a function only the application registers, a nesting limit): what they read and
/// their columns were not checked.
fn not_prepared(schema: &Schema, out: &mut Vec<Lint>) {
    let Ok(unchecked) = crate::load::compile_bodies(schema) else { return };
    for u in unchecked {
        let advice = match u.reason.strip_prefix("no such function: ") {
            Some(f) => format!(
                "if the application registers `{f}` on its connections, declare it under `functions:` (with its number \
                 of arguments) so that it is checked"
            ),
            None => "the application's SQLite build may allow deeper nesting than this one".to_string(),
        };
        let unchecked = if u.path.starts_with("views.") {
            "the names it reads and its columns are not checked, and which tables it reads is taken from its SQL text"
        } else {
            "the names its body reads are not checked"
        };
        out.push(Lint {
            name: "not-prepared",
            path: u.path,
            message: format!("SQLite could not prepare it here ({}): {unchecked}; {advice}", u.reason),
        });
    }
}

fn trigger_update_of(schema: &Schema, name: &str, text: &str, out: &mut Vec<Lint>) {
    let Ok(tokens) = sql::tokens(text) else { return };
    let Ok((_, on)) = parse::create_trigger(text) else { return };
    let Some((_, table)) = schema.table(&on) else { return };
    let kinds: Vec<TokenType> = tokens.iter().map(|t| t.ty).collect();
    let Some(at) = kinds.windows(2).position(|w| w == [TokenType::TK_UPDATE, TokenType::TK_OF]) else { return };
    for t in tokens[at + 2..].iter().take_while(|t| t.ty != TokenType::TK_ON) {
        if t.ty == TokenType::TK_COMMA {
            continue;
        }
        let column = sql::unquote(t.text);
        if table.column(&column).is_none() {
            out.push(Lint {
                name: "trigger-update-of-unknown-column",
                path: format!("triggers.{name}"),
                message: format!(
                    "`UPDATE OF {column}`: `{on}` has no column `{column}`, so that column never fires the trigger \
                     (SQLite does not check the list)"
                ),
            });
        }
    }
}

/// Every SQL text of the schema, with the path of its object.
fn texts(schema: &Schema) -> Vec<(String, &str)> {
    let mut out: Vec<(String, &str)> = Vec::new();
    for (name, t) in &schema.tables {
        for c in &t.columns {
            let base = format!("tables.{name}.columns.{}", c.name);
            if let Some(d) = &c.default {
                out.push((format!("{base}.default"), d.as_str()));
            }
            if let Some(g) = &c.generated {
                out.push((format!("{base}.generated"), g.expr.as_str()));
            }
            for ck in &c.checks {
                out.push((format!("{base}.checks"), ck.expr.as_str()));
            }
        }
        for ck in &t.checks {
            out.push((format!("tables.{name}.checks"), ck.expr.as_str()));
        }
        for (iname, i) in &t.indexes {
            let base = format!("tables.{name}.indexes.{iname}");
            for ic in &i.columns {
                out.push((base.clone(), ic.expr.as_str()));
            }
            if let Some(w) = &i.where_ {
                out.push((format!("{base}.where"), w.as_str()));
            }
        }
    }
    out.extend(schema.views.iter().map(|(n, v)| (format!("views.{n}"), v.sql.as_str())));
    out.extend(schema.triggers.iter().map(|(n, t)| (format!("triggers.{n}"), t.sql.as_str())));
    out
}

/// `'now'` followed, in the same call, by the `'utc'` modifier.
fn utc_modifiers(schema: &Schema, out: &mut Vec<Lint>) {
    let mut seen = BTreeSet::new();
    for (path, text) in texts(schema) {
        let Ok(tokens) = sql::tokens(text) else { continue };
        let is_str = |t: &sql::Tok<'_>, s: &str| t.ty == TokenType::TK_STRING && t.text.eq_ignore_ascii_case(s);
        for (i, t) in tokens.iter().enumerate() {
            if !is_str(t, "'now'") {
                continue;
            }
            let call = tokens[i + 1..].iter().take_while(|t| t.ty != TokenType::TK_RP);
            if call.into_iter().any(|t| is_str(t, "'utc'")) && seen.insert(path.clone()) {
                out.push(Lint {
                    name: "utc-modifier-on-now",
                    path: path.clone(),
                    message: "`'now'` is already UTC, and what the `'utc'` modifier then does depends on the SQLite \
                              version (older ones shift it by the local offset again); drop `'utc'`"
                        .to_string(),
                });
            }
        }
    }
}

/// Double-quoted string literals, found by SQLite itself: each object is
/// built (views read, triggers fired in a prepared statement) in scratch
/// databases that refuse them, and what fails there with "no such column"
/// and builds when they are allowed uses one.
fn double_quoted_strings(schema: &Schema, out: &mut Vec<Lint>) {
    if !texts(schema).iter().any(|(_, t)| t.contains('"')) {
        return;
    }
    let mut found = BTreeSet::new();
    for part in normalize::parts(schema) {
        let mut part = part;
        if !part.views.is_empty() || !part.triggers.is_empty() {
            normalize::with_foreign_key_neighbours(schema, &mut part);
        }
        let Ok(conn) = normalize::scratch(schema) else { return };
        let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false);
        let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false);
        let (first, later) = normalize::create_statements(&part);
        // Views are created without reading what they name; reading them is the test.
        for o in first.iter().chain(later.iter().filter(|o| o.path.starts_with("views."))) {
            if refused(&conn, |c| c.execute_batch(&o.sql)) {
                found.insert(o.path.clone());
            }
        }
        for name in part.views.keys() {
            let read = format!("SELECT * FROM {} LIMIT 0", sql::quote_ident(name));
            if refused(&conn, |c| c.prepare(&read).map(|_| ())) {
                found.insert(format!("views.{name}"));
            }
        }
        for (name, t) in &part.triggers {
            if conn.execute_batch(&t.sql).is_err() {
                continue;
            }
            if let Some(fire) = crate::load::firing_statement(&conn, &t.sql) {
                if refused(&conn, |c| c.prepare(&fire).map(|_| ())) {
                    found.insert(format!("triggers.{name}"));
                }
            }
            let _ = conn.execute_batch(&format!("DROP TRIGGER {}", sql::quote_ident(name)));
        }
    }
    for path in found {
        out.push(Lint {
            name: "double-quoted-string",
            path,
            message: "a double-quoted name that is no column is read as a string literal; write strings in single \
                      quotes ('like this'): the double-quoted one changes meaning if such a column is ever added"
                .to_string(),
        });
    }
}

/// Whether `run` fails for an unknown column with double-quoted strings
/// refused and succeeds with them allowed (so what it builds is built either
/// way). Leaves them refused.
fn refused(conn: &Connection, run: impl Fn(&Connection) -> rusqlite::Result<()>) -> bool {
    match run(conn) {
        Ok(()) => false,
        Err(e) if normalize::sqlite_message(&e).contains("no such column") => {
            let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, true);
            let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, true);
            let ok = run(conn).is_ok();
            let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DDL, false);
            let _ = conn.set_db_config(DbConfig::SQLITE_DBCONFIG_DQS_DML, false);
            ok
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{desired, load_sources};

    fn normalized(yaml: &str) -> Schema {
        desired(&load_sources(&[("a.yaml", yaml)]).expect("the YAML loads")).expect("the schema builds")
    }

    fn found(lints: &[Lint]) -> Vec<(&str, &str)> {
        lints.iter().map(|l| (l.name, l.path.as_str())).collect()
    }

    const CLEAN: &str = r#"
tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: email, type: VARCHAR(200), not_null: true, default: "'x'" }
      - { name: born, type: DATE }
      - { name: score, type: "DECIMAL(10, 2)" }
      - { name: seen_at, type: TEXT, default: "(datetime('now'))" }
  posts:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: user_id, type: INTEGER, not_null: true, references: { table: users, column: id } }
      - { name: title, type: TEXT, checks: [{ expr: "title <> 'x'" }] }
    indexes:
      ix_posts_user: { columns: [user_id, title] }
views:
  titles: { sql: "SELECT title FROM posts WHERE title <> 'draft'" }
triggers:
  posts_touch:
    sql: "CREATE TRIGGER posts_touch AFTER UPDATE OF title ON posts BEGIN UPDATE users SET seen_at = datetime('now') WHERE id = NEW.user_id; END"
"#;

    #[test]
    fn a_clean_schema_has_no_lints() {
        assert_eq!(schema(&normalized(CLEAN), &[]), []);
    }

    #[test]
    fn each_lint_finds_its_case_and_is_silenced_by_name() {
        let yaml = r#"
tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: name, type: STRING }
      - { name: weight, type: FLOATING POINT }
      - { name: seen_at, type: TEXT, default: "(datetime('now', 'utc'))" }
      - { name: kind, type: TEXT, checks: [{ expr: "kind IN (\"a\", \"b\")" }] }
  posts:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: user_id, type: INTEGER, references: { table: users, column: id } }
    indexes:
      ix_posts_user_partial: { columns: [user_id], where: "user_id > 0" }
views:
  named: { sql: "SELECT id FROM users WHERE name = \"bob\"" }
triggers:
  users_touch:
    sql: "CREATE TRIGGER users_touch AFTER UPDATE OF nam, kind ON users BEGIN UPDATE posts SET user_id = NEW.id WHERE user_id = OLD.id AND \"x\" = 'x'; END"
"#;
        let s = normalized(yaml);
        let lints = schema(&s, &[]);
        assert_eq!(
            found(&lints),
            [
                ("foreign-key-without-index", "tables.posts.columns.user_id.references"),
                ("unexpected-affinity", "tables.users.columns.name"),
                ("unexpected-affinity", "tables.users.columns.weight"),
                ("trigger-update-of-unknown-column", "triggers.users_touch"),
                ("utc-modifier-on-now", "tables.users.columns.seen_at.default"),
                ("double-quoted-string", "tables.users"),
                ("double-quoted-string", "triggers.users_touch"),
                ("double-quoted-string", "views.named"),
            ],
            "{lints:#?}"
        );
        assert!(lints[3].message.contains("`UPDATE OF nam`"), "{}", lints[3]);
        for (name, _) in LINTS {
            let allowed = schema(&s, &[name.to_string()]);
            assert!(allowed.iter().all(|l| l.name != *name));
            assert_eq!(allowed.len(), lints.iter().filter(|l| l.name != *name).count());
        }
    }

    #[test]
    fn a_not_null_column_added_without_default_is_flagged_in_a_plan() {
        let before = normalized(CLEAN);
        let after = normalized(&CLEAN.replace(
            "      - { name: born, type: DATE }",
            "      - { name: born, type: DATE }\n      - { name: plan, type: TEXT, not_null: true }\n      - { name: tier, type: TEXT, not_null: true, default: \"'free'\" }",
        ));
        assert_eq!(found(&plan(&before, &after, &[])), [("not-null-without-default", "tables.users.columns.plan")]);
        assert_eq!(plan(&before, &after, &["not-null-without-default".to_string()]), []);
        // A new table's NOT NULL columns need nothing.
        assert_eq!(plan(&Schema::default(), &after, &[]), []);
    }

    #[test]
    fn unknown_names_are_reported() {
        let allow = vec!["double-quoted-string".to_string(), "no-such-lint".to_string()];
        assert_eq!(unknown_names(&allow), ["no-such-lint"]);
    }
}
