//! The scenario harness: a real database file with seeded rows, a desired YAML, apply, then the
//! four checks (the schema equals the desired one, a second plan is empty, seeded rows survive in
//! every kept column, integrity and foreign-key checks are clean) and the fifth (the stored
//! rollback brings back the schema, every row and `sqlite_sequence` of before, and applying again
//! gives the same result as the first time). It applies through the library, as `reconcile
//! apply` does; `command` runs the binary itself.

use std::collections::BTreeMap;
use std::path::PathBuf;

use rusqlite::types::Value;
use rusqlite::Connection;
use sqlite_reconcile::apply::ApplyOptions;
use sqlite_reconcile::engine::{Sql, Write};
use sqlite_reconcile::execute::{self, Run};
use sqlite_reconcile::history::{self, Undo};
use sqlite_reconcile::remote::Client;
use sqlite_reconcile::rqlite::Node;
use sqlite_reconcile::server::Server;
use sqlite_reconcile::target::Target;
use sqlite_reconcile::{diff, inspect, load, migration, plan_for, Error, InspectOptions, Plan, Schema};

use super::command::Dir;
use super::engines::{rqlited, sqld, Buffered, Rqlited, Sqld};
use super::mirror::copy_database;
use super::rows::{all_rows, keyed_rows, rekey, same_number, sequence_rows, Rows};

pub struct Scenario {
    _dir: Dir,
    /// The database file; for a scenario on a server, the server read back after each change.
    pub db: PathBuf,
    pub before: Schema,
    pub rows: BTreeMap<String, Rows>,
    /// `sqlite_sequence` before, row for row.
    pub sequence: Vec<(String, Value)>,
    pub desired: Option<Schema>,
    /// The server the scenario's changes and rollbacks run on, if any.
    server: Option<OnServer>,
}

/// Where a scenario's database is kept: a libSQL server, or an rqlite node (with `-fk` or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Sqld,
    Rqlite { foreign_keys: bool },
}

/// A scenario's database on a server.
enum OnServer {
    Sqld { _sqld: Sqld, client: Client },
    Rqlite(Rqlited, Node),
}

impl OnServer {
    fn target(&self) -> Box<dyn Target> {
        match self {
            OnServer::Sqld { client, .. } => Box::new(
                Server::new(Client::connect(client.url(), None).expect("connect to the server"))
                    .expect("the server says what it is"),
            ),
            OnServer::Rqlite(node, _) => Box::new(Node::connect(&node.url).expect("connect to the node")),
        }
    }

    /// What reads the server.
    fn reader(&self) -> &dyn Sql {
        match self {
            OnServer::Sqld { client, .. } => client,
            OnServer::Rqlite(_, node) => node,
        }
    }
}

pub fn load_yaml(yaml: &str) -> Schema {
    let loaded = load::load_sources(&[("schema.yaml", yaml)]).unwrap_or_else(|e| panic!("desired YAML: {e}"));
    load::desired(&loaded).unwrap_or_else(|e| panic!("desired YAML: {e}"))
}

impl Scenario {
    pub fn new(sql: &str) -> Scenario {
        let dir = Dir::new();
        let db = dir.db("app.db", sql);
        Scenario::open(dir, db)
    }

    /// A scenario over an existing database file in `dir`: its schema and rows now are "before".
    pub fn open(dir: Dir, db: PathBuf) -> Scenario {
        let conn = Connection::open(&db).unwrap();
        let before = inspect(&conn, &InspectOptions::default()).unwrap();
        let rows = all_rows(&conn, &before);
        let sequence = sequence_rows(&conn);
        Scenario { _dir: dir, db, before, rows, sequence, desired: None, server: None }
    }

    /// A scenario whose database is on a fresh libSQL server: the database file `db` in `dir`, as
    /// it is now, copied to the server and read back into the file, so that "before" is what the
    /// server holds. `None` when no server can be had (outside CI; see `engines::sqld`).
    pub fn open_on_server(dir: Dir, db: PathBuf) -> Option<Scenario> {
        Scenario::open_on(dir, db, Place::Sqld)
    }

    /// [`Scenario::open_on_server`] on the server `place` says.
    pub fn open_on(dir: Dir, db: PathBuf, place: Place) -> Option<Scenario> {
        let local = Scenario::open(dir, db);
        let server = match place {
            Place::Sqld => {
                let sqld = sqld()?;
                let client = Client::connect(&sqld.url, None).expect("connect to the server");
                let stream = client.stream();
                stream.execute("PRAGMA foreign_keys = OFF").expect("keys off for the copy");
                copy_database(&local.conn(), &stream).unwrap_or_else(|e| panic!("copy to the server: {e}"));
                stream.close().expect("close the copy's stream");
                OnServer::Sqld { _sqld: sqld, client }
            }
            Place::Rqlite { foreign_keys } => {
                let rqlited = rqlited(foreign_keys, None)?;
                let node = Node::connect(&rqlited.url).expect("connect to the node");
                // One request, keys deferred: a child's rows may be copied before its parent's.
                let copy = Buffered::default();
                copy.run("PRAGMA defer_foreign_keys = ON", &[]).expect("buffered");
                copy_database(&local.conn(), &copy).unwrap_or_else(|e| panic!("copy to the node: {e}"));
                rqlited.execute_all(&copy.statements.borrow());
                OnServer::Rqlite(rqlited, node)
            }
        };
        let mut s = Scenario { server: Some(server), ..local };
        s.read_back().unwrap_or_else(|e| panic!("read the server back: {e}"));
        let conn = s.conn();
        s.before = inspect(&conn, &InspectOptions::default()).unwrap();
        s.rows = all_rows(&conn, &s.before);
        s.sequence = sequence_rows(&conn);
        Some(s)
    }

    /// For a scenario on a server: the file becomes what the server holds now.
    fn read_back(&self) -> Result<(), String> {
        let Some(server) = &self.server else { return Ok(()) };
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.db.display()));
        }
        let conn = Connection::open(&self.db).map_err(|e| e.to_string())?;
        conn.execute_batch("PRAGMA foreign_keys = OFF").map_err(|e| e.to_string())?;
        copy_database(server.reader(), &conn)
    }

    pub fn conn(&self) -> Connection {
        Connection::open(&self.db).unwrap()
    }

    pub fn plan(&self, desired: &Schema) -> Plan {
        let mut c = self.conn();
        plan_for(&mut c, desired, &InspectOptions::default()).unwrap().1
    }

    /// Plans and applies `yaml`; returns the plan or the error.
    pub fn try_apply(&mut self, yaml: &str, allow_destructive: bool) -> Result<Plan, Error> {
        let desired = load_yaml(yaml);
        self.desired = Some(desired.clone());
        self.try_apply_desired(&desired, allow_destructive)
    }

    /// Applies `desired` the way `reconcile apply` does: recorded in the history, with a rollback
    /// plan and backups, and plan files under `plans/` beside the database.
    pub fn try_apply_desired(&self, desired: &Schema, allow_destructive: bool) -> Result<Plan, Error> {
        if let Some(server) = &self.server {
            let mut target = server.target();
            let prepared = target.prepare(desired, &InspectOptions::default())?;
            let options = ApplyOptions { allow_destructive, ..ApplyOptions::default() };
            target.execute(&prepared, &Run { kind: "apply", options, ..Run::default() })?;
            self.read_back().unwrap_or_else(|e| panic!("read the server back: {e}"));
            return Ok(prepared.forward);
        }
        let mut c = self.conn();
        let prepared = migration::prepare(&mut c, desired, &InspectOptions::default())?;
        let options = ApplyOptions { allow_destructive, ..ApplyOptions::default() };
        let plans = self.db.with_file_name("plans");
        execute::execute(&mut c, &prepared, &Run { kind: "apply", options, plans: Some(plans), ..Run::default() })?;
        Ok(prepared.forward)
    }

    /// When the change to `desired` has destructive steps: that applying it without permission
    /// is refused for that reason and changes nothing. Whether it had any.
    pub fn try_refuse_destructive(&self, desired: &Schema) -> Result<bool, String> {
        let run = Run { kind: "apply", ..Run::default() };
        let (prepared, outcome) = match &self.server {
            Some(server) => {
                let mut target = server.target();
                let prepared = target.prepare(desired, &InspectOptions::default()).map_err(|e| format!("plan: {e}"))?;
                let destructive = prepared.forward.destructive().next().is_some();
                let outcome = if destructive { Some(target.execute(&prepared, &run)) } else { None };
                (prepared, outcome)
            }
            None => {
                let mut c = self.conn();
                let prepared = migration::prepare(&mut c, desired, &InspectOptions::default())
                    .map_err(|e| format!("plan: {e}"))?;
                let destructive = prepared.forward.destructive().next().is_some();
                let outcome = if destructive { Some(execute::execute(&mut c, &prepared, &run)) } else { None };
                (prepared, outcome)
            }
        };
        let Some(outcome) = outcome else { return Ok(false) };
        match outcome {
            Err(Error::Refused(sqlite_reconcile::Refusal::Destructive(_))) => {}
            Err(e) => return Err(format!("destructive plan refused for another reason: {e}")),
            Ok(_) => return Err(format!("destructive plan applied without permission: {:?}", prepared.forward.steps)),
        }
        self.read_back()?;
        self.check_unchanged().map_err(|e| format!("refused apply changed the database: {e}"))?;
        Ok(true)
    }

    #[track_caller]
    pub fn apply(&mut self, yaml: &str) -> Plan {
        self.try_apply(yaml, true).unwrap_or_else(|e| panic!("apply failed: {e}"))
    }

    /// The four checks; `renames` maps (table, new column) → old column for row comparison.
    #[track_caller]
    pub fn check_all(&self, renames: &[(&str, &str, &str)]) {
        if let Err(e) = self.try_check_all(renames) {
            panic!("{e}");
        }
    }

    /// The four checks and the rollback check, the first failure as an error.
    pub fn try_check_all(&self, renames: &[(&str, &str, &str)]) -> Result<(), String> {
        self.try_check_four(renames)?;
        self.try_check_rollback()
    }

    /// The fifth check: the rollback restores the schema and every row of before; applying again
    /// then gives exactly the schema and rows of the first apply.
    pub fn try_check_rollback(&self) -> Result<(), String> {
        let desired = self.desired.as_ref().ok_or("apply first")?;
        if diff::diff(&self.before, desired).is_empty() {
            // Nothing was applied, so nothing is recorded to roll back.
            return self.check_unchanged();
        }
        let conn = self.conn();
        let applied = inspect(&conn, &InspectOptions::default()).map_err(|e| e.to_string())?;
        let applied_rows = all_rows(&conn, &applied);
        drop(conn);
        let options = ApplyOptions { allow_destructive: true, ..ApplyOptions::default() };
        match &self.server {
            Some(server) => {
                let mut target = server.target();
                let changes =
                    history::rollback_targets(&*target, Undo::Newest).map_err(|e| format!("rollback: {e}"))?;
                target.rollback(&changes, options).map_err(|e| format!("rollback: {e}"))?;
                self.read_back()?;
            }
            None => {
                let mut c = self.conn();
                execute::rollback(&mut c, None, options).map_err(|e| format!("rollback: {e}"))?;
            }
        }
        self.check_unchanged().map_err(|e| format!("after rollback: {e}"))?;
        self.try_apply_desired(desired, true).map_err(|e| format!("apply again after rollback: {e}"))?;
        let conn = self.conn();
        let again = inspect(&conn, &InspectOptions::default()).map_err(|e| e.to_string())?;
        if again != applied {
            return Err(format!("apply after rollback gives another schema: {:?}", diff::diff(&again, &applied)));
        }
        // A default that reads the clock (CURRENT_TIMESTAMP, 'now') gives the rows the second apply
        // fills another value when a second has passed: those columns' values are not compared here
        // (the four checks compared every kept value after the first apply).
        let clock = clock_columns(desired);
        if masked(all_rows(&conn, &again), &clock) != masked(applied_rows, &clock) {
            return Err("apply after rollback gives other rows".to_string());
        }
        Ok(())
    }

    /// The four checks, the first failure as an error.
    pub fn try_check_four(&self, renames: &[(&str, &str, &str)]) -> Result<(), String> {
        let after = self.try_check_schema()?;
        self.rows_kept(&self.conn(), &after, renames)
    }

    /// The checks of the four that are about the schema: it equals the desired one, a second
    /// plan is empty, `integrity_check` and `foreign_key_check` are clean. Returns the schema.
    pub fn try_check_schema(&self) -> Result<Schema, String> {
        let desired = self.desired.as_ref().ok_or("apply first")?;
        let conn = self.conn();
        let after = inspect(&conn, &InspectOptions::default()).map_err(|e| format!("inspect after apply: {e}"))?;
        let left = diff::diff(&after, &desired.without_hints());
        if !left.is_empty() {
            return Err(format!("schema differs from desired: {left:?}"));
        }
        // The second plan, and the integrity checks, ask the database itself (the server, for a
        // scenario on one: planned for its SQLite version).
        let again = match &self.server {
            Some(server) => {
                server
                    .target()
                    .prepare(desired, &InspectOptions::default())
                    .map_err(|e| format!("second plan: {e}"))?
                    .forward
            }
            None => {
                let mut c = self.conn();
                plan_for(&mut c, desired, &InspectOptions::default()).map_err(|e| format!("second plan: {e}"))?.1
            }
        };
        if !again.is_empty() {
            return Err(format!("second plan not empty: {:#?}", again.steps));
        }
        let db: &dyn Sql = match &self.server {
            Some(server) => server.reader(),
            None => &conn,
        };
        let first = |sql: &str| -> Result<Value, String> {
            let rows = db.rows(sql, &[]).map_err(|e| e.to_string())?;
            Ok(rows.first().and_then(|r| r.first()).cloned().unwrap_or(Value::Null))
        };
        let ok = first("PRAGMA integrity_check")?;
        if ok != Value::Text("ok".to_string()) {
            return Err(format!("integrity_check: {ok:?}"));
        }
        // A reference to a table the database does not have (which SQLite accepts) makes every
        // row with a key a violation: the database's own, which no plan can mend.
        let fk = first(
            "SELECT count(*) FROM pragma_foreign_key_check \
             WHERE lower(parent) IN (SELECT lower(name) FROM sqlite_schema WHERE type = 'table')",
        )?;
        if fk != Value::Integer(0) {
            return Err(format!("{fk:?} foreign key violations"));
        }
        Ok(after)
    }

    fn rows_kept(&self, conn: &Connection, after: &Schema, renames: &[(&str, &str, &str)]) -> Result<(), String> {
        for (table, old_rows) in &self.rows {
            // Kept under the same name (SQLite names are case-blind), or renamed by a hint.
            let new_table = after.table(table).map(|(n, _)| n.clone()).or_else(|| {
                self.desired
                    .as_ref()
                    .and_then(|d| {
                        d.tables
                            .iter()
                            .find(|(_, t)| t.renamed_from.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(table)))
                    })
                    .and_then(|(n, _)| after.table(n))
                    .map(|(n, _)| n.clone())
            });
            let Some(new_table) = new_table else { continue };
            let new_t = &after.tables[&new_table];
            let old_t = &self.before.tables[table];
            let by_rowid = !new_t.without_rowid && !old_t.without_rowid;
            let (old_rows, new_rows) = if by_rowid {
                (old_rows.clone(), keyed_rows(conn, after, &new_table, true))
            } else {
                // A row is found again by the key it had before, under its columns' new names
                // (the key itself may change, e.g. when a table becomes WITHOUT ROWID).
                let old_key = old_t.primary_key_columns();
                let new_key: Vec<String> = old_key
                    .iter()
                    .map(|o| {
                        renames
                            .iter()
                            .find(|(t, _, old)| t.eq_ignore_ascii_case(&new_table) && old.eq_ignore_ascii_case(o))
                            .map(|(_, n, _)| n.to_string())
                            .unwrap_or_else(|| o.clone())
                    })
                    .collect();
                (rekey(old_rows, &old_key), rekey(&keyed_rows(conn, after, &new_table, false), &new_key))
            };
            let old_rows = &old_rows;
            for (key, old) in old_rows {
                let new = new_rows.get(key).ok_or_else(|| format!("`{table}` lost row {key}"))?;
                for c in &new_t.columns {
                    let new_name = c.name.to_ascii_lowercase();
                    let old_name = renames
                        .iter()
                        .find(|(t, n, _)| t.eq_ignore_ascii_case(&new_table) && n.eq_ignore_ascii_case(&new_name))
                        .map(|(_, _, o)| o.to_ascii_lowercase())
                        .unwrap_or(new_name.clone());
                    let (Some(ov), Some(nv)) = (old.get(&old_name), new.get(&new_name)) else { continue };
                    let hints =
                        self.desired.as_ref().and_then(|d| d.table(&new_table)).and_then(|(_, t)| t.column(&c.name));
                    if c.generated.is_some() || hints.is_some_and(|h| h.convert.is_some()) {
                        continue;
                    }
                    let was_null_now_filled = *ov == Value::Null && *nv != Value::Null && c.not_null;
                    if !(ov == nv || was_null_now_filled || same_number(ov, nv)) {
                        return Err(format!("`{new_table}`.{new_name} row {key}: {ov:?} became {nv:?}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The database's schema and rows are exactly what they were before.
    #[track_caller]
    pub fn assert_unchanged(&self) {
        if let Err(e) = self.check_unchanged() {
            panic!("{e}");
        }
    }

    /// Whether the database's schema and rows are exactly what they were before.
    pub fn check_unchanged(&self) -> Result<(), String> {
        let conn = self.conn();
        let now = inspect(&conn, &InspectOptions::default()).map_err(|e| e.to_string())?;
        if now != self.before {
            return Err(format!("schema changed: {now:#?}"));
        }
        let rows = all_rows(&conn, &now);
        if rows != self.rows {
            let which: Vec<&String> =
                self.rows.keys().chain(rows.keys()).filter(|t| rows.get(*t) != self.rows.get(*t)).collect();
            return Err(format!("rows changed in {which:?}: {:?} became {:?}", self.rows, rows));
        }
        let sequence = sequence_rows(&conn);
        if sequence != self.sequence {
            return Err(format!("sqlite_sequence changed: {:?} became {sequence:?}", self.sequence));
        }
        Ok(())
    }
}

/// A scenario that is only data: one file of `tests/it/scenarios/`, in the format described at
/// the top of `scenarios.rs` (`data_files`).
pub struct ScenarioFile {
    pub before_sql: String,
    pub desired_yaml: String,
    /// (table, new column, old column), as `check_all` takes them.
    pub renames: Vec<(String, String, String)>,
}

impl ScenarioFile {
    /// Reads the sections of a file: text before the first `-- name --` line is its comment, and
    /// each section runs from its marker line to the next one, taken as written.
    pub fn parse(text: &str) -> Result<ScenarioFile, String> {
        let mut sections: Vec<(&str, String)> = Vec::new();
        for line in text.split_inclusive('\n') {
            let marker = line.trim_end().strip_prefix("-- ").and_then(|rest| rest.strip_suffix(" --"));
            match marker {
                Some(name) if !["before.sql", "desired.yaml", "renames"].contains(&name) => {
                    return Err(format!(
                        "unknown section `{name}`: the sections are before.sql, desired.yaml, renames"
                    ));
                }
                Some(name) if sections.iter().any(|(n, _)| *n == name) => {
                    return Err(format!("section `{name}` twice"));
                }
                Some(name) => sections.push((name, String::new())),
                None => {
                    if let Some((_, body)) = sections.last_mut() {
                        body.push_str(line);
                    }
                }
            }
        }
        let section = |name: &str| sections.iter().find(|(n, _)| *n == name).map(|(_, body)| body.clone());
        let required = |name: &str| match section(name) {
            Some(body) if !body.trim().is_empty() => Ok(body),
            Some(_) => Err(format!("section `{name}` is blank")),
            None => Err(format!("no section `{name}`")),
        };
        let mut renames = Vec::new();
        for line in section("renames").unwrap_or_default().lines().filter(|l| !l.trim().is_empty()) {
            match <[String; 3]>::try_from(fields(line)?) {
                Ok([table, new, old]) => renames.push((table, new, old)),
                Err(_) => return Err(format!("renames: {line:?} is not `table new old`")),
            }
        }
        Ok(ScenarioFile { before_sql: required("before.sql")?, desired_yaml: required("desired.yaml")?, renames })
    }

    /// What a scenario function does with `s.apply(yaml)` then `s.check_all(renames)`: the
    /// database from `before.sql`, `desired.yaml` applied with destructive steps allowed, the four
    /// checks and the rollback check; the first failure as an error.
    pub fn run(&self) -> Result<(), String> {
        let mut s = Scenario::new(&self.before_sql);
        s.try_apply(&self.desired_yaml, true).map_err(|e| format!("apply failed: {e}"))?;
        let renames: Vec<(&str, &str, &str)> =
            self.renames.iter().map(|(t, n, o)| (t.as_str(), n.as_str(), o.as_str())).collect();
        s.try_check_all(&renames)
    }
}

impl ScenarioFile {
    /// [`ScenarioFile::run`] with the database on a fresh libSQL server: applied and rolled back
    /// there, every check read back from it. `Ok` without running when no server can be had
    /// outside CI (see `engines::sqld`).
    pub fn run_on_server(&self) -> Result<(), String> {
        self.run_on(Place::Sqld)
    }

    /// [`ScenarioFile::run_on_server`] on the server `place` says.
    pub fn run_on(&self, place: Place) -> Result<(), String> {
        let dir = Dir::new();
        let db = dir.db("app.db", &self.before_sql);
        let Some(mut s) = Scenario::open_on(dir, db, place) else { return Ok(()) };
        s.try_apply(&self.desired_yaml, true).map_err(|e| format!("apply failed: {e}"))?;
        let renames: Vec<(&str, &str, &str)> =
            self.renames.iter().map(|(t, n, o)| (t.as_str(), n.as_str(), o.as_str())).collect();
        s.try_check_all(&renames)
    }
}

/// Runs every file of `tests/it/scenarios/` with `run`, each in turn, and fails naming every
/// file that fails (a panic counts as a failure of its file).
pub fn run_scenario_files(run: impl Fn(&ScenarioFile) -> Result<(), String>) {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/scenarios");
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).expect("read tests/it/scenarios").map(|e| e.expect("dir entry").path()).collect();
    files.sort();
    assert!(!files.is_empty(), "no scenario files in {}", dir.display());
    let mut failed = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap_or_default().to_string_lossy();
        if file.extension().is_none_or(|x| x != "txtar") {
            failed.push(format!("{name}: not a .txtar file"));
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("read {name}: {e}"));
        let outcome = catch_unwind(AssertUnwindSafe(|| run(&ScenarioFile::parse(&text)?)));
        let error = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(panic) => panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panicked".to_string()),
        };
        failed.push(format!("{name}: {error}"));
    }
    assert!(failed.is_empty(), "{} of {} scenario files fail:\n{}", failed.len(), files.len(), failed.join("\n"));
}

/// The words of a line split at white space, a word in double quotes kept whole (`"Col 4"`).
fn fields(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut rest = line.trim();
    while !rest.is_empty() {
        let (word, after) = match rest.strip_prefix('"') {
            Some(quoted) => {
                let end = quoted.find('"').ok_or_else(|| format!("unclosed quote in {line:?}"))?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => rest.split_at(rest.find(char::is_whitespace).unwrap_or(rest.len())),
        };
        out.push(word.to_string());
        rest = after.trim_start();
    }
    Ok(out)
}

/// The (table, column) pairs, lower-cased, whose default reads the clock.
fn clock_columns(schema: &Schema) -> Vec<(String, String)> {
    let reads_clock = |e: &str| {
        let e = e.to_ascii_lowercase();
        e.contains("current_") || e.contains("'now'")
    };
    schema
        .tables
        .iter()
        .flat_map(|(t, table)| {
            table
                .columns
                .iter()
                .filter(|c| c.default.as_ref().is_some_and(|d| reads_clock(d.as_str())))
                .map(move |c| (t.to_ascii_lowercase(), c.name.to_ascii_lowercase()))
        })
        .collect()
}

/// `rows` with the values of `columns` replaced by a placeholder.
fn masked(
    mut rows: std::collections::BTreeMap<String, super::rows::Rows>,
    columns: &[(String, String)],
) -> std::collections::BTreeMap<String, super::rows::Rows> {
    for (table, column) in columns {
        let Some(t) = rows.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(table)).map(|(_, r)| r) else { continue };
        for row in t.values_mut() {
            if let Some(v) = row.get_mut(column) {
                *v = rusqlite::types::Value::Text("<reads the clock>".to_string());
            }
        }
    }
    rows
}
