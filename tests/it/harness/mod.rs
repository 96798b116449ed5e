//! The one test harness of `tests/it`: `scenario` (a database, a desired YAML, apply, then the
//! four checks and the rollback check), `rows` (what those checks compare), `command` (the real
//! binary in a temporary directory, its output and its snapshots) and `docs` (a doc page's `sh`
//! blocks, run as written), `engines` (real database servers the tests start) and `mirror` (a
//! database copied whole through SQL, to and from a server). Every module
//! of tests uses it through these names.

mod command;
mod docs;
mod engines;
mod mirror;
mod rows;
mod scenario;

use std::path::{Path, PathBuf};

pub use command::{
    command, copy_dir, reconcile, reconcile_env, reconcile_on_terminal, scrub, snapshot, stderr, stdout, Dir,
};
pub use docs::{doc_blocks, run_doc_block};
pub use engines::{rqlite_cluster, rqlited, sqld, Sqld};
pub use mirror::copy_database;
pub use rows::{sequence_rows, state, Rows};
pub use scenario::{load_yaml, run_scenario_files, Place, Scenario, ScenarioFile};

/// The sqldef corpus directory, if this machine has it.
pub fn corpus_dir() -> Option<PathBuf> {
    let p = std::env::var_os("RECONCILE_SQLDEF_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/sqldef"));
    p.is_dir().then_some(p)
}

/// A YAML mapping of strings to strings (an `env:` or `with:` block), what is not a string left out.
pub fn str_map(v: &serde_yaml::Value) -> std::collections::BTreeMap<String, String> {
    v.as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str()?.to_string(), v.as_str()?.to_string())))
        .collect()
}
