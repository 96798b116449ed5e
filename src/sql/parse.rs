//! Parse: stored CREATE text → model pieces, through `sqlite3-parser`.
//!
//! Used by `inspect` for what pragmas do not expose (CHECKs, constraint names,
//! generated expressions, DEFERRABLE, conflict clauses, index expressions,
//! trigger targets). Every call is guarded: a parser panic becomes an error.

use sqlite3_parser::ast::{
    self, ColumnConstraint, CreateTableBody, InitDeferredPred, RefAct, RefArg, ResolveType, SortedColumn, Stmt,
    TabFlags, TableConstraint,
};
use sqlite3_parser::dialect::TokenType;

use crate::model::{
    Check, Column, Conflict, Expr, FkAction, ForeignKey, Generated, Index, IndexedColumn, Key, References, SortOrder,
    Table,
};
use crate::sql::syntax::{stricter_than_sqlite, with_stmt};
use crate::sql::{pretty, quote_str, strip_outer_parens, tokens, unquote, Tok};

fn name(n: &ast::Name<'_>) -> String {
    unquote(n.0)
}

fn expr(e: &ast::Expr<'_>) -> Expr {
    Expr::new(strip_outer_parens(&pretty(&e.to_string())))
}

/// A DEFAULT value. SQLite's grammar reads a bare identifier there as a string
/// (`DEFAULT "abc"` and `DEFAULT abc` store the text `abc`), except `TRUE` and
/// `FALSE`, which are 1 and 0; so an identifier becomes the string literal it
/// means. Kept as an identifier, it would be rebuilt as `DEFAULT ("abc")`,
/// which SQLite rejects as not constant, and it would compare case-insensitively.
fn default_expr(e: &ast::Expr<'_>) -> Expr {
    let text = pretty(&e.to_string());
    match tokens(&text).as_deref() {
        Ok([t]) if t.ty == TokenType::TK_ID => {
            let bare_bool = t.text.eq_ignore_ascii_case("true") || t.text.eq_ignore_ascii_case("false");
            if bare_bool {
                Expr::new(text)
            } else {
                Expr::new(quote_str(&unquote(t.text)))
            }
        }
        _ => Expr::new(strip_outer_parens(&text)),
    }
}

fn conflict(r: Option<ResolveType>) -> Option<Conflict> {
    r.map(|r| match r {
        ResolveType::Rollback => Conflict::Rollback,
        ResolveType::Abort => Conflict::Abort,
        ResolveType::Fail => Conflict::Fail,
        ResolveType::Ignore => Conflict::Ignore,
        ResolveType::Replace => Conflict::Replace,
    })
}

fn order(o: Option<ast::SortOrder>) -> Option<SortOrder> {
    o.map(|o| match o {
        ast::SortOrder::Asc => SortOrder::Asc,
        ast::SortOrder::Desc => SortOrder::Desc,
    })
}

fn action(a: RefAct) -> FkAction {
    match a {
        RefAct::SetNull => FkAction::SetNull,
        RefAct::SetDefault => FkAction::SetDefault,
        RefAct::Cascade => FkAction::Cascade,
        RefAct::Restrict => FkAction::Restrict,
        RefAct::NoAction => FkAction::NoAction,
    }
}

fn deferred(d: Option<&ast::DeferSubclause>) -> bool {
    // Only DEFERRABLE INITIALLY DEFERRED defers; every other form is immediate.
    d.is_some_and(|d| d.deferrable && d.init_deferred == Some(InitDeferredPred::InitiallyDeferred))
}

fn sorted(cols: &[SortedColumn<'_>]) -> Result<Vec<IndexedColumn>, String> {
    cols.iter()
        .map(|c| {
            let mut term = IndexedColumn::parse(&pretty(&c.expr.to_string()))?;
            term.order = order(c.order);
            Ok(term)
        })
        .collect()
}

fn fk_args(args: &[RefArg<'_>]) -> (Option<FkAction>, Option<FkAction>) {
    let (mut on_delete, mut on_update) = (None, None);
    for a in args {
        match a {
            RefArg::OnDelete(x) => on_delete = Some(action(*x)),
            RefArg::OnUpdate(x) => on_update = Some(action(*x)),
            RefArg::OnInsert(_) | RefArg::Match(_) => {}
        }
    }
    (on_delete, on_update)
}

/// Parses `CREATE TABLE` text into the table's name and model.
pub fn create_table(sql: &str) -> Result<(String, Table), String> {
    with_stmt(sql, |stmt| {
        let Stmt::CreateTable { tbl_name, body, .. } = stmt else {
            return Err("not a CREATE TABLE statement".to_string());
        };
        let CreateTableBody::ColumnsAndConstraints { columns, constraints, flags } = body else {
            return Err("CREATE TABLE ... AS SELECT is not supported".to_string());
        };
        let mut table = Table {
            strict: flags.contains(TabFlags::Strict),
            without_rowid: flags.contains(TabFlags::WithoutRowid),
            ..Table::default()
        };
        for def in columns.iter() {
            let mut col = Column {
                name: name(&def.col_name),
                ty: def.col_type.as_ref().map(type_name).filter(|t| !t.is_empty()),
                ..Column::default()
            };
            let mut pending_fk: Option<usize> = None;
            for c in def.constraints {
                let cname = c.name.as_ref().map(name);
                match &c.constraint {
                    ColumnConstraint::PrimaryKey { order: o, conflict_clause, auto_increment } => {
                        col.primary_key = true;
                        col.primary_key_order = order(*o);
                        col.primary_key_on_conflict = conflict(*conflict_clause);
                        col.autoincrement = *auto_increment;
                    }
                    ColumnConstraint::NotNull { nullable, conflict_clause } => {
                        if !nullable {
                            col.not_null = true;
                            col.not_null_on_conflict = conflict(*conflict_clause);
                        }
                    }
                    ColumnConstraint::Unique(r) => {
                        col.unique = true;
                        col.unique_on_conflict = conflict(*r);
                    }
                    ColumnConstraint::Check(e) => col.checks.push(Check { name: cname, expr: expr(e) }),
                    ColumnConstraint::Default(e) => col.default = Some(default_expr(e)),
                    ColumnConstraint::Collate { collation_name } => {
                        col.collate = super::column_collation(&name(collation_name))
                    }
                    ColumnConstraint::ForeignKey { clause, defer_clause } => {
                        let (on_delete, on_update) = fk_args(clause.args);
                        let column = clause.columns.and_then(|cs| cs.first()).map(|c| name(&c.col_name));
                        col.references = Some(References {
                            name: cname,
                            table: name(&clause.tbl_name),
                            column,
                            on_delete,
                            on_update,
                            deferred: deferred(defer_clause.as_ref()),
                        });
                        pending_fk = Some(0);
                    }
                    ColumnConstraint::Defer(d) => {
                        if let (Some(_), Some(r)) = (pending_fk, col.references.as_mut()) {
                            r.deferred = deferred(Some(d));
                        }
                    }
                    ColumnConstraint::Generated { expr: e, typ } => {
                        let stored = typ.as_ref().is_some_and(|t| t.0.eq_ignore_ascii_case("STORED"));
                        col.generated = Some(Generated { expr: expr(e), stored });
                    }
                }
            }
            table.columns.push(col);
        }
        for c in constraints.unwrap_or(&[]) {
            let cname = c.name.as_ref().map(name);
            match &c.constraint {
                TableConstraint::PrimaryKey { columns, auto_increment, conflict_clause } => {
                    let cols = sorted(columns)?;
                    // AUTOINCREMENT in a table-level key applies to its single column.
                    if *auto_increment {
                        if let Some(n) = cols.first().and_then(|c| c.column_name()) {
                            if let Some(col) = table.columns.iter_mut().find(|c| c.name.eq_ignore_ascii_case(&n)) {
                                col.autoincrement = true;
                            }
                        }
                    }
                    table.primary_key =
                        Some(Key { name: cname, columns: cols, on_conflict: conflict(*conflict_clause) });
                }
                TableConstraint::Unique { columns, conflict_clause } => {
                    table.unique.push(Key {
                        name: cname,
                        columns: sorted(columns)?,
                        on_conflict: conflict(*conflict_clause),
                    });
                }
                TableConstraint::Check(e, _) => table.checks.push(Check { name: cname, expr: expr(e) }),
                TableConstraint::ForeignKey { columns, clause, defer_clause } => {
                    let (on_delete, on_update) = fk_args(clause.args);
                    table.foreign_keys.push(ForeignKey {
                        name: cname,
                        columns: columns.iter().map(|c| name(&c.col_name)).collect(),
                        references: name(&clause.tbl_name),
                        referenced_columns: clause.columns.unwrap_or(&[]).iter().map(|c| name(&c.col_name)).collect(),
                        on_delete,
                        on_update,
                        deferred: deferred(defer_clause.as_ref()),
                    });
                }
            }
        }
        Ok((name(&tbl_name.name), table))
    })
}

/// A declared type as one normalized string: `VARCHAR(255)`, `DECIMAL(10,2)`, `UNSIGNED BIG INT`.
/// Upper-cased with single spaces. As SQLite does (`sqlite3AddColumn`), a type
/// that starts with a quote is only its first token, dequoted: `"VARCHAR"(10)`
/// declares `VARCHAR`, without the size.
fn type_name(t: &ast::Type<'_>) -> String {
    if t.name.starts_with(['"', '\'', '`', '[']) {
        let first = tokens(t.name).ok().and_then(|toks| toks.first().map(|tok| unquote(tok.text)));
        let declared = first.unwrap_or_else(|| unquote(t.name)).to_ascii_uppercase();
        // `[nvarchar ( 20 )]` declares what `NVARCHAR(20)` does: spelled the one way.
        return crate::sql::ddl::canonical_type(&declared).unwrap_or(declared);
    }
    let base = t.name.split_whitespace().map(|w| w.to_ascii_uppercase()).collect::<Vec<_>>().join(" ");
    match &t.size {
        None => base,
        Some(ast::TypeSize::MaxSize(a)) => format!("{base}({})", pretty(&a.to_string())),
        Some(ast::TypeSize::TypeSize(a, b)) => format!("{base}({},{})", pretty(&a.to_string()), pretty(&b.to_string())),
    }
}

/// Parses `CREATE INDEX` text into (index name, table name, index).
pub fn create_index(sql: &str) -> Result<(String, String, Index), String> {
    with_stmt(sql, |stmt| {
        let Stmt::CreateIndex { unique, idx_name, tbl_name, columns, where_clause, .. } = stmt else {
            return Err("not a CREATE INDEX statement".to_string());
        };
        let index = Index {
            columns: sorted(columns)?,
            unique: *unique,
            where_: where_clause.as_ref().map(expr),
            renamed_from: None,
        };
        Ok((name(&idx_name.name), name(tbl_name), index))
    })
}

/// Parses `CREATE TRIGGER` text into (trigger name, table or view it fires on).
pub fn create_trigger(sql: &str) -> Result<(String, String), String> {
    with_stmt(sql, |stmt| match stmt {
        Stmt::CreateTrigger { trigger_name, tbl_name, .. } => Ok((name(&trigger_name.name), name(&tbl_name.name))),
        _ => Err("not a CREATE TRIGGER statement".to_string()),
    })
    .or_else(|e| {
        let toks = stricter_than_sqlite(sql).then(|| tokens(sql).ok()).flatten().ok_or_else(|| e.clone())?;
        let (trigger, rest) = created_name(&toks, TokenType::TK_TRIGGER).ok_or_else(|| e.clone())?;
        let on = rest.iter().position(|t| t.ty == TokenType::TK_ON).ok_or_else(|| e.clone())?;
        let (table, _) = qualified_name(&rest[on + 1..]).ok_or(e)?;
        Ok((trigger, table))
    })
}

/// Parses `CREATE VIEW` text into the view's name.
pub fn create_view(sql: &str) -> Result<String, String> {
    with_stmt(sql, |stmt| match stmt {
        Stmt::CreateView { view_name, .. } => Ok(name(&view_name.name)),
        _ => Err("not a CREATE VIEW statement".to_string()),
    })
    .or_else(|e| {
        let toks = stricter_than_sqlite(sql).then(|| tokens(sql).ok()).flatten().ok_or_else(|| e.clone())?;
        created_name(&toks, TokenType::TK_VIEW).map(|(n, _)| n).ok_or(e)
    })
}

/// The name after `CREATE [TEMP] <kind> [IF NOT EXISTS]`, and the tokens after it.
fn created_name<'a, 't>(toks: &'a [Tok<'t>], kind: TokenType) -> Option<(String, &'a [Tok<'t>])> {
    let mut i = 0;
    let expect = |ty: TokenType, i: &mut usize| {
        let hit = toks.get(*i).is_some_and(|t| t.ty == ty);
        if hit {
            *i += 1;
        }
        hit
    };
    if !expect(TokenType::TK_CREATE, &mut i) {
        return None;
    }
    expect(TokenType::TK_TEMP, &mut i);
    if !expect(kind, &mut i) {
        return None;
    }
    if expect(TokenType::TK_IF, &mut i) && !(expect(TokenType::TK_NOT, &mut i) && expect(TokenType::TK_EXISTS, &mut i))
    {
        return None;
    }
    let (n, used) = qualified_name(&toks[i..])?;
    Some((n, &toks[i + used..]))
}

/// `name` or `schema.name` at the start of `toks`: the name and the tokens it takes.
fn qualified_name(toks: &[Tok<'_>]) -> Option<(String, usize)> {
    let word = |t: &Tok<'_>| t.ty != TokenType::TK_LP && t.ty != TokenType::TK_DOT && !t.text.is_empty();
    let first = toks.first().filter(|t| word(t))?;
    match (toks.get(1), toks.get(2)) {
        (Some(dot), Some(second)) if dot.ty == TokenType::TK_DOT && word(second) => Some((unquote(second.text), 3)),
        _ => Some((unquote(first.text), 1)),
    }
}

/// Parses `CREATE VIRTUAL TABLE` text into (name, module).
pub fn create_virtual_table(sql: &str) -> Result<(String, String), String> {
    with_stmt(sql, |stmt| match stmt {
        Stmt::CreateVirtualTable { tbl_name, module_name, .. } => Ok((name(&tbl_name.name), name(module_name))),
        _ => Err("not a CREATE VIRTUAL TABLE statement".to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_with_everything() {
        let (n, t) = create_table(
            "CREATE TABLE \"Feed\" (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL COLLATE NOCASE DEFAULT 'x', \
             n DECIMAL(10, 2) DEFAULT (-1) CHECK (n > 0), p INT REFERENCES parent(id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED, \
             g TEXT GENERATED ALWAYS AS (upper(name)) STORED, \
             CONSTRAINT u1 UNIQUE (name, n DESC), CONSTRAINT ck CHECK (length(name) > 0)) STRICT",
        )
        .unwrap();
        assert_eq!(n, "Feed");
        assert!(t.strict && !t.without_rowid);
        assert!(t.columns[0].primary_key && t.columns[0].autoincrement);
        assert!(t.columns[1].not_null);
        assert_eq!(t.columns[1].collate.as_deref(), Some("NOCASE"));
        assert_eq!(t.columns[1].default.as_ref().unwrap().as_str(), "'x'");
        assert_eq!(t.columns[2].ty.as_deref(), Some("DECIMAL(10,2)"));
        assert_eq!(t.columns[2].default.as_ref().unwrap().as_str(), "-1");
        let r = t.columns[3].references.as_ref().unwrap();
        assert_eq!((r.table.as_str(), r.on_delete, r.deferred), ("parent", Some(FkAction::Cascade), true));
        assert!(t.columns[4].generated.as_ref().unwrap().stored);
        assert_eq!(t.unique[0].name.as_deref(), Some("u1"));
        assert_eq!(t.unique[0].columns[1].order, Some(SortOrder::Desc));
        assert_eq!(t.checks[0].name.as_deref(), Some("ck"));
    }

    #[test]
    fn identifier_defaults_are_strings() {
        let (_, t) = create_table(
            "CREATE TABLE t (a DEFAULT \"Abc\", b DEFAULT abc, c DEFAULT [x y], d DEFAULT TRUE, e DEFAULT (\"q\"))",
        )
        .unwrap();
        let d: Vec<_> = t.columns.iter().map(|c| c.default.as_ref().unwrap().as_str().to_string()).collect();
        assert_eq!(d, ["'Abc'", "'abc'", "'x y'", "TRUE", "\"q\""]);
    }

    #[test]
    fn statements_sqlite_accepts_but_the_parser_checks_harder() {
        // SQLite takes a column twice in `UPDATE OF`, and in a view's column list.
        let t = "CREATE TRIGGER \"tr\" BEFORE UPDATE OF a, a ON main.[t 1] WHEN 1 BEGIN SELECT 1; END";
        assert_eq!(create_trigger(t).unwrap(), ("tr".to_string(), "t 1".to_string()));
        assert_eq!(create_view("CREATE VIEW IF NOT EXISTS v(x, x) AS SELECT 1, 2").unwrap(), "v");
        assert!(create_trigger("CREATE TRIGGER tr ON t BEGIN SELECT 1; END; DROP TABLE t").is_err());
        assert!(create_view("CREATE VIEW v AS SELECT 1; DROP TABLE t").is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(create_table("CREATE TABLE (").is_err());
        assert!(create_table("SELECT 1").is_err());
        assert!(create_table("CREATE TABLE a(x); CREATE TABLE b(y)").is_err());
    }
}
