//! Error: every error of the library in one type, [`Error`], each stage's own error wrapped with
//! its context; refusals in one variant ([`Error::Refused`]). Messages say what happened and
//! name the object; they name no command-line flag (the CLI adds the one that helps).

use crate::apply::{ApplyError, Refusal};
use crate::inspect::InspectError;
use crate::load::LoadError;
use crate::plan::PlanError;
use crate::store_error::StoreError;

/// Any error of the library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The desired schema is invalid.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The database's schema could not be read.
    #[error(transparent)]
    Inspect(#[from] InspectError),
    /// No plan can be made.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Applying failed; nothing was changed.
    #[error(transparent)]
    Apply(ApplyError),
    /// Refused by a rule (destructive or data-dependent steps without permission, the journal
    /// mode, a stale plan, a rollback that would not fit or has nothing to undo); nothing was
    /// changed. The one place every refusal ends up.
    #[error(transparent)]
    Refused(Refusal),
    /// The plan store, a backup file or the history could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A database error outside a plan.
    #[error("{0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A libSQL server that cannot be used: unreachable, not libSQL, refusing the token.
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
}

impl From<ApplyError> for Error {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Refused(r) => Error::Refused(r),
            other => Error::Apply(other),
        }
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        Error::Refused(r)
    }
}
