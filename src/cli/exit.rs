//! Exit statuses: how a command's result becomes the process exit code. The only place that knows
//! the numbers (0 success, 1 error, 2 drift, 3 refused) and which failures are refusals; `status`
//! is the one mapping. Commands return an `Outcome` or a `Failure` and never pick a number; this
//! module prints nothing but the failure's one line.

use std::process::ExitCode;

use sqlite_reconcile::apply::is_busy;
use sqlite_reconcile::{ApplyError, Error, InspectError, Refusal};

use super::output::Out;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ExitStatus {
    /// The command did what was asked.
    Success,
    /// Bad input, SQLite error, verification failure.
    Error,
    /// Drift found (`drift`).
    Drift,
    /// Refused by policy; nothing was changed.
    Refused,
}

impl From<ExitStatus> for u8 {
    fn from(status: ExitStatus) -> u8 {
        match status {
            ExitStatus::Success => 0,
            ExitStatus::Error => 1,
            ExitStatus::Drift => 2,
            ExitStatus::Refused => 3,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> ExitCode {
        ExitCode::from(u8::from(status))
    }
}

/// How a command ended when it did not fail.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Success.
    Ok,
    /// Drift found.
    Drift,
    /// The command has said what went wrong itself (a fleet's summary): only the status is left.
    Told(ExitStatus),
}

/// Why a command failed, with its message for people.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The command line's own error: bad input, a file it could not read or write.
    Error(String),
    /// The command line's own refusal: no terminal and no `--yes`, a "no", `reset` outside dev.
    Refused(String),
    /// A library error, kept for its kind; `message` says it (naming the database where that helps).
    Library { error: Box<Error>, message: String },
}

impl Failure {
    /// A library error, said as the library says it.
    pub(crate) fn library(error: impl Into<Error>) -> Failure {
        let error = error.into();
        let message = format!("{error}{}", hint(&error));
        Failure::Library { error: Box::new(error), message }
    }

    /// An error of something the command line does itself (serializing, reading the terminal),
    /// said as it says it.
    pub(crate) fn error(e: impl std::fmt::Display) -> Failure {
        Failure::Error(e.to_string())
    }

    fn message(&self) -> &str {
        match self {
            Failure::Error(m) | Failure::Refused(m) | Failure::Library { message: m, .. } => m,
        }
    }
}

/// What the library says in its own words, the command line completes with the flag that
/// allows or changes what happened (library messages name no flag).
pub(crate) fn hint(error: &Error) -> &'static str {
    match error {
        Error::Refused(Refusal::Destructive(_)) => "; rerun with --allow-destructive to run them",
        _ if waited_for_a_lock(error) => BUSY_HINT,
        _ => "",
    }
}

/// How to wait longer for a lock, after the library's "or wait longer".
pub(crate) const BUSY_HINT: &str =
    " with --busy-timeout MS (RECONCILE_BUSY_TIMEOUT, busy_timeout_ms in reconcile.toml)";

fn waited_for_a_lock(error: &Error) -> bool {
    match error {
        Error::Apply(ApplyError::Busy { .. }) => true,
        Error::Sqlite(s) | Error::Inspect(InspectError::Sqlite(s)) => is_busy(s),
        _ => false,
    }
}

/// The exit status of a command's result: the one mapping from results to statuses.
pub(crate) fn status(result: &Result<Outcome, Failure>) -> ExitStatus {
    match result {
        Ok(Outcome::Ok) => ExitStatus::Success,
        Ok(Outcome::Drift) => ExitStatus::Drift,
        Ok(Outcome::Told(status)) => *status,
        Err(Failure::Error(_)) => ExitStatus::Error,
        Err(Failure::Refused(_)) => ExitStatus::Refused,
        Err(Failure::Library { error, .. }) => match **error {
            Error::Refused(_) | Error::Apply(ApplyError::Refused(_)) => ExitStatus::Refused,
            _ => ExitStatus::Error,
        },
    }
}

/// Says on stderr why the command failed, if it did, and gives its exit status.
pub(crate) fn finish(out: Out, result: Result<Outcome, Failure>) -> ExitStatus {
    let status = status(&result);
    if let Err(failure) = &result {
        let m = failure.message();
        if status == ExitStatus::Refused {
            // Library refusals may already say so.
            eprintln!("{} {}", out.paint("1;33", "refused:"), m.strip_prefix("refused: ").unwrap_or(m));
        } else {
            eprintln!("{} {m}", out.paint("1;31", "error:"));
        }
    }
    status
}
