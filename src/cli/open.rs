//! Opening databases for commands: read-only for those that only look (a missing file is an
//! error, never created), read-write for those that change it; the busy timeout set and a first
//! read done, so a locked database or a file that is not one fails here, with a message naming
//! the file. It never writes, and leaves exit codes to `exit`.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{Connection, OpenFlags};

use sqlite_reconcile::apply::{is_busy, is_read_only, WRITING};
use sqlite_reconcile::engine::Sql;
use sqlite_reconcile::normalize::sqlite_message;
use sqlite_reconcile::remote::{self, Client};
use sqlite_reconcile::rqlite::{self, Node};
use sqlite_reconcile::server::Server;
use sqlite_reconcile::target::Target;
use sqlite_reconcile::{ApplyError, Error, InspectError};

use super::exit::{hint, Failure, BUSY_HINT};

/// Opens an existing database read-only, waiting up to `timeout` for locks; a missing file is an error,
/// never created.
pub(crate) fn open_existing_read_only(db: &Path, timeout: Duration) -> Result<Connection, Failure> {
    if !db.exists() {
        return Err(Failure::Error(format!("{}: no such database file", db.display())));
    }
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(|e| open_failure(db, &e))?;
    first_read(conn, db, timeout)
}

/// A database to read: a local file, a libSQL server (`--db http://HOST:PORT`), or an rqlite
/// node (`--db rqlite://HOST:PORT`).
pub(crate) enum Reader {
    /// A file opened read-only.
    Local(Connection),
    /// A libSQL server.
    Remote(Client),
    /// An rqlite node.
    Rqlite(Node),
}

impl Sql for Reader {
    fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
        match self {
            Reader::Local(c) => c.rows(sql, params),
            Reader::Remote(c) => c.rows(sql, params),
            Reader::Rqlite(n) => n.rows(sql, params),
        }
    }

    fn snapshot(&self, queries: &[&str]) -> Result<Vec<Vec<Vec<Value>>>, rusqlite::Error> {
        match self {
            Reader::Local(c) => c.snapshot(queries),
            Reader::Remote(c) => c.snapshot(queries),
            Reader::Rqlite(n) => n.snapshot(queries),
        }
    }

    fn sqlite_version(&self) -> Result<(u32, u32, u32), rusqlite::Error> {
        match self {
            Reader::Local(c) => c.sqlite_version(),
            Reader::Remote(c) => c.sqlite_version(),
            Reader::Rqlite(n) => n.sqlite_version(),
        }
    }
}

/// Opens `db` to read it: a libSQL server when it is a URL, otherwise an existing file
/// read-only (see [`open_existing_read_only`]).
pub(crate) fn open_for_reading(db: &Path, timeout: Duration, token: Option<&str>) -> Result<Reader, Failure> {
    if rqlite::is_url(&db.to_string_lossy()) {
        return Node::connect(&db.to_string_lossy()).map(Reader::Rqlite).map_err(Failure::error);
    }
    if remote::is_url(&db.to_string_lossy()) {
        return Client::connect(&db.to_string_lossy(), token).map(Reader::Remote).map_err(Failure::error);
    }
    open_existing_read_only(db, timeout).map(Reader::Local)
}

/// The server `db` names (a libSQL server, or an rqlite node), connected and checked as a
/// target to change; `None` when `db` is a file.
pub(crate) fn open_server(db: &Path, token: Option<&str>) -> Result<Option<Box<dyn Target>>, Failure> {
    let text = db.to_string_lossy();
    if rqlite::is_url(&text) {
        return Ok(Some(Box::new(Node::connect(&text).map_err(Failure::error)?)));
    }
    if !remote::is_url(&text) {
        return Ok(None);
    }
    let client = Client::connect(&text, token).map_err(Failure::error)?;
    Ok(Some(Box::new(Server::new(client).map_err(Failure::error)?)))
}

/// Opens (creating if needed) the target database for planning and applying, waiting up to `timeout`
/// for locks.
pub(crate) fn open_target(db: &Path, timeout: Duration) -> Result<Connection, Failure> {
    if remote::is_url(&db.to_string_lossy()) || rqlite::is_url(&db.to_string_lossy()) {
        // A URL reaches a server through `open_server`; never a file named after it.
        return Err(Failure::Error(format!("{}: a server's address, not a database file", db.display())));
    }
    let conn = Connection::open(db).map_err(|e| open_failure(db, &e))?;
    first_read(conn, db, timeout)
}

/// Sets the busy timeout and reads the schema, the first real access: a non-database file fails here.
fn first_read(conn: Connection, db: &Path, timeout: Duration) -> Result<Connection, Failure> {
    conn.busy_timeout(timeout).map_err(|e| Failure::Error(format!("{}: {e}", db.display())))?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |_| Ok(()))
        .map_err(|e| db_failure(db, timeout, e.into()))?;
    Ok(conn)
}

/// A library error about the database at `db`; one locked by another connection is said as such.
/// Errors of the database itself name the file; others are said as the library says them.
pub(crate) fn db_failure(db: &Path, waited: Duration, e: Error) -> Failure {
    let message = match &e {
        Error::Sqlite(s) | Error::Inspect(InspectError::Sqlite(s)) if is_busy(s) => {
            format!("{}: {}{BUSY_HINT}", db.display(), ApplyError::Busy { waited, holder: WRITING })
        }
        Error::Sqlite(s) | Error::Inspect(InspectError::Sqlite(s)) if is_read_only(s) => {
            format!("{}: {}", db.display(), ApplyError::ReadOnly(sqlite_message(s)))
        }
        Error::Sqlite(_)
        | Error::Inspect(_)
        | Error::Apply(ApplyError::Busy { .. } | ApplyError::ReadOnly(_) | ApplyError::DiskFull(_)) => {
            format!("{}: {e}{}", db.display(), hint(&e))
        }
        _ => return with_io(Failure::library(e), db),
    };
    with_io(Failure::Library { error: Box::new(e), message }, db)
}

/// SQLite could not open the database at `db`: the error with the failing call, when it failed on I/O.
fn open_failure(db: &Path, e: &rusqlite::Error) -> Failure {
    let message = format!("{}: {}", db.display(), sqlite_message(e));
    // Opening reports SQLite's primary code only: the call was one of opening it.
    let by_code = sqlite_reconcile::oslog::operation_of(e).unwrap_or("a call while opening it");
    match io_call(&message, Some(by_code)) {
        Some(call) => {
            Failure::Error(format!("{message}\n  {call} (on {} or the journal or WAL beside it)", db.display()))
        }
        None => Failure::Error(message),
    }
}

/// When `message` is about I/O: the call SQLite logged as failing, or the operation its result
/// code names (`by_code`).
fn io_call(message: &str, by_code: Option<&str>) -> Option<String> {
    let io =
        ["disk I/O error", "unable to open", "disk is full", "out of memory", "cannot be written", "readonly database"];
    if !io.iter().any(|w| message.contains(w)) {
        return None;
    }
    let call = sqlite_reconcile::oslog::describe().or(by_code.map(|op| format!("SQLite's failing call: {op}")));
    Some(call.unwrap_or_else(|| "SQLite did not say which call failed".to_string()))
}

/// `failure`, when SQLite failed on I/O, with what failed: the call SQLite logged (its operation,
/// file and the system's message), and the database it happened on.
fn with_io(failure: Failure, db: &Path) -> Failure {
    let Failure::Library { error, message } = failure else { return failure };
    let by_code = match error.as_ref() {
        Error::Sqlite(e) | Error::Inspect(InspectError::Sqlite(e)) => sqlite_reconcile::oslog::operation_of(e),
        _ => None,
    };
    let Some(call) = io_call(&message, by_code) else { return Failure::Library { error, message } };
    let message = format!("{message}\n  {call} (on {} or the journal or WAL beside it)", db.display());
    Failure::Library { error, message }
}
