//! SQL text: tokens, canonical forms for comparison, identifier quoting, and
//! the DDL of single objects.
//!
//! Everything here is pure: no database, no I/O. Comparison of SQL text is by
//! canonical tokens: keyword and identifier case, quoting style, whitespace,
//! comments, `==` vs `=`, `<>` vs `!=` and redundant outer parentheses never
//! make a difference; literals (`'0'` vs `0`) always do.

pub mod ddl;
pub mod parse;
pub mod syntax;

use sqlite3_parser::dialect::TokenType;
use sqlite3_parser::lexer::sql::Tokenizer;
use sqlite3_parser::lexer::Scanner;

/// One lexical token with its byte span in the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tok<'a> {
    pub ty: TokenType,
    pub text: &'a str,
    pub start: usize,
    pub end: usize,
}

/// Splits SQL into tokens (comments and whitespace dropped).
pub(crate) fn tokens(sql: &str) -> Result<Vec<Tok<'_>>, String> {
    let guarded = std::panic::catch_unwind(|| {
        let mut scanner = Scanner::new(Tokenizer::new());
        let input = sql.as_bytes();
        let mut out = Vec::new();
        loop {
            match scanner.scan(input) {
                Ok((_, None, _)) => break,
                Ok((start, Some((_, ty)), end)) => {
                    // The span, not the token slice: blobs and variables lose their prefix there.
                    let text = sql.get(start..end).unwrap_or("");
                    out.push(Tok { ty, text, start, end });
                }
                Err(e) => return Err(e.to_string()),
            }
        }
        Ok(out)
    });
    guarded.unwrap_or_else(|_| Err("the SQL tokenizer failed on this text".to_string()))
}

/// Whether a token is a word: an identifier or a keyword.
fn is_word(t: &Tok<'_>) -> bool {
    t.ty == TokenType::TK_ID || t.text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80)
}

/// Removes identifier quotes and undoubles the inner quote character.
pub fn unquote(name: &str) -> String {
    let b = name.as_bytes();
    if b.len() >= 2 {
        // Both ends are ASCII quote characters before slicing, so the slice is on char boundaries.
        let inner = || &name[1..name.len() - 1];
        match (b[0], b[b.len() - 1]) {
            (b'"', b'"') => return inner().replace("\"\"", "\""),
            (b'`', b'`') => return inner().replace("``", "`"),
            (b'\'', b'\'') => return inner().replace("''", "'"),
            (b'[', b']') => return inner().to_string(),
            _ => {}
        }
    }
    name.to_string()
}

/// Always-quoted identifier: `"name"` with inner quotes doubled.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Bare identifier when that is unambiguous, quoted otherwise.
pub fn quote_ident_if_needed(name: &str) -> String {
    let plain = !name.is_empty()
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !is_keyword(name);
    if plain {
        name.to_string()
    } else {
        quote_ident(name)
    }
}

/// Whether a word is an SQLite keyword.
pub fn is_keyword(word: &str) -> bool {
    // The generated keyword lookup asserts 2..=17 bytes; no keyword is outside that.
    (2..=17).contains(&word.len()) && sqlite3_parser::dialect::keyword_token(word.as_bytes()).is_some()
}

/// SQL string literal.
pub fn quote_str(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The identifier when the text is exactly one identifier token.
pub fn single_identifier(text: &str) -> Option<String> {
    let toks = tokens(text).ok()?;
    match toks.as_slice() {
        [t] if t.ty == TokenType::TK_ID => Some(unquote(t.text)),
        [t] if is_word(t) && !is_literal_keyword(t) => Some(t.text.to_string()),
        _ => None,
    }
}

fn is_literal_keyword(t: &Tok<'_>) -> bool {
    matches!(t.ty, TokenType::TK_NULL | TokenType::TK_CTIME_KW | TokenType::TK_INTEGER | TokenType::TK_FLOAT)
        || t.text.bytes().next().is_some_and(|b| b.is_ascii_digit())
}

/// The canonical token form of SQL text, for comparison only.
///
/// Words (keywords and identifiers) are unquoted and lower-cased; strings,
/// numbers and blobs keep their spelling (blobs upper-cased); operators get
/// one spelling; redundant outer parentheses are removed.
pub fn canonical(sql: &str) -> String {
    let Ok(toks) = tokens(sql) else {
        // Unparsable text compares by its whitespace-folded spelling.
        return sql.split_whitespace().collect::<Vec<_>>().join(" ");
    };
    let mut toks: &[Tok<'_>] = &toks;
    while let [Tok { ty: TokenType::TK_SEMI, .. }, rest @ ..] = toks {
        toks = rest;
    }
    while let [rest @ .., Tok { ty: TokenType::TK_SEMI, .. }] = toks {
        toks = rest;
    }
    while toks.len() >= 2 && wraps_all(toks) {
        toks = &toks[1..toks.len() - 1];
    }
    let mut out = String::with_capacity(sql.len());
    for t in toks {
        if !out.is_empty() {
            out.push(' ');
        }
        match t.ty {
            TokenType::TK_STRING | TokenType::TK_INTEGER | TokenType::TK_FLOAT | TokenType::TK_VARIABLE => {
                out.push_str(t.text)
            }
            TokenType::TK_BLOB => out.push_str(&t.text.to_ascii_uppercase()),
            TokenType::TK_EQ => out.push('='),
            TokenType::TK_NE => out.push_str("!="),
            TokenType::TK_ID => {
                let name = unquote(t.text);
                out.push_str(&name.to_ascii_lowercase());
            }
            _ => out.push_str(&t.text.to_ascii_lowercase()),
        }
    }
    out
}

/// Whether the first token is `(` and its matching `)` is the last token.
fn wraps_all(toks: &[Tok<'_>]) -> bool {
    if toks.first().map(|t| t.ty) != Some(TokenType::TK_LP) {
        return false;
    }
    let mut depth = 0usize;
    for (i, t) in toks.iter().enumerate() {
        match t.ty {
            TokenType::TK_LP => depth += 1,
            TokenType::TK_RP => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i == toks.len() - 1;
                }
            }
            _ => {}
        }
    }
    false
}

/// Re-spaces SQL tokens the way people write them: `lower(title) > -1`.
/// Used on text the parser re-renders (which puts a space between every token).
pub fn pretty(sql: &str) -> String {
    let Ok(toks) = tokens(sql) else { return sql.to_string() };
    let mut out = String::with_capacity(sql.len());
    let mut prev: Option<&Tok<'_>> = None;
    let mut prev_unary = false;
    for t in &toks {
        let unary = matches!(t.ty, TokenType::TK_MINUS | TokenType::TK_PLUS | TokenType::TK_BITNOT)
            && prev.is_none_or(|p| !ends_operand(p));
        let space = match prev {
            None => false,
            Some(p) => {
                // `- -1` must keep its space: `--1` would start a comment.
                let comment = p.text.ends_with('-') && t.text.starts_with('-');
                comment
                    || !(p.ty == TokenType::TK_LP
                        || p.ty == TokenType::TK_DOT
                        || prev_unary
                        || matches!(t.ty, TokenType::TK_RP | TokenType::TK_COMMA | TokenType::TK_DOT)
                        || (t.ty == TokenType::TK_LP && p.ty == TokenType::TK_ID))
            }
        };
        if space {
            out.push(' ');
        }
        out.push_str(t.text);
        prev_unary = unary;
        prev = Some(t);
    }
    out
}

/// Whether a token can end an operand (so a following `-` is binary).
fn ends_operand(t: &Tok<'_>) -> bool {
    matches!(
        t.ty,
        TokenType::TK_ID
            | TokenType::TK_STRING
            | TokenType::TK_INTEGER
            | TokenType::TK_FLOAT
            | TokenType::TK_BLOB
            | TokenType::TK_VARIABLE
            | TokenType::TK_RP
            | TokenType::TK_NULL
            | TokenType::TK_CTIME_KW
    )
}

/// Replaces identifier `old` by `new` in SQL text (case-insensitive, any quoting).
pub fn rename_identifier(text: &str, old: &str, new: &str) -> String {
    let Ok(toks) = tokens(text) else { return text.to_string() };
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for t in &toks {
        if is_word(t) && unquote(t.text).eq_ignore_ascii_case(old) && t.ty != TokenType::TK_STRING {
            out.push_str(&text[last..t.start]);
            out.push_str(&quote_ident_if_needed(new));
            last = t.end;
        }
    }
    out.push_str(&text[last..]);
    out
}

/// Replaces column `old` by `new` in an expression over table `table`: bare
/// references and those qualified by `table`; a name qualified by another table
/// or alias, and a qualifier itself, are left alone. A word the tokenizer reads
/// as a keyword is a name only after a `.` (a column named `select` is quoted
/// wherever it is a name, and `SELECT` stays a keyword).
pub fn rename_column_ref(text: &str, table: &str, old: &str, new: &str) -> String {
    let Ok(toks) = tokens(text) else { return text.to_string() };
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (i, t) in toks.iter().enumerate() {
        let after_dot = i >= 1 && toks[i - 1].ty == TokenType::TK_DOT;
        let name = t.ty == TokenType::TK_ID || (after_dot && is_word(t) && t.ty != TokenType::TK_STRING);
        if !name || !unquote(t.text).eq_ignore_ascii_case(old) {
            continue;
        }
        let is_qualifier = toks.get(i + 1).is_some_and(|n| n.ty == TokenType::TK_DOT);
        let qualified_elsewhere =
            i >= 2 && toks[i - 1].ty == TokenType::TK_DOT && !unquote(toks[i - 2].text).eq_ignore_ascii_case(table);
        if is_qualifier || qualified_elsewhere {
            continue;
        }
        out.push_str(&text[last..t.start]);
        out.push_str(&quote_ident_if_needed(new));
        last = t.end;
    }
    out.push_str(&text[last..]);
    out
}

/// SQLite's whitespace: other Unicode spaces (U+00A0 and the like) are identifier characters to it.
fn is_sql_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

/// `text` without SQLite whitespace at either end (Rust's `trim` would also take
/// Unicode spaces, which SQLite reads as part of an identifier).
pub fn trim_space(text: &str) -> &str {
    text.trim_matches(is_sql_space)
}

/// `text` without SQLite whitespace at its end.
pub fn trim_end_space(text: &str) -> &str {
    text.trim_end_matches(is_sql_space)
}

/// `text` without SQLite whitespace and `;` at its end.
pub fn trim_statement(text: &str) -> &str {
    trim_end_space(trim_space(text).trim_end_matches(';'))
}

/// Strips redundant outer parentheses from expression text, keeping the inner spelling.
pub fn strip_outer_parens(text: &str) -> String {
    let mut s = trim_space(text);
    loop {
        let Ok(toks) = tokens(s) else { return s.to_string() };
        if toks.len() >= 2 && wraps_all(&toks) {
            s = trim_space(&s[toks[0].end..toks[toks.len() - 1].start]);
        } else {
            return s.to_string();
        }
    }
}

/// A collation name as SQLite applies it: SQLite finds collations by name without regard to
/// ASCII case, so the name is upper-cased (`nocase`, `"NoCase"` and `NOCASE` are one collation).
pub fn collation(name: &str) -> String {
    name.to_ascii_uppercase()
}

/// A column's collation as SQLite applies it: `BINARY`, in any case, is the default, the same
/// as none (see [`collation`] for the rest).
pub fn column_collation(name: &str) -> Option<String> {
    Some(collation(name)).filter(|c| c != "BINARY")
}

/// Checks that text is exactly one SQL expression: it must parse as the single
/// result of `SELECT (...)`, with balanced parentheses and no `;`.
pub fn check_expression(text: &str) -> Result<(), String> {
    let toks = tokens(text)?;
    if toks.is_empty() {
        return Err("empty expression".to_string());
    }
    let mut depth: i64 = 0;
    for t in &toks {
        match t.ty {
            TokenType::TK_LP => depth += 1,
            TokenType::TK_RP => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced `)`".to_string());
                }
            }
            TokenType::TK_SEMI => return Err("`;` is not allowed in an expression".to_string()),
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced `(`".to_string());
    }
    syntax::check_single_expression(text)
}

/// Whether `text` is exactly one quoted identifier or string (`"a b"`, `'a b'`, `` `a` ``, `[a]`).
pub fn is_one_quoted_token(text: &str) -> bool {
    matches!(tokens(text).as_deref(), Ok([t]) if t.text.len() == text.len()
        && matches!(t.ty, TokenType::TK_ID | TokenType::TK_STRING)
        && t.text.starts_with(['"', '\'', '`', '[']))
}

/// A declared type as SQLite reports it, in the spelling YAML can carry: as it is, or as one
/// quoted token when [`check_type`] would refuse it or SQLite would take quotes off it.
/// SQLite reads the quoted token back as exactly `ty`.
pub fn type_for_yaml(ty: &str) -> String {
    if check_type(ty).is_ok() && !ty.starts_with(['"', '\'', '`', '[']) {
        ty.to_string()
    } else {
        quote_ident(ty)
    }
}

/// Checks that text is a declared column type as SQLite's grammar has it: one or more names, then
/// optionally `(n)` or `(n, m)` with signed numbers. Words that start a column constraint are not
/// names here, so a type can never add a constraint, a column or a statement to the DDL it is put in.
pub fn check_type(text: &str) -> Result<(), String> {
    const HINT: &str = "a type is one or more names, optionally followed by `(n)` or `(n, m)`, such as \
                        `VARCHAR(255)` or `DOUBLE PRECISION`";
    let toks = tokens(text)?;
    let constraint = |t: &Tok<'_>| {
        matches!(
            t.ty,
            TokenType::TK_CONSTRAINT
                | TokenType::TK_PRIMARY
                | TokenType::TK_NOT
                | TokenType::TK_NULL
                | TokenType::TK_UNIQUE
                | TokenType::TK_CHECK
                | TokenType::TK_DEFAULT
                | TokenType::TK_COLLATE
                | TokenType::TK_REFERENCES
                | TokenType::TK_AS
        )
    };
    let name = |t: &Tok<'_>| {
        (t.ty == TokenType::TK_ID || t.ty == TokenType::TK_STRING || is_word(t))
            && !constraint(t)
            && !t.text.bytes().next().is_some_and(|b| b.is_ascii_digit())
    };
    let names = toks.iter().take_while(|t| name(t)).count();
    if names == 0 {
        return Err(match toks.first() {
            Some(t) if constraint(t) => format!("`{}` starts a constraint, not a type; {HINT}", t.text),
            _ => HINT.to_string(),
        });
    }
    let rest = &toks[names..];
    // The number after `(` or `,`: an optional sign, then a number; returns the tokens it used.
    let signed = |ts: &[Tok<'_>]| -> usize {
        let sign = usize::from(ts.first().is_some_and(|t| matches!(t.ty, TokenType::TK_PLUS | TokenType::TK_MINUS)));
        match ts.get(sign) {
            Some(t) if matches!(t.ty, TokenType::TK_INTEGER | TokenType::TK_FLOAT) => sign + 1,
            _ => 0,
        }
    };
    let size_ok = || -> bool {
        let Some((lp, mut ts)) = rest.split_first() else { return true };
        if lp.ty != TokenType::TK_LP {
            return false;
        }
        let n = signed(ts);
        if n == 0 {
            return false;
        }
        ts = &ts[n..];
        if ts.first().is_some_and(|t| t.ty == TokenType::TK_COMMA) {
            let m = signed(&ts[1..]);
            if m == 0 {
                return false;
            }
            ts = &ts[1 + m..];
        }
        matches!(ts, [t] if t.ty == TokenType::TK_RP)
    };
    if size_ok() {
        return Ok(());
    }
    Err(match rest.first() {
        Some(t) if constraint(t) => {
            format!("`{}` starts a constraint, which has its own key in the YAML; {HINT}", t.text)
        }
        Some(t) => format!("unexpected `{}`; {HINT}", t.text),
        None => HINT.to_string(),
    })
}

/// `CREATE VIEW name AS <select>` from a view's `sql`, which may already be a whole CREATE VIEW.
pub fn view_create_sql(name: &str, sql: &str) -> String {
    let body = trim_statement(sql);
    let starts_with_create =
        tokens(body).ok().and_then(|t| t.first().map(|t| t.ty == TokenType::TK_CREATE)).unwrap_or(false);
    if starts_with_create {
        body.to_string()
    } else {
        format!("CREATE VIEW {} AS {}", quote_ident_if_needed(name), body)
    }
}

/// The text after the top-level `AS` of a CREATE VIEW statement when the view has
/// no column list, so inspect can show just the SELECT; otherwise the whole text.
pub fn view_body(create_sql: &str) -> String {
    let Ok(toks) = tokens(create_sql) else { return create_sql.to_string() };
    for (i, t) in toks.iter().enumerate() {
        match t.ty {
            // A column list comes before AS: keep the whole statement.
            TokenType::TK_LP => return trim_space(create_sql).to_string(),
            TokenType::TK_AS if i + 1 < toks.len() => {
                return trim_statement(&create_sql[toks[i + 1].start..]).to_string();
            }
            _ => {}
        }
    }
    trim_space(create_sql).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn same(a: &str, b: &str) {
        assert_eq!(canonical(a), canonical(b), "{a:?} vs {b:?}");
    }
    #[track_caller]
    fn differ(a: &str, b: &str) {
        assert_ne!(canonical(a), canonical(b), "{a:?} vs {b:?}");
    }

    #[test]
    fn spelling_never_counts() {
        same("lower(title)", "LOWER( \"title\" )");
        same("(a > 5)", "a>5");
        same("((a > 5))", "a > 5");
        same("a == 1", "a = 1");
        same("a <> 1", "a != 1");
        same("[x] is not null", "`x` IS NOT NULL");
        same("x'00'", "X'00'");
        differ("X'00'", "00");
        differ("X'00'", "'00'");
        same("a -- comment\n > 1", "a > 1");
    }

    #[test]
    fn literals_count() {
        differ("'0'", "0");
        differ("'A'", "'a'");
        differ("(a) + (b)", "a + b AND 1");
        differ("-1", "1");
    }

    #[test]
    fn pretty_spacing() {
        assert_eq!(pretty("lower ( title ) > - 1"), "lower(title) > -1");
        assert_eq!(pretty("a - 1"), "a - 1");
        assert_eq!(pretty("x IN ( 1 , 2 )"), "x IN (1, 2)");
        assert_eq!(pretty("t . a"), "t.a");
        assert_eq!(pretty("- - 1"), "- -1");
        assert_eq!(pretty("a > - - - 3"), "a > - - -3");
    }

    #[test]
    fn column_references_renamed_only_where_they_name_the_column() {
        assert_eq!(rename_column_ref("CAST(c0 AS TEXT)", "t", "c0", "x"), "CAST(x AS TEXT)");
        assert_eq!(
            rename_column_ref("(SELECT k.c0 FROM kept AS k WHERE k.k0 = t.c0)", "t", "c0", "x"),
            "(SELECT k.c0 FROM kept AS k WHERE k.k0 = t.x)"
        );
        assert_eq!(rename_column_ref("c0.a + 'c0'", "t", "c0", "x"), "c0.a + 'c0'");
        assert_eq!(
            rename_column_ref("(SELECT 1 FROM k WHERE k.a = t.\"select\")", "t", "select", "Col 4"),
            "(SELECT 1 FROM k WHERE k.a = t.\"Col 4\")"
        );
        assert_eq!(rename_column_ref("CAST(\"as\" AS TEXT)", "t", "as", "b"), "CAST(b AS TEXT)");
    }

    #[test]
    fn outer_parens_only_when_they_wrap_everything() {
        assert_eq!(strip_outer_parens("(a) + (b)"), "(a) + (b)");
        // U+00A0 is part of an identifier to SQLite, not space.
        assert_eq!(strip_outer_parens("\u{a0}-x"), "\u{a0}-x");
        assert_eq!(view_body("CREATE VIEW v AS SELECT a FROM t\u{a0}"), "SELECT a FROM t\u{a0}");
        assert_eq!(strip_outer_parens(" ((abs(-3))) "), "abs(-3)");
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident_if_needed("feed"), "feed");
        assert_eq!(quote_ident_if_needed("order"), "\"order\"");
        assert_eq!(quote_ident_if_needed("my col"), "\"my col\"");
        assert_eq!(quote_ident("x\"; DROP TABLE users; --"), "\"x\"\"; DROP TABLE users; --\"");
        assert_eq!(unquote("[a b]"), "a b");
        assert_eq!(unquote("\"a\"\"b\""), "a\"b");
        assert_eq!(unquote("列"), "列");
        assert_eq!(unquote("\"表\""), "表");
    }

    #[test]
    fn expressions_must_be_single() {
        assert!(check_expression("length(x) > 0").is_ok());
        assert!(check_expression("1); DROP TABLE users; --").is_err());
        assert!(check_expression("1, 2").is_err());
        assert!(check_expression("").is_err());
    }

    #[test]
    fn types_are_names_and_a_size() {
        for ok in [
            "TEXT",
            "VARCHAR(255)",
            "DECIMAL(10, 5)",
            "decimal(+10, -5)",
            "DOUBLE PRECISION",
            "UNSIGNED BIG INT",
            "timestamp with time zone",
            "text[]",
            "'quoted type'",
            "\"my type\"",
            "generated",
            "key",
        ] {
            assert!(check_type(ok).is_ok(), "{ok}: {:?}", check_type(ok));
        }
        for bad in [
            "",
            "TEXT); DROP TABLE users; CREATE TABLE x(y",
            "TEXT, evil INTEGER",
            "TEXT CHECK (0)",
            "TEXT NOT NULL",
            "INT DEFAULT 1",
            "INT PRIMARY KEY",
            "TEXT COLLATE NOCASE",
            "INT REFERENCES users",
            "TEXT CONSTRAINT c",
            "INT AS (1)",
            "VARCHAR(MAX)",
            "VARCHAR(1",
            "VARCHAR(1) x",
            "(10)",
            "10",
            "TEXT;",
        ] {
            assert!(check_type(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn view_bodies() {
        assert_eq!(view_body("CREATE VIEW v AS SELECT 1"), "SELECT 1");
        assert_eq!(view_body("CREATE VIEW v(a) AS SELECT 1"), "CREATE VIEW v(a) AS SELECT 1");
        assert_eq!(view_create_sql("v", "SELECT 1;"), "CREATE VIEW v AS SELECT 1");
    }
}
