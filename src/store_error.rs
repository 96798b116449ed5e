//! StoreError: the plan store, a backup file or the history could not be read or written. A
//! module of its own, below everything that stores and everything that reports it.

/// The plan store, a backup file or the history could not be read or written: what was being
/// done, on which file, directory or table, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// What was being done (`open the backup`, `write the backup`, `record the change`,
    /// `read the history`, `write the plan files`, `publish the plan files`).
    pub operation: &'static str,
    /// The file, directory or table it was done on, when there is one.
    pub path: Option<String>,
    /// What went wrong, in words that name the path.
    pub message: String,
}

impl StoreError {
    /// `operation` on `path` failed, as `message` says.
    pub fn new(operation: &'static str, path: Option<String>, message: impl Into<String>) -> StoreError {
        StoreError { operation, path, message: message.into() }
    }
}
