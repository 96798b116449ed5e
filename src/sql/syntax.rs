//! Syntax: one SQL statement parsed by `sqlite3-parser`, with the parser's panics caught,
//! and the checks that need the grammar rather than tokens (one expression, nothing more).
//!
//! Knows nothing of the model; `parse` builds model pieces on top of it.

use std::panic::{catch_unwind, AssertUnwindSafe};

use sqlite3_parser::ast::{Cmd, OneSelect, ResultColumn, Stmt};
use sqlite3_parser::lexer::sql::Parser;
use sqlite3_parser::{Bump, FallibleIterator};

/// Runs `f` on the single statement in `sql`, guarding against parser panics.
pub(crate) fn with_stmt<T>(sql: &str, f: impl FnOnce(&Stmt<'_>) -> Result<T, String>) -> Result<T, String> {
    let result = catch_unwind(AssertUnwindSafe(|| {
        let bump = Bump::new();
        let mut parser = Parser::new(&bump, sql.as_bytes());
        let cmd = match parser.next() {
            Ok(Some(cmd)) => cmd,
            Ok(None) => return Err("no SQL statement".to_string()),
            Err(e) => return Err(e.to_string()),
        };
        match parser.next() {
            Ok(None) => {}
            Ok(Some(_)) => return Err("more than one SQL statement".to_string()),
            Err(e) => return Err(e.to_string()),
        }
        match &cmd {
            Cmd::Stmt(stmt) => f(stmt),
            _ => Err("EXPLAIN is not allowed here".to_string()),
        }
    }));
    result.unwrap_or_else(|_| Err("the SQL parser failed on this statement".to_string()))
}

/// Checks that `text` is one expression: `SELECT text` must be one plain result column.
pub fn check_single_expression(text: &str) -> Result<(), String> {
    with_stmt(&format!("SELECT {text}"), |stmt| {
        let Stmt::Select(select) = stmt else { return Err("not an expression".to_string()) };
        let plain = select.with.is_none()
            && select.order_by.is_none()
            && select.limit.is_none()
            && select.body.compounds.is_none();
        match &select.body.select {
            OneSelect::Select {
                distinctness: None,
                columns,
                from: None,
                where_clause: None,
                group_by: None,
                having: None,
                window_clause: None,
            } if plain && columns.len() == 1 && matches!(columns[0], ResultColumn::Expr(_, None)) => Ok(()),
            _ => Err("not a single expression".to_string()),
        }
    })
}

/// Whether the parser refused `sql` only for a rule of its own that SQLite does
/// not have at that point (a column twice in `UPDATE OF` or `INSERT INTO t(a, a)`,
/// twice in a view's column list, a view's column count): the statement is still
/// one well-formed statement, and the names a trigger or view needs are read from
/// its tokens. A syntax error or a second statement is never that.
pub(crate) fn stricter_than_sqlite(sql: &str) -> bool {
    use sqlite3_parser::lexer::sql::{Error, ParserError};
    catch_unwind(AssertUnwindSafe(|| {
        let bump = Bump::new();
        let mut parser = Parser::new(&bump, sql.as_bytes());
        let custom = matches!(parser.next(), Err(Error::ParserError(ParserError::Custom(_), _)));
        custom
    }))
    .unwrap_or(false)
}
