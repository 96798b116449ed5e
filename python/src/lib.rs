//! The native part of the Python package `sqlite_reconcile`: the library's startup calls
//! (`apply`, `plan`, `drift`, `rollback`, `history`) for `python/sqlite_reconcile/__init__.py`,
//! which turns their JSON into Python objects and their failures into typed exceptions; and
//! `run_cli`, the `reconcile` command itself (the same command line as the Rust binary, from
//! `../src/cli`). The GIL is released while a database is worked on.
//!
//! A failure is raised as `NativeError` with one argument, a JSON object: `kind` (`schema`,
//! `refused`, `data`, `lock`, `database`, `error`), `message`, and the fields of its kind
//! (`file`, `line`, `path`; `table`, `constraint`, `count`, `sample_keys`).

// The command line, compiled in as the Rust binary compiles it.
#[allow(dead_code)]
#[path = "../../src/cli/mod.rs"]
mod cli;

use std::path::Path;
use std::time::Duration;

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value as Json};

use sqlite_reconcile::history::{self, Undo};
use sqlite_reconcile::load::LoadError;
use sqlite_reconcile::target::{LocalFile, Target as _};
use sqlite_reconcile::{ApplyError, ApplyOptions, Error, Policy, Reconciler};

create_exception!(_native, NativeError, PyException, "A failure, its details as a JSON object.");

/// Where the desired schema comes from: a directory, or (name, YAML text) pairs.
/// What the database holds that the schema does not manage (`exclude` patterns) is left alone.
fn reconciler(
    schema_dir: Option<String>,
    schema_files: Option<Vec<(String, String)>>,
    exclude: Vec<String>,
) -> Result<Reconciler, Error> {
    let r = match (schema_dir, schema_files) {
        (_, Some(files)) => Reconciler::from_sources(&files),
        (Some(dir), None) => Reconciler::from_dir(dir),
        (None, None) => Reconciler::from_dir("schema"),
    }?;
    Ok(r.exclude(exclude))
}

/// The failure as the JSON `NativeError` carries.
fn failure(e: &Error) -> Json {
    let message = e.to_string();
    match e {
        Error::Load(load) => {
            let (file, line, path) = match load {
                LoadError::Yaml { file, line, message, .. } => (Some(file.clone()), *line, yaml_path(message)),
                LoadError::Invalid { file, path, .. } => (Some(file.clone()), None, Some(path.clone())),
                LoadError::Duplicate { second, .. } => (Some(second.clone()), None, None),
                LoadError::Build { file, .. } => (Some(file.clone()), None, None),
                LoadError::Io { path, .. } => (Some(path.display().to_string()), None, None),
                LoadError::NoFiles { dir } => (Some(dir.display().to_string()), None, None),
                _ => (None, None, None),
            };
            json!({ "kind": "schema", "message": message, "file": file, "line": line, "path": path })
        }
        Error::Refused(r) => json!({ "kind": "refused", "message": message, "reason": r.to_string() }),
        Error::Apply(ApplyError::Busy { .. }) => json!({ "kind": "lock", "message": message }),
        Error::Apply(ApplyError::Step { diagnosis, .. }) => match diagnosis {
            Some(d) => json!({
                "kind": "data",
                "message": message,
                "table": d.table,
                "constraint": d.constraint,
                "count": d.count,
                "sample_keys": d.sample_keys,
            }),
            None => json!({ "kind": "data", "message": message }),
        },
        Error::Apply(ApplyError::ForeignKeyViolations(_)) => json!({ "kind": "data", "message": message }),
        Error::Sqlite(s) if sqlite_reconcile::apply::is_busy(s) => json!({ "kind": "lock", "message": message }),
        Error::Sqlite(_) | Error::Inspect(_) | Error::Store(_) | Error::Remote(_) => {
            json!({ "kind": "database", "message": message })
        }
        _ => json!({ "kind": "error", "message": message }),
    }
}

/// The YAML path a parser message starts with (`tables.users.columns[1]: unknown field ...`), if
/// it starts with one.
fn yaml_path(message: &str) -> Option<String> {
    let (head, _) = message.split_once(": ")?;
    let is_path = !head.is_empty() && head.chars().all(|c| c.is_alphanumeric() || "_.[]-".contains(c));
    is_path.then(|| head.to_string())
}

/// Runs `work` without the GIL, its failure as `NativeError`.
fn released<T: Send>(py: Python<'_>, work: impl FnOnce() -> Result<T, Error> + Send) -> PyResult<T> {
    py.detach(work).map_err(|e| NativeError::new_err(failure(&e).to_string()))
}

/// Opens (creating) the database at `db`, a path.
fn open(db: &str, busy: Duration) -> Result<Connection, Error> {
    let conn = Connection::open(db)?;
    conn.busy_timeout(busy)?;
    Ok(conn)
}

/// Opens an existing database for reading; `None` when there is no file.
fn open_existing(db: &str, busy: Duration) -> Result<Option<Connection>, Error> {
    if !Path::new(db).exists() {
        return Ok(None);
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(busy)?;
    Ok(Some(conn))
}

/// The database at `db` to read, or an empty one in memory when there is no file (nothing is
/// created): what `plan` and `drift` compare the schema with.
fn open_or_empty(db: &str, busy: Duration) -> Result<Connection, Error> {
    match open_existing(db, busy)? {
        Some(conn) => Ok(conn),
        None => Ok(Connection::open_in_memory()?),
    }
}

/// Brings `db` to the schema: planned, applied in one transaction, verified and recorded, or
/// in sync already (answered from the history when nothing changed since). JSON: `applied`,
/// `change_id`, `summary`, `steps`, `statements`, `seconds`, `already_done`.
#[pyfunction]
#[pyo3(signature = (db, schema_dir=None, schema_files=None, allow_destructive=false, busy_timeout_ms=5000, exclude=Vec::new()))]
fn apply(
    py: Python<'_>,
    db: String,
    schema_dir: Option<String>,
    schema_files: Option<Vec<(String, String)>>,
    allow_destructive: bool,
    busy_timeout_ms: u64,
    exclude: Vec<String>,
) -> PyResult<String> {
    released(py, move || {
        let busy = Duration::from_millis(busy_timeout_ms);
        let r = reconciler(schema_dir, schema_files, exclude)?
            .policy(Policy { allow_destructive, ..Policy::default() })
            .busy_timeout(busy);
        let mut conn = open(&db, busy)?;
        let report = r.reconcile(&mut conn)?;
        Ok(json!({
            "applied": report.id.is_some(),
            "change_id": report.id,
            "summary": report.summary,
            "steps": report.steps,
            "statements": report.statements,
            "seconds": report.elapsed.as_secs_f64(),
            "already_done": report.already_done,
        })
        .to_string())
    })
}

/// The plan from `db` (an empty database when the file does not exist; nothing is created) to
/// the schema, as `reconcile plan --format json` prints it.
#[pyfunction]
#[pyo3(signature = (db, schema_dir=None, schema_files=None, busy_timeout_ms=5000, exclude=Vec::new()))]
fn plan(
    py: Python<'_>,
    db: String,
    schema_dir: Option<String>,
    schema_files: Option<Vec<(String, String)>>,
    busy_timeout_ms: u64,
    exclude: Vec<String>,
) -> PyResult<String> {
    released(py, move || {
        let r = reconciler(schema_dir, schema_files, exclude)?;
        let mut conn = open_or_empty(&db, Duration::from_millis(busy_timeout_ms))?;
        let prepared = r.prepare(&mut conn)?;
        Ok(sqlite_reconcile::render::json(&prepared.forward))
    })
}

/// The differences between `db` and the schema, as `reconcile drift --format json` prints them.
#[pyfunction]
#[pyo3(signature = (db, schema_dir=None, schema_files=None, busy_timeout_ms=5000, exclude=Vec::new()))]
fn drift(
    py: Python<'_>,
    db: String,
    schema_dir: Option<String>,
    schema_files: Option<Vec<(String, String)>>,
    busy_timeout_ms: u64,
    exclude: Vec<String>,
) -> PyResult<String> {
    released(py, move || {
        let label = schema_dir.clone().unwrap_or_else(|| "(schema files)".to_string());
        let options = sqlite_reconcile::InspectOptions { exclude: exclude.clone() };
        let r = reconciler(schema_dir, schema_files, exclude)?;
        let conn = open_or_empty(&db, Duration::from_millis(busy_timeout_ms))?;
        let found = sqlite_reconcile::inspect(&conn, &options)?;
        let differences = sqlite_reconcile::diff::compare(&found, r.desired()).changes;
        Ok(sqlite_reconcile::render::drift_json(Path::new(&db), Path::new(&label), &differences))
    })
}

/// Rolls back the newest change (or every change newer than `to`) in one transaction.
#[pyfunction]
#[pyo3(signature = (db, to=None, allow_destructive=false, busy_timeout_ms=5000))]
fn rollback(
    py: Python<'_>,
    db: String,
    to: Option<String>,
    allow_destructive: bool,
    busy_timeout_ms: u64,
) -> PyResult<String> {
    released(py, move || {
        let busy = Duration::from_millis(busy_timeout_ms);
        if !Path::new(&db).exists() {
            return Err(Error::Sqlite(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
                Some(format!("{db}: no such database file")),
            )));
        }
        let mut conn = open(&db, busy)?;
        let mut target = LocalFile::new(&mut conn)?;
        let which = match &to {
            Some(id) => Undo::To(id),
            None => Undo::Newest,
        };
        let changes = history::rollback_targets(&target, which)?;
        let options = ApplyOptions { allow_destructive, busy_timeout: busy, ..ApplyOptions::default() };
        let report = target.rollback(&changes, options)?;
        Ok(json!({
            "rolled_back": changes.iter().map(|(e, _)| e.id.clone()).collect::<Vec<_>>(),
            "change_id": report.id,
            "summary": report.summary,
            "steps": report.steps,
            "seconds": report.elapsed.as_secs_f64(),
        })
        .to_string())
    })
}

/// The changes recorded in `db`, newest first, as `reconcile history --format json` prints them.
#[pyfunction]
#[pyo3(signature = (db, busy_timeout_ms=5000))]
fn history_of(py: Python<'_>, db: String, busy_timeout_ms: u64) -> PyResult<String> {
    released(py, move || {
        let entries = match open_existing(&db, Duration::from_millis(busy_timeout_ms))? {
            Some(conn) => history::history(&conn)?,
            None => Vec::new(),
        };
        Ok(sqlite_reconcile::render::history_json(&entries))
    })
}

/// The `reconcile` command with `argv` (the first is the program's name): its exit status.
#[pyfunction]
fn run_cli(py: Python<'_>, argv: Vec<String>) -> u8 {
    py.detach(move || cli::run_with(argv.into_iter().map(std::ffi::OsString::from)))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("NativeError", m.py().get_type::<NativeError>())?;
    m.add("VERSION", sqlite_reconcile::migration::TOOL_VERSION)?;
    m.add_function(wrap_pyfunction!(apply, m)?)?;
    m.add_function(wrap_pyfunction!(plan, m)?)?;
    m.add_function(wrap_pyfunction!(drift, m)?)?;
    m.add_function(wrap_pyfunction!(rollback, m)?)?;
    m.add_function(wrap_pyfunction!(history_of, m)?)?;
    m.add_function(wrap_pyfunction!(run_cli, m)?)?;
    Ok(())
}
