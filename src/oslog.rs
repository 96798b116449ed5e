//! OS log: what SQLite's error log (sqlite.org/errlog.html) said about the last failed I/O, so
//! that an I/O error can name the operation and the file. SQLite's own message ("disk I/O
//! error") says neither; its log gives the extended result code of every failed statement
//! (`SQLITE_IOERR_WRITE`: a write) and, for the calls its unix VFS logs (`open`, `unlink`,
//! `fsync` of a directory, `ftruncate`, `mmap`), the call, the path and the system's message.
//!
//! [`install`] registers the log once per process, before SQLite is first used (the command
//! line does it first thing); [`describe`] says the last failure in words.

use std::os::raw::c_int;
use std::sync::{Mutex, Once};

use rusqlite::ffi;

/// The last failures the log reported: a system call with its path, and a result code.
#[derive(Debug, Default, Clone)]
struct Seen {
    /// `write(/path/app.db-journal): Input/output error`, from the unix VFS.
    call: Option<String>,
    /// The extended result code of the last I/O failure of a statement.
    code: Option<c_int>,
}

static SEEN: Mutex<Seen> = Mutex::new(Seen { call: None, code: None });

/// Registers SQLite's error log for this process (once; a later call, or one after SQLite was
/// first used, does nothing).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: called before any other SQLite call of the process by the command line's
        // first line, on one thread; `record` makes no SQLite call and is thread-safe. Where
        // SQLite is already in use, SQLite refuses the configuration, and nothing changes.
        let _ = unsafe { rusqlite::trace::config_log(Some(record)) };
    });
}

fn record(code: c_int, message: &str) {
    let primary = code & 0xff;
    if !matches!(primary, ffi::SQLITE_IOERR | ffi::SQLITE_FULL | ffi::SQLITE_CANTOPEN | ffi::SQLITE_NOMEM) {
        return;
    }
    let mut seen = SEEN.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(call) = system_call(message) {
        seen.call = Some(call);
    }
    seen.code = Some(code);
}

/// `os_unix.c:44588: (5) full_fsync(/tmp/app.db) - Input/output error` as
/// `full_fsync(/tmp/app.db): Input/output error`.
fn system_call(message: &str) -> Option<String> {
    let rest = message.strip_prefix("os_unix.c:")?;
    let (_, rest) = rest.split_once(") ")?;
    let (call, said) = rest.rsplit_once(" -").map(|(c, s)| (c, s.trim()))?;
    Some(if said.is_empty() { call.to_string() } else { format!("{call}: {said}") })
}

/// The operation an extended result code names.
fn operation(code: c_int) -> Option<&'static str> {
    Some(match code {
        ffi::SQLITE_IOERR_READ | ffi::SQLITE_IOERR_SHORT_READ => "a read",
        ffi::SQLITE_IOERR_WRITE => "a write",
        ffi::SQLITE_IOERR_FSYNC => "an fsync",
        ffi::SQLITE_IOERR_DIR_FSYNC => "an fsync of the directory",
        ffi::SQLITE_IOERR_TRUNCATE => "a truncate",
        ffi::SQLITE_IOERR_FSTAT => "an fstat",
        ffi::SQLITE_IOERR_DELETE => "an unlink",
        ffi::SQLITE_IOERR_ACCESS => "an access check",
        ffi::SQLITE_IOERR_LOCK | ffi::SQLITE_IOERR_RDLOCK | ffi::SQLITE_IOERR_UNLOCK => "a file lock",
        ffi::SQLITE_IOERR_CLOSE => "a close",
        ffi::SQLITE_IOERR_SHMOPEN | ffi::SQLITE_IOERR_SHMSIZE | ffi::SQLITE_IOERR_SHMMAP => {
            "the shared memory of the WAL (an open, a write or an mmap of the -shm file)"
        }
        ffi::SQLITE_IOERR_MMAP => "an mmap",
        ffi::SQLITE_IOERR_NOMEM | ffi::SQLITE_NOMEM => "a memory allocation",
        ffi::SQLITE_FULL => "a write (the disk is full)",
        c if c & 0xff == ffi::SQLITE_CANTOPEN => "an open",
        _ => return None,
    })
}

/// The operation SQLite's error `e` names by its extended result code (`a write`, ...).
pub fn operation_of(e: &rusqlite::Error) -> Option<&'static str> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => operation(f.extended_code),
        _ => None,
    }
}

/// The last I/O failure SQLite logged, in words (`the failed call: write(...)`, or the
/// operation its result code names), or `None` when it logged none.
pub fn describe() -> Option<String> {
    let seen = SEEN.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let op = seen.code.and_then(operation);
    match (seen.call, op) {
        (Some(call), Some(op)) => Some(format!("SQLite's failing call: {op}, {call}")),
        (Some(call), None) => Some(format!("SQLite's failing call: {call}")),
        (None, Some(op)) => Some(format!("SQLite's failing call: {op}")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_unix_vfs_line_gives_the_call_the_path_and_the_system_message() {
        assert_eq!(
            system_call("os_unix.c:47506: (13) unlink(/tmp/a b/app.db-journal) - Permission denied").as_deref(),
            Some("unlink(/tmp/a b/app.db-journal): Permission denied")
        );
        assert_eq!(system_call("statement aborts at 4: [INSERT ...] disk I/O error"), None);
        assert_eq!(operation(ffi::SQLITE_IOERR_WRITE), Some("a write"));
        assert_eq!(operation(ffi::SQLITE_CANTOPEN_NOTEMPDIR), Some("an open"));
    }
}
