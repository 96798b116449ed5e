//! DDL: the CREATE statement of one model object.
//!
//! The planner and the scratch build both use these, so what is applied is
//! exactly what was validated. Names are quoted when they need it.

use sqlite3_parser::dialect::TokenType;

use crate::model::{Column, Expr, Index, Key, SortOrder, Table};
use crate::sql::{quote_ident_if_needed as q, tokens};

/// `CREATE TABLE name (...)` for a table.
pub fn create_table(name: &str, t: &Table) -> String {
    let mut parts: Vec<String> = t.columns.iter().map(column_def).collect();
    if let Some(pk) = &t.primary_key {
        let auto = if t.columns.iter().any(|c| c.autoincrement && !c.primary_key) { " AUTOINCREMENT" } else { "" };
        parts.push(key_def(pk, "PRIMARY KEY", auto));
    }
    for u in &t.unique {
        parts.push(key_def(u, "UNIQUE", ""));
    }
    for c in &t.checks {
        parts.push(format!("{}CHECK ({})", constraint_name(c.name.as_deref()), c.expr));
    }
    for fk in &t.foreign_keys {
        let cols = fk.columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
        let mut s =
            format!("{}FOREIGN KEY ({cols}) REFERENCES {}", constraint_name(fk.name.as_deref()), q(&fk.references));
        if !fk.referenced_columns.is_empty() {
            s.push_str(&format!(" ({})", fk.referenced_columns.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ")));
        }
        push_fk_tail(&mut s, fk.on_delete, fk.on_update, fk.deferred);
        parts.push(s);
    }
    let mut sql = format!("CREATE TABLE {} (\n  {}\n)", q(name), parts.join(",\n  "));
    let mut options = Vec::new();
    if t.without_rowid {
        options.push("WITHOUT ROWID");
    }
    if t.strict {
        options.push("STRICT");
    }
    if !options.is_empty() {
        sql.push(' ');
        sql.push_str(&options.join(", "));
    }
    sql
}

fn constraint_name(name: Option<&str>) -> String {
    name.map(|n| format!("CONSTRAINT {} ", q(n))).unwrap_or_default()
}

fn key_def(k: &Key, kind: &str, suffix: &str) -> String {
    let cols = k.columns.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ");
    let mut s = format!("{}{kind} ({cols}{suffix})", constraint_name(k.name.as_deref()));
    if let Some(c) = k.on_conflict {
        s.push_str(&format!(" ON CONFLICT {}", c.sql()));
    }
    s
}

fn push_fk_tail(
    s: &mut String,
    on_delete: Option<crate::model::FkAction>,
    on_update: Option<crate::model::FkAction>,
    deferred: bool,
) {
    if let Some(a) = on_delete {
        s.push_str(&format!(" ON DELETE {}", a.sql()));
    }
    if let Some(a) = on_update {
        s.push_str(&format!(" ON UPDATE {}", a.sql()));
    }
    if deferred {
        s.push_str(" DEFERRABLE INITIALLY DEFERRED");
    }
}

/// One column definition inside CREATE TABLE or ALTER TABLE ADD COLUMN.
pub fn column_def(c: &Column) -> String {
    let mut s = q(&c.name);
    if let Some(ty) = &c.ty {
        s.push(' ');
        s.push_str(&type_sql(ty));
    }
    if c.primary_key {
        s.push_str(" PRIMARY KEY");
        match c.primary_key_order {
            Some(SortOrder::Asc) => s.push_str(" ASC"),
            Some(SortOrder::Desc) => s.push_str(" DESC"),
            None => {}
        }
        if let Some(r) = c.primary_key_on_conflict {
            s.push_str(&format!(" ON CONFLICT {}", r.sql()));
        }
        if c.autoincrement {
            s.push_str(" AUTOINCREMENT");
        }
    }
    if c.not_null {
        s.push_str(" NOT NULL");
        if let Some(r) = c.not_null_on_conflict {
            s.push_str(&format!(" ON CONFLICT {}", r.sql()));
        }
    }
    if c.unique {
        s.push_str(" UNIQUE");
        if let Some(r) = c.unique_on_conflict {
            s.push_str(&format!(" ON CONFLICT {}", r.sql()));
        }
    }
    for ck in &c.checks {
        s.push_str(&format!(" {}CHECK ({})", constraint_name(ck.name.as_deref()), ck.expr));
    }
    if let Some(d) = &c.default {
        s.push_str(&format!(" DEFAULT {}", default_sql(d)));
    }
    if let Some(coll) = &c.collate {
        s.push_str(&format!(" COLLATE {}", q(coll)));
    }
    if let Some(r) = &c.references {
        s.push_str(&format!(" {}REFERENCES {}", constraint_name(r.name.as_deref()), q(&r.table)));
        if let Some(col) = &r.column {
            s.push_str(&format!(" ({})", q(col)));
        }
        push_fk_tail(&mut s, r.on_delete, r.on_update, r.deferred);
    }
    if let Some(g) = &c.generated {
        s.push_str(&format!(" GENERATED ALWAYS AS ({}) {}", g.expr, if g.stored { "STORED" } else { "VIRTUAL" }));
    }
    s
}

/// A declared type as SQL: plain words with an optional size are written in the
/// spelling inspect reads back (`VARCHAR(255)`, `UNSIGNED BIG INT`,
/// `DECIMAL(10,2)`); anything else (a keyword such as `NULL`, punctuation such as
/// `Q]EUED`) is written as one quoted token, which SQLite reads back as exactly
/// that text. A type that is already one quoted token is written as it is:
/// SQLite takes its text without the quotes, as YAML written by `inspect` means it.
fn type_sql(ty: &str) -> String {
    canonical_type(ty)
        .or_else(|| crate::sql::is_one_quoted_token(ty).then(|| ty.to_string()))
        .unwrap_or_else(|| crate::sql::quote_ident(ty))
}

/// The spelling of a type made of words (identifiers, not keywords), then
/// optionally `(n)` or `(n, m)` of signed numbers: words one space apart, the
/// size without spaces. `None` for any other type.
pub(crate) fn canonical_type(ty: &str) -> Option<String> {
    let toks = tokens(ty).ok()?;
    let words: Vec<&str> = toks
        .iter()
        .take_while(|t| t.ty == TokenType::TK_ID && !t.text.starts_with(['"', '`', '[', '\'']))
        .map(|t| t.text)
        .collect();
    if words.is_empty() {
        return None;
    }
    let mut spelled = words.join(" ");
    let rest = &toks[words.len()..];
    if rest.is_empty() {
        return Some(spelled);
    }
    if rest.len() < 3 || rest[0].ty != TokenType::TK_LP || rest[rest.len() - 1].ty != TokenType::TK_RP {
        return None;
    }
    let sizes = &rest[1..rest.len() - 1];
    let number = |n: &[crate::sql::Tok<'_>]| match n {
        [num] => matches!(num.ty, TokenType::TK_INTEGER | TokenType::TK_FLOAT),
        [sign, num] => {
            matches!(sign.ty, TokenType::TK_PLUS | TokenType::TK_MINUS)
                && matches!(num.ty, TokenType::TK_INTEGER | TokenType::TK_FLOAT)
        }
        _ => false,
    };
    let parts: Vec<&[crate::sql::Tok<'_>]> = sizes.split(|t| t.ty == TokenType::TK_COMMA).collect();
    if parts.len() > 2 || !parts.iter().all(|n| number(n)) {
        return None;
    }
    spelled.push('(');
    spelled.extend(sizes.iter().map(|t| t.text));
    spelled.push(')');
    Some(spelled)
}

/// A DEFAULT value: literals bare (so ADD COLUMN accepts them), anything else in parentheses.
pub fn default_sql(e: &Expr) -> String {
    if is_literal(e.as_str()) {
        e.as_str().to_string()
    } else {
        format!("({})", e.as_str())
    }
}

/// Whether expression text is a single literal (optionally signed number).
pub fn is_literal(text: &str) -> bool {
    let Ok(toks) = tokens(text) else { return false };
    let lit = |t: TokenType| {
        matches!(
            t,
            TokenType::TK_STRING
                | TokenType::TK_INTEGER
                | TokenType::TK_FLOAT
                | TokenType::TK_BLOB
                | TokenType::TK_NULL
                | TokenType::TK_CTIME_KW
        )
    };
    match toks.as_slice() {
        [t] => lit(t.ty) || t.text.eq_ignore_ascii_case("true") || t.text.eq_ignore_ascii_case("false"),
        [s, n] => {
            matches!(s.ty, TokenType::TK_MINUS | TokenType::TK_PLUS)
                && matches!(n.ty, TokenType::TK_INTEGER | TokenType::TK_FLOAT)
        }
        _ => false,
    }
}

/// Whether a default is constant for ALTER TABLE ADD COLUMN (no CURRENT_*, no parenthesised expression).
pub fn is_constant_default(e: &Expr) -> bool {
    is_literal(e.as_str()) && !tokens(e.as_str()).is_ok_and(|t| t.iter().any(|t| t.ty == TokenType::TK_CTIME_KW))
}

/// `CREATE [UNIQUE] INDEX name ON table (terms) [WHERE ...]`.
pub fn create_index(name: &str, table: &str, i: &Index) -> String {
    let terms = i.columns.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ");
    let mut s = format!("CREATE {}INDEX {} ON {} ({terms})", if i.unique { "UNIQUE " } else { "" }, q(name), q(table));
    if let Some(w) = &i.where_ {
        s.push_str(&format!(" WHERE {w}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every type SQLite can hold goes through YAML and back to the same type: the spelling
    /// `inspect` writes passes the loader's check, and SQLite reads the DDL made of it as the
    /// type it came from.
    #[test]
    fn any_declared_type_survives_yaml() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for (i, ty) in
            ["TEXT", "VARCHAR(255)", "my type", "\"x\"", "'q'", "[a]", "TEXT NOT NULL", "\u{c}:\nC", "Q]EUED", "a\"b"]
                .into_iter()
                .enumerate()
        {
            let yaml = crate::sql::type_for_yaml(ty);
            assert!(crate::sql::check_type(&yaml).is_ok(), "{ty:?} as {yaml:?}");
            conn.execute_batch(&format!("CREATE TABLE t{i} (c {})", type_sql(&yaml))).unwrap();
            let back: String =
                conn.query_row(&format!("SELECT type FROM pragma_table_info('t{i}')"), [], |r| r.get(0)).unwrap();
            assert_eq!(back, ty, "{yaml:?}");
        }
    }

    #[test]
    fn literals() {
        assert!(is_literal("'a'"));
        assert!(is_literal("-1"));
        assert!(is_literal("X'00'"));
        assert!(is_literal("CURRENT_TIMESTAMP"));
        assert!(!is_literal("abs(-1)"));
        assert!(!is_constant_default(&Expr::new("CURRENT_TIMESTAMP")));
        assert!(is_constant_default(&Expr::new("0")));
    }

    #[test]
    fn types() {
        for plain in ["INTEGER", "VARCHAR(255)", "DECIMAL(10,2)", "UNSIGNED BIG INT", "CHARACTER(-1)", "INT(+3)"] {
            assert_eq!(type_sql(plain), plain);
        }
        assert_eq!(type_sql("Q]EUED"), "\"Q]EUED\"");
        assert_eq!(type_sql("NULL"), "\"NULL\"");
        assert_eq!(type_sql("A\"B"), "\"A\"\"B\"");
        assert_eq!(type_sql("INT)"), "\"INT)\"");
        assert_eq!(type_sql("NVARCHAR ( 20 )"), "NVARCHAR(20)");
        assert_eq!(type_sql("DECIMAL(10, 2)"), "DECIMAL(10,2)");
        assert_eq!(type_sql("DOUBLE  PRECISION"), "DOUBLE PRECISION");
        assert_eq!(type_sql("INT()"), "\"INT()\"");
    }
}
