//! Render: `Plan` → text for people, an SQL script for the sqlite3 shell, or JSON for tools.
//!
//! Pure: no I/O and no terminal knowledge (color is the CLI's business).

use serde::Serialize;

use crate::diff::Change;
use crate::plan::{Plan, Step, StepKind};

/// Version of the JSON formats; bumped on any incompatible change.
pub const JSON_VERSION: u32 = 1;

fn marker(s: &Step) -> String {
    if s.kind == StepKind::RebuildTable {
        format!("rebuild, {}", s.risk)
    } else {
        s.risk.to_string()
    }
}

/// One-line summary: "3 steps: 1 rebuild of feed, 1 destructive".
pub fn summary(plan: &Plan) -> String {
    if plan.is_empty() {
        return "in sync: nothing to do".to_string();
    }
    let mut parts = vec![format!("{} step{}", plan.steps.len(), if plan.steps.len() == 1 { "" } else { "s" })];
    let rebuilds: Vec<&str> =
        plan.steps.iter().filter(|s| s.kind == StepKind::RebuildTable).map(|s| s.object.as_str()).collect();
    if !rebuilds.is_empty() {
        parts.push(format!(
            "{} rebuild{} ({})",
            rebuilds.len(),
            if rebuilds.len() == 1 { "" } else { "s" },
            rebuilds.join(", ")
        ));
    }
    let dd = plan.steps.iter().filter(|s| s.risk == crate::Risk::DataDependent).count();
    if dd > 0 {
        parts.push(format!("{dd} data-dependent"));
    }
    let de = plan.destructive().count();
    if de > 0 {
        parts.push(format!("{de} destructive"));
    }
    parts.join(", ")
}

/// Text on one line: control characters in names (a newline ends an SQL `--` comment, an escape
/// sequence drives a terminal) are shown escaped, as `\n` or `\u{1b}`.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The plan for people: each step with its risk, its hints and its SQL.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    out.push_str(&format!("Plan: {}\n", one_line(&summary(plan))));
    for (i, s) in plan.steps.iter().enumerate() {
        out.push_str(&format!("\n{}. [{}] {}\n", i + 1, marker(s), one_line(&s.comment)));
        for h in &s.hints {
            out.push_str(&format!("   uses {}\n", one_line(h)));
        }
        for sql in &s.sql {
            for line in sql.lines() {
                out.push_str(&format!("     {line}\n"));
            }
        }
    }
    out
}

/// A script a person can run with the sqlite3 shell, pragmas outside the transaction.
pub fn sql(plan: &Plan) -> String {
    // Names reach the comments too: on one line, so none can end a comment and start a statement.
    let mut out = String::from("-- reconcile plan: ");
    out.push_str(&one_line(&summary(plan)));
    out.push('\n');
    if plan.is_empty() {
        return out;
    }
    out.push_str("PRAGMA foreign_keys = OFF;\nBEGIN IMMEDIATE;\n");
    for (i, s) in plan.steps.iter().enumerate() {
        out.push_str(&format!("\n-- {}. [{}] {}\n", i + 1, marker(s), one_line(&s.comment)));
        for h in &s.hints {
            out.push_str(&format!("-- uses {}\n", one_line(h)));
        }
        for sql in &s.sql {
            out.push_str(sql);
            out.push_str(";\n");
        }
    }
    out.push_str("\n-- Any row printed here is a foreign-key violation: run ROLLBACK instead of COMMIT.\nPRAGMA foreign_key_check;\nCOMMIT;\nPRAGMA foreign_keys = ON;\n");
    out
}

#[derive(Serialize)]
struct JsonPlan<'a> {
    version: u32,
    in_sync: bool,
    summary: String,
    risk: crate::Risk,
    changes: &'a [Change],
    steps: &'a [Step],
}

/// The plan as JSON (`version`, `in_sync`, `summary`, `risk`, `changes`, `steps`).
pub fn json(plan: &Plan) -> String {
    let j = JsonPlan {
        version: JSON_VERSION,
        in_sync: plan.is_empty(),
        summary: summary(plan),
        risk: plan.risk(),
        changes: &plan.changes,
        steps: &plan.steps,
    };
    serde_json::to_string_pretty(&j).unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string())) + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_comments_stay_on_one_line() {
        assert_eq!(one_line("new\nline; DROP TABLE users"), "new\\nline; DROP TABLE users");
        assert_eq!(one_line("a\r\u{1b}[2J\tb"), "a\\r\\u{1b}[2J\tb");
        assert_eq!(one_line("naïve 表"), "naïve 表");
    }
}
