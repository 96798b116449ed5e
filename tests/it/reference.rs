//! Generated files stay current: `docs/REFERENCE.md` is regenerated from the
//! model types and compared with the checked-in file.

use std::path::Path;

#[path = "reference_doc.rs"]
mod doc;

const REFRESH: &str = "UPDATE_REFERENCE=1 cargo test --test it reference";

#[test]
fn reference_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/REFERENCE.md");
    let want = doc::reference();
    if std::env::var_os("UPDATE_REFERENCE").is_some() {
        std::fs::write(&path, &want).expect("write docs/REFERENCE.md");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(have.lines().count().min(want.lines().count()));
        panic!(
            "{} is stale (first difference at line {}):\n  have: {}\n  want: {}\nrefresh it with:\n\n    {REFRESH}\n",
            path.display(),
            line + 1,
            have.lines().nth(line).unwrap_or("<end of file>"),
            want.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn reference_names_every_top_level_key() {
    let text = doc::reference();
    for key in ["tables", "virtual_tables", "triggers", "views"] {
        assert!(text.contains(&format!("| `{key}` |")), "{key}");
    }
    assert!(text.starts_with(doc::REFERENCE_HEADER));
    assert!(text.contains(REFRESH), "the header names the refresh command");
}

/// A table-level key may be written as a plain list of columns; the JSON
/// Schema editors validate against must allow it (it once allowed only the map).
#[test]
fn json_schema_allows_the_short_key_form() {
    let schema: serde_json::Value = serde_json::from_str(&sqlite_reconcile::json_schema()).expect("json");
    let key = &schema["$defs"]["Key"]["anyOf"];
    let kinds: Vec<&str> = key.as_array().into_iter().flatten().filter_map(|v| v["type"].as_str()).collect();
    assert_eq!(kinds, ["array", "object"], "{key}");
    let expr = &schema["$defs"]["Expr"]["type"];
    assert_eq!(
        expr,
        &serde_json::json!(["string", "number", "boolean"]),
        "`default: 0` is valid YAML for an expression"
    );
}
