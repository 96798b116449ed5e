//! Migration: one change prepared against one schema, everything needed to apply it and to
//! undo it: the forward plan, its rollback plan and the values to keep, planned together from
//! the same inputs, with the fingerprints of the schema before and after. `plan --out` saves one
//! as JSON; the history table holds each applied one whole.
//!
//! [`prepare`] makes one from a database (read through SQL, never written) and a desired schema.

use std::time::Duration;

use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::apply::{self, ApplyError};
use crate::engine::Sql;
use crate::error::Error;
use crate::inspect::{inspect, InspectOptions};
use crate::{backup, diff, plan, rollback};

use crate::backup::Backup;
use crate::model::Schema;
use crate::plan::Plan;

/// Version of the saved-plan and metadata formats.
pub const FORMAT_VERSION: u32 = 1;

/// The tool's version, recorded with every change.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A change planned against one schema: everything needed to apply it and to undo it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Prepared {
    /// Format version ([`FORMAT_VERSION`]).
    pub format: u32,
    /// The tool version that planned it.
    pub tool_version: String,
    /// The SQLite version it was planned for.
    pub sqlite_version: String,
    /// Fingerprint of the schema it was planned against.
    pub fingerprint_before: String,
    /// Fingerprint of the schema it produces.
    pub fingerprint_after: String,
    /// The schema it was planned against.
    pub before: Schema,
    /// The schema it produces (with the hints that led there).
    pub after: Schema,
    /// The forward plan.
    pub forward: Plan,
    /// The plan that undoes it.
    pub rollback: Plan,
    /// The values the forward plan loses or rewrites, kept for the rollback.
    #[serde(default)]
    pub backups: Vec<Backup>,
}

impl Prepared {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.forward.is_empty()
    }
}

/// A schema's fingerprint: the first 16 hex digits of the SHA-256 of its JSON form, hints left out.
pub fn fingerprint(schema: &Schema) -> String {
    let json = serde_json::to_string(&schema.without_hints()).unwrap_or_default();
    let digest = Sha256::digest(json.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Inspects `conn` and plans the forward change to `desired`, its rollback and the values to keep.
/// A database locked for longer than the connection's busy timeout is an [`ApplyError::Busy`].
pub fn prepare(conn: &mut Connection, desired: &Schema, opts: &InspectOptions) -> Result<Prepared, Error> {
    prepare_unlocked(conn, desired, opts).map_err(|e| match e {
        Error::Inspect(crate::InspectError::Sqlite(ref s)) | Error::Sqlite(ref s) if apply::is_busy(s) => {
            let waited: i64 = conn.query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap_or(0);
            let waited = Duration::from_millis(u64::try_from(waited).unwrap_or(0));
            Error::Apply(ApplyError::Busy { waited, holder: apply::WRITING })
        }
        other => other,
    })
}

fn prepare_unlocked(conn: &mut Connection, desired: &Schema, opts: &InspectOptions) -> Result<Prepared, Error> {
    prepare_with(&*conn, desired, opts)
}

/// [`prepare`] for any database read through SQL (a local file or a server): inspects it and
/// plans with its engine's version; nothing is written.
pub fn prepare_with(db: &(impl Sql + ?Sized), desired: &Schema, opts: &InspectOptions) -> Result<Prepared, Error> {
    let before = inspect(db, opts)?;
    prepare_from(before, desired, crate::engine::sqlite_version(db)?)
}

/// Plans the change from `before` (a schema as inspected) to `desired` on SQLite `version`.
pub fn prepare_from(before: Schema, desired: &Schema, version: (u32, u32, u32)) -> Result<Prepared, Error> {
    prepare_keys_on(before, desired, version, false)
}

/// [`prepare_from`] for an engine whose foreign keys stay on during a change when `keys_on`
/// (see [`crate::engine::ForeignKeyHold::DeferOnly`]): its plans and rollbacks rebuild a
/// referenced table with the tables that reference it.
pub fn prepare_keys_on(
    before: Schema,
    desired: &Schema,
    version: (u32, u32, u32),
    keys_on: bool,
) -> Result<Prepared, Error> {
    let facts = crate::plan::Facts { keys_on, ..crate::facts::of(&before, version) };
    // The comparison, renames included, is made once: the forward plan, the backups and the
    // rollback plan all work from it.
    let diff = diff::compare(&before, desired);
    let forward = plan::plan(&diff, &facts)?;
    let after = desired.without_hints();
    let (rollback, backups) = if forward.is_empty() {
        (Plan::default(), Vec::new())
    } else {
        let backups = backup::backups(&diff);
        let after_facts = crate::plan::Facts { keys_on, ..crate::facts::of(desired, facts.sqlite_version) };
        (rollback::plan_rollback(&diff, &backups, &after_facts)?, backups)
    };
    Ok(Prepared {
        format: FORMAT_VERSION,
        tool_version: TOOL_VERSION.to_string(),
        sqlite_version: version_string(facts.sqlite_version),
        fingerprint_before: fingerprint(&before),
        fingerprint_after: fingerprint(&after),
        before,
        after: desired.clone(),
        forward,
        rollback,
        backups,
    })
}

pub(crate) fn version_string(v: (u32, u32, u32)) -> String {
    format!("{}.{}.{}", v.0, v.1, v.2)
}
