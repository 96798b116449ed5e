//! Render: `Plan` → text for people, an SQL script for the sqlite3 shell, or JSON for tools.
//!
//! Pure: no I/O and no terminal knowledge (color is the CLI's business).

use serde::Serialize;

use crate::cascade::{self, Child, Parent};
use crate::diff::{Change, Risk};
use crate::history::HistoryEntry;
use crate::plan::{Kept, KeptKind, Plan, Step, StepKind};

/// Version of the JSON formats; bumped on any incompatible change.
pub const JSON_VERSION: u32 = 1;

/// ANSI styles for the text rendering; all empty when color is off.
struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    /// The step's marker: `[safe]`, `[data-dependent]`, `[destructive]`, with `rebuild, ` in front for a rebuild.
    fn marker(&self, s: &Step) -> String {
        let risk = match s.risk {
            Risk::Safe => self.paint("32", "safe"),
            Risk::DataDependent => self.paint("1;33", "data-dependent"),
            Risk::Destructive => self.paint("1;31", "destructive"),
        };
        if s.kind == StepKind::RebuildTable {
            format!("[{}, {risk}]", self.paint("1;35", "rebuild"))
        } else {
            format!("[{risk}]")
        }
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// "1 index, 2 triggers": the kept dependents counted by kind, in the order index, view, trigger.
fn kept_counts(keeps: &[Kept]) -> Vec<String> {
    [
        (KeptKind::Index, "index", "indexes"),
        (KeptKind::View, "view", "views"),
        (KeptKind::Trigger, "trigger", "triggers"),
    ]
    .into_iter()
    .filter_map(|(kind, one, many)| {
        let n = keeps.iter().filter(|k| k.kind == kind).count();
        (n > 0).then(|| plural(n, one, many))
    })
    .collect()
}

/// "1 index (feed_title), 2 triggers (a, b)": the kept dependents by kind, with their names.
pub(crate) fn kept_names(keeps: &[Kept]) -> String {
    [
        (KeptKind::Index, "index", "indexes"),
        (KeptKind::View, "view", "views"),
        (KeptKind::Trigger, "trigger", "triggers"),
    ]
    .into_iter()
    .filter_map(|(kind, one, many)| {
        let names: Vec<&str> = keeps.iter().filter(|k| k.kind == kind).map(|k| k.name.as_str()).collect();
        (!names.is_empty()).then(|| format!("{} ({})", plural(names.len(), one, many), names.join(", ")))
    })
    .collect::<Vec<_>>()
    .join(", ")
}

/// The plan in one line, after the plan in the text rendering and in the history.
///
/// `no changes: the database matches the schema` for an empty plan; otherwise
/// `<C> change(s) in <S> step(s): <rebuilds>, <risks>` where C counts the
/// differences resolved (`no changes` when a plan rebuilds without any, as
/// `reset` may), S the steps, `<rebuilds>` is `no rebuild` or
/// `N rebuild(s) of a (1 index, 2 triggers kept), b and c` (the kept part only
/// for tables with dependents recreated unchanged), and `<risks>` is `all safe`
/// or `N destructive step(s)` and/or `N data-dependent step(s)`.
pub fn summary(plan: &Plan) -> String {
    if plan.is_empty() {
        return "no changes: the database matches the schema".to_string();
    }
    let changes = match plan.changes.len() {
        0 => "no changes".to_string(),
        n => plural(n, "change", "changes"),
    };
    let mut parts = Vec::new();
    let rebuilds: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::RebuildTable)
        .map(|s| {
            let kept = kept_counts(&s.keeps);
            if kept.is_empty() {
                s.object.clone()
            } else {
                format!("{} ({} kept)", s.object, kept.join(", "))
            }
        })
        .collect();
    parts.push(match rebuilds.len() {
        0 => "no rebuild".to_string(),
        n => format!("{} of {}", plural(n, "rebuild", "rebuilds"), and_list(&rebuilds)),
    });
    let destructive = plan.destructive().count();
    let data_dependent = plan.steps.iter().filter(|s| s.risk == Risk::DataDependent).count();
    if destructive > 0 {
        parts.push(plural(destructive, "destructive step", "destructive steps"));
    }
    if data_dependent > 0 {
        parts.push(plural(data_dependent, "data-dependent step", "data-dependent steps"));
    }
    if destructive == 0 && data_dependent == 0 {
        parts.push("all safe".to_string());
    }
    format!("{changes} in {}: {}", plural(plan.steps.len(), "step", "steps"), parts.join(", "))
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

/// The plan for people: each step with its risk marker, its hints, what it keeps and its SQL, then the summary.
pub fn text(plan: &Plan) -> String {
    render_text(plan, &Style { on: false }, &[])
}

/// [`text`] with the cascade report: under each rebuilt or dropped table, the child tables
/// whose foreign keys reference it, their actions, rows and how the plan keeps them safe; with
/// ANSI colors when `color`.
pub fn text_with(plan: &Plan, cascade: &[Parent], color: bool) -> String {
    render_text(plan, &Style { on: color }, cascade)
}

/// [`text`] with ANSI colors (risk markers, step titles, the summary), for a terminal.
pub fn text_colored(plan: &Plan) -> String {
    render_text(plan, &Style { on: true }, &[])
}

fn render_text(plan: &Plan, st: &Style, cascade: &[Parent]) -> String {
    let mut out = String::new();
    for (i, s) in plan.steps.iter().enumerate() {
        out.push_str(&format!("{}. {} {}\n", i + 1, st.marker(s), st.paint("1", &one_line(&s.comment))));
        for h in &s.hints {
            out.push_str(&format!("   uses {}\n", one_line(h)));
        }
        if !s.keeps.is_empty() {
            out.push_str(&format!("   keeps {}\n", one_line(&kept_names(&s.keeps))));
        }
        for c in children_of(cascade, s) {
            out.push_str(&format!("   referenced by {}\n", one_line(&child_text(c))));
        }
        for sql in &s.sql {
            for line in sql.lines() {
                out.push_str(&format!("     {line}\n"));
            }
        }
        out.push('\n');
    }
    out.push_str(&st.paint("1", &one_line(&summary(plan))));
    out.push('\n');
    out
}

/// The children the cascade report lists for step `s`'s table, when it rebuilds or drops one.
fn children_of<'a>(cascade: &'a [Parent], s: &'a Step) -> impl Iterator<Item = &'a Child> {
    let step = match s.kind {
        StepKind::RebuildTable => "rebuild",
        StepKind::DropTable => "drop",
        _ => "",
    };
    cascade
        .iter()
        .filter(move |p| p.step == step && p.table.eq_ignore_ascii_case(&s.object))
        .flat_map(|p| p.children.iter())
}

/// `posts (user_id) ON DELETE CASCADE ON UPDATE NO ACTION, 120 rows: foreign keys off ...`.
fn child_text(c: &Child) -> String {
    let rows = match c.rows {
        Some(n) => format!(", {}", plural(usize::try_from(n).unwrap_or(0), "row", "rows")),
        None => String::new(),
    };
    format!(
        "{} ({}) ON DELETE {} ON UPDATE {}{rows}: {}",
        c.table,
        c.columns.join(", "),
        cascade::action_sql(c.on_delete),
        cascade::action_sql(c.on_update),
        c.kept_by.describe()
    )
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
        out.push_str(&format!("\n-- {}. {} {}\n", i + 1, Style { on: false }.marker(s), one_line(&s.comment)));
        for h in &s.hints {
            out.push_str(&format!("-- uses {}\n", one_line(h)));
        }
        if !s.keeps.is_empty() {
            out.push_str(&format!("-- keeps {}\n", one_line(&kept_names(&s.keeps))));
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
    risk: Risk,
    changes: &'a [Change],
    steps: Vec<JsonStep<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cascade: Option<&'a [Parent]>,
}

/// A step as the JSON format has it (docs/JSON.md): what the applier needs only to run it
/// (which statement reads rows) is not part of it.
#[derive(Serialize)]
struct JsonStep<'a> {
    kind: StepKind,
    object: &'a str,
    sql: &'a [String],
    comment: &'a str,
    risk: Risk,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    hints: &'a [String],
    #[serde(skip_serializing_if = "<[Kept]>::is_empty")]
    keeps: &'a [Kept],
}

impl<'a> From<&'a Step> for JsonStep<'a> {
    fn from(s: &'a Step) -> Self {
        JsonStep {
            kind: s.kind,
            object: &s.object,
            sql: &s.sql,
            comment: &s.comment,
            risk: s.risk,
            hints: &s.hints,
            keeps: &s.keeps,
        }
    }
}

fn pretty<T: Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("{{\"error\": {:?}}}", e.to_string())) + "\n"
}

/// The plan as JSON (`version`, `in_sync`, `summary`, `risk`, `changes`, `steps`); docs/JSON.md.
pub fn json(plan: &Plan) -> String {
    json_plan(plan, None)
}

/// [`json`] with the cascade report (`cascade`: each rebuilt or dropped table that others
/// reference, with its children); docs/JSON.md.
pub fn json_with(plan: &Plan, cascade: &[Parent]) -> String {
    json_plan(plan, Some(cascade))
}

fn json_plan(plan: &Plan, cascade: Option<&[Parent]>) -> String {
    let j = JsonPlan {
        version: JSON_VERSION,
        in_sync: plan.is_empty(),
        summary: summary(plan),
        risk: plan.risk(),
        changes: &plan.changes,
        steps: plan.steps.iter().map(JsonStep::from).collect(),
        cascade,
    };
    pretty(&j)
}

#[derive(Serialize)]
struct JsonDrift<'a> {
    version: u32,
    in_sync: bool,
    database: String,
    schema: String,
    differences: &'a [Change],
}

/// The drift JSON format (`version`, `in_sync`, `database`, `schema`, `differences`); docs/JSON.md.
pub fn drift_json(database: &std::path::Path, schema: &std::path::Path, differences: &[Change]) -> String {
    pretty(&JsonDrift {
        version: JSON_VERSION,
        in_sync: differences.is_empty(),
        database: database.display().to_string(),
        schema: schema.display().to_string(),
        differences,
    })
}

#[derive(Serialize)]
struct JsonHistory<'a> {
    version: u32,
    history: &'a [HistoryEntry],
}

/// The history JSON format (`version`, `history`), newest first; docs/JSON.md.
pub fn history_json(entries: &[HistoryEntry]) -> String {
    pretty(&JsonHistory { version: JSON_VERSION, history: entries })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{ObjectKind, What};

    fn step(kind: StepKind, object: &str, risk: Risk, keeps: &[(KeptKind, &str)]) -> Step {
        Step {
            kind,
            object: object.to_string(),
            sql: vec![format!("-- {object}")],
            comment: object.to_string(),
            risk,
            hints: Vec::new(),
            keeps: keeps.iter().map(|(kind, name)| Kept { kind: *kind, name: name.to_string() }).collect(),
            row_read: None,
            serves: Vec::new(),
        }
    }

    fn change(n: usize) -> Vec<Change> {
        (0..n).map(|i| Change::new(ObjectKind::Table, format!("t{i}"), What::ColumnOrder)).collect()
    }

    #[track_caller]
    fn check(changes: usize, steps: Vec<Step>, want: &str) {
        assert_eq!(summary(&Plan { changes: change(changes), steps }), want);
    }

    use KeptKind::{Index, Trigger, View};
    use Risk::{DataDependent, Destructive, Safe};
    use StepKind::{AlterTable, CreateIndex, DropTable, RebuildTable};

    #[test]
    fn empty() {
        check(0, vec![], "no changes: the database matches the schema");
    }

    #[test]
    fn native_only() {
        check(1, vec![step(AlterTable, "feed", Safe, &[])], "1 change in 1 step: no rebuild, all safe");
    }

    #[test]
    fn one_rebuild_with_kept_dependents() {
        let keeps = [(Index, "a"), (Index, "b"), (Trigger, "t1"), (Trigger, "t2"), (Trigger, "t3"), (Trigger, "t4")];
        check(
            3,
            vec![step(RebuildTable, "feed", Safe, &keeps), step(DropTable, "old", Destructive, &[])],
            "3 changes in 2 steps: 1 rebuild of feed (2 indexes, 4 triggers kept), 1 destructive step",
        );
    }

    #[test]
    fn several_rebuilds() {
        check(
            4,
            vec![
                step(RebuildTable, "a", DataDependent, &[(View, "v")]),
                step(RebuildTable, "b", Safe, &[]),
                step(RebuildTable, "c", DataDependent, &[(Index, "i")]),
                step(CreateIndex, "i", Safe, &[]),
            ],
            "4 changes in 4 steps: 3 rebuilds of a (1 view kept), b and c (1 index kept), 2 data-dependent steps",
        );
    }

    #[test]
    fn destructive_and_data_dependent() {
        check(
            2,
            vec![
                step(DropTable, "x", Destructive, &[]),
                step(DropTable, "y", Destructive, &[]),
                step(AlterTable, "z", DataDependent, &[]),
            ],
            "2 changes in 3 steps: no rebuild, 2 destructive steps, 1 data-dependent step",
        );
    }

    #[test]
    fn steps_without_changes() {
        // `reset` of a database already in sync: it still drops and rebuilds everything.
        check(0, vec![step(DropTable, "x", Destructive, &[])], "no changes in 1 step: no rebuild, 1 destructive step");
    }

    #[test]
    fn color_only_when_asked() {
        let plan = Plan { changes: change(1), steps: vec![step(DropTable, "x", Destructive, &[])] };
        assert!(!text(&plan).contains('\x1b'));
        let colored = text_colored(&plan);
        assert!(colored.contains("\x1b[1;31mdestructive\x1b[0m"), "{colored}");
        // Without the escapes, the colored text is the plain text.
        let stripped = colored.replace("\x1b[0m", "").replace("\x1b[1;31m", "").replace("\x1b[1m", "");
        assert_eq!(stripped, text(&plan));
    }

    #[test]
    fn names_in_comments_stay_on_one_line() {
        assert_eq!(one_line("new\nline; DROP TABLE users"), "new\\nline; DROP TABLE users");
        assert_eq!(one_line("a\r\u{1b}[2J\tb"), "a\\r\\u{1b}[2J\tb");
        assert_eq!(one_line("naïve 表"), "naïve 表");
    }
}
