//! Lock: who holds a database's write lock, for the message a waiting apply prints.
//!
//! SQLite takes POSIX advisory locks on the database file (the RESERVED byte, in rollback-journal
//! mode) or on its `-shm` file (the WAL write-lock byte, in WAL mode); Linux lists them, with
//! the owning process, in `/proc/locks`. Only the process id and its executable's name are told:
//! a command line can hold a secret. Elsewhere, or when nothing is found, the answer is `None`
//! and the caller says "another connection". Invariant: nothing here locks or writes.

/// The byte SQLite locks to hold the RESERVED (write) lock in rollback-journal mode.
const RESERVED_BYTE: u64 = 0x4000_0001;

/// The byte of the `-shm` file SQLite locks to hold the write lock in WAL mode.
const WAL_WRITE_BYTE: u64 = 120;

/// Who holds the write lock of the database file at `path`: `process 4242 (reconcile)`, or
/// `another connection of this process`; `None` when it cannot be told.
pub fn write_lock_holder(path: &str) -> Option<String> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    let wanted =
        [(file_id(path)?, RESERVED_BYTE), (file_id(&format!("{path}-shm")).unwrap_or_default(), WAL_WRITE_BYTE)];
    let pid = locks.lines().find_map(|line| holder(line, &wanted))?;
    if pid == std::process::id() {
        return Some("another connection of this process".to_string());
    }
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    let name = name.trim();
    Some(if name.is_empty() { format!("process {pid}") } else { format!("process {pid} ({name})") })
}

/// The file's device and inode as `/proc/locks` writes them: `MAJOR:MINOR:INODE`, the device
/// numbers in hex.
#[cfg(unix)]
fn file_id(path: &str) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let dev = meta.dev();
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    Some(format!("{major:02x}:{minor:02x}:{}", meta.ino()))
}

#[cfg(not(unix))]
fn file_id(_path: &str) -> Option<String> {
    None
}

/// The process holding (not waiting for) a POSIX write lock over one of the `wanted` bytes of
/// one of the `wanted` files, from one line of `/proc/locks`:
/// `1: POSIX  ADVISORY  WRITE 4242 fd:01:1234 1073741825 1073741825`.
fn holder(line: &str, wanted: &[(String, u64)]) -> Option<u32> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.get(1) != Some(&"POSIX") || fields.get(3) != Some(&"WRITE") {
        return None;
    }
    let pid: u32 = fields.get(4)?.parse().ok()?;
    let file = *fields.get(5)?;
    let start: u64 = fields.get(6)?.parse().ok()?;
    let end: u64 = match *fields.get(7)? {
        "EOF" => u64::MAX,
        n => n.parse().ok()?,
    };
    wanted.iter().any(|(id, byte)| !id.is_empty() && id == file && (start..=end).contains(byte)).then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_line_is_read_for_its_holder_and_waiters_are_skipped() {
        let wanted = [("fd:01:77".to_string(), RESERVED_BYTE), ("fd:01:78".to_string(), WAL_WRITE_BYTE)];
        assert_eq!(holder("1: POSIX  ADVISORY  WRITE 4242 fd:01:77 1073741825 1073741825", &wanted), Some(4242));
        assert_eq!(holder("2: POSIX  ADVISORY  WRITE 99 fd:01:78 120 120", &wanted), Some(99));
        assert_eq!(holder("3: POSIX  ADVISORY  READ 99 fd:01:77 1073741826 1073742335", &wanted), None);
        assert_eq!(holder("4: POSIX  ADVISORY  WRITE 99 fd:01:79 1073741825 1073741825", &wanted), None);
        assert_eq!(holder("5: -> POSIX  ADVISORY  WRITE 7 fd:01:77 1073741825 1073741825", &wanted), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_holder_of_a_real_write_lock_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("app.db");
        let a = rusqlite::Connection::open(&path).unwrap();
        a.execute_batch("CREATE TABLE t (x); BEGIN IMMEDIATE; INSERT INTO t VALUES (1);").unwrap();
        let held = write_lock_holder(path.to_str().unwrap());
        assert_eq!(held.as_deref(), Some("another connection of this process"));
        a.execute_batch("COMMIT").unwrap();
        assert_eq!(write_lock_holder(path.to_str().unwrap()), None);
    }
}
