//! The YAML reference (`docs/REFERENCE.md`), generated from the JSON Schema
//! that schemars derives from the model types. Test code: the library does not
//! carry it at run time.
//!
//! Every key of every type, with its type, default, description and example,
//! comes from `src/model.rs` (doc comments and `#[schemars(example = ...)]`),
//! so the reference cannot drift from the format. A test regenerates it and
//! fails when the checked-in file differs. Pure: no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use serde_json::{Map, Value};

/// The first line of the generated file, naming the command that refreshes it.
pub const REFERENCE_HEADER: &str = "<!-- Generated from src/model.rs by `tests/it/reference_doc.rs`. \
     Do not edit: refresh with `UPDATE_REFERENCE=1 cargo test --test it reference`. -->";

/// The YAML reference as Markdown.
pub fn reference() -> String {
    let mut root = schemars::schema_for!(sqlite_reconcile::model::Schema).to_value();
    let defs = match root.as_object_mut().and_then(|o| o.remove("$defs")) {
        Some(Value::Object(defs)) => defs,
        _ => Map::new(),
    };
    let doc = Doc { defs: &defs };

    // Where each type is used: its YAML paths, found by walking from the top.
    let mut paths: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    doc.walk(&root, "", &mut paths, &mut BTreeSet::new());

    let mut out = String::new();
    out.push_str(REFERENCE_HEADER);
    out.push_str("\n\n# YAML reference\n\n");
    out.push_str(
        "Every key of the schema format, generated from the types in [`src/model.rs`](../src/model.rs). \
         A schema is a directory of `*.yaml` files, read in sorted order and merged; each table, view, \
         trigger and virtual table is declared in exactly one file. Unknown keys are errors. \
         [FORMAT.md](FORMAT.md) explains the rules behind the keys (names, expressions, migration hints) \
         with longer examples; `schema/reconcile.schema.json` (from `reconcile schema`) is the same \
         format as a JSON Schema, for editors.\n\n",
    );
    out.push_str(
        "*Type* links to the section of a type below, or names a YAML value: `string`, `bool`, a list, \
         or a map from names. *Default* is what an absent key means; **required** keys have none. \
         *Example* is the key written in YAML flow style.\n\n",
    );

    out.push_str("## Contents\n\n");
    let sections = doc.sections(&root);
    for (name, _) in &sections {
        let _ = writeln!(out, "- [{}](#{})", title(name), anchor(name));
    }
    out.push('\n');

    for (name, def) in &sections {
        let _ = writeln!(out, "## {}\n", title(name));
        if let Some(d) = def.get("description").and_then(Value::as_str) {
            let _ = writeln!(out, "{}\n", one_line(d));
        }
        match paths.get(*name) {
            Some(p) if !p.is_empty() => {
                let list: Vec<String> = p.iter().map(|p| format!("`{p}`")).collect();
                let _ = writeln!(out, "Found at: {}.\n", list.join(", "));
            }
            _ if *name == "Schema" => out.push_str("Found at: the top level of every schema file.\n\n"),
            _ => {}
        }
        doc.section_body(&mut out, name, def);
    }
    out
}

struct Doc<'a> {
    defs: &'a Map<String, Value>,
}

impl<'a> Doc<'a> {
    /// The sections in reading order: the top level, then the object types as
    /// they are reached, then the value types (expressions, terms, enums).
    fn sections(&self, root: &'a Value) -> Vec<(&'a str, &'a Value)> {
        let order = [
            "Table",
            "Column",
            "References",
            "Generated",
            "Check",
            "Key",
            "ForeignKey",
            "Index",
            "Trigger",
            "View",
            "VirtualTable",
            "Expr",
            "IndexedColumn",
            "Conflict",
            "FkAction",
            "SortOrder",
        ];
        // The top level is the root schema itself, not one of its $defs.
        let mut out: Vec<(&'a str, &'a Value)> = vec![("Schema", root)];
        for name in order {
            if let Some((k, v)) = self.defs.get_key_value(name) {
                out.push((k.as_str(), v));
            }
        }
        // Any type added to the model later still gets a section.
        for (k, v) in self.defs {
            if !order.contains(&k.as_str()) {
                out.push((k.as_str(), v));
            }
        }
        out
    }

    fn def(&self, r: &str) -> Option<(&'a str, &'a Value)> {
        let name = r.strip_prefix("#/$defs/")?;
        self.defs.get_key_value(name).map(|(k, v)| (k.as_str(), v))
    }

    /// Records the YAML path of every type reachable from `schema` at `path`.
    fn walk(
        &self,
        schema: &Value,
        path: &str,
        paths: &mut BTreeMap<String, BTreeSet<String>>,
        seen: &mut BTreeSet<String>,
    ) {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            if let Some((name, def)) = self.def(r) {
                paths.entry(name.to_string()).or_default().insert(path.to_string());
                if seen.insert(format!("{name}@{path}")) {
                    self.walk(def, path, paths, seen);
                }
            }
            return;
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            for alt in schema.get(key).and_then(Value::as_array).into_iter().flatten() {
                self.walk(alt, path, paths, seen);
            }
        }
        if let Some(items) = schema.get("items") {
            self.walk(items, &format!("{path}[]"), paths, seen);
        }
        if let Some(add) = schema.get("additionalProperties").filter(|v| v.is_object()) {
            self.walk(add, &format!("{path}.<name>"), paths, seen);
        }
        for (key, prop) in schema.get("properties").and_then(Value::as_object).into_iter().flatten() {
            let p = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
            self.walk(prop, &p, paths, seen);
        }
    }

    fn section_body(&self, out: &mut String, name: &str, def: &Value) {
        // Enumerations: their values.
        if let Some(alts) = def.get("oneOf").and_then(Value::as_array) {
            out.push_str("| value | meaning |\n|---|---|\n");
            for alt in alts {
                let value = alt.get("const").map(yaml_flow).unwrap_or_default();
                let meaning = alt.get("description").and_then(Value::as_str).unwrap_or("");
                let _ = writeln!(out, "| `{}` | {} |", cell(&value), cell(meaning));
            }
            out.push('\n');
            return;
        }
        // An object, or a value that may also be written as an object (a key).
        let object = if def.get("properties").is_some() {
            Some(def)
        } else {
            def.get("anyOf")
                .and_then(Value::as_array)
                .and_then(|alts| alts.iter().find(|a| a.get("properties").is_some()))
        };
        let Some(object) = object else {
            let written = match self.type_name(def).as_str() {
                "expression" => "a YAML string of SQL; a YAML number or boolean is accepted too".to_string(),
                other => format!("a YAML {other}"),
            };
            let _ = writeln!(out, "Written as {written}.\n");
            return;
        };
        if let Some(alts) = def.get("anyOf").and_then(Value::as_array) {
            for alt in alts.iter().filter(|a| a.get("properties").is_none()) {
                let _ = writeln!(out, "Written as a {}, or as a map with these keys:\n", self.type_name(alt));
            }
        }
        let required: BTreeSet<&str> =
            object.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        out.push_str("| key | type | default | description | example |\n|---|---|---|---|---|\n");
        for (key, prop) in object.get("properties").and_then(Value::as_object).into_iter().flatten() {
            let ty = self.type_name(prop);
            let default =
                if required.contains(key.as_str()) { "**required**".to_string() } else { default_of(prop, &ty) };
            let description = prop.get("description").and_then(Value::as_str).map(one_line).unwrap_or_default();
            let example = prop
                .get("examples")
                .and_then(Value::as_array)
                .and_then(|e| e.first())
                .map(|e| format!("`{}`", cell(&format!("{key}: {}", yaml_flow(e)))))
                .unwrap_or_default();
            let _ = writeln!(out, "| `{key}` | {} | {} | {} | {} |", cell(&ty), default, cell(&description), example);
        }
        out.push('\n');
        if name == "Schema" {
            out.push_str("An empty file, or one with only comments, declares nothing.\n\n");
        }
    }

    /// A short type name, linking to the section of a named type.
    fn type_name(&self, schema: &Value) -> String {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            return match self.def(r) {
                Some((name, def)) => match def.get("type").and_then(Value::as_str) {
                    // Scalar types read better by what they hold.
                    Some("string") if def.get("properties").is_none() => {
                        format!("[{}](#{})", scalar_label(name), anchor(name))
                    }
                    _ => format!("[{}](#{})", title(name), anchor(name)),
                },
                None => "?".to_string(),
            };
        }
        for key in ["anyOf", "allOf"] {
            if let Some(alts) = schema.get(key).and_then(Value::as_array) {
                let names: Vec<String> = alts
                    .iter()
                    .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
                    .map(|a| self.type_name(a))
                    .collect();
                return names.join(" or ");
            }
        }
        match schema.get("type") {
            Some(Value::String(t)) => match t.as_str() {
                "array" => match schema.get("items") {
                    Some(items) => format!("list of {}", self.type_name(items)),
                    None => "list".to_string(),
                },
                "object" => match schema.get("additionalProperties").filter(|v| v.is_object()) {
                    Some(v) => format!("map of name → {}", self.type_name(v)),
                    None => "map".to_string(),
                },
                "boolean" => "bool".to_string(),
                "integer" | "number" => "number".to_string(),
                other => other.to_string(),
            },
            Some(Value::Array(types)) => {
                let names: Vec<&str> = types.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect();
                if names.len() == 1 {
                    names[0].replace("boolean", "bool")
                } else {
                    "expression".to_string()
                }
            }
            _ => "any".to_string(),
        }
    }
}

fn scalar_label(def_name: &str) -> &str {
    match def_name {
        "IndexedColumn" => "term",
        other => other,
    }
}

/// What an absent, optional key means.
fn default_of(prop: &Value, ty: &str) -> String {
    if let Some(d) = prop.get("default") {
        return format!("`{}`", cell(&yaml_flow(d)));
    }
    if ty == "bool" {
        "`false`".to_string()
    } else if ty.starts_with("list of") {
        "`[]`".to_string()
    } else if ty.starts_with("map of") {
        "`{}`".to_string()
    } else {
        "none".to_string()
    }
}

/// A section title: the type name as written in the model, split into words.
fn title(name: &str) -> String {
    match name {
        "Schema" => "Top level".to_string(),
        "Expr" => "Expression".to_string(),
        "IndexedColumn" => "Term".to_string(),
        "FkAction" => "Foreign-key action".to_string(),
        "SortOrder" => "Sort order".to_string(),
        "Conflict" => "Conflict resolution".to_string(),
        "ForeignKey" => "Foreign key".to_string(),
        "VirtualTable" => "Virtual table".to_string(),
        other => other.to_string(),
    }
}

/// The GitHub anchor of a section title.
fn anchor(name: &str) -> String {
    title(name)
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// Doc comments joined into one paragraph.
fn one_line(s: &str) -> String {
    s.split('\n').map(str::trim).collect::<Vec<_>>().join(" ")
}

/// Text safe inside a Markdown table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A JSON value as one line of YAML flow style.
fn yaml_flow(v: &Value) -> String {
    match v {
        Value::Null => "~".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => yaml_scalar(s),
        Value::Array(items) => format!("[{}]", items.iter().map(yaml_flow).collect::<Vec<_>>().join(", ")),
        Value::Object(map) => {
            let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k}: {}", yaml_flow(v))).collect();
            format!("{{ {} }}", parts.join(", "))
        }
    }
}

/// A string as a YAML scalar, quoted only when plain style would change its meaning.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && !s.starts_with(|c: char| "'\"[]{}#&*!|>%@`,?:-".contains(c) || c.is_whitespace())
        && !s.ends_with(char::is_whitespace)
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.contains([',', '[', ']', '{', '}'])
        && serde_yaml::from_str::<serde_yaml::Value>(s).ok() == Some(serde_yaml::Value::String(s.to_string()));
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_are_quoted_only_when_needed() {
        assert_eq!(yaml_scalar("created_at"), "created_at");
        assert_eq!(yaml_scalar("VARCHAR(255)"), "VARCHAR(255)");
        assert_eq!(yaml_scalar("'queued'"), "\"'queued'\"");
        assert_eq!(yaml_scalar("true"), "\"true\"");
        assert_eq!(yaml_scalar("0"), "\"0\"");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
        assert_eq!(yaml_scalar("lower(title), x"), "\"lower(title), x\"");
    }

    #[test]
    fn flow_style_round_trips() {
        let v = serde_json::json!({"columns": ["priority DESC", "created_at"], "where": "status = 'queued'", "unique": true});
        let text = yaml_flow(&v);
        let back: serde_json::Value = serde_yaml::from_str(&text).unwrap_or_default();
        assert_eq!(back, v, "{text}");
    }

    #[test]
    fn every_key_has_a_description_and_an_example() {
        let text = reference();
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| `") && l.matches(" | ").count() == 4).collect();
        assert!(rows.len() > 40, "{} key rows", rows.len());
        for row in rows {
            let cells: Vec<&str> = row.trim_matches('|').split(" | ").map(str::trim).collect();
            assert_eq!(cells.len(), 5, "{row}");
            assert!(!cells[3].is_empty(), "no description: {row}");
            assert!(!cells[4].is_empty(), "no example: {row}");
        }
    }
}
