//! What each fuzz target does with its input.
//!
//! Shared by the targets in `fuzz_targets/` and by the replay of kept inputs
//! in `tests/it/fuzz_regressions.rs`, which runs in a normal `cargo test`. A
//! function panics when the library breaks a promise: a panic of its own, or
//! an oracle below that does not hold. Errors the library returns are fine.
//!
//! - `load_yaml`: schema sources (NUL separates files) → `load_sources` →
//!   `load::desired`. Oracle: a schema the loader accepts normalizes to
//!   itself (built and inspected again, it is the same schema).
//! - `normalize_expr`: text → the SQL helpers that compare, re-space, strip,
//!   validate and parse expressions and statements. Oracles: re-spacing and
//!   outer parentheses never change the canonical form; text accepted as one
//!   expression is never more than one statement to SQLite.
//! - `inspect_ddl`: a structured list of DDL statements (`arbitrary`) run on
//!   an in-memory database, SQLite's rejections ignored → `inspect`. Oracle:
//!   the inspected schema, written as YAML and loaded back, plans empty
//!   against the database it came from (`reconcile inspect` then `plan`).
#![allow(dead_code)]

use arbitrary::{Arbitrary, Unstructured};
use rusqlite::Connection;
use sqlite_reconcile::model::Expr as ModelExpr;
use sqlite_reconcile::sql::{self, ddl, parse};
use sqlite_reconcile::{inspect, load, normalize, plan_for, to_yaml, InspectError, InspectOptions};

// ---------------------------------------------------------------------------
// load_yaml

pub fn load_yaml(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // A NUL starts another file, so merging is fuzzed too.
    let sources: Vec<(String, &str)> =
        text.split('\0').take(3).enumerate().map(|(i, t)| (format!("f{i}.yaml"), t)).collect();
    let Ok(loaded) = load::load_sources(&sources) else { return };
    let Ok(desired) = load::desired(&loaded) else { return };
    let plain = desired.without_hints();
    let again = match normalize::desired(&plain) {
        Ok(s) => s,
        Err(e) => panic!("a normalized schema does not build again: {e}\n{plain:#?}"),
    };
    assert!(again == plain, "normalizing twice changes the schema\nonce: {plain:#?}\ntwice: {again:#?}");
}

// ---------------------------------------------------------------------------
// normalize_expr

pub fn normalize_expr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if text.contains('\0') {
        return;
    }
    let canon = sql::canonical(text);
    let _ = ModelExpr::new(text);
    let pretty = sql::pretty(text);
    let stripped = sql::strip_outer_parens(text);
    let _ = sqlite_reconcile::model::IndexedColumn::parse(text);
    let _ = sql::single_identifier(text);
    let _ = sql::view_body(text);
    let _ = sql::view_create_sql("v", text);
    let _ = sql::rename_identifier(text, "a", "b");
    let _ = sql::unquote(text);
    let _ = sql::is_keyword(text);
    let _ = ddl::is_literal(text);
    let _ = parse::create_table(text);
    let _ = parse::create_index(text);
    let _ = parse::create_trigger(text);
    let _ = parse::create_view(text);
    let _ = parse::create_virtual_table(text);
    if sql::check_expression(text).is_err() {
        return;
    }
    assert_eq!(sql::canonical(&pretty), canon, "re-spacing changed the tokens of {text:?} (pretty: {pretty:?})");
    assert_eq!(sql::canonical(&stripped), canon, "stripping parentheses changed {text:?} (to {stripped:?})");
    let Ok(conn) = Connection::open_in_memory() else { return };
    if conn.execute_batch("CREATE TABLE t(a, b, c)").is_err() {
        return;
    }
    let several = matches!(conn.prepare(&format!("SELECT {text} FROM t")), Err(rusqlite::Error::MultipleStatement));
    assert!(!several, "{text:?} was accepted as one expression but SQLite reads more than one statement");
}

// ---------------------------------------------------------------------------
// inspect_ddl: structured DDL

pub fn inspect_ddl(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Ok(db) = Db::arbitrary(&mut u) else { return };
    let statements = db.render();
    inspect_statements(&statements);
}

/// Runs `statements` (rejections ignored) and checks the oracle on the result.
pub fn inspect_statements(statements: &[String]) {
    let Ok(mut conn) = Connection::open_in_memory() else { return };
    for s in statements {
        let _ = conn.execute_batch(s);
    }
    let shown = || statements.join(";\n");
    let opts = InspectOptions::default();
    let schema = match inspect(&conn, &opts) {
        Ok(s) => s,
        Err(InspectError::Parse { kind, name, message }) => {
            panic!("inspect cannot read {kind} `{name}` that SQLite holds: {message}\n{}", shown())
        }
        Err(InspectError::Sqlite(_)) => return,
    };
    let yaml = match to_yaml(&schema) {
        Ok(y) => y,
        Err(e) => panic!("to_yaml: {e}\n{}", shown()),
    };
    let desired = match load::load_sources(&[("inspected.yaml", yaml.as_str())]).and_then(|l| load::desired(&l)) {
        Ok(d) => d,
        // A database SQLite holds may still be broken (a view on a dropped table).
        Err(_) if !healthy(&conn, &schema) => return,
        Err(e) => panic!("the inspected schema does not load: {e}\n--- yaml:\n{yaml}\n--- ddl:\n{}", shown()),
    };
    let plan = match plan_for(&mut conn, &desired, &opts) {
        Ok((_, p)) => p,
        Err(e) => panic!("planning against its own schema: {e}\n--- yaml:\n{yaml}\n--- ddl:\n{}", shown()),
    };
    assert!(
        plan.is_empty(),
        "a plan against the database's own inspected schema is not empty: {:#?}\n--- yaml:\n{yaml}\n--- ddl:\n{}",
        plan.steps,
        shown()
    );
}

/// Whether every view reads and every trigger compiles: SQLite creates both
/// without resolving their names, so a database can hold broken ones.
fn healthy(conn: &Connection, schema: &sqlite_reconcile::Schema) -> bool {
    for v in schema.views.keys() {
        if conn.prepare(&format!("SELECT * FROM {} LIMIT 0", sql::quote_ident(v))).is_err() {
            return false;
        }
    }
    // Foreign keys resolve when rows are written: one may name a table or column that is not there.
    for t in schema.tables.values() {
        let mut parents: Vec<(&str, Vec<&str>)> = t
            .columns
            .iter()
            .filter_map(|c| {
                c.references.as_ref().map(|r| (r.table.as_str(), r.column.iter().map(String::as_str).collect()))
            })
            .collect();
        parents.extend(
            t.foreign_keys
                .iter()
                .map(|f| (f.references.as_str(), f.referenced_columns.iter().map(String::as_str).collect())),
        );
        for (p, cols) in parents {
            let Some((_, parent)) = schema.table(p) else { return false };
            if cols.iter().any(|c| parent.column(c).is_none()) {
                return false;
            }
        }
    }
    // Each trigger compiles when a statement that fires it is prepared.
    for t in schema.triggers.values() {
        let Ok((_, on)) = parse::create_trigger(&t.sql) else { return false };
        let target = sql::quote_ident(&on);
        // Every column that can be set: a table's generated ones cannot.
        let cols: Vec<String> = match schema.table(&on) {
            Some((_, t)) => {
                t.columns.iter().filter(|c| c.generated.is_none()).map(|c| sql::quote_ident(&c.name)).collect()
            }
            None => match conn.prepare(&format!("SELECT * FROM {target} LIMIT 0")) {
                Ok(stmt) => stmt.column_names().map(sql::quote_ident).collect(),
                Err(_) => return false,
            },
        };
        let mut fire = vec![format!("INSERT INTO {target} DEFAULT VALUES"), format!("DELETE FROM {target}")];
        if !cols.is_empty() {
            let sets: Vec<String> = cols.iter().map(|c| format!("{c} = {c}")).collect();
            fire.push(format!("UPDATE {target} SET {}", sets.join(", ")));
        }
        for f in fire {
            match conn.prepare(&f) {
                Ok(_) => {}
                // No INSTEAD OF trigger for this event on a view.
                Err(e) if e.to_string().contains("cannot modify") => {}
                Err(_) => return false,
            }
        }
    }
    true
}

const NAMES: &[&str] = &["t", "u", "Parent", "child", "order", "a b", "x\"y", "ü", "t1", "T1", "v", "w"];
const COLUMNS: &[&str] = &["id", "a", "b", "c", "name", "key", "group", "x y", "Ä", "rowid", "q\"", "value"];
const TYPES: &[&str] = &[
    "INTEGER",
    "INT",
    "TEXT",
    "REAL",
    "BLOB",
    "NUMERIC",
    "ANY",
    "VARCHAR(255)",
    "DECIMAL(10, 2)",
    "UNSIGNED BIG INT",
    "DOUBLE PRECISION",
    "DATETIME",
    "BOOLEAN",
    "\"VARCHAR\"(10)",
    "nvarchar ( 20 )",
    "CHARACTER(-1)",
    "INT(+3)",
];
const FUNCS: &[&str] = &["abs", "lower", "upper", "length", "coalesce", "typeof", "ifnull", "max", "substr", "round"];
const COLLATIONS: &[&str] = &["NOCASE", "RTRIM", "BINARY", "nocase"];

#[derive(Arbitrary, Debug)]
pub struct Db {
    pub style: Style,
    pub statements: Vec<Ddl>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub struct Style {
    /// 0 upper, 1 lower, 2 mixed keywords
    pub case: u8,
    /// 0 one space, 1 newlines, 2 comments between words
    pub space: u8,
}

#[derive(Arbitrary, Debug)]
pub enum Name {
    Pool(u8),
    Raw(String),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Quote {
    Bare,
    Double,
    Bracket,
    Backtick,
    Single,
}

#[derive(Arbitrary, Debug)]
pub struct Ident {
    pub name: Name,
    pub quote: Quote,
}

#[derive(Arbitrary, Debug)]
pub enum Ddl {
    Table(TableDef),
    TableAs { name: Ident, from: u8, cols: Vec<u8> },
    Index(IndexDef),
    View(ViewDef),
    Trigger(TriggerDef),
    Virtual { name: Ident, cols: Vec<u8> },
    AddColumn { table: u8, col: ColDef },
    RenameColumn { table: u8, col: u8, to: Ident },
    DropColumn { table: u8, col: u8 },
    RenameTable { table: u8, to: Ident },
    Drop { kind: u8, which: u8 },
}

#[derive(Arbitrary, Debug)]
pub struct TableDef {
    pub if_not_exists: bool,
    pub name: Ident,
    pub cols: Vec<ColDef>,
    pub constraints: Vec<TableConstraint>,
    pub without_rowid: bool,
    pub strict: bool,
}

#[derive(Arbitrary, Debug)]
pub struct ColDef {
    pub name: Ident,
    pub ty: Option<Type>,
    pub constraints: Vec<ColConstraint>,
}

#[derive(Arbitrary, Debug)]
pub enum Type {
    Pool(u8),
    Raw(Ident),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Conflict {
    Rollback,
    Abort,
    Fail,
    Ignore,
    Replace,
}

#[derive(Arbitrary, Debug)]
pub struct ColConstraint {
    pub name: Option<Ident>,
    pub kind: ColKind,
}

#[derive(Arbitrary, Debug)]
pub enum ColKind {
    PrimaryKey { order: Option<bool>, conflict: Option<Conflict>, autoincrement: bool },
    NotNull(Option<Conflict>),
    Null,
    Unique(Option<Conflict>),
    Check(Expr),
    Default(DefaultValue),
    Collate(u8),
    References(Fk),
    Generated { expr: Expr, stored: Option<bool>, always: bool },
}

#[derive(Arbitrary, Debug)]
pub enum DefaultValue {
    Literal(Lit),
    Signed(bool, i64),
    Paren(Expr),
    Ident(Ident),
}

#[derive(Arbitrary, Debug)]
pub struct Fk {
    pub table: Option<u8>,
    pub cols: Vec<u8>,
    pub args: Vec<FkArg>,
    pub defer: Option<(bool, Option<bool>)>,
}

#[derive(Arbitrary, Debug)]
pub enum FkArg {
    OnDelete(u8),
    OnUpdate(u8),
    Match,
}

#[derive(Arbitrary, Debug)]
pub struct TableConstraint {
    pub name: Option<Ident>,
    pub kind: TableKind,
}

#[derive(Arbitrary, Debug)]
pub enum TableKind {
    PrimaryKey(Vec<Term>, Option<Conflict>, bool),
    Unique(Vec<Term>, Option<Conflict>),
    Check(Expr),
    ForeignKey(Vec<u8>, Fk),
}

#[derive(Arbitrary, Debug)]
pub struct Term {
    pub col: u8,
    pub expr: Option<Expr>,
    pub collate: Option<u8>,
    pub order: Option<bool>,
}

#[derive(Arbitrary, Debug)]
pub struct IndexDef {
    pub unique: bool,
    pub if_not_exists: bool,
    pub name: Ident,
    pub table: u8,
    pub terms: Vec<Term>,
    pub filter: Option<Expr>,
}

#[derive(Arbitrary, Debug)]
pub struct ViewDef {
    pub name: Ident,
    pub cols: Option<Vec<Ident>>,
    pub select: Select,
}

#[derive(Arbitrary, Debug)]
pub struct Select {
    pub distinct: bool,
    pub from: u8,
    pub from_view: bool,
    pub star: bool,
    pub cols: Vec<(Expr, Option<Ident>)>,
    pub filter: Option<Expr>,
    pub union: Option<Box<Select>>,
    pub limit: Option<u8>,
}

#[derive(Arbitrary, Debug)]
pub struct TriggerDef {
    pub name: Ident,
    pub timing: u8,
    pub event: u8,
    pub of: Vec<u8>,
    pub on: u8,
    pub on_view: bool,
    pub for_each_row: bool,
    pub when: Option<Expr>,
    pub body: Vec<TriggerStmt>,
}

#[derive(Arbitrary, Debug)]
pub enum TriggerStmt {
    Insert { table: u8, values: Vec<Expr> },
    Update { table: u8, col: u8, value: Expr, filter: Option<Expr> },
    Delete { table: u8, filter: Option<Expr> },
    Select(Expr),
    Raise(String),
}

#[derive(Arbitrary, Debug)]
pub enum Lit {
    Int(i64),
    Real(f64),
    Str(String),
    Blob(Vec<u8>),
    Null,
    True,
    False,
    Time(u8),
}

#[derive(Arbitrary, Debug)]
pub enum Expr {
    Col(u8),
    Qualified(u8),
    Lit(Lit),
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(Box<Expr>, u8, Box<Expr>),
    Func(u8, Vec<Expr>),
    Cast(Box<Expr>, Type),
    Case(Option<Box<Expr>>, Vec<(Expr, Expr)>, Option<Box<Expr>>),
    In(Box<Expr>, bool, Vec<Expr>),
    IsNull(Box<Expr>, bool),
    Between(Box<Expr>, Box<Expr>, Box<Expr>),
    Paren(Box<Expr>),
    Collate(Box<Expr>, u8),
    Like(Box<Expr>, Box<Expr>),
}

/// What a statement may refer to: tables and views declared so far, with their columns.
#[derive(Default)]
struct Scope {
    tables: Vec<(String, Vec<String>)>,
    views: Vec<(String, Vec<String>)>,
    indexes: Vec<String>,
    triggers: Vec<String>,
}

struct Out {
    style: Style,
    n: usize,
}

impl Out {
    fn kw(&mut self, k: &str) -> String {
        self.n += 1;
        match self.style.case % 3 {
            0 => k.to_ascii_uppercase(),
            1 => k.to_ascii_lowercase(),
            _ => k
                .chars()
                .enumerate()
                .map(|(i, c)| if (i + self.n) % 2 == 0 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
                .collect(),
        }
    }
    fn sp(&mut self) -> &'static str {
        self.n += 1;
        match (self.style.space % 3, self.n % 4) {
            (1, 0) => "\n  ",
            (2, 0) => " /* c */ ",
            (2, 1) => " -- c\n ",
            _ => " ",
        }
    }
    fn words(&mut self, words: &str) -> String {
        let parts: Vec<String> = words.split(' ').map(|w| self.kw(w)).collect();
        let mut s = String::new();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                s.push_str(self.sp());
            }
            s.push_str(p);
        }
        s
    }
}

fn raw_name(n: &Name, pool: &[&str]) -> String {
    let s = match n {
        Name::Pool(i) => pool[*i as usize % pool.len()].to_string(),
        Name::Raw(s) => s.chars().filter(|c| *c != '\0').take(12).collect(),
    };
    if s.is_empty() {
        "e".to_string()
    } else {
        s
    }
}

fn quoted(name: &str, quote: Quote) -> String {
    let plain = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !sql::is_keyword(name);
    match quote {
        Quote::Bare if plain => name.to_string(),
        Quote::Bracket if !name.contains(']') => format!("[{name}]"),
        Quote::Backtick => format!("`{}`", name.replace('`', "``")),
        Quote::Single => format!("'{}'", name.replace('\'', "''")),
        _ => sql::quote_ident(name),
    }
}

fn ident(i: &Ident, pool: &[&str]) -> (String, String) {
    let name = raw_name(&i.name, pool);
    let q = quoted(&name, i.quote);
    (name, q)
}

fn pick<T>(items: &[T], sel: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[sel as usize % items.len()])
}

fn conflict(o: &mut Out, c: Option<Conflict>) -> String {
    match c {
        None => String::new(),
        Some(c) => format!(
            " {}",
            o.words(&format!(
                "ON CONFLICT {}",
                match c {
                    Conflict::Rollback => "ROLLBACK",
                    Conflict::Abort => "ABORT",
                    Conflict::Fail => "FAIL",
                    Conflict::Ignore => "IGNORE",
                    Conflict::Replace => "REPLACE",
                }
            ))
        ),
    }
}

fn type_sql(t: &Type) -> String {
    match t {
        Type::Pool(i) => TYPES[*i as usize % TYPES.len()].to_string(),
        Type::Raw(i) => ident(i, TYPES).1,
    }
}

fn lit(o: &mut Out, l: &Lit) -> String {
    match l {
        Lit::Int(i) => i.to_string(),
        Lit::Real(f) => format!("{f:?}"),
        Lit::Str(s) => sql::quote_str(&s.chars().filter(|c| *c != '\0').take(8).collect::<String>()),
        Lit::Blob(b) => format!("x'{}'", b.iter().take(4).map(|b| format!("{b:02x}")).collect::<String>()),
        Lit::Null => o.kw("NULL"),
        Lit::True => o.kw("TRUE"),
        Lit::False => o.kw("FALSE"),
        Lit::Time(k) => o.kw(["CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME"][*k as usize % 3]),
    }
}

const OPS: &[&str] = &[
    "+", "-", "*", "/", "%", "||", "=", "==", "<>", "!=", "<", "<=", ">", ">=", "AND", "OR", "IS", "IS NOT", "&", "|",
    "<<", ">>",
];

fn expr(o: &mut Out, e: &Expr, cols: &[String], depth: u8) -> String {
    if depth > 4 {
        return "1".to_string();
    }
    let d = depth + 1;
    let col = |sel: u8| pick(cols, sel).map(|c| sql::quote_ident(c)).unwrap_or_else(|| "1".to_string());
    match e {
        Expr::Col(s) => col(*s),
        Expr::Qualified(s) => {
            pick(cols, *s).map(|c| format!("{}.{}", o.kw("new"), sql::quote_ident(c))).unwrap_or("1".into())
        }
        Expr::Lit(l) => lit(o, l),
        Expr::Neg(x) => format!("-{}", expr(o, x, cols, d)),
        Expr::Not(x) => format!("{} {}", o.kw("NOT"), expr(o, x, cols, d)),
        Expr::Bin(a, op, b) => {
            let a = expr(o, a, cols, d);
            let b = expr(o, b, cols, d);
            let op = o.words(OPS[*op as usize % OPS.len()]);
            let sp = o.sp();
            format!("({a}{sp}{op} {b})")
        }
        Expr::Func(f, args) => {
            let args: Vec<String> = args.iter().take(3).map(|a| expr(o, a, cols, d)).collect();
            let f = FUNCS[*f as usize % FUNCS.len()];
            let args = if args.is_empty() { vec!["1".to_string()] } else { args };
            format!("{}({})", o.kw(f), args.join(", "))
        }
        Expr::Cast(x, t) => format!("{}({} {} {})", o.kw("CAST"), expr(o, x, cols, d), o.kw("AS"), type_sql(t)),
        Expr::Case(base, arms, other) => {
            let mut s = o.kw("CASE");
            if let Some(b) = base {
                s.push_str(&format!(" {}", expr(o, b, cols, d)));
            }
            for (w, t) in arms.iter().take(3) {
                s.push_str(&format!(
                    " {} {} {} {}",
                    o.kw("WHEN"),
                    expr(o, w, cols, d),
                    o.kw("THEN"),
                    expr(o, t, cols, d)
                ));
            }
            if arms.is_empty() {
                s.push_str(&format!(" {} 1 {} 2", o.kw("WHEN"), o.kw("THEN")));
            }
            if let Some(x) = other {
                s.push_str(&format!(" {} {}", o.kw("ELSE"), expr(o, x, cols, d)));
            }
            format!("{s} {}", o.kw("END"))
        }
        Expr::In(x, not, items) => {
            let items: Vec<String> = items.iter().take(4).map(|i| expr(o, i, cols, d)).collect();
            let not = if *not { format!("{} ", o.kw("NOT")) } else { String::new() };
            format!("{} {not}{} ({})", expr(o, x, cols, d), o.kw("IN"), items.join(", "))
        }
        Expr::IsNull(x, not) => {
            format!("{} {}", expr(o, x, cols, d), if *not { o.words("IS NOT NULL") } else { o.kw("ISNULL") })
        }
        Expr::Between(x, a, b) => format!(
            "{} {} {} {} {}",
            expr(o, x, cols, d),
            o.kw("BETWEEN"),
            expr(o, a, cols, d),
            o.kw("AND"),
            expr(o, b, cols, d)
        ),
        Expr::Paren(x) => format!("({})", expr(o, x, cols, d)),
        Expr::Collate(x, c) => {
            format!("{} {} {}", expr(o, x, cols, d), o.kw("COLLATE"), COLLATIONS[*c as usize % COLLATIONS.len()])
        }
        Expr::Like(a, b) => format!("{} {} {}", expr(o, a, cols, d), o.kw("LIKE"), expr(o, b, cols, d)),
    }
}

fn fk_action(o: &mut Out, a: u8) -> String {
    o.words(["SET NULL", "SET DEFAULT", "CASCADE", "RESTRICT", "NO ACTION"][a as usize % 5])
}

fn fk(o: &mut Out, f: &Fk, scope: &Scope, own: &(String, Vec<String>)) -> String {
    let parent = f.table.and_then(|t| pick(&scope.tables, t)).unwrap_or(own);
    let mut s = format!("{} {}", o.kw("REFERENCES"), sql::quote_ident(&parent.0));
    let cols: Vec<String> =
        f.cols.iter().take(3).filter_map(|c| pick(&parent.1, *c)).map(|c| sql::quote_ident(c)).collect();
    if !cols.is_empty() {
        s.push_str(&format!(" ({})", cols.join(", ")));
    }
    for a in f.args.iter().take(3) {
        match a {
            FkArg::OnDelete(x) => s.push_str(&format!(" {} {}", o.words("ON DELETE"), fk_action(o, *x))),
            FkArg::OnUpdate(x) => s.push_str(&format!(" {} {}", o.words("ON UPDATE"), fk_action(o, *x))),
            FkArg::Match => s.push_str(&format!(" {} SIMPLE", o.kw("MATCH"))),
        }
    }
    if let Some((not, init)) = f.defer {
        s.push_str(&format!(" {}", o.words(if not { "NOT DEFERRABLE" } else { "DEFERRABLE" })));
        match init {
            Some(true) => s.push_str(&format!(" {}", o.words("INITIALLY DEFERRED"))),
            Some(false) => s.push_str(&format!(" {}", o.words("INITIALLY IMMEDIATE"))),
            None => {}
        }
    }
    s
}

fn constraint_name(o: &mut Out, n: &Option<Ident>) -> String {
    match n {
        Some(i) => format!("{} {} ", o.kw("CONSTRAINT"), ident(i, NAMES).1),
        None => String::new(),
    }
}

fn col_def(o: &mut Out, c: &ColDef, scope: &Scope, own: &(String, Vec<String>)) -> String {
    let mut s = ident(&c.name, COLUMNS).1;
    if let Some(t) = &c.ty {
        s.push_str(&format!(" {}", type_sql(t)));
    }
    for k in c.constraints.iter().take(4) {
        s.push(' ');
        s.push_str(&constraint_name(o, &k.name));
        let part = match &k.kind {
            ColKind::PrimaryKey { order, conflict: cf, autoincrement } => {
                let mut p = o.words("PRIMARY KEY");
                if let Some(desc) = order {
                    p.push_str(&format!(" {}", o.kw(if *desc { "DESC" } else { "ASC" })));
                }
                p.push_str(&conflict(o, *cf));
                if *autoincrement {
                    p.push_str(&format!(" {}", o.kw("AUTOINCREMENT")));
                }
                p
            }
            ColKind::NotNull(cf) => format!("{}{}", o.words("NOT NULL"), conflict(o, *cf)),
            ColKind::Null => o.kw("NULL"),
            ColKind::Unique(cf) => format!("{}{}", o.kw("UNIQUE"), conflict(o, *cf)),
            ColKind::Check(e) => format!("{} ({})", o.kw("CHECK"), expr(o, e, &own.1, 0)),
            ColKind::Default(d) => {
                let v = match d {
                    DefaultValue::Literal(l) => lit(o, l),
                    DefaultValue::Signed(neg, i) => format!("{}{}", if *neg { "-" } else { "+" }, i.unsigned_abs()),
                    DefaultValue::Paren(e) => format!("({})", expr(o, e, &[], 0)),
                    DefaultValue::Ident(i) => ident(i, NAMES).1,
                };
                format!("{} {v}", o.kw("DEFAULT"))
            }
            ColKind::Collate(c) => format!("{} {}", o.kw("COLLATE"), COLLATIONS[*c as usize % COLLATIONS.len()]),
            ColKind::References(f) => fk(o, f, scope, own),
            ColKind::Generated { expr: e, stored, always } => {
                let mut p = if *always { format!("{} ", o.words("GENERATED ALWAYS")) } else { String::new() };
                p.push_str(&format!("{} ({})", o.kw("AS"), expr(o, e, &own.1, 0)));
                match stored {
                    Some(true) => p.push_str(&format!(" {}", o.kw("STORED"))),
                    Some(false) => p.push_str(&format!(" {}", o.kw("VIRTUAL"))),
                    None => {}
                }
                p
            }
        };
        s.push_str(&part);
    }
    s
}

fn term(o: &mut Out, t: &Term, cols: &[String]) -> String {
    let mut s = match &t.expr {
        Some(e) => expr(o, e, cols, 2),
        None => pick(cols, t.col).map(|c| sql::quote_ident(c)).unwrap_or_else(|| "1".into()),
    };
    if let Some(c) = t.collate {
        s.push_str(&format!(" {} {}", o.kw("COLLATE"), COLLATIONS[c as usize % COLLATIONS.len()]));
    }
    if let Some(desc) = t.order {
        s.push_str(&format!(" {}", o.kw(if desc { "DESC" } else { "ASC" })));
    }
    s
}

fn select(o: &mut Out, s: &Select, scope: &Scope, depth: u8) -> Option<String> {
    let sources: &[(String, Vec<String>)] =
        if s.from_view && !scope.views.is_empty() { &scope.views } else { &scope.tables };
    let (from, cols) = pick(sources, s.from)?;
    let mut out = o.kw("SELECT");
    if s.distinct {
        out.push_str(&format!(" {}", o.kw("DISTINCT")));
    }
    let list: Vec<String> = if s.star || s.cols.is_empty() {
        vec!["*".into()]
    } else {
        s.cols
            .iter()
            .take(4)
            .map(|(e, alias)| {
                let e = expr(o, e, cols, 2);
                match alias {
                    Some(a) => format!("{e} {} {}", o.kw("AS"), ident(a, COLUMNS).1),
                    None => e,
                }
            })
            .collect()
    };
    out.push_str(&format!(" {} {} {}", list.join(", "), o.kw("FROM"), sql::quote_ident(from)));
    if let Some(f) = &s.filter {
        out.push_str(&format!(" {} {}", o.kw("WHERE"), expr(o, f, cols, 2)));
    }
    if let (Some(u), true) = (&s.union, depth < 2) {
        if let Some(other) = select(o, u, scope, depth + 1) {
            out.push_str(&format!(" {} {other}", o.words("UNION ALL")));
        }
    }
    if let Some(l) = s.limit {
        out.push_str(&format!(" {} {l}", o.kw("LIMIT")));
    }
    Some(out)
}

fn trigger_stmt(o: &mut Out, st: &TriggerStmt, scope: &Scope, cols: &[String]) -> Option<String> {
    Some(match st {
        TriggerStmt::Insert { table, values } => {
            let (t, tcols) = pick(&scope.tables, *table)?;
            let n = tcols.len().min(values.len()).max(1);
            let names: Vec<String> = tcols.iter().take(n).map(|c| sql::quote_ident(c)).collect();
            let vals: Vec<String> = (0..names.len())
                .map(|i| values.get(i).map(|v| expr(o, v, cols, 2)).unwrap_or_else(|| o.kw("NULL")))
                .collect();
            format!(
                "{} {} ({}) {} ({})",
                o.words("INSERT INTO"),
                sql::quote_ident(t),
                names.join(", "),
                o.kw("VALUES"),
                vals.join(", ")
            )
        }
        TriggerStmt::Update { table, col, value, filter } => {
            let (t, tcols) = pick(&scope.tables, *table)?;
            let c = pick(tcols, *col)?;
            let mut s = format!(
                "{} {} {} {} = {}",
                o.kw("UPDATE"),
                sql::quote_ident(t),
                o.kw("SET"),
                sql::quote_ident(c),
                expr(o, value, cols, 2)
            );
            if let Some(f) = filter {
                s.push_str(&format!(" {} {}", o.kw("WHERE"), expr(o, f, tcols, 2)));
            }
            s
        }
        TriggerStmt::Delete { table, filter } => {
            let (t, tcols) = pick(&scope.tables, *table)?;
            let mut s = format!("{} {}", o.words("DELETE FROM"), sql::quote_ident(t));
            if let Some(f) = filter {
                s.push_str(&format!(" {} {}", o.kw("WHERE"), expr(o, f, tcols, 2)));
            }
            s
        }
        TriggerStmt::Select(e) => format!("{} {}", o.kw("SELECT"), expr(o, e, cols, 2)),
        TriggerStmt::Raise(m) => format!(
            "{} {}(ABORT, {})",
            o.kw("SELECT"),
            o.kw("RAISE"),
            sql::quote_str(&m.chars().filter(|c| *c != '\0').take(8).collect::<String>())
        ),
    })
}

impl Db {
    /// The statements as SQL text, names resolved against what was declared before.
    pub fn render(&self) -> Vec<String> {
        let mut o = Out { style: self.style, n: 0 };
        let mut scope = Scope::default();
        let mut out = Vec::new();
        for st in self.statements.iter().take(24) {
            if let Some(s) = render_one(&mut o, st, &mut scope) {
                out.push(s);
            }
        }
        out
    }
}

fn render_one(o: &mut Out, st: &Ddl, scope: &mut Scope) -> Option<String> {
    Some(match st {
        Ddl::Table(t) => {
            let (name, q) = ident(&t.name, NAMES);
            let cols: Vec<String> = t.cols.iter().take(6).map(|c| ident(&c.name, COLUMNS).0).collect();
            let own = (name.clone(), cols.clone());
            let mut parts: Vec<String> = t.cols.iter().take(6).map(|c| col_def(o, c, scope, &own)).collect();
            if parts.is_empty() {
                parts.push("a".into());
            }
            for k in t.constraints.iter().take(3) {
                let n = constraint_name(o, &k.name);
                let body = match &k.kind {
                    TableKind::PrimaryKey(terms, cf, auto) => {
                        let ts: Vec<String> = terms.iter().take(3).map(|x| term(o, &copy_term(x), &cols)).collect();
                        let auto = if *auto { format!(" {}", o.kw("AUTOINCREMENT")) } else { String::new() };
                        format!("{} ({}{auto}){}", o.words("PRIMARY KEY"), nonempty(ts).join(", "), conflict(o, *cf))
                    }
                    TableKind::Unique(terms, cf) => {
                        let ts: Vec<String> = terms.iter().take(3).map(|x| term(o, &copy_term(x), &cols)).collect();
                        format!("{} ({}){}", o.kw("UNIQUE"), nonempty(ts).join(", "), conflict(o, *cf))
                    }
                    TableKind::Check(e) => format!("{} ({})", o.kw("CHECK"), expr(o, e, &cols, 0)),
                    TableKind::ForeignKey(cs, f) => {
                        let child: Vec<String> =
                            cs.iter().take(3).filter_map(|c| pick(&cols, *c)).map(|c| sql::quote_ident(c)).collect();
                        format!("{} ({}) {}", o.words("FOREIGN KEY"), nonempty(child).join(", "), fk(o, f, scope, &own))
                    }
                };
                parts.push(format!("{n}{body}"));
            }
            let mut options = Vec::new();
            if t.without_rowid {
                options.push(o.words("WITHOUT ROWID"));
            }
            if t.strict {
                options.push(o.kw("STRICT"));
            }
            let ine = if t.if_not_exists { format!("{} ", o.words("IF NOT EXISTS")) } else { String::new() };
            let sp = o.sp();
            scope.tables.push(own);
            format!(
                "{} {ine}{q} ({sp}{}) {}",
                o.words("CREATE TABLE"),
                parts.join(&format!(",{sp}")),
                options.join(", ")
            )
        }
        Ddl::TableAs { name, from, cols } => {
            let (src, src_cols) = pick(&scope.tables, *from)?.clone();
            let (name, q) = ident(name, NAMES);
            let picked: Vec<String> = cols.iter().take(3).filter_map(|c| pick(&src_cols, *c)).cloned().collect();
            let list = if picked.is_empty() {
                "*".to_string()
            } else {
                picked.iter().map(|c| sql::quote_ident(c)).collect::<Vec<_>>().join(", ")
            };
            scope.tables.push((name, if picked.is_empty() { src_cols } else { picked }));
            format!(
                "{} {q} {} {} {list} {} {}",
                o.words("CREATE TABLE"),
                o.kw("AS"),
                o.kw("SELECT"),
                o.kw("FROM"),
                sql::quote_ident(&src)
            )
        }
        Ddl::Index(i) => {
            let (t, cols) = pick(&scope.tables, i.table)?.clone();
            let (name, q) = ident(&i.name, NAMES);
            let ts: Vec<String> = i.terms.iter().take(3).map(|x| term(o, x, &cols)).collect();
            let mut s = format!(
                "{} {}{q} {} {} ({})",
                o.words(if i.unique { "CREATE UNIQUE INDEX" } else { "CREATE INDEX" }),
                if i.if_not_exists { format!("{} ", o.words("IF NOT EXISTS")) } else { String::new() },
                o.kw("ON"),
                sql::quote_ident(&t),
                nonempty(ts).join(", ")
            );
            if let Some(f) = &i.filter {
                s.push_str(&format!(" {} {}", o.kw("WHERE"), expr(o, f, &cols, 1)));
            }
            scope.indexes.push(name);
            s
        }
        Ddl::View(v) => {
            let (name, q) = ident(&v.name, NAMES);
            let body = select(o, &v.select, scope, 0)?;
            let list = match &v.cols {
                Some(cs) if !cs.is_empty() => {
                    let names: Vec<String> = cs.iter().take(4).map(|c| ident(c, COLUMNS).1).collect();
                    format!("({})", names.join(", "))
                }
                _ => String::new(),
            };
            let cols: Vec<String> = match &v.cols {
                Some(cs) if !cs.is_empty() => cs.iter().take(4).map(|c| ident(c, COLUMNS).0).collect(),
                _ => pick(&scope.tables, v.select.from).map(|t| t.1.clone()).unwrap_or_default(),
            };
            scope.views.push((name, cols));
            format!("{} {q}{list} {} {body}", o.words("CREATE VIEW"), o.kw("AS"))
        }
        Ddl::Trigger(t) => {
            let (name, q) = ident(&t.name, NAMES);
            let on_view = t.on_view && !scope.views.is_empty();
            let (target, cols) = if on_view { pick(&scope.views, t.on)? } else { pick(&scope.tables, t.on)? }.clone();
            let timing = if on_view {
                o.words("INSTEAD OF")
            } else {
                match t.timing % 3 {
                    0 => o.kw("BEFORE"),
                    1 => o.kw("AFTER"),
                    _ => String::new(),
                }
            };
            let event = match t.event % 4 {
                0 => o.kw("INSERT"),
                1 => o.kw("DELETE"),
                2 => o.kw("UPDATE"),
                _ => {
                    let of: Vec<String> =
                        t.of.iter().take(2).filter_map(|c| pick(&cols, *c)).map(|c| sql::quote_ident(c)).collect();
                    format!("{} {} {}", o.kw("UPDATE"), o.kw("OF"), nonempty(of).join(", "))
                }
            };
            let mut s = format!(
                "{} {q} {timing} {event} {} {}",
                o.words("CREATE TRIGGER"),
                o.kw("ON"),
                sql::quote_ident(&target)
            );
            if t.for_each_row {
                s.push_str(&format!(" {}", o.words("FOR EACH ROW")));
            }
            if let (Some(w), false) = (&t.when, t.event % 4 == 1) {
                s.push_str(&format!(" {} {}", o.kw("WHEN"), expr(o, w, &cols, 1)));
            }
            let body: Vec<String> = t.body.iter().take(3).filter_map(|b| trigger_stmt(o, b, scope, &cols)).collect();
            let body = if body.is_empty() { vec![format!("{} 1", o.kw("SELECT"))] } else { body };
            s.push_str(&format!(" {} {}; {}", o.kw("BEGIN"), body.join("; "), o.kw("END")));
            scope.triggers.push(name);
            s
        }
        Ddl::Virtual { name, cols } => {
            let (_, q) = ident(name, NAMES);
            let cs: Vec<String> =
                cols.iter().take(3).map(|c| COLUMNS[*c as usize % COLUMNS.len()]).map(sql::quote_ident).collect();
            format!("{} {q} {} fts5({})", o.words("CREATE VIRTUAL TABLE"), o.kw("USING"), nonempty(cs).join(", "))
        }
        Ddl::AddColumn { table, col } => {
            let i = *table as usize % scope.tables.len().max(1);
            let own = scope.tables.get(i)?.clone();
            let def = col_def(o, col, scope, &own);
            scope.tables[i].1.push(ident(&col.name, COLUMNS).0);
            format!("{} {} {} {def}", o.words("ALTER TABLE"), sql::quote_ident(&own.0), o.words("ADD COLUMN"))
        }
        Ddl::RenameColumn { table, col, to } => {
            let i = *table as usize % scope.tables.len().max(1);
            let (t, cols) = scope.tables.get(i)?.clone();
            let c = *col as usize % cols.len().max(1);
            let from = cols.get(c)?.clone();
            let (new, q) = ident(to, COLUMNS);
            scope.tables[i].1[c] = new;
            format!(
                "{} {} {} {} {} {q}",
                o.words("ALTER TABLE"),
                sql::quote_ident(&t),
                o.words("RENAME COLUMN"),
                sql::quote_ident(&from),
                o.kw("TO")
            )
        }
        Ddl::DropColumn { table, col } => {
            let (t, cols) = pick(&scope.tables, *table)?.clone();
            let c = pick(&cols, *col)?;
            format!(
                "{} {} {} {}",
                o.words("ALTER TABLE"),
                sql::quote_ident(&t),
                o.words("DROP COLUMN"),
                sql::quote_ident(c)
            )
        }
        Ddl::RenameTable { table, to } => {
            let i = *table as usize % scope.tables.len().max(1);
            let (t, _) = scope.tables.get(i)?.clone();
            let (new, q) = ident(to, NAMES);
            scope.tables[i].0 = new;
            format!("{} {} {} {q}", o.words("ALTER TABLE"), sql::quote_ident(&t), o.words("RENAME TO"))
        }
        Ddl::Drop { kind, which } => {
            let (what, names): (&str, Vec<String>) = match kind % 4 {
                0 => ("DROP TABLE", scope.tables.iter().map(|t| t.0.clone()).collect()),
                1 => ("DROP VIEW", scope.views.iter().map(|t| t.0.clone()).collect()),
                2 => ("DROP INDEX", scope.indexes.clone()),
                _ => ("DROP TRIGGER", scope.triggers.clone()),
            };
            let n = pick(&names, *which)?;
            format!("{} {}", o.words(what), sql::quote_ident(n))
        }
    })
}

fn copy_term(t: &Term) -> Term {
    Term { col: t.col, expr: None, collate: t.collate, order: t.order }
}

fn nonempty(v: Vec<String>) -> Vec<String> {
    if v.is_empty() {
        vec!["1".to_string()]
    } else {
        v
    }
}
