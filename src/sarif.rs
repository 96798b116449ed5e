//! SARIF: lint warnings as a SARIF 2.1.0 log, for code-scanning tools: one run of the tool
//! `reconcile` with a rule per lint (its id, the description and help from [`lint::LINTS`]) and
//! a result per warning, located at its YAML file, line and column.

use serde_json::{json, Value};

use crate::lint::{self, Lint};

/// Where a warning is: the file that declares its object, and the line and column there
/// (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    /// The warning.
    pub lint: Lint,
    /// The YAML file, as given (a relative path reads as relative to the repository).
    pub file: String,
    /// Line, 1-based.
    pub line: usize,
    /// Column, 1-based.
    pub column: usize,
}

/// A path as a URI reference: `/` separators, what a URI cannot hold percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.replace('\\', "/").bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The SARIF 2.1.0 log of `warnings`, by `reconcile` at `version`.
pub fn log(warnings: &[Located], version: &str) -> String {
    let rules: Vec<Value> = lint::LINTS
        .iter()
        .map(|(name, what)| {
            json!({
                "id": name,
                "shortDescription": { "text": what },
                "fullDescription": { "text": what },
                "help": {
                    "text": format!("{what}. Silence it with `--allow-lint {name}`, `allow_lints` in reconcile.toml or RECONCILE_ALLOW_LINTS."),
                },
                "defaultConfiguration": { "level": "warning" },
            })
        })
        .collect();
    let results: Vec<Value> = warnings
        .iter()
        .map(|w| {
            let index = lint::LINTS.iter().position(|(n, _)| *n == w.lint.name).unwrap_or(0);
            json!({
                "ruleId": w.lint.name,
                "ruleIndex": index,
                "level": "warning",
                "message": { "text": format!("`{}`: {}", w.lint.path, w.lint.message) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&w.file) },
                        "region": { "startLine": w.line, "startColumn": w.column },
                    },
                    "logicalLocations": [{ "fullyQualifiedName": w.lint.path, "kind": "object" }],
                }],
            })
        })
        .collect();
    let log = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": { "name": "reconcile", "version": version, "rules": rules } },
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&log).unwrap_or_default() + "\n"
}
