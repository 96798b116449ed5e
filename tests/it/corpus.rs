//! The sqldef corpus as an external conformance suite for plan + apply.
//!
//! For each case of `../shared/corpus/sqldef/*.yml` (see its README): build
//! `current` in a fresh database file and seed rows into every table; build
//! `desired` in a scratch database, inspect it, turn sqldef's
//! `@renamed from=X` comments into `renamed_from` hints, and go through YAML
//! (`to_yaml` → `load_sources` → `load::desired`) as a user's schema would.
//! Then plan and apply, and run the scenario checks: the schema equals the
//! desired one, a second plan is empty, seeded rows survive in every kept
//! column, and integrity and foreign-key checks are clean. A plan with
//! destructive steps (the point of sqldef's `enable_drop: false` cases) must
//! first be refused without permission, leaving the database unchanged. Every
//! case runs both ways: `current` → `desired`, then `desired` → `current`.
//!
//! Seeded values are never NULL: sqldef's cases tighten columns to NOT NULL
//! without a default, which is right for its empty tables and a refused
//! data-dependent step (not a planner bug) over rows with NULLs.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use rusqlite::types::Value;
use rusqlite::Connection;
use sqlite_reconcile::model::{Schema, Table};
use sqlite_reconcile::{inspect, load, to_yaml, InspectOptions};

use crate::harness::{corpus_dir, Dir, Place, Scenario};

/// Cases that cannot pass, by name, with the reason. The test fails when a
/// listed case passes (or is no longer in the corpus), so the list stays true.
const KNOWN_FAILURES: &[(&str, &str)] = &[];

/// Rows seeded into each table of `current`.
const SEED_ROWS: usize = 3;

/// One case of the corpus.
struct Case {
    file: String,
    name: String,
    current: String,
    desired: String,
    enable_drop: bool,
    error: Option<String>,
    min_version: Option<String>,
    max_version: Option<String>,
}

/// What running one case came to.
enum Outcome {
    Pass { notes: Vec<String> },
    Fail(String),
}

#[test]
fn sqldef_corpus_plans_and_applies() {
    run_corpus(None, sqlite_version());
}

/// The corpus again with each case's database on a real libSQL server, planned for the
/// server's SQLite version, applied and rolled back there, every check read back from it.
#[test]
fn sqldef_corpus_plans_and_applies_on_a_libsql_server() {
    let Some(server) = crate::harness::sqld() else { return };
    let client = sqlite_reconcile::remote::Client::connect(&server.url, None).expect("the server answers");
    let version = sqlite_reconcile::engine::sqlite_version(&client).expect("its SQLite version");
    drop(server);
    run_corpus(Some(Place::Sqld), version);
}

/// The corpus with each case's database on an rqlite node, with `-fk` and without: each change
/// and its rollback sent as one request, every check read back from the node.
#[test]
fn sqldef_corpus_plans_and_applies_on_rqlite_with_and_without_foreign_keys() {
    for foreign_keys in [false, true] {
        let Some(node) = crate::harness::rqlited(foreign_keys, None) else { return };
        let reader = sqlite_reconcile::rqlite::Node::connect(&node.url).expect("the node answers");
        let version = sqlite_reconcile::engine::sqlite_version(&reader).expect("its SQLite version");
        drop(node);
        run_corpus(Some(Place::Rqlite { foreign_keys }), version);
    }
}

/// Every case of the corpus on SQLite `version`: locally, or on a libSQL server.
fn run_corpus(on_server: Option<Place>, version: (u32, u32, u32)) {
    let Some(dir) = corpus_dir() else {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "the sqldef corpus is required under CI=true");
        println!("sqldef corpus not found; skipping");
        return;
    };
    let cases = read_cases(&dir);
    let (mut passed, mut run) = (0usize, 0usize);
    let mut failures: Vec<String> = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let mut seen_known = BTreeSet::new();
    for case in &cases {
        if let Some(why) = skip_reason(case, version) {
            skipped.push(format!("{} ({}): {why}", case.name, case.file));
            continue;
        }
        run += 1;
        let known = KNOWN_FAILURES.iter().find(|(n, _)| *n == case.name);
        if known.is_some() {
            seen_known.insert(case.name.clone());
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| run_case(case, on_server)))
            .unwrap_or_else(|p| Outcome::Fail(format!("panicked: {}", panic_message(p.as_ref()))));
        match (outcome, known) {
            (Outcome::Pass { notes: n }, None) => {
                passed += 1;
                notes.extend(n.into_iter().map(|x| format!("{}: {x}", case.name)));
            }
            (Outcome::Pass { .. }, Some((_, why))) => {
                passed += 1;
                failures.push(format!("{}: passes now but is listed in KNOWN_FAILURES ({why}); remove it", case.name));
            }
            (Outcome::Fail(e), Some((_, why))) => {
                println!("  known failure {} ({}): {why}\n    {e}", case.name, case.file);
            }
            (Outcome::Fail(e), None) => failures.push(format!("{} ({}): {e}", case.name, case.file)),
        }
    }
    for (name, _) in KNOWN_FAILURES {
        if !seen_known.contains(*name) {
            failures.push(format!("{name}: listed in KNOWN_FAILURES but not run (not in the corpus, or skipped)"));
        }
    }
    println!(
        "sqldef corpus{}: {passed}/{run} cases pass, each both ways ({} skipped, {} cases in all)",
        match on_server {
            None => String::new(),
            Some(place) => format!(" on {place:?}"),
        },
        skipped.len(),
        cases.len()
    );
    for s in &skipped {
        println!("  skipped {s}");
    }
    for n in &notes {
        println!("  note {n}");
    }
    for f in &failures {
        println!("  FAIL {f}");
    }
    assert!(failures.is_empty(), "{} corpus failures:\n\n{}", failures.len(), failures.join("\n\n"));
    assert!(run >= 60, "only {run} corpus cases ran");
}

fn read_cases(dir: &std::path::Path) -> Vec<Case> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("read corpus dir")
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in &files {
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or_default().to_string();
        let text = std::fs::read_to_string(path).expect("read corpus file");
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("corpus YAML");
        let serde_yaml::Value::Mapping(cases) = doc else { panic!("{file}: not a mapping of cases") };
        for (name, body) in &cases {
            let field = |k: &str| body.get(k).and_then(|v| v.as_str()).map(str::to_string);
            let version = |k: &str| {
                body.get(k).map(|v| match v {
                    serde_yaml::Value::String(s) => s.clone(),
                    serde_yaml::Value::Number(n) => n.to_string(),
                    other => panic!("{file}: {k}: unexpected {other:?}"),
                })
            };
            out.push(Case {
                file: file.clone(),
                name: name.as_str().expect("case name").to_string(),
                current: field("current").unwrap_or_default(),
                desired: field("desired").unwrap_or_default(),
                enable_drop: body.get("enable_drop").and_then(|v| v.as_bool()).unwrap_or(true),
                error: field("error"),
                min_version: version("min_version"),
                max_version: version("max_version"),
            });
        }
    }
    out
}

fn sqlite_version() -> (u32, u32, u32) {
    let c = Connection::open_in_memory().unwrap();
    sqlite_reconcile::inspect::sqlite_version(&c).unwrap()
}

/// "3.35" → (3, 35, 0).
fn parse_version(v: &str) -> (u32, u32, u32) {
    let mut it = v.split('.').map(|p| p.trim().parse::<u32>().expect("numeric version"));
    (it.next().unwrap_or(0), it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn skip_reason(case: &Case, running: (u32, u32, u32)) -> Option<String> {
    let shown = format!("{}.{}.{}", running.0, running.1, running.2);
    if let Some(e) = &case.error {
        return Some(format!("sqldef expects its own error ({})", e.trim()));
    }
    if let Some(min) = &case.min_version {
        if running < parse_version(min) {
            return Some(format!("needs SQLite >= {min}, running {shown}"));
        }
    }
    if let Some(max) = &case.max_version {
        // A max of "3.40" admits every 3.40.x.
        let (a, b, c) = parse_version(max);
        let limit = if max.matches('.').count() >= 2 { (a, b, c) } else { (a, b, u32::MAX) };
        if running > limit {
            return Some(format!("needs SQLite <= {max}, running {shown}"));
        }
    }
    None
}

#[test]
fn cases_outside_the_running_version_or_expecting_errors_are_skipped() {
    let case = |min: Option<&str>, max: Option<&str>, error: Option<&str>| Case {
        file: "t.yml".into(),
        name: "c".into(),
        current: String::new(),
        desired: String::new(),
        enable_drop: true,
        error: error.map(str::to_string),
        min_version: min.map(str::to_string),
        max_version: max.map(str::to_string),
    };
    let v = (3, 45, 1);
    assert_eq!(skip_reason(&case(Some("3.35"), None, None), v), None);
    assert_eq!(skip_reason(&case(None, Some("3.45"), None), v), None);
    assert!(skip_reason(&case(Some("3.46"), None, None), v).is_some());
    assert!(skip_reason(&case(None, Some("3.44.9"), None), v).is_some());
    assert!(skip_reason(&case(None, None, Some("boom")), v).is_some());
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

/// A case passes when it passes both ways: `current` → `desired` (sqldef's
/// `up`), then `desired` → `current` with the rename hints turned round; on a
/// libSQL server when `on_server`.
fn run_case(case: &Case, on_server: Option<Place>) -> Outcome {
    let mut notes = Vec::new();
    for dir in [Direction::Forward, Direction::Reversed] {
        match try_case(case, dir, on_server) {
            Ok(n) => notes.extend(n.into_iter().map(|x| format!("{}: {x}", dir.label()))),
            Err(e) => return Outcome::Fail(format!("{}: {e}", dir.label())),
        }
    }
    Outcome::Pass { notes }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Direction {
    /// `current` → `desired`.
    Forward,
    /// `desired` → `current`.
    Reversed,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::Forward => "current → desired",
            Direction::Reversed => "desired → current",
        }
    }
}

fn try_case(case: &Case, direction: Direction, on_server: Option<Place>) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    let hints = rename_hints(&case.desired)?;
    let (from_sql, to_sql, hints) = match direction {
        Direction::Forward => (&case.current, &case.desired, hints),
        Direction::Reversed => (&case.desired, &case.current, invert(&hints)),
    };
    // The starting schema, seeded, in a real database file.
    let dir = Dir::new();
    let db = dir.join("app.db");
    {
        let conn = Connection::open(&db).map_err(|e| format!("open: {e}"))?;
        conn.execute_batch(from_sql).map_err(|e| format!("SQLite rejects the starting SQL: {e}"))?;
        let schema = inspect(&conn, &InspectOptions::default()).map_err(|e| format!("inspect the start: {e}"))?;
        notes.extend(seed(&conn, &schema));
    }
    let mut s = match on_server {
        None => Scenario::open(dir, db),
        Some(place) => match Scenario::open_on(dir, db, place) {
            Some(s) => s,
            None => return Ok(vec![format!("no {place:?} to run on")]),
        },
    };

    // The goal, through YAML.
    let desired = desired_schema(to_sql, &hints)?;
    s.desired = Some(desired.clone());
    let renames = column_renames(&desired);
    let renames: Vec<(&str, &str, &str)> =
        renames.iter().map(|(t, n, o)| (t.as_str(), n.as_str(), o.as_str())).collect();

    // Destructive steps are refused without permission, and the refusal changes
    // nothing; sqldef's `enable_drop: false` cases exist to show exactly that.
    if !s.try_refuse_destructive(&desired)? && !case.enable_drop && direction == Direction::Forward {
        notes.push("enable_drop: false, but the plan has no destructive step (nothing to refuse)".into());
    }
    s.try_apply_desired(&desired, true).map_err(|e| format!("apply: {e}"))?;

    // The four checks, then the rollback brings back the start, schema and rows.
    s.try_check_all(&renames)?;
    Ok(notes)
}

// ---------------------------------------------------------------------------
// Seeding
// ---------------------------------------------------------------------------

/// Inserts `SEED_ROWS` rows into every table, parents before children. Returns
/// a note for each table that could not be seeded (it is left empty).
fn seed(conn: &Connection, schema: &Schema) -> Vec<String> {
    let mut notes = Vec::new();
    conn.execute_batch("PRAGMA foreign_keys = OFF").unwrap();
    for name in seed_order(schema) {
        let t = &schema.tables[&name];
        if let Err(e) = seed_table(conn, schema, &name, t) {
            notes.push(format!("table `{name}` not seeded: {e}"));
        }
    }
    // Rows that still break a foreign key (a cycle, a parent left empty): that child stays empty.
    let violating: BTreeSet<String> = {
        let mut stmt = conn.prepare("SELECT DISTINCT \"table\" FROM pragma_foreign_key_check").unwrap();
        stmt.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
    };
    for t in violating {
        conn.execute_batch(&format!("DELETE FROM {}", qi(&t))).unwrap();
        notes.push(format!("table `{t}` not seeded: its rows could not satisfy its foreign keys"));
    }
    conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
    notes
}

/// Tables ordered so that a parent comes before the tables that reference it.
fn seed_order(schema: &Schema) -> Vec<String> {
    let parents = |t: &Table| -> BTreeSet<String> {
        let cols = t.columns.iter().filter_map(|c| c.references.as_ref()).map(|r| r.table.clone());
        cols.chain(t.foreign_keys.iter().map(|f| f.references.clone()))
            .filter_map(|p| schema.table(&p).map(|(k, _)| k.clone()))
            .collect()
    };
    let mut done: Vec<String> = Vec::new();
    let mut left: Vec<&String> = schema.tables.keys().collect();
    while !left.is_empty() {
        let ready: Vec<&String> = left
            .iter()
            .copied()
            .filter(|n| parents(&schema.tables[*n]).iter().all(|p| p == *n || done.contains(p)))
            .collect();
        // A cycle: take the rest in name order; foreign_key_check sorts it out.
        let take = if ready.is_empty() { left.clone() } else { ready };
        for n in take {
            done.push(n.clone());
            left.retain(|x| *x != n);
        }
    }
    done
}

fn seed_table(conn: &Connection, schema: &Schema, name: &str, t: &Table) -> Result<(), String> {
    let cols: Vec<_> = t.columns.iter().filter(|c| c.generated.is_none()).collect();
    if cols.is_empty() {
        return Ok(());
    }
    // Rowids with gaps (an INTEGER PRIMARY KEY gets them from `value_for`), so a
    // plan that renumbered rows would show.
    let rowid_names = ["rowid", "_rowid_", "oid"];
    let set_rowid = !t.without_rowid
        && !t.has_rowid_alias()
        && !t.columns.iter().any(|c| rowid_names.iter().any(|r| c.name.eq_ignore_ascii_case(r)));
    let mut names: Vec<String> = cols.iter().map(|c| qi(&c.name)).collect();
    if set_rowid {
        names.insert(0, "rowid".to_string());
    }
    let marks = (1..=names.len()).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
    let sql = format!("INSERT INTO {} ({}) VALUES ({marks})", qi(name), names.join(", "));
    conn.execute_batch("SAVEPOINT seed").map_err(|e| e.to_string())?;
    let result = (|| {
        for row in 0..SEED_ROWS {
            let mut values = Vec::new();
            if set_rowid {
                values.push(Value::Integer(row as i64 * 10 + 3));
            }
            for c in &cols {
                values.push(match parent_of(t, &c.name) {
                    Some((parent, pcol)) => parent_value(conn, schema, &parent, pcol.as_deref(), row)
                        .or_else(|| (!c.not_null).then_some(Value::Null))
                        .ok_or_else(|| format!("no `{parent}` row for NOT NULL `{}`", c.name))?,
                    None => value_for(t, c.ty.as_deref(), &c.name, row),
                });
            }
            conn.execute(&sql, rusqlite::params_from_iter(values)).map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    })();
    match result {
        Ok(()) => conn.execute_batch("RELEASE seed").map_err(|e| e.to_string()),
        Err(e) => {
            conn.execute_batch("ROLLBACK TO seed; RELEASE seed").map_err(|e| e.to_string())?;
            Err(e)
        }
    }
}

/// The parent table and column a child column references (single-column keys;
/// the column of a composite key is matched by position).
fn parent_of(t: &Table, col: &str) -> Option<(String, Option<String>)> {
    let c = t.column(col)?;
    if let Some(r) = &c.references {
        return Some((r.table.clone(), r.column.clone()));
    }
    t.foreign_keys.iter().find_map(|fk| {
        let i = fk.columns.iter().position(|x| x.eq_ignore_ascii_case(col))?;
        Some((fk.references.clone(), fk.referenced_columns.get(i).cloned()))
    })
}

/// The value of the referenced parent column in the parent's `row`-th row (by rowid order).
fn parent_value(conn: &Connection, schema: &Schema, parent: &str, col: Option<&str>, row: usize) -> Option<Value> {
    let (pname, pt) = schema.table(parent)?;
    let col = match col {
        Some(c) => c.to_string(),
        None => pt.primary_key_columns().into_iter().next()?,
    };
    let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {}", qi(pname)), [], |r| r.get(0)).ok()?;
    if n == 0 {
        return None;
    }
    let order = if pt.without_rowid { "1" } else { "rowid" };
    conn.query_row(
        &format!("SELECT {} FROM {} ORDER BY {order} LIMIT 1 OFFSET ?1", qi(&col), qi(pname)),
        [(row as i64) % n],
        |r| r.get(0),
    )
    .ok()
}

/// A value for a column of declared type `ty` in seed row `row`: distinct per
/// row (so UNIQUE and keys hold), never NULL, of the type's own kind (so STRICT
/// tables take it), positive where numeric. Integer keys get gaps, so a plan
/// that renumbered rowids would show.
fn value_for(t: &Table, ty: Option<&str>, col: &str, row: usize) -> Value {
    let n = row as i64 + 1;
    let upper = ty.unwrap_or("").to_ascii_uppercase();
    let is_key = t.primary_key_columns().iter().any(|k| k.eq_ignore_ascii_case(col));
    let text = || Value::Text(format!("{col}_{n}"));
    if t.strict {
        let first = upper.split(|c: char| !c.is_ascii_alphanumeric()).next().unwrap_or("");
        return match first {
            "INT" | "INTEGER" => Value::Integer(if is_key { n * 10 + 1 } else { n }),
            "REAL" => Value::Real(n as f64 + 0.5),
            "TEXT" => text(),
            "BLOB" => Value::Blob(vec![n as u8, 0xab]),
            _ => Value::Integer(n * 100),
        };
    }
    match sqlite_reconcile::diff::affinity(ty) {
        "INTEGER" => Value::Integer(if is_key { n * 10 + 1 } else { n }),
        "TEXT" => text(),
        "REAL" => Value::Real(n as f64 + 0.5),
        "BLOB" => Value::Blob(vec![n as u8, 0xab]),
        _ if upper.contains("DATE") || upper.contains("TIME") => Value::Text(format!("2024-01-0{n} 12:00:00")),
        _ if upper.contains("BOOL") => Value::Integer(n % 2),
        _ => Value::Integer(n * 100),
    }
}

fn qi(name: &str) -> String {
    sqlite_reconcile::sql::quote_ident(name)
}

// ---------------------------------------------------------------------------
// Desired schema: scratch build, rename hints, YAML
// ---------------------------------------------------------------------------

/// `desired` built in a scratch database and inspected, with sqldef's rename
/// comments as `renamed_from` hints, written as YAML and loaded back.
fn desired_schema(sql: &str, hints: &[Hint]) -> Result<Schema, String> {
    let scratch = Connection::open_in_memory().map_err(|e| e.to_string())?;
    scratch.execute_batch(sql).map_err(|e| format!("SQLite rejects `desired`: {e}"))?;
    let mut schema = inspect(&scratch, &InspectOptions::default()).map_err(|e| format!("inspect `desired`: {e}"))?;
    for hint in hints {
        place_hint(&mut schema, hint)?;
    }
    let yaml = to_yaml(&schema).map_err(|e| format!("to_yaml: {e}"))?;
    let loaded =
        load::load_sources(&[("desired.yaml", yaml.as_str())]).map_err(|e| format!("load: {e}\n--- yaml:\n{yaml}"))?;
    load::desired(&loaded).map_err(|e| format!("load::desired: {e}\n--- yaml:\n{yaml}"))
}

/// (table, new column, old column) for every column rename hint.
fn column_renames(desired: &Schema) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (t, table) in &desired.tables {
        for c in &table.columns {
            if let Some(old) = &c.renamed_from {
                out.push((t.clone(), c.name.clone(), old.clone()));
            }
        }
    }
    out
}

/// What a `@renamed from=X` comment renames.
#[derive(Debug, PartialEq)]
enum Hint {
    Table { name: String, from: String },
    Column { table: String, name: String, from: String },
    Index { name: String, from: String },
}

/// The hints that undo `hints`: each rename the other way round.
fn invert(hints: &[Hint]) -> Vec<Hint> {
    let table_was = |t: &str| {
        hints.iter().find_map(|h| match h {
            Hint::Table { name, from } if name.eq_ignore_ascii_case(t) => Some(from.clone()),
            _ => None,
        })
    };
    hints
        .iter()
        .map(|h| match h {
            Hint::Table { name, from } => Hint::Table { name: from.clone(), from: name.clone() },
            Hint::Column { table, name, from } => Hint::Column {
                table: table_was(table).unwrap_or_else(|| table.clone()),
                name: from.clone(),
                from: name.clone(),
            },
            Hint::Index { name, from } => Hint::Index { name: from.clone(), from: name.clone() },
        })
        .collect()
}

fn place_hint(schema: &mut Schema, hint: &Hint) -> Result<(), String> {
    let missing = || format!("rename hint {hint:?} names nothing in the desired schema");
    match hint {
        Hint::Table { name, from } => {
            let key = schema.table(name).map(|(k, _)| k.clone()).ok_or_else(missing)?;
            schema.tables.get_mut(&key).ok_or_else(missing)?.renamed_from = Some(from.clone());
        }
        Hint::Column { table, name, from } => {
            let key = schema.table(table).map(|(k, _)| k.clone()).ok_or_else(missing)?;
            let t = schema.tables.get_mut(&key).ok_or_else(missing)?;
            let c = t.columns.iter_mut().find(|c| c.name.eq_ignore_ascii_case(name)).ok_or_else(missing)?;
            c.renamed_from = Some(from.clone());
        }
        Hint::Index { name, from } => {
            let idx = schema
                .tables
                .values_mut()
                .flat_map(|t| t.indexes.iter_mut())
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, i)| i)
                .ok_or_else(missing)?;
            idx.renamed_from = Some(from.clone());
        }
    }
    Ok(())
}

/// A lexical item of the desired SQL: a word (identifier or keyword, unquoted),
/// a string literal, or one punctuation character.
#[derive(Debug, Clone, PartialEq)]
enum Lex {
    Word(String),
    Str,
    Punct(char),
}

/// Tokens with their byte offsets, and comments as (offset, text).
type Lexed = (Vec<(usize, Lex)>, Vec<(usize, String)>);

/// The tokens and the comments of SQL text.
fn lex(sql: &str) -> Result<Lexed, String> {
    let b = sql.as_bytes();
    let (mut toks, mut comments) = (Vec::new(), Vec::new());
    let mut i = 0;
    // The end of a quoted run starting at `i` with quote `close`, doubled quotes escaped.
    let quoted = |i: usize, close: u8| -> Result<usize, String> {
        let mut j = i + 1;
        loop {
            match b.get(j) {
                None => return Err(format!("unterminated quote at byte {i}")),
                Some(&c) if c == close && close != b']' && b.get(j + 1) == Some(&close) => j += 2,
                Some(&c) if c == close => return Ok(j + 1),
                Some(_) => j += 1,
            }
        }
    };
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if sql[i..].starts_with("--") {
            let end = sql[i..].find('\n').map_or(b.len(), |e| i + e);
            comments.push((i, sql[i + 2..end].to_string()));
            i = end;
        } else if sql[i..].starts_with("/*") {
            let end = sql[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e);
            comments.push((i, sql[i + 2..end].to_string()));
            i = (end + 2).min(b.len());
        } else if c == b'\'' {
            let end = quoted(i, b'\'')?;
            toks.push((i, Lex::Str));
            i = end;
        } else if matches!(c, b'"' | b'`' | b'[') {
            let close = match c {
                b'[' => b']',
                q => q,
            };
            let end = quoted(i, close)?;
            toks.push((i, Lex::Word(sqlite_reconcile::sql::unquote(&sql[i..end]))));
            i = end;
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'$' || b[i] >= 0x80) {
                i += 1;
            }
            toks.push((start, Lex::Word(sql[start..i].to_string())));
        } else {
            toks.push((i, Lex::Punct(c as char)));
            i += 1;
        }
    }
    Ok((toks, comments))
}

/// The value of `from=` in a rename comment: quoted (`"user accounts"`) or bare.
fn hint_from(comment: &str) -> Option<String> {
    let at = comment.find("@renamed")?;
    let rest = comment[at + "@renamed".len()..].trim_start();
    let rest = rest.strip_prefix("from")?.trim_start().strip_prefix('=')?.trim_start();
    let (toks, _) = lex(rest).ok()?;
    match toks.first() {
        Some((_, Lex::Word(w))) => Some(w.clone()),
        _ => None,
    }
}

fn is_kw(l: Option<&Lex>, kw: &str) -> bool {
    matches!(l, Some(Lex::Word(w)) if w.eq_ignore_ascii_case(kw))
}

/// The object a `CREATE TABLE` or `CREATE [UNIQUE] INDEX` token run names:
/// ("table" | "index", name).
fn created_object(toks: &[Lex]) -> Option<(&'static str, String)> {
    let mut i = 0;
    if !is_kw(toks.first(), "CREATE") {
        return None;
    }
    i += 1;
    while is_kw(toks.get(i), "TEMP") || is_kw(toks.get(i), "TEMPORARY") || is_kw(toks.get(i), "UNIQUE") {
        i += 1;
    }
    let kind = if is_kw(toks.get(i), "TABLE") {
        "table"
    } else if is_kw(toks.get(i), "INDEX") {
        "index"
    } else {
        return None;
    };
    i += 1;
    if is_kw(toks.get(i), "IF") && is_kw(toks.get(i + 1), "NOT") && is_kw(toks.get(i + 2), "EXISTS") {
        i += 3;
    }
    let mut name = match toks.get(i) {
        Some(Lex::Word(w)) => w.clone(),
        _ => return None,
    };
    // `schema.name`
    if toks.get(i + 1) == Some(&Lex::Punct('.')) {
        if let Some(Lex::Word(w)) = toks.get(i + 2) {
            name = w.clone();
        }
    }
    Some((kind, name))
}

/// sqldef's rename hints: a `@renamed from=X` comment renames the object whose
/// definition it sits on: a `CREATE TABLE` or `CREATE INDEX` line (the comment
/// before or after the opening parenthesis), or else a column definition line
/// inside the most recent `CREATE TABLE`.
fn rename_hints(sql: &str) -> Result<Vec<Hint>, String> {
    let (toks, comments) = lex(sql)?;
    let mut out = Vec::new();
    for (at, text) in &comments {
        if !text.contains("@renamed") {
            continue;
        }
        let from = hint_from(text).ok_or_else(|| format!("cannot read the rename hint `{}`", text.trim()))?;
        let line_start = sql[..*at].rfind('\n').map_or(0, |i| i + 1);
        let on_line: Vec<Lex> =
            toks.iter().filter(|(o, _)| *o >= line_start && *o < *at).map(|(_, l)| l.clone()).collect();
        if let Some((kind, name)) = created_object(&on_line) {
            out.push(if kind == "table" { Hint::Table { name, from } } else { Hint::Index { name, from } });
            continue;
        }
        let column = match on_line.first() {
            Some(Lex::Word(w)) => w.clone(),
            _ => return Err(format!("rename hint `{}` is not on a table, index or column line", text.trim())),
        };
        // The table being defined: the last CREATE TABLE before the comment.
        let before: Vec<Lex> = toks.iter().filter(|(o, _)| *o < *at).map(|(_, l)| l.clone()).collect();
        let table = (0..before.len())
            .rev()
            .filter(|&i| is_kw(before.get(i), "CREATE"))
            .find_map(|i| created_object(&before[i..]).filter(|(k, _)| *k == "table").map(|(_, n)| n))
            .ok_or_else(|| format!("rename hint `{}` is outside a CREATE TABLE", text.trim()))?;
        out.push(Hint::Column { table, name: column, from });
    }
    Ok(out)
}

#[test]
fn rename_hints_as_sqldef_places_them() {
    let sql = "CREATE TABLE \"user_profiles\" ( -- @renamed from=\"user accounts\"
  id bigint NOT NULL,
  user_name text NOT NULL, -- @renamed from=username
  note text DEFAULT '-- @renamed from=nope'
);
CREATE TABLE new_users /* @renamed from=old_users */ (id int);
CREATE UNIQUE INDEX unique_email /* @renamed from=old_unique_email */ ON users (email);";
    assert_eq!(
        rename_hints(sql).unwrap(),
        vec![
            Hint::Table { name: "user_profiles".into(), from: "user accounts".into() },
            Hint::Column { table: "user_profiles".into(), name: "user_name".into(), from: "username".into() },
            Hint::Table { name: "new_users".into(), from: "old_users".into() },
            Hint::Index { name: "unique_email".into(), from: "old_unique_email".into() },
        ]
    );
}

#[test]
fn seed_values_fit_strict_and_constraints() {
    let dir = Dir::new();
    let conn = Connection::open(dir.join("s.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE p(id INTEGER PRIMARY KEY, code TEXT UNIQUE NOT NULL);
         CREATE TABLE c(id INT PRIMARY KEY, p_code TEXT NOT NULL REFERENCES p(code), r REAL, b BLOB, a ANY) STRICT;
         CREATE TABLE k(a TEXT, b INT, PRIMARY KEY (a, b)) WITHOUT ROWID;
         CREATE TABLE r(x TEXT CHECK (length(x) > 0));",
    )
    .unwrap();
    let schema = inspect(&conn, &InspectOptions::default()).unwrap();
    let notes = seed(&conn, &schema);
    assert!(notes.is_empty(), "{notes:?}");
    for t in ["p", "c", "k", "r"] {
        let n: i64 = conn.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0)).unwrap();
        assert_eq!(n as usize, SEED_ROWS, "{t}");
    }
    let fk: i64 = conn.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).unwrap();
    assert_eq!(fk, 0);
    let rowids: String = conn.query_row("SELECT group_concat(rowid) FROM r", [], |r| r.get(0)).unwrap();
    assert_eq!(rowids, "3,13,23", "rowids with gaps");
}
