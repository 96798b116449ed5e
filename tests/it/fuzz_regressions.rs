//! Replays kept fuzz inputs through the fuzz targets' own harness
//! (`fuzz/harness.rs`), so a normal `cargo test` on stable checks them: the
//! seeds in `fuzz/seeds/<target>/` and every input a target once failed on,
//! kept in `tests/fuzz_regressions/<target>/`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[path = "../../fuzz/harness.rs"]
mod harness;

fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [root.join("fuzz/seeds").join(target), root.join("tests/fuzz_regressions").join(target)] {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        files.extend(entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()));
    }
    files.sort();
    files
}

#[track_caller]
fn replay(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no kept inputs for `{target}`");
    let mut failed = Vec::new();
    for f in &files {
        let data = std::fs::read(f).expect("read a kept input");
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failed.push(f.display().to_string());
        }
    }
    assert!(failed.is_empty(), "`{target}` fails on {failed:#?}");
}

#[test]
fn load_yaml_inputs() {
    replay("load_yaml", harness::load_yaml);
}

#[test]
fn normalize_expr_inputs() {
    replay("normalize_expr", harness::normalize_expr);
}

#[test]
fn inspect_ddl_inputs() {
    replay("inspect_ddl", harness::inspect_ddl);
}
