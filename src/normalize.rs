//! Normalize: a desired `Schema` → built in a scratch in-memory SQLite → inspected.
//!
//! Both sides of a comparison then come from the same `inspect` code, so the
//! way a schema was spelled never shows up as a difference. Building the
//! schema is also its validation: SQLite's own error, placed at the object
//! that caused it. Migration hints are carried over from the input.

use std::collections::{HashMap, HashSet};

use rusqlite::Connection;

use crate::inspect::{inspect, InspectOptions};
use crate::model::Schema;
use crate::sql::{ddl, view_create_sql};

/// A statement of the scratch build, with the YAML path of the object it creates.
#[derive(Debug, Clone)]
pub struct ObjectSql {
    /// YAML path of the object, e.g. `tables.feed` or `tables.feed.indexes.ix_a`.
    pub path: String,
    /// The CREATE statement.
    pub sql: String,
}

/// SQLite rejected an object of the desired schema.
#[derive(Debug, thiserror::Error)]
#[error("`{path}`: SQLite rejects it: {message}\n  in: {sql}")]
pub struct BuildError {
    /// YAML path of the object.
    pub path: String,
    /// SQLite's message.
    pub message: String,
    /// The statement that failed.
    pub sql: String,
}

/// Errors of `desired`.
#[derive(Debug, thiserror::Error)]
pub enum NormalizeError {
    /// An object failed to build.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// Opening or inspecting the scratch database failed.
    #[error("scratch database: {0}")]
    Inspect(#[from] crate::inspect::InspectError),
    /// Opening the scratch database failed.
    #[error("scratch database: {}", sqlite_message(.0))]
    Sqlite(#[from] rusqlite::Error),
    /// Two objects of the schema have the same name.
    #[error("`{path}`: {message}")]
    Name {
        /// YAML path of the second object.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// The CREATE statements of a schema in an order that builds: tables, virtual
/// tables, indexes, views, triggers.
pub fn create_statements(schema: &Schema) -> (Vec<ObjectSql>, Vec<ObjectSql>) {
    let mut first = Vec::new();
    for (name, t) in &schema.tables {
        first.push(ObjectSql { path: format!("tables.{name}"), sql: ddl::create_table(name, t) });
    }
    for (name, v) in &schema.virtual_tables {
        first.push(ObjectSql { path: format!("virtual_tables.{name}"), sql: v.sql.clone() });
    }
    for (name, table, i) in schema.indexes() {
        first
            .push(ObjectSql { path: format!("tables.{table}.indexes.{name}"), sql: ddl::create_index(name, table, i) });
    }
    // Views and triggers may read each other; `build` retries them until they settle.
    let mut later = Vec::new();
    for (name, v) in &schema.views {
        later.push(ObjectSql { path: format!("views.{name}"), sql: view_create_sql(name, &v.sql) });
    }
    for (name, t) in &schema.triggers {
        later.push(ObjectSql { path: format!("triggers.{name}"), sql: t.sql.clone() });
    }
    (first, later)
}

/// Executes the schema's statements on `conn`; views and triggers are retried
/// in rounds so one that reads another is created after it.
pub fn build(conn: &Connection, schema: &Schema) -> Result<(), BuildError> {
    let (first, later) = create_statements(schema);
    for o in &first {
        exec_one(conn, o)?;
    }
    let mut pending = later;
    while !pending.is_empty() {
        let mut failed = Vec::new();
        let mut first_err = None;
        for o in pending.iter() {
            match exec_one(conn, o) {
                Ok(()) => {}
                Err(e) => {
                    first_err.get_or_insert(e);
                    failed.push(o.clone());
                }
            }
        }
        if failed.len() == pending.len() {
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        pending = failed;
    }
    Ok(())
}

fn exec_one(conn: &Connection, o: &ObjectSql) -> Result<(), BuildError> {
    execute_one(conn, &o.sql).map_err(|e| BuildError {
        path: o.path.clone(),
        message: sqlite_message(&e),
        sql: o.sql.clone(),
    })
}

/// Runs exactly one SQL statement; text holding a second one is refused before anything runs, so no
/// text that reaches a statement (a name, a type, an expression) can ever add another.
pub fn execute_one(conn: &Connection, sql: &str) -> Result<(), rusqlite::Error> {
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.raw_query();
    while rows.next()?.is_some() {}
    Ok(())
}

/// A scratch in-memory database for `schema`, with a stand-in for each of the application's
/// functions (`Schema::functions`): deterministic, returning NULL, so the views, triggers and
/// expressions that call one prepare. Only scratch databases get them, never the target.
pub fn scratch(schema: &Schema) -> Result<Connection, rusqlite::Error> {
    use rusqlite::functions::FunctionFlags;
    let conn = Connection::open_in_memory()?;
    for (name, f) in &schema.functions {
        let args = f.args.map_or(-1, i32::from);
        let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS;
        conn.create_scalar_function(name.as_str(), args, flags, |_| Ok(rusqlite::types::Value::Null))?;
    }
    Ok(conn)
}

/// Whether SQLite's message says that a statement could not be prepared by this build of
/// SQLite although the application's own may prepare it: it calls a function only the
/// application registers, or nests views or subqueries deeper than this build allows.
pub fn beyond_this_build(message: &str) -> bool {
    message.starts_with("no such function: ") || message.contains("nested too deep")
}

/// Runs `f` with a stand-in for each function that the database's views and triggers (or
/// `desired`'s) call and the connection lacks: functions the application registers on its own
/// connections. SQLite resolves every view and trigger when a table or column is renamed (as a
/// rebuild does) and refuses the rename when one calls a function it does not know; with the
/// stand-ins they resolve. A stand-in is never a value: called (by a CHECK, a generated column
/// or an index expression that a plan computes), it fails the statement, so the change rolls back.
/// The stand-ins are removed afterwards; the connection's own functions are never replaced.
pub fn with_stand_ins<T, E: From<rusqlite::Error>>(
    conn: &mut Connection,
    desired: &Schema,
    f: impl FnOnce(&mut Connection) -> Result<T, E>,
) -> Result<T, E> {
    let names = missing_functions(conn, desired)?;
    for name in &names {
        let message = format!(
            "`{name}` is a function of the application, which `reconcile` does not have and never calls; \
             the change cannot compute it"
        );
        let flags = rusqlite::functions::FunctionFlags::SQLITE_UTF8
            | rusqlite::functions::FunctionFlags::SQLITE_DETERMINISTIC
            | rusqlite::functions::FunctionFlags::SQLITE_INNOCUOUS;
        conn.create_scalar_function(name.as_str(), -1, flags, move |_| -> rusqlite::Result<i64> {
            Err(rusqlite::Error::UserFunctionError(message.clone().into()))
        })?;
    }
    let result = f(conn);
    let mut removed = Ok(());
    for name in &names {
        removed = removed.and(conn.remove_function(name.as_str(), -1));
    }
    let done = result?;
    removed?;
    Ok(done)
}

/// The names called like functions (`name(`) in the SQL of the database's views and triggers and
/// in `desired`'s, that the connection does not know as a function.
fn missing_functions(conn: &Connection, desired: &Schema) -> Result<Vec<String>, rusqlite::Error> {
    let mut texts: Vec<String> = {
        let mut stmt =
            conn.prepare("SELECT sql FROM main.sqlite_schema WHERE type IN ('view', 'trigger') AND sql IS NOT NULL")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<Result<_, _>>()?
    };
    texts.extend(desired.views.values().map(|v| v.sql.clone()));
    texts.extend(desired.triggers.values().map(|t| t.sql.clone()));
    let mut called = std::collections::BTreeSet::new();
    for text in &texts {
        let Ok(toks) = crate::sql::tokens(text) else { continue };
        for pair in toks.windows(2) {
            if pair[0].ty == sqlite3_parser::dialect::TokenType::TK_ID
                && pair[1].ty == sqlite3_parser::dialect::TokenType::TK_LP
            {
                called.insert(crate::sql::unquote(pair[0].text).to_ascii_lowercase());
            }
        }
    }
    if called.is_empty() {
        return Ok(Vec::new());
    }
    let mut known = conn.prepare("SELECT 1 FROM pragma_function_list WHERE name = ?1")?;
    let mut out = Vec::new();
    for name in called {
        if !known.exists([&name])? {
            out.push(name);
        }
    }
    Ok(out)
}

/// SQLite's own message without rusqlite's decoration.
pub fn sqlite_message(e: &rusqlite::Error) -> String {
    match e {
        // SQLite's own text for it may be only the file's name (when opening failed).
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OutOfMemory => {
            "out of memory: a memory allocation failed".to_string()
        }
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        rusqlite::Error::MultipleStatement => "more than one SQL statement where one is expected".to_string(),
        other => other.to_string(),
    }
}

/// Tables per scratch database in `desired`. SQLite re-reads the schema
/// table after every CREATE, so one database's build is quadratic in its
/// object count; databases of this size keep the whole build linear.
const TABLES_PER_SCRATCH: usize = 100;

/// Builds `schema` in scratch in-memory databases and inspects it back,
/// keeping the input's migration hints.
///
/// Views, triggers and virtual tables, with every table their SQL names, go
/// into one database; the other tables, each with its indexes, into databases
/// of at most `TABLES_PER_SCRATCH` tables (a table's own statements never read
/// another table). The parts together inspect exactly as one database
/// holding the whole schema would.
pub fn desired(schema: &Schema) -> Result<Schema, NormalizeError> {
    check_names(schema)?;
    let mut out = Schema::default();
    for part in parts(schema) {
        let conn = scratch(schema)?;
        build(&conn, &part)?;
        let s = inspect(&conn, &InspectOptions::default())?;
        out.tables.extend(s.tables);
        out.virtual_tables.extend(s.virtual_tables);
        out.triggers.extend(s.triggers);
        out.views.extend(s.views);
    }
    copy_hints(schema, &mut out);
    Ok(out)
}

/// `schema` in the parts `desired` builds apart: the linked part (see
/// `split_linked`) if not empty, then the other tables in groups of at most
/// `TABLES_PER_SCRATCH`.
pub fn parts(schema: &Schema) -> Vec<Schema> {
    let (linked, mut rest) = split_linked(schema);
    let mut out: Vec<Schema> = Some(linked).filter(|l| !l.is_empty()).into_iter().collect();
    while !rest.tables.is_empty() {
        let tail = match rest.tables.keys().nth(TABLES_PER_SCRATCH) {
            Some(k) => {
                let k = k.clone();
                rest.tables.split_off(&k)
            }
            None => Default::default(),
        };
        out.push(Schema { tables: std::mem::replace(&mut rest.tables, tail), ..Schema::default() });
    }
    out
}

/// Splits `schema` into the part whose objects read others (views, triggers,
/// virtual tables, and every table their SQL may name) and the remaining tables.
pub fn split_linked(schema: &Schema) -> (Schema, Schema) {
    let mut linked = Schema {
        tables: Default::default(),
        virtual_tables: schema.virtual_tables.clone(),
        triggers: schema.triggers.clone(),
        views: schema.views.clone(),
        functions: schema.functions.clone(),
    };
    let mut rest = Schema::default();
    let bodies: Vec<&str> = schema
        .views
        .values()
        .map(|v| v.sql.as_str())
        .chain(schema.triggers.values().map(|t| t.sql.as_str()))
        .chain(schema.virtual_tables.values().map(|v| v.sql.as_str()))
        .collect();
    let words = words_of(&bodies);
    let lower_bodies: Vec<String> = bodies.iter().map(|b| b.to_lowercase()).collect();
    for (name, t) in &schema.tables {
        let lower = name.to_lowercase();
        // A name that is one word is found among the words; any other (spaces,
        // quotes, punctuation) is looked for as text, quotes undoubled or not.
        let named = if is_word(&lower) {
            words.contains(&lower)
        } else {
            lower_bodies.iter().any(|b| b.contains(&lower) || b.contains(&lower.replace('"', "\"\"")))
                || lower.contains(['\'', '`', ']'])
        };
        let side = if named { &mut linked } else { &mut rest };
        side.tables.insert(name.clone(), t.clone());
    }
    (linked, rest)
}

/// Adds to `part` every table of `schema` linked to one of its tables by
/// foreign keys, in either direction and transitively: statements that write
/// a table compile the foreign key checks and actions of those tables too.
pub fn with_foreign_key_neighbours(schema: &Schema, part: &mut Schema) {
    let key = |n: &str| n.to_ascii_lowercase();
    let mut links: HashMap<String, Vec<String>> = HashMap::new();
    for (name, t) in &schema.tables {
        let parents = t
            .columns
            .iter()
            .filter_map(|c| c.references.as_ref().map(|r| r.table.as_str()))
            .chain(t.foreign_keys.iter().map(|fk| fk.references.as_str()));
        for parent in parents {
            links.entry(key(name)).or_default().push(key(parent));
            links.entry(key(parent)).or_default().push(key(name));
        }
    }
    let mut seen: HashSet<String> = part.tables.keys().map(|n| key(n)).collect();
    let mut todo: Vec<String> = seen.iter().cloned().collect();
    while let Some(name) = todo.pop() {
        for next in links.get(&name).into_iter().flatten() {
            if seen.insert(next.clone()) {
                todo.push(next.clone());
            }
        }
    }
    for (name, t) in &schema.tables {
        if seen.contains(&key(name)) {
            part.tables.entry(name.clone()).or_insert_with(|| t.clone());
        }
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || !c.is_ascii()
}

fn is_word(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_word_char)
}

/// Every maximal run of identifier characters in `texts`, lowercased.
fn words_of(texts: &[&str]) -> HashSet<String> {
    let mut out = HashSet::new();
    for t in texts {
        for w in t.split(|c: char| !is_word_char(c)).filter(|w| !w.is_empty()) {
            out.insert(w.to_lowercase());
        }
    }
    out
}

/// Tables, indexes, views and virtual tables share one namespace, as in
/// SQLite (case-insensitive for ASCII); triggers have one of their own.
/// Checked here because the parts of `desired` are built apart.
fn check_names(schema: &Schema) -> Result<(), NormalizeError> {
    let objects = schema
        .tables
        .keys()
        .map(|n| (n, format!("tables.{n}")))
        .chain(schema.indexes().map(|(n, t, _)| (n, format!("tables.{t}.indexes.{n}"))))
        .chain(schema.views.keys().map(|n| (n, format!("views.{n}"))))
        .chain(schema.virtual_tables.keys().map(|n| (n, format!("virtual_tables.{n}"))));
    let triggers = schema.triggers.keys().map(|n| (n, format!("triggers.{n}")));
    for namespace in [objects.collect::<Vec<_>>(), triggers.collect()] {
        let mut seen: HashMap<String, String> = HashMap::new();
        for (name, path) in namespace {
            if let Some(other) = seen.insert(name.to_ascii_lowercase(), path.clone()) {
                return Err(NormalizeError::Name {
                    path,
                    message: format!("the name `{name}` is already used by `{other}`"),
                });
            }
        }
    }
    Ok(())
}

/// Copies `renamed_from`, `convert`, `backfill` and the application's functions from `from`
/// onto the same objects in `to`.
pub fn copy_hints(from: &Schema, to: &mut Schema) {
    to.functions = from.functions.clone();
    for (name, t) in &from.tables {
        let Some(dst) = to.tables.get_mut(name) else { continue };
        dst.renamed_from = t.renamed_from.clone();
        for c in &t.columns {
            if let Some(dc) = dst.columns.iter_mut().find(|d| d.name == c.name) {
                dc.renamed_from = c.renamed_from.clone();
                dc.convert = c.convert.clone();
                dc.backfill = c.backfill.clone();
            }
        }
        for (iname, i) in &t.indexes {
            if let Some(di) = dst.indexes.get_mut(iname) {
                di.renamed_from = i.renamed_from.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load_sources;

    /// 250 tables (three scratch databases' worth) with indexes, foreign keys
    /// across the parts, views on views, triggers, a quoted name and a virtual table.
    fn wide_yaml() -> String {
        let mut y = String::from("tables:\n");
        for i in 0..250 {
            y.push_str(&format!(
                "  t{i:03}:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n      - {{ name: v, type: TEXT, not_null: true, default: \"'x'\" }}\n      - {{ name: p, type: INTEGER, references: {{ table: t{:03}, column: id }} }}\n    indexes:\n      ix_t{i:03}_v: {{ columns: [v], where: \"v <> ''\" }}\n",
                (i + 137) % 250
            ));
        }
        y.push_str(
            r#"  'odd "name"':
    columns:
      - { name: id, type: INTEGER, primary_key: true }
views:
  v1: { sql: "SELECT id, v FROM T042 WHERE p IS NOT NULL" }
  v2: { sql: 'SELECT count(*) AS n FROM v1 JOIN "odd ""name""" USING (id)' }
"#,
        );
        y.push_str("triggers:\n  t199_touch: { sql: \"CREATE TRIGGER t199_touch AFTER INSERT ON t199 BEGIN UPDATE t200 SET v = new.v WHERE id = new.id; END\" }\n");
        y.push_str("virtual_tables:\n  docs: { sql: \"CREATE VIRTUAL TABLE docs USING fts5(body)\" }\n");
        y
    }

    #[test]
    fn parts_inspect_as_one_database() {
        let loaded = load_sources(&[("wide.yaml", wide_yaml())]).expect("the YAML loads");
        let (linked, rest) = split_linked(&loaded.schema);
        let linked_tables: Vec<&str> = linked.tables.keys().map(String::as_str).collect();
        assert_eq!(linked_tables, ["odd \"name\"", "t042", "t199", "t200"]);
        assert_eq!(rest.tables.len(), 247);
        // Each t<i> references t<i+137 mod 250>: one cycle through all 250.
        let mut reached = linked.clone();
        with_foreign_key_neighbours(&loaded.schema, &mut reached);
        assert_eq!(reached.tables.len(), 251);
        let mut alone = Schema::default();
        alone.tables.insert("odd \"name\"".into(), loaded.schema.tables["odd \"name\""].clone());
        with_foreign_key_neighbours(&loaded.schema, &mut alone);
        assert_eq!(alone.tables.len(), 1);

        let parts = desired(&loaded.schema).expect("the schema builds");
        let conn = Connection::open_in_memory().expect("opens");
        build(&conn, &loaded.schema).expect("the schema builds in one database");
        let mut whole = inspect(&conn, &InspectOptions::default()).expect("inspects");
        copy_hints(&loaded.schema, &mut whole);
        assert_eq!(parts, whole);
        assert_eq!(parts.tables.len(), 251);
    }

    #[test]
    fn a_name_used_twice_across_parts_is_refused() {
        let mut schema = load_sources(&[("wide.yaml", wide_yaml())]).expect("the YAML loads").schema;
        let index = schema.tables["t000"].indexes["ix_t000_v"].clone();
        schema.tables.get_mut("t249").expect("t249").indexes.insert("IX_T000_V".into(), index);
        let err = desired(&schema).expect_err("two objects share a name");
        assert_eq!(
            err.to_string(),
            "`tables.t249.indexes.IX_T000_V`: the name `IX_T000_V` is already used by `tables.t000.indexes.ix_t000_v`"
        );
    }
}
