//! Load: `schema/*.yaml` → `Schema`, validated.
//!
//! Files are read in sorted order and merged; an object declared twice names
//! both files. Errors carry the file, the line and column where the YAML
//! parser gives them, and the YAML path. Semantic checks (references to missing
//! tables or columns, name clashes, hints that contradict each other, text that
//! is not a single expression or statement) run before SQLite sees anything;
//! then `normalize` builds the schema in a scratch database, which catches the
//! rest with SQLite's own message.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use rusqlite::Connection;

use crate::model::{Expr, Schema, Table};
use crate::normalize::{self, sqlite_message, BuildError};
use crate::sql::{self, check_expression, parse};

/// An error in the desired schema.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The schema directory or a file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// file or directory
        path: PathBuf,
        /// cause
        #[source]
        source: std::io::Error,
    },
    /// The directory has no `*.yaml` file.
    #[error("{dir}: no *.yaml schema files found")]
    NoFiles {
        /// directory
        dir: PathBuf,
    },
    /// YAML syntax or shape error.
    #[error("{file}{}: {message}", location(.line, .column))]
    Yaml {
        /// file name
        file: String,
        /// 1-based line, when known
        line: Option<usize>,
        /// 1-based column, when known
        column: Option<usize>,
        /// parser message, with the YAML path
        message: String,
    },
    /// The same object declared in two files.
    #[error("{kind} `{name}` is declared in both {first} and {second}")]
    Duplicate {
        /// table, view, trigger, virtual table
        kind: &'static str,
        /// object name
        name: String,
        /// first file
        first: String,
        /// second file
        second: String,
    },
    /// A semantic error at a YAML path.
    #[error("{file}: `{path}`: {message}")]
    Invalid {
        /// file that declares the object
        file: String,
        /// YAML path
        path: String,
        /// what is wrong
        message: String,
    },
    /// SQLite rejected the schema in the scratch build.
    #[error("{file}: {source}")]
    Build {
        /// file that declares the object
        file: String,
        /// SQLite's error at the object
        #[source]
        source: BuildError,
    },
    /// The scratch database itself failed.
    #[error("{0}")]
    Scratch(String),
}

fn location(line: &Option<usize>, column: &Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(":{l}:{c}"),
        (Some(l), None) => format!(":{l}"),
        _ => String::new(),
    }
}

/// A loaded schema and which file declared each top-level object.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    /// The merged schema, with hints.
    pub schema: Schema,
    /// `tables.x` / `views.x` / ... → file name.
    pub origin: BTreeMap<String, String>,
    /// Each file's text, to locate a YAML path in it ([`locate`]).
    pub texts: BTreeMap<String, String>,
}

impl Loaded {
    /// The file, line and column (1-based) of the object at YAML path `path`.
    pub fn position_of(&self, path: &str) -> (String, usize, usize) {
        let file = self.file_of(path);
        let (line, column) = self.texts.get(&file).map_or((1, 1), |text| locate(text, path));
        (file, line, column)
    }

    /// The file that declared the object at YAML path `path` (`schema` if none did).
    pub fn file_of(&self, path: &str) -> String {
        let top: Vec<&str> = path.splitn(3, '.').collect();
        let key = if top.len() >= 2 { format!("{}.{}", top[0], top[1]) } else { path.to_string() };
        self.origin.get(&key).cloned().unwrap_or_else(|| "schema".to_string())
    }
}

/// Reads, merges and validates every `*.yaml` file of a directory (sorted by name).
pub fn load_dir(dir: &Path) -> Result<Loaded, LoadError> {
    load_sources(&read_dir(dir)?)
}

/// The `*.yaml` (and `*.yml`) files of a directory, sorted by name, as (path, text): what
/// [`load_dir`] loads, and what [`crate::history::source_fingerprint`] is taken of.
pub fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Io { path: dir.to_path_buf(), source })?;
    let mut files = Vec::new();
    for e in entries {
        let e = e.map_err(|source| LoadError::Io { path: dir.to_path_buf(), source })?;
        let p = e.path();
        let is_yaml = p.extension().is_some_and(|x| x == "yaml" || x == "yml");
        if is_yaml && p.is_file() {
            files.push(p);
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(LoadError::NoFiles { dir: dir.to_path_buf() });
    }
    let mut sources = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).map_err(|source| LoadError::Io { path: f.clone(), source })?;
        sources.push((f.display().to_string(), text));
    }
    Ok(sources)
}

/// Parses, merges and validates YAML sources given as (file name, text), in order.
pub fn load_sources<N: AsRef<str>, T: AsRef<str>>(sources: &[(N, T)]) -> Result<Loaded, LoadError> {
    let mut loaded = Loaded::default();
    for (file, text) in sources {
        let file = file.as_ref();
        let part = parse_yaml(file, text.as_ref())?;
        merge(&mut loaded, part, file)?;
        loaded.texts.insert(file.to_string(), text.as_ref().to_string());
    }
    validate(&loaded)?;
    Ok(loaded)
}

fn parse_yaml(file: &str, text: &str) -> Result<Schema, LoadError> {
    if text.trim().is_empty() || text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) {
        return Ok(Schema::default());
    }
    let yaml_error = |e: serde_yaml::Error| {
        let loc = e.location();
        let (line, column) = (loc.as_ref().map(|l| l.line()), loc.as_ref().map(|l| l.column()));
        LoadError::Yaml {
            file: file.to_string(),
            line,
            column,
            message: tidy_yaml_message(&e.to_string(), line, column),
        }
    };
    // A map with a key written twice would silently keep only the last one (a
    // whole table lost); reading a plain YAML value first refuses it.
    serde_yaml::from_str::<serde_yaml::Value>(text).map_err(yaml_error)?;
    serde_yaml::from_str::<Schema>(text).map_err(yaml_error)
}

/// The parser's message without its own " at line L column C" (the error
/// shows it as file:L:C instead) and with the format's words for its types.
fn tidy_yaml_message(msg: &str, line: Option<usize>, column: Option<usize>) -> String {
    let mut msg = msg.to_string();
    if let (Some(l), Some(c)) = (line, column) {
        let own = format!(" at line {l} column {c}");
        if let Some(i) = msg.find(&own) {
            msg.replace_range(i..i + own.len(), "");
        }
    }
    msg.replace("struct Schema", "a map of `tables`, `virtual_tables`, `triggers` and `views`")
        .replace("duplicate entry with key", "duplicate key")
}

fn merge(into: &mut Loaded, part: Schema, file: &str) -> Result<(), LoadError> {
    fn put<V>(
        map: &mut BTreeMap<String, V>,
        origin: &mut BTreeMap<String, String>,
        kind: &'static str,
        section: &str,
        items: BTreeMap<String, V>,
        file: &str,
    ) -> Result<(), LoadError> {
        for (name, v) in items {
            let key = format!("{section}.{name}");
            if let Some(first) = origin.get(&key) {
                return Err(LoadError::Duplicate { kind, name, first: first.clone(), second: file.to_string() });
            }
            origin.insert(key, file.to_string());
            map.insert(name, v);
        }
        Ok(())
    }
    let o = &mut into.origin;
    put(&mut into.schema.tables, o, "table", "tables", part.tables, file)?;
    put(&mut into.schema.virtual_tables, o, "virtual table", "virtual_tables", part.virtual_tables, file)?;
    put(&mut into.schema.views, o, "view", "views", part.views, file)?;
    put(&mut into.schema.triggers, o, "trigger", "triggers", part.triggers, file)?;
    put(&mut into.schema.functions, o, "function", "functions", part.functions, file)?;
    Ok(())
}

struct Problems<'a> {
    loaded: &'a Loaded,
}

impl Problems<'_> {
    fn err(&self, path: impl Into<String>, message: impl fmt::Display) -> LoadError {
        let path = path.into();
        LoadError::Invalid { file: self.loaded.file_of(&path), path, message: message.to_string() }
    }
}

fn validate(loaded: &Loaded) -> Result<(), LoadError> {
    let s = &loaded.schema;
    let p = Problems { loaded };
    // One namespace for tables, views, indexes and virtual tables (as SQLite has).
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |name: &str, path: String| -> Result<(), LoadError> {
        let key = name.to_ascii_lowercase();
        if let Some(other) = names.get(&key) {
            return Err(p.err(path, format!("the name `{name}` is already used by `{other}`")));
        }
        names.insert(key, path);
        Ok(())
    };
    for (name, t) in &s.tables {
        claim(name, format!("tables.{name}"))?;
        for iname in t.indexes.keys() {
            claim(iname, format!("tables.{name}.indexes.{iname}"))?;
        }
    }
    for name in s.views.keys() {
        claim(name, format!("views.{name}"))?;
    }
    for name in s.virtual_tables.keys() {
        claim(name, format!("virtual_tables.{name}"))?;
    }
    let objects = s
        .tables
        .keys()
        .map(|n| (n, format!("tables.{n}")))
        .chain(
            s.tables.iter().flat_map(|(t, tb)| tb.indexes.keys().map(move |i| (i, format!("tables.{t}.indexes.{i}")))),
        )
        .chain(s.views.keys().map(|n| (n, format!("views.{n}"))))
        .chain(s.virtual_tables.keys().map(|n| (n, format!("virtual_tables.{n}"))))
        .chain(s.triggers.keys().map(|n| (n, format!("triggers.{n}"))));
    for (name, path) in objects {
        if name.is_empty() {
            return Err(p.err(path, "an object has an empty name"));
        }
        if crate::inspect::is_unmanaged(name) {
            return Err(p.err(
                path,
                format!("the name `{name}` is reserved (`sqlite_*` belongs to SQLite, `_reconcile_*` to this tool)"),
            ));
        }
    }
    for (name, t) in &s.tables {
        validate_table(&p, s, name, t)?;
    }
    validate_functions(&p, s)?;
    for (name, v) in &s.views {
        let path = format!("views.{name}");
        let create = sql::view_create_sql(name, &v.sql);
        let declared = parse::create_view(&create)
            .map_err(|e| p.err(&path, format!("`sql` is not one SELECT or CREATE VIEW statement: {e}")))?;
        if !declared.eq_ignore_ascii_case(name) {
            return Err(p.err(&path, format!("`sql` creates view `{declared}`, not `{name}`")));
        }
    }
    for (name, tr) in &s.triggers {
        let path = format!("triggers.{name}");
        let (declared, on) = parse::create_trigger(&tr.sql)
            .map_err(|e| p.err(&path, format!("`sql` is not one CREATE TRIGGER statement: {e}")))?;
        if !declared.eq_ignore_ascii_case(name) {
            return Err(p.err(&path, format!("`sql` creates trigger `{declared}`, not `{name}`")));
        }
        if s.table(&on).is_none() && !s.views.keys().any(|v| v.eq_ignore_ascii_case(&on)) {
            return Err(p.err(&path, format!("fires on `{on}`, which is not a table or view of the schema")));
        }
    }
    for (name, v) in &s.virtual_tables {
        let path = format!("virtual_tables.{name}");
        let (declared, _) = parse::create_virtual_table(&v.sql)
            .map_err(|e| p.err(&path, format!("`sql` is not one CREATE VIRTUAL TABLE statement: {e}")))?;
        if !declared.eq_ignore_ascii_case(name) {
            return Err(p.err(&path, format!("`sql` creates virtual table `{declared}`, not `{name}`")));
        }
    }
    Ok(())
}

/// An application function is named as a call can name it, takes at most 127 arguments (as
/// SQLite allows), once, and is not one of SQLite's own: a stand-in would hide the real one.
fn validate_functions(p: &Problems<'_>, s: &Schema) -> Result<(), LoadError> {
    if s.functions.is_empty() {
        return Ok(());
    }
    let mut seen = BTreeMap::new();
    let builtin = Connection::open_in_memory().map_err(|e| LoadError::Scratch(e.to_string()))?;
    for (name, f) in &s.functions {
        let path = format!("functions.{name}");
        if name.is_empty() || name.len() > 255 || name.chars().any(|c| c.is_whitespace() || "\"'`[]();,".contains(c)) {
            return Err(p.err(&path, format!("`{name}` is not a function name (a word of at most 255 bytes)")));
        }
        if let Some(other) = seen.insert(name.to_ascii_lowercase(), name) {
            return Err(p.err(&path, format!("function `{name}` is declared twice (also as `{other}`)")));
        }
        if f.args.is_some_and(|n| n > 127) {
            return Err(p.err(format!("{path}.args"), "a function takes at most 127 arguments"));
        }
        let own: bool = builtin
            .query_row("SELECT count(*) > 0 FROM pragma_function_list WHERE name = lower(?1)", [name], |r| r.get(0))
            .map_err(|e| LoadError::Scratch(e.to_string()))?;
        if own {
            return Err(
                p.err(&path, format!("`{name}` is one of SQLite's own functions; declare only the application's"))
            );
        }
    }
    Ok(())
}

fn check_expr(p: &Problems<'_>, path: &str, e: &Expr) -> Result<(), LoadError> {
    check_expression(e.as_str())
        .map_err(|m| p.err(path, format!("`{}` is not a single SQL expression: {m}", e.as_str())))
}

fn validate_table(p: &Problems<'_>, s: &Schema, name: &str, t: &Table) -> Result<(), LoadError> {
    let base = format!("tables.{name}");
    if t.columns.is_empty() {
        return Err(p.err(format!("{base}.columns"), "a table needs at least one column"));
    }
    let mut seen = BTreeMap::new();
    for (i, c) in t.columns.iter().enumerate() {
        let cpath = format!("{base}.columns[{i}]");
        if c.name.is_empty() {
            return Err(p.err(format!("{cpath}.name"), "a column needs a name"));
        }
        if let Some(j) = seen.insert(c.name.to_ascii_lowercase(), i) {
            return Err(p.err(
                format!("{cpath}.name"),
                format!("column `{}` is declared twice (also at columns[{j}])", c.name),
            ));
        }
        if let Some(ty) = &c.ty {
            sql::check_type(ty)
                .map_err(|m| p.err(format!("{cpath}.type"), format!("`{ty}` is not a column type: {m}")))?;
        }
        for (label, e) in [("default", &c.default), ("convert", &c.convert), ("backfill", &c.backfill)] {
            if let Some(e) = e {
                check_expr(p, &format!("{cpath}.{label}"), e)?;
            }
        }
        for (k, ck) in c.checks.iter().enumerate() {
            check_expr(p, &format!("{cpath}.checks[{k}].expr"), &ck.expr)?;
        }
        if let Some(g) = &c.generated {
            check_expr(p, &format!("{cpath}.generated.expr"), &g.expr)?;
        }
        if let Some(r) = &c.references {
            let rpath = format!("{cpath}.references");
            check_reference(p, s, &rpath, &r.table, r.column.as_slice())?;
        }
        if let Some(old) = &c.renamed_from {
            if t.column(old).is_some() {
                return Err(p.err(
                    format!("{cpath}.renamed_from"),
                    format!("`{old}` is still a column of this table; a rename needs the old name gone"),
                ));
            }
        }
        if c.autoincrement && !c.primary_key && t.primary_key.is_none() {
            return Err(p.err(format!("{cpath}.autoincrement"), "AUTOINCREMENT needs an INTEGER PRIMARY KEY"));
        }
    }
    let col_exists = |n: &str| t.column(n).is_some();
    if let Some(pk) = &t.primary_key {
        if t.columns.iter().any(|c| c.primary_key) {
            return Err(p.err(
                format!("{base}.primary_key"),
                "the table has both a table-level and a column-level primary key",
            ));
        }
        for (k, c) in pk.columns.iter().enumerate() {
            match c.column_name() {
                Some(n) if col_exists(&n) => {}
                _ => {
                    return Err(p.err(
                        format!("{base}.primary_key.columns[{k}]"),
                        format!("`{}` is not a column of `{name}`", c.expr),
                    ))
                }
            }
        }
    }
    for (u, key) in t.unique.iter().enumerate() {
        for (k, c) in key.columns.iter().enumerate() {
            match c.column_name() {
                Some(n) if col_exists(&n) => {}
                _ => {
                    return Err(
                        p.err(format!("{base}.unique[{u}][{k}]"), format!("`{}` is not a column of `{name}`", c.expr))
                    )
                }
            }
        }
    }
    for (k, ck) in t.checks.iter().enumerate() {
        check_expr(p, &format!("{base}.checks[{k}].expr"), &ck.expr)?;
    }
    for (k, fk) in t.foreign_keys.iter().enumerate() {
        let fpath = format!("{base}.foreign_keys[{k}]");
        for c in &fk.columns {
            if !col_exists(c) {
                return Err(p.err(format!("{fpath}.columns"), format!("`{c}` is not a column of `{name}`")));
            }
        }
        if !fk.referenced_columns.is_empty() && fk.referenced_columns.len() != fk.columns.len() {
            return Err(p.err(
                &fpath,
                format!("{} columns reference {} columns", fk.columns.len(), fk.referenced_columns.len()),
            ));
        }
        check_reference(p, s, &fpath, &fk.references, &fk.referenced_columns)?;
    }
    for (iname, idx) in &t.indexes {
        let ipath = format!("{base}.indexes.{iname}");
        if idx.columns.is_empty() {
            return Err(p.err(format!("{ipath}.columns"), "an index needs at least one column or expression"));
        }
        for (k, c) in idx.columns.iter().enumerate() {
            // A bare name must be a column (or TRUE or FALSE, which are 1 and 0 unless a
            // column takes the name; or a "double-quoted" name, which SQLite reads as a
            // string when no column has it); anything else is an expression SQLite checks.
            if let Some(n) = c.column_name() {
                let constant = n.eq_ignore_ascii_case("true")
                    || n.eq_ignore_ascii_case("false")
                    || c.expr.as_str().starts_with('"');
                if !col_exists(&n) && !n.eq_ignore_ascii_case("rowid") && !constant {
                    return Err(p.err(format!("{ipath}.columns[{k}]"), format!("`{n}` is not a column of `{name}`")));
                }
            }
        }
        if let Some(w) = &idx.where_ {
            check_expr(p, &format!("{ipath}.where"), w)?;
        }
    }
    if t.without_rowid && t.primary_key.is_none() && !t.columns.iter().any(|c| c.primary_key) {
        return Err(p.err(format!("{base}.without_rowid"), "a WITHOUT ROWID table needs a primary key"));
    }
    Ok(())
}

/// A reference's columns exist in its parent table. A parent that is not in the schema is
/// accepted, as SQLite accepts it (the `dangling-reference` lint warns of it): such references
/// are left behind by table swaps in real databases, and the planner treats the parent as
/// outside the schema.
fn check_reference(p: &Problems<'_>, s: &Schema, path: &str, table: &str, columns: &[String]) -> Result<(), LoadError> {
    let Some((_, parent)) = s.table(table) else {
        return Ok(());
    };
    for c in columns {
        if parent.column(c).is_none() {
            return Err(p.err(path, format!("references column `{table}.{c}`, which does not exist")));
        }
    }
    Ok(())
}

/// Loads a directory and builds the result in a scratch database: the desired
/// schema as `inspect` sees it, with the YAML's migration hints.
pub fn desired_from_dir(dir: &Path) -> Result<Schema, LoadError> {
    let loaded = load_dir(dir)?;
    desired(&loaded)
}

/// The normalized desired schema of loaded YAML (scratch build, then inspect).
pub fn desired(loaded: &Loaded) -> Result<Schema, LoadError> {
    let schema = normalize::desired(&loaded.schema).map_err(|e| match e {
        normalize::NormalizeError::Build(b) => rejected(loaded, b),
        other => LoadError::Scratch(other.to_string()),
    })?;
    check_bodies(loaded)?;
    Ok(schema)
}

/// SQLite's rejection of an object, placed in its file. SQLite's message may
/// end with " in <the statement> at offset N"; the error shows the statement
/// anyway, so that becomes the text at the offset.
fn rejected(loaded: &Loaded, mut b: BuildError) -> LoadError {
    let tail = format!(" in {}", b.sql);
    if let Some(i) = b.message.find(&tail) {
        let offset =
            b.message[i + tail.len()..].strip_prefix(" at offset ").and_then(|n| n.trim().parse::<usize>().ok());
        let near = offset
            .and_then(|o| b.sql.get(o..))
            .map(|rest| rest.lines().next().unwrap_or("").trim())
            .filter(|rest| !rest.is_empty())
            .map(|rest| format!(", at `{rest}`"))
            .unwrap_or_default();
        b.message = format!("{}{near}", &b.message[..i]);
    }
    LoadError::Build { file: loaded.file_of(&b.path), source: b }
}

/// SQLite creates views and triggers without resolving the names in their
/// bodies: `SELECT nope FROM t` fails only when the view is first read.
/// Preparing (never running) a statement that reads each view, then one that
/// fires each trigger, compiles those bodies now, so the error is SQLite's
/// own and is placed at the view or trigger that has it. A body this build of
/// SQLite cannot prepare although the application's may (see
/// [`normalize::beyond_this_build`]) is not an error: it is left unchecked, and
/// the `not-prepared` lint says so.
fn check_bodies(loaded: &Loaded) -> Result<(), LoadError> {
    compile_bodies(&loaded.schema).map(drop).map_err(|e| match e {
        normalize::NormalizeError::Build(b) => rejected(loaded, b),
        other => LoadError::Scratch(other.to_string()),
    })
}

/// A view or trigger that SQLite could not prepare here: its YAML path and SQLite's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unchecked {
    /// YAML path of the view or trigger.
    pub path: String,
    /// SQLite's message.
    pub reason: String,
}

/// Compiles every view and trigger body of `s` in a scratch database (with stand-ins for the
/// application's functions): the first body SQLite rejects as an error, or the bodies it
/// could not prepare for a reason beyond this build.
pub(crate) fn compile_bodies(s: &Schema) -> Result<Vec<Unchecked>, normalize::NormalizeError> {
    let mut unchecked = Vec::new();
    if s.views.is_empty() && s.triggers.is_empty() {
        return Ok(unchecked);
    }
    let conn = normalize::scratch(s)?;
    // Without triggers first, so a view's error is the view's. Of the tables,
    // those the views and triggers name, and those their writes reach.
    let (mut bare, _) = normalize::split_linked(s);
    normalize::with_foreign_key_neighbours(s, &mut bare);
    bare.triggers.clear();
    normalize::build(&conn, &bare)?;
    for (name, v) in &s.views {
        let read = format!("SELECT * FROM {} LIMIT 0", sql::quote_ident(name));
        if let Err(e) = conn.prepare(&read) {
            let (path, message) = (format!("views.{name}"), sqlite_message(&e));
            if !normalize::beyond_this_build(&message) {
                return Err(BuildError { path, message, sql: sql::view_create_sql(name, &v.sql) }.into());
            }
            unchecked.push(Unchecked { path, reason: message });
        }
    }
    // One trigger at a time, so an error is the error of the one in place.
    for (name, tr) in &s.triggers {
        let path = format!("triggers.{name}");
        let reject = |message: String| BuildError { path: path.clone(), message, sql: tr.sql.clone() };
        conn.execute_batch(&tr.sql).map_err(|e| reject(sqlite_message(&e)))?;
        if let Some(fire) = firing_statement(&conn, &tr.sql) {
            match prepare_firing(&conn, s, &fire) {
                Ok(_) => {}
                // An INSTEAD OF UPDATE OF trigger whose columns the view does not have never
                // fires (SQLite does not check an UPDATE OF list): nothing here compiles it.
                Err(e) if sqlite_message(&e).starts_with("cannot modify ") => {}
                Err(e) if normalize::beyond_this_build(&sqlite_message(&e)) => {
                    unchecked.push(Unchecked { path: path.clone(), reason: sqlite_message(&e) });
                }
                Err(e) => return Err(reject(format!("{} (when `{fire}` fires it)", sqlite_message(&e))).into()),
            }
        }
        conn.execute_batch(&format!("DROP TRIGGER {}", sql::quote_ident(name)))?;
    }
    Ok(unchecked)
}

/// Prepares a statement that fires a trigger. A write to a table with a dangling reference (its
/// parent is not in the schema) cannot compile its foreign key check while keys are on, exactly
/// as it fails in the application (the `dangling-reference` lint says so): it is prepared again
/// with keys off, so the trigger's own body is still checked.
fn prepare_firing(conn: &Connection, s: &Schema, fire: &str) -> Result<(), rusqlite::Error> {
    let first = conn.prepare(fire).map(drop);
    let dangling = |e: &rusqlite::Error| {
        sqlite_message(e)
            .strip_prefix("no such table: ")
            .map(|t| t.strip_prefix("main.").unwrap_or(t))
            .is_some_and(|t| s.table(t).is_none() && !s.views.keys().any(|v| v.eq_ignore_ascii_case(t)))
    };
    match first {
        Err(e) if dangling(&e) => {
            conn.execute_batch("PRAGMA foreign_keys = OFF")?;
            let again = conn.prepare(fire).map(drop);
            conn.execute_batch("PRAGMA foreign_keys = ON")?;
            again
        }
        other => other,
    }
}

/// A statement that fires a trigger: an INSERT, DELETE or UPDATE (of every
/// updatable column) on its table or view, matching its event.
pub(crate) fn firing_statement(conn: &Connection, trigger_sql: &str) -> Option<String> {
    use sqlite3_parser::dialect::TokenType;
    let (_, on) = parse::create_trigger(trigger_sql).ok()?;
    let target = sql::quote_ident(&on);
    let event = sql::tokens(trigger_sql)
        .ok()?
        .into_iter()
        .map(|t| t.ty)
        .find(|ty| matches!(ty, TokenType::TK_INSERT | TokenType::TK_DELETE | TokenType::TK_UPDATE))?;
    match event {
        TokenType::TK_INSERT => Some(format!("INSERT INTO {target} DEFAULT VALUES")),
        TokenType::TK_DELETE => Some(format!("DELETE FROM {target}")),
        _ => {
            // Generated columns (hidden 2 and 3) cannot be assigned; every other one can.
            let mut stmt =
                conn.prepare("SELECT name FROM pragma_table_xinfo(?1) WHERE hidden = 0 ORDER BY cid").ok()?;
            let cols: Vec<String> = stmt.query_map([&on], |r| r.get(0)).ok()?.filter_map(Result::ok).collect();
            let sets: Vec<String> = cols.iter().map(|c| sql::quote_ident(c)).map(|c| format!("{c} = {c}")).collect();
            (!sets.is_empty()).then(|| format!("UPDATE {target} SET {}", sets.join(", ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(yaml: &str) -> Result<Loaded, LoadError> {
        load_sources(&[("a.yaml", yaml)])
    }

    #[test]
    fn minimal() {
        let l = load("tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n").unwrap();
        assert!(l.schema.tables["t"].columns[0].primary_key);
    }

    #[test]
    fn unknown_key_has_path_and_line() {
        let e = load("tables:\n  t:\n    columns:\n      - { name: id, typ: INTEGER }\n").unwrap_err().to_string();
        assert!(e.starts_with("a.yaml:4:"), "{e}");
        assert!(e.contains("unknown field `typ`"), "{e}");
        assert!(e.contains("tables.t.columns[0]"), "{e}");
    }

    #[test]
    fn constants_are_index_terms() {
        let y = "tables:\n  t:\n    columns:\n      - { name: a }\n    indexes:\n      t_i: { columns: [a, TRUE] }\n";
        assert!(load(y).is_ok());
        let y = "tables:\n  t:\n    columns:\n      - { name: a }\n    indexes:\n      t_i: { columns: [b] }\n";
        assert!(load(y).unwrap_err().to_string().contains("`b` is not a column"));
        // SQLite reads a double-quoted name that is no column as a string.
        let y = "tables:\n  t:\n    columns:\n      - { name: a }\n    indexes:\n      t_i: { columns: ['\"E\"'] }\n";
        assert!(load(y).is_ok());
    }

    #[test]
    fn an_instead_of_update_of_trigger_that_never_fires_loads() {
        let y = "tables:\n  t:\n    columns:\n      - { name: a }\nviews:\n  v:\n    sql: SELECT a FROM t\ntriggers:\n  tr:\n    sql: CREATE TRIGGER tr INSTEAD OF UPDATE OF b ON v BEGIN SELECT 1; END\n";
        let loaded = load(y).unwrap();
        assert!(desired(&loaded).is_ok());
    }

    #[test]
    fn injection_through_default_is_refused() {
        let e = load("tables:\n  t:\n    columns:\n      - { name: a, default: \"0); DROP TABLE users; --\" }\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("tables.t.columns[0].default"), "{e}");
    }
}

/// One step of a YAML path: a key (a column or an index may be named by its `name`), or a
/// list position.
enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let Some((n, after)) = rest.split_once(']') {
            if let Ok(i) = n.parse() {
                out.push(Segment::Index(i));
            }
            rest = after.strip_prefix('[').unwrap_or(after);
        }
    }
    out
}

/// Whether `body` (a line without its indentation and list dash) starts with key `key`.
fn starts_with_key(body: &str, key: &str) -> bool {
    [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .any(|k| body.strip_prefix(k.as_str()).is_some_and(|r| r.trim_start().starts_with(':')))
}

/// The column of `key:` inside the flow mapping on `line` after byte `from`.
fn flow_key(line: &str, from: usize, key: &str) -> Option<usize> {
    let rest = line.get(from..)?;
    let mut at = 0;
    while let Some(i) = rest[at..].find(key) {
        let start = at + i;
        let before = rest[..start].trim_end().chars().last();
        let after = rest[start + key.len()..].trim_start();
        if matches!(before, Some('{') | Some(',')) && after.starts_with(':') {
            return Some(from + start);
        }
        at = start + key.len();
    }
    None
}

/// Whether the list item on a line names `name` (`- name: x`, `- { name: x, ... }`).
fn item_named(body: &str, name: &str) -> bool {
    let Some(i) = body.find("name:") else { return false };
    let value = body[i + 5..].trim_start();
    let value = value.trim_start_matches(['"', '\'']);
    value.strip_prefix(name).is_some_and(|r| r.is_empty() || r.starts_with([',', '}', ' ', '"', '\'']))
}

/// The line and column (1-based) of the object at YAML path `path` (`tables.posts.columns[1]`,
/// `tables.posts.columns.user_id.references`) in `text`, as far as its text shows it: the
/// deepest step of the path found, block or flow style; the file's first line when none is.
pub fn locate(text: &str, path: &str) -> (usize, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let mut at: Option<(usize, usize, usize)> = None; // (line, column, indent of its block)
    for seg in segments(path) {
        // Inside a flow mapping on the line found so far.
        if let (Some((line, col, indent)), Segment::Key(key)) = (at, &seg) {
            if let Some(c) = flow_key(lines[line], col + 1, key) {
                at = Some((line, c, indent));
                continue;
            }
        }
        let (from, parent) = at.map_or((0, -1), |(l, _, i)| (l + 1, i as isize));
        let (mut hit, mut count, mut item_indent) = (None, 0, None);
        for (i, l) in lines.iter().enumerate().skip(from) {
            let t = l.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            let indent = l.len() - t.len();
            if (indent as isize) <= parent && !t.starts_with("- ") {
                break;
            }
            if (indent as isize) < parent {
                break;
            }
            let body = t.strip_prefix("- ").map(str::trim_start);
            match &seg {
                Segment::Key(key) => {
                    let inner = body.unwrap_or(t);
                    if starts_with_key(inner, key) || (body.is_some() && item_named(inner, key)) {
                        hit = Some((i, l.len() - inner.len(), indent));
                        break;
                    }
                }
                Segment::Index(n) => {
                    if body.is_some() && item_indent.is_none_or(|d| d == indent) {
                        item_indent = Some(indent);
                        if count == *n {
                            hit = Some((i, indent, indent));
                            break;
                        }
                        count += 1;
                    }
                }
            }
        }
        match hit {
            Some(h) => at = Some(h),
            None => break,
        }
    }
    at.map_or((1, 1), |(line, col, _)| (line + 1, col + 1))
}

#[cfg(test)]
mod locate_tests {
    use super::locate;

    const YAML: &str = "# app\ntables:\n  users:\n    columns:\n      - { name: id, type: INTEGER }\n      - name: email\n        type: TEXT\n        references: { table: orgs, column: id }\n    foreign_keys:\n      - { columns: [org], references: orgs }\n      - columns: [team]\n        references: teams\nviews:\n  v: { sql: \"SELECT 1\" }\n";

    #[test]
    fn a_yaml_path_is_found_in_block_and_flow_style() {
        assert_eq!(locate(YAML, "tables.users"), (3, 3));
        assert_eq!(locate(YAML, "tables.users.columns.id"), (5, 9));
        assert_eq!(locate(YAML, "tables.users.columns.email"), (6, 9));
        assert_eq!(locate(YAML, "tables.users.columns.email.references"), (8, 9));
        assert_eq!(locate(YAML, "tables.users.columns[1]"), (6, 7));
        assert_eq!(locate(YAML, "tables.users.foreign_keys[1]"), (11, 7));
        assert_eq!(locate(YAML, "views.v.sql"), (14, 8));
        // What is not there: the deepest step found.
        assert_eq!(locate(YAML, "tables.users.indexes.x"), (3, 3));
        assert_eq!(locate(YAML, "nothing"), (1, 1));
    }
}
