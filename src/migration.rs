//! Migration: one change prepared against one schema, everything needed to apply it and to
//! undo it: the forward plan, its rollback plan and the values to keep, planned together from
//! the same inputs, with the fingerprints of the schema before and after. `plan --out` saves one
//! as JSON; the history table holds each applied one whole.
//!
//! Plain values: no I/O.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
