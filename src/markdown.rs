//! Markdown: a plan, or a drift, as the pull-request comment a reviewer reads in ten seconds:
//! a marker line (so a bot finds and updates its one comment), a summary line, a table of the
//! changes with risk badges, each rebuild with what it keeps, the foreign keys of the rebuilt
//! and dropped tables (the cascade report), the lints, then the SQL in a collapsed block, cut
//! with a note where the comment would pass GitHub's 65,536-character limit.
//!
//! Pure and deterministic: the same plan gives the same bytes; no colour codes.

use crate::cascade::{self, Parent};
use crate::diff::{Change, Risk};
use crate::lint::Lint;
use crate::plan::{Plan, Step, StepKind};
use crate::render::{kept_names, one_line, summary};

/// The first line of a plan comment.
pub const PLAN_MARKER: &str = "<!-- reconcile:plan -->";
/// The first line of a drift comment.
pub const DRIFT_MARKER: &str = "<!-- reconcile:drift -->";
/// GitHub's limit on a comment, in characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// What a plan comment shows.
pub struct PlanReview<'a> {
    /// The database planned against, as named on the command line.
    pub database: &'a str,
    /// The schema directory.
    pub schema: &'a str,
    /// The plan.
    pub plan: &'a Plan,
    /// The foreign keys of its rebuilt and dropped tables.
    pub cascade: &'a [Parent],
    /// Lint warnings, each with the file that declares its object.
    pub lints: &'a [(String, Lint)],
    /// The most characters the comment may have.
    pub limit: usize,
}

/// `text` as a code span, whatever backticks it holds, on one line.
fn code(text: &str) -> String {
    let text = one_line(text);
    let ticks = "`".repeat(longest_run(&text, '`') + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}

fn longest_run(text: &str, c: char) -> usize {
    let (mut best, mut now) = (0, 0);
    for ch in text.chars() {
        now = if ch == c { now + 1 } else { 0 };
        best = best.max(now);
    }
    best
}

/// Text for a table cell: on one line, its pipes escaped.
fn cell(text: &str) -> String {
    one_line(text).replace('|', "\\|")
}

/// A change in words without its risk (the badge beside it says that).
fn change_text(c: &Change) -> String {
    cell(&format!("{} `{}`: {}", c.kind.as_str(), c.object, c.what))
}

fn badge(risk: Risk) -> &'static str {
    match risk {
        Risk::Safe => "🟢 safe",
        Risk::DataDependent => "🟡 data-dependent",
        Risk::Destructive => "🔴 destructive",
    }
}

/// The plan as a pull-request comment (see the module).
pub fn plan(r: &PlanReview<'_>) -> String {
    let mut out = format!("{PLAN_MARKER}\n### reconcile plan: {} → {}\n\n", code(r.database), code(r.schema));
    out.push_str(&format!("**{}**\n", cell(&summary(r.plan))));
    if !r.plan.is_empty() {
        out.push_str("\n| Risk | Change |\n|---|---|\n");
        for c in &r.plan.changes {
            out.push_str(&format!("| {} | {} |\n", badge(c.risk()), change_text(c)));
        }
        let rebuilds: Vec<&Step> = r.plan.steps.iter().filter(|s| s.kind == StepKind::RebuildTable).collect();
        if !rebuilds.is_empty() {
            out.push_str("\n#### Rebuilds\n\n");
            for s in rebuilds {
                let mut kept = Vec::new();
                if !s.keeps.is_empty() {
                    kept.push(kept_names(&s.keeps));
                }
                if s.sql.iter().any(|sql| sql.contains("sqlite_sequence")) {
                    kept.push("its AUTOINCREMENT counter".to_string());
                }
                let children: Vec<String> = r
                    .cascade
                    .iter()
                    .filter(|p| p.step == "rebuild" && p.table.eq_ignore_ascii_case(&s.object))
                    .flat_map(|p| p.children.iter().map(|c| c.table.clone()))
                    .collect();
                if !children.is_empty() {
                    kept.push(format!("the rows of its child tables ({})", children.join(", ")));
                }
                let kept = if kept.is_empty() { "every row and rowid".to_string() } else { kept.join("; ") };
                out.push_str(&format!("- {} ({}): keeps {}", code(&s.object), badge(s.risk), cell(&kept)));
                for h in &s.hints {
                    out.push_str(&format!("; uses {}", cell(h)));
                }
                out.push('\n');
            }
        }
        out.push_str(&cascade_table(r.cascade));
    }
    if !r.lints.is_empty() {
        out.push_str("\n#### Lints\n\n");
        for (file, l) in r.lints {
            out.push_str(&format!(
                "- ⚠️ {} in {} at {}: {}\n",
                code(l.name),
                code(file),
                code(&l.path),
                cell(&l.message)
            ));
        }
    }
    if r.plan.is_empty() {
        return out;
    }
    let sql = crate::render::sql(r.plan);
    let statements: usize = r.plan.steps.iter().map(|s| s.sql.len()).sum();
    let fence = "`".repeat((longest_run(&sql, '`') + 1).max(3));
    let head = format!(
        "\n<details><summary>SQL: {statements} statements in {} steps</summary>\n\n{fence}sql\n",
        r.plan.steps.len()
    );
    let tail = format!("{fence}\n\n</details>\n");
    let cut_note = |shown: usize| {
        format!(
            "{fence}\n\n_The SQL is cut here: {shown} of {} characters shown. The whole plan is in `reconcile plan --format sql` \
             (the workflow's artifact)._\n\n</details>\n",
            sql.chars().count()
        )
    };
    let room = r.limit.saturating_sub(out.chars().count() + head.chars().count());
    if sql.chars().count() + tail.chars().count() <= room {
        out.push_str(&head);
        out.push_str(&sql);
        out.push_str(&tail);
    } else {
        // Whole lines that fit with the note.
        let budget = room.saturating_sub(cut_note(sql.chars().count()).chars().count());
        let mut shown = String::new();
        for line in sql.split_inclusive('\n') {
            if shown.chars().count() + line.chars().count() > budget {
                break;
            }
            shown.push_str(line);
        }
        out.push_str(&head);
        out.push_str(&shown);
        out.push_str(&cut_note(shown.chars().count()));
    }
    out
}

/// The cascade report as a table: for each rebuilt or dropped table, its child tables.
fn cascade_table(cascade: &[Parent]) -> String {
    if cascade.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n#### Foreign keys of rebuilt and dropped tables\n\n| Table | Child | Columns | ON DELETE | ON UPDATE | Rows | Kept safe by |\n|---|---|---|---|---|---:|---|\n",
    );
    for p in cascade {
        for c in &p.children {
            out.push_str(&format!(
                "| {} ({}) | {} | {} | {} | {} | {} | {} |\n",
                code(&p.table),
                p.step,
                code(&c.table),
                cell(&c.columns.join(", ")),
                cascade::action_sql(c.on_delete),
                cascade::action_sql(c.on_update),
                c.rows.map_or("?".to_string(), |n| n.to_string()),
                c.kept_by.describe()
            ));
        }
    }
    out
}

/// A drift as a pull-request comment: in sync, or each difference with its risk.
pub fn drift(database: &str, schema: &str, differences: &[Change]) -> String {
    let mut out = format!("{DRIFT_MARKER}\n### reconcile drift: {} against {}\n\n", code(database), code(schema));
    if differences.is_empty() {
        out.push_str("**in sync**: the database matches the schema\n");
        return out;
    }
    let n = differences.len();
    out.push_str(&format!(
        "**{n} {}** between the database and the schema\n\n",
        if n == 1 { "difference" } else { "differences" }
    ));
    out.push_str("| Risk to resolve | Difference |\n|---|---|\n");
    for c in differences {
        out.push_str(&format!("| {} | {} |\n", badge(c.risk()), change_text(c)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Step, StepKind};

    fn big_plan(statements: usize) -> Plan {
        let step = Step {
            kind: StepKind::CreateTable,
            object: "t".into(),
            sql: (0..statements)
                .map(|i| format!("CREATE TABLE t{i} (id INTEGER PRIMARY KEY, a TEXT, b TEXT)"))
                .collect(),
            comment: "create tables".into(),
            risk: Risk::Safe,
            hints: Vec::new(),
            keeps: Vec::new(),
            row_read: None,
            serves: Vec::new(),
        };
        Plan { changes: Vec::new(), steps: vec![step] }
    }

    fn review(plan: &Plan, limit: usize) -> String {
        super::plan(&PlanReview { database: "app.db", schema: "schema", plan, cascade: &[], lints: &[], limit })
    }

    #[test]
    fn a_plan_too_long_for_a_comment_is_cut_at_a_line_with_a_note_and_stays_under_the_limit() {
        let small = review(&big_plan(10), COMMENT_LIMIT);
        assert!(!small.contains("The SQL is cut here"), "{small}");
        assert!(small.contains("CREATE TABLE t9 "));
        let plan = big_plan(5_000);
        let cut = review(&plan, COMMENT_LIMIT);
        assert!(cut.chars().count() <= COMMENT_LIMIT, "{} characters", cut.chars().count());
        assert!(cut.contains("The SQL is cut here"), "{}", &cut[cut.len() - 400..]);
        assert!(cut.ends_with("</details>\n"));
        // Cut at a whole line: every statement shown is whole.
        let shown: Vec<&str> = cut.lines().filter(|l| l.starts_with("CREATE TABLE t")).collect();
        assert!(shown.len() > 100 && shown.iter().all(|l| l.ends_with(";")), "{}", shown.len());
    }

    #[test]
    fn names_with_backticks_pipes_and_newlines_stay_in_their_span_and_cell() {
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(cell("a|b\nc"), "a\\|b\\nc");
    }
}
