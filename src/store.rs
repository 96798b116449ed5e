//! Store: what an applied plan leaves behind.
//!
//! (The change itself is [`crate::migration::Prepared`]; its record in the database is
//! [`crate::history`].)
//! - The plan directory (`plans/<id>/forward.sql`, `rollback.sql`,
//!   `meta.json`): readable copies for review and version control, staged
//!   before COMMIT and renamed into place after it. Never table data.

use crate::store_error::StoreError;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::backup::{Backup, BACKUP_SCHEMA};
use crate::history::HistoryEntry;
use crate::migration::{Prepared, FORMAT_VERSION};
use crate::plan::Plan;
use crate::sql::quote_str;

/// Writes `bytes` to `path` atomically: a temporary file beside it, synced, then renamed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Plan files written to a hidden directory, renamed into place by [`Staged::publish`]; removed if dropped.
#[derive(Debug)]
pub struct Staged {
    tmp: Option<tempfile::TempDir>,
    target: PathBuf,
}

impl Staged {
    /// Moves the files to `<plans>/<id>`.
    pub fn publish(mut self) -> std::io::Result<PathBuf> {
        let Some(tmp) = self.tmp.take() else { return Ok(self.target.clone()) };
        let path = tmp.keep();
        fs::rename(&path, &self.target).map_err(|e| {
            let said = format!("rename({}, {}): {e}", path.display(), self.target.display());
            std::io::Error::new(e.kind(), said)
        })?;
        if let Some(parent) = self.target.parent() {
            // Make the rename durable where the platform allows it.
            if let Ok(d) = fs::File::open(parent) {
                let _ = d.sync_all();
            }
        }
        Ok(self.target.clone())
    }
}

/// Moves the plan files of committed change `id` into place, when they were staged; the error
/// says the change itself is applied and recorded.
pub fn publish_committed(staged: Option<Staged>, id: &str) -> Result<Option<PathBuf>, StoreError> {
    let Some(staged) = staged else { return Ok(None) };
    staged.publish().map(Some).map_err(|e| {
        let message =
            format!("change {id} is applied and recorded, but its plan files could not be moved into place: {e}");
        StoreError::new("publish the plan files", None, message)
    })
}

/// The metadata file of a stored change.
#[derive(Debug, Serialize)]
struct Meta<'a> {
    format: u32,
    id: &'a str,
    kind: &'a str,
    created_at: &'a str,
    tool_version: &'a str,
    sqlite_version: &'a str,
    fingerprint_before: &'a str,
    fingerprint_after: &'a str,
    backup: Option<&'a str>,
    backups: &'a [Backup],
    summary: String,
    changes: &'a [crate::diff::Change],
    steps: Vec<StepMeta<'a>>,
    rollback_steps: Vec<StepMeta<'a>>,
}

#[derive(Debug, Serialize)]
struct StepMeta<'a> {
    kind: crate::plan::StepKind,
    object: &'a str,
    risk: crate::Risk,
    comment: &'a str,
}

fn step_meta(p: &Plan) -> Vec<StepMeta<'_>> {
    p.steps.iter().map(|s| StepMeta { kind: s.kind, object: &s.object, risk: s.risk, comment: &s.comment }).collect()
}

/// Writes `forward.sql`, `rollback.sql` and `meta.json` of `entry` to a hidden directory under `plans`.
pub fn stage(
    plans: &Path,
    entry: &HistoryEntry,
    prepared: &Prepared,
    backup_path: Option<&Path>,
) -> std::io::Result<Staged> {
    fs::create_dir_all(plans)?;
    // Another database may have recorded a change with the same id in the same second: number the directory.
    let mut target = plans.join(&entry.id);
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = plans.join(format!("{}.{n}", entry.id));
    }
    let tmp = tempfile::Builder::new().prefix(&format!(".{}.", entry.id)).tempdir_in(plans)?;
    let forward = crate::render::sql(&prepared.forward);
    let mut rollback = String::new();
    if let Some(b) = backup_path {
        rollback.push_str(&format!(
            "-- Kept values come back from the backup file written when this plan was applied.\nATTACH DATABASE {} AS {BACKUP_SCHEMA};\n",
            quote_str(&b.display().to_string())
        ));
    }
    rollback.push_str(&crate::render::sql(&prepared.rollback));
    let meta = Meta {
        format: FORMAT_VERSION,
        id: &entry.id,
        kind: &entry.kind,
        created_at: &entry.applied_at,
        tool_version: &entry.tool_version,
        sqlite_version: &entry.sqlite_version,
        fingerprint_before: &entry.fingerprint_before,
        fingerprint_after: &entry.fingerprint_after,
        backup: entry.backup.as_deref(),
        backups: &prepared.backups,
        summary: entry.summary.clone(),
        changes: &prepared.forward.changes,
        steps: step_meta(&prepared.forward),
        rollback_steps: step_meta(&prepared.rollback),
    };
    let meta = serde_json::to_string_pretty(&meta).map_err(std::io::Error::other)? + "\n";
    for (name, text) in [("forward.sql", forward), ("rollback.sql", rollback), ("meta.json", meta)] {
        let mut f = fs::File::create(tmp.path().join(name))?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    Ok(Staged { tmp: Some(tmp), target })
}
