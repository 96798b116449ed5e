//! Tidy: the code explains itself where a newcomer looks. Every source file opens with its
//! `//!` doc; docs/ARCHITECTURE.md's code map lists every source file and no other; each
//! function or type it names beside a file is still in that file.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn source_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let path = e.expect("dir entry").path();
        if path.is_dir() {
            source_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<String> {
    let mut files = Vec::new();
    source_files(&root().join("src"), &mut files);
    let mut names: Vec<String> =
        files.iter().map(|p| p.strip_prefix(root()).unwrap().to_string_lossy().replace('\\', "/")).collect();
    names.sort();
    names
}

/// The backticked words of `text`.
fn backticked(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

#[test]
fn every_source_file_has_its_doc() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|f| !std::fs::read_to_string(root().join(f)).unwrap().trim_start().starts_with("//!"))
        .collect();
    assert!(missing.is_empty(), "Missing `//!` docs: {missing:?}");
}

#[test]
fn the_code_map_lists_every_source_file() {
    let arch = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let start = arch.find("## Code map").expect("a code map");
    let end = start + arch[start..].find("\n### ").unwrap_or(arch.len() - start);
    let mapped: Vec<&str> = arch[start..end]
        .lines()
        .filter(|l| l.starts_with("| `src/"))
        .filter_map(|l| backticked(l).first().copied())
        .collect();
    let files = sources();
    let unmapped: Vec<&String> = files.iter().filter(|f| !mapped.contains(&f.as_str())).collect();
    let gone: Vec<&&str> = mapped.iter().filter(|m| !files.iter().any(|f| f == *m)).collect();
    assert!(unmapped.is_empty() && gone.is_empty(), "not in the code map: {unmapped:?}; in it but gone: {gone:?}");
}

#[test]
fn what_architecture_names_beside_a_file_is_in_that_file() {
    let arch = std::fs::read_to_string(root().join("docs/ARCHITECTURE.md")).unwrap();
    let mut wrong = Vec::new();
    // The invariants table's "enforced in" cells: "`src/apply.rs`: `apply_with` (...), `run`; `src/x.rs`: ...".
    let table = &arch[arch.find("## Safety invariants").expect("the invariants table")..];
    for line in table.lines().filter(|l| l.starts_with("| **")) {
        let Some(cell) = line.split('|').nth(2) else { continue };
        for part in cell.split(';') {
            let words = backticked(part);
            let Some(file) = words.first().filter(|w| w.starts_with("src/") && w.ends_with(".rs")) else { continue };
            let Ok(text) = std::fs::read_to_string(root().join(file)) else {
                wrong.push(format!("{file} does not exist"));
                continue;
            };
            for name in &words[1..] {
                let last = name.rsplit("::").next().unwrap_or(name);
                // SQL (`COMMIT`, `BEGIN IMMEDIATE`) is no Rust name.
                let is_word = !last.is_empty()
                    && last.chars().all(|c| c.is_alphanumeric() || c == '_')
                    && !last.chars().all(|c| c.is_ascii_uppercase() || c == '_');
                let defined = ["fn ", "struct ", "enum ", "trait ", "const "]
                    .iter()
                    .any(|kind| text.contains(&format!("{kind}{last}")))
                    || text.contains(&format!("{last}(")) // a call, or an enum variant
                    || text.contains(&format!("    {last},"))
                    || text.contains(&format!("    {last} {{"));
                if is_word && !defined {
                    wrong.push(format!("`{name}` is not in {file}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "docs/ARCHITECTURE.md names what is not there: {wrong:#?}");
}
