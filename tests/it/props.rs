//! Property tests: random schema pairs A → B over random rows, through the
//! scenario checks.
//!
//! A is a random schema (tables with random columns, types, keys, UNIQUE,
//! CHECKs, foreign keys, generated columns, indexes, views on views and
//! triggers); B is A after a few random mutations (columns and tables added,
//! dropped, renamed with a hint, retyped with `convert`, tightened to NOT NULL
//! with `backfill`, indexes swapped, keys, STRICT and WITHOUT ROWID toggled,
//! ...). A also holds what real databases hold: references to tables that no
//! longer exist, views whose WHERE calls a function only the application
//! registers (declared in the schema or not), and columns whose default
//! collation is spelled out or written in another case. A is built in a real
//! database file and filled with random rows that satisfy its constraints; then A → B is applied as an application does at
//! startup, without permission to lose data (refused, and nothing changed, or
//! run, and no stored value lost), then as `reconcile apply
//! --allow-destructive` does, and the scenario checks run: the schema
//! equals B, a second plan is empty, rows survive in every kept column,
//! integrity and foreign-key checks are clean, no trigger fired during the
//! migration, the AUTOINCREMENT high-water marks are kept, and the rollback
//! gives back A with its rows. A plan may also fail on the data (duplicates
//! into a new UNIQUE, a new CHECK the rows break): then the error must be a
//! data error and the database unchanged.
//!
//! Strategies generate plain values (vectors of table specs, of mutations)
//! and every cross reference is a selector taken modulo what exists, so
//! shrinking removes tables, columns, rows and mutations freely and a failure
//! ends as a small pair. The failure message holds the SQL of A with its rows
//! and the YAML of B: a scenario test in the making.
//!
//! `RECONCILE_PROPTEST_CASES` sets the number of cases (default below);
//! `PROPTEST_RNG_SEED` picks the seed (the default run uses a fixed one).
//! Failures are not persisted to a file (its seeds lose their meaning when
//! the strategies change): each one found is kept as a named `r5_*` scenario
//! test in `scenarios.rs`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};
use rusqlite::types::Value;
use rusqlite::Connection;
use sqlite_reconcile::apply::{ApplyError, Refusal};
use sqlite_reconcile::model::{
    self, Check, Conflict, Expr, FkAction, ForeignKey, Generated, Index, IndexedColumn, Key, References, SortOrder,
};
use sqlite_reconcile::sql::quote_ident;
use sqlite_reconcile::{load, normalize, to_yaml, Error};

use crate::harness::{Dir, Scenario};

/// Cases per run by default: about a minute on two cores in a debug build.
const DEFAULT_CASES: u32 = 1536;

/// The seed of the default run, so that `cargo test` checks the same cases
/// every time; `PROPTEST_RNG_SEED=<number>` picks others (the long runs do).
const DEFAULT_SEED: u64 = 20261121;

fn rng_seed() -> RngSeed {
    match std::env::var("PROPTEST_RNG_SEED").ok().and_then(|v| v.parse().ok()) {
        Some(seed) => RngSeed::Fixed(seed),
        None => RngSeed::Fixed(DEFAULT_SEED),
    }
}

fn cases() -> u32 {
    std::env::var("RECONCILE_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(DEFAULT_CASES)
}

// ---------------------------------------------------------------------------
// The spec: a schema as plain values, columns and tables known by stable ids.
// Strategies fill the id fields with selectors, resolved to ids when placed.

const TYPES: &[Option<&str>] = &[
    None,
    Some("INTEGER"),
    Some("INT"),
    Some("TEXT"),
    Some("REAL"),
    Some("BLOB"),
    Some("NUMERIC"),
    Some("VARCHAR(20)"),
    Some("BIGINT"),
    Some("DOUBLE"),
    Some("BOOLEAN"),
    Some("ANY"),
];

const COLLATIONS: &[&str] = &["NOCASE", "RTRIM", "BINARY"];

const TABLE_WORDS: &[&str] =
    &["order", "group", "select", "table", "index", "where", "values", "check", "key", "default"];
const COLUMN_WORDS: &[&str] =
    &["key", "order", "group", "default", "select", "from", "check", "primary", "value", "as"];

fn table_name(id: u8, style: u8) -> String {
    match style % 5 {
        0 => format!("t{id}"),
        1 => word_name(TABLE_WORDS, id),
        2 => format!("Tab {id}"),
        3 => format!("tä{id}"),
        _ => format!("t\"q'{id}"),
    }
}

fn column_name(id: u8, style: u8) -> String {
    match style % 5 {
        0 => format!("c{id}"),
        1 => word_name(COLUMN_WORDS, id),
        2 => format!("Col {id}"),
        3 => format!("cé{id}"),
        _ => format!("c\"q'{id}"),
    }
}

fn word_name(words: &[&str], id: u8) -> String {
    let w = words[id as usize % words.len()];
    if (id as usize) < words.len() {
        w.to_string()
    } else {
        format!("{w}{id}")
    }
}

#[derive(Debug, Clone, PartialEq)]
struct Col {
    id: u8,
    name: String,
    ty: Option<&'static str>,
    not_null: bool,
    /// ON CONFLICT of NOT NULL and UNIQUE.
    conflict: Option<Conflict>,
    /// Which default, rendered for the column's storage class.
    default: Option<u8>,
    collate: Option<&'static str>,
    unique: bool,
    /// (template, named)
    check: Option<(u8, bool)>,
    generated: Option<Gen>,
    // Hints, set on B from the comparison with A.
    renamed_from: Option<String>,
    convert: Option<String>,
    backfill: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct Gen {
    kind: u8,
    /// Column id (a selector before placement).
    source: u8,
    stored: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Pk {
    None,
    Col { col: u8, autoinc: bool, desc: bool },
    Table(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
struct Fk {
    /// Table id (a selector before placement).
    parent: u8,
    cols: Vec<u8>,
    /// Which candidate key of the parent; `None` references its primary key implicitly.
    key: Option<u8>,
    on_delete: Option<FkAction>,
    on_update: Option<FkAction>,
    deferred: bool,
    named: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Term {
    col: u8,
    /// 0: the bare column, else an expression template.
    kind: u8,
    collate: Option<&'static str>,
    desc: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
struct Idx {
    id: u8,
    name: String,
    terms: Vec<Term>,
    unique: bool,
    /// (template, column)
    filter: Option<(u8, u8)>,
    renamed_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct TCheck {
    kind: u8,
    a: u8,
    b: u8,
    named: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Tab {
    id: u8,
    name: String,
    cols: Vec<Col>,
    pk: Pk,
    without_rowid: bool,
    strict: bool,
    /// A table-level key's first column is DESC.
    pk_desc: bool,
    uniques: Vec<Vec<u8>>,
    checks: Vec<TCheck>,
    fks: Vec<Fk>,
    indexes: Vec<Idx>,
    /// Seeds of A's rows: (kind, number) per column position.
    rows: Vec<Vec<(u8, i8)>>,
    /// Delete the row with the highest rowid after filling (AUTOINCREMENT keeps its mark).
    delete_top: bool,
    /// A reference to a table that does not exist, as a table swap leaves behind: on the
    /// stored column this selects among those without a foreign key.
    dangling: Option<u8>,
    renamed_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Src {
    Table(u8),
    View(u8),
}

#[derive(Debug, Clone, PartialEq)]
struct ViewS {
    id: u8,
    /// `CREATE VIEW v(x0, x1, ...)`: the result columns named by the view.
    named: bool,
    src: Src,
    /// Selected outputs of the source (selectors), or `*`.
    cols: Option<Vec<u8>>,
    alias: bool,
    filter: bool,
    /// Its WHERE calls a function only the application registers ([`APP_FN`]): SQLite cannot
    /// prepare the view, nor any view that reads it, unless the schema declares the function.
    opaque: bool,
}

#[derive(Debug, Clone, PartialEq)]
struct Trig {
    id: u8,
    on: Src,
    /// 0 BEFORE, 1 AFTER (INSTEAD OF on views)
    timing: u8,
    /// 0 INSERT, 1 DELETE, 2 UPDATE, 3 UPDATE OF
    event: u8,
    col: u8,
    when: bool,
    /// 0 SELECT, 1 audit row, 2 no-op UPDATE of another table
    body: u8,
    other: u8,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Spec {
    tables: Vec<Tab>,
    /// FTS5 tables, by id.
    vtabs: Vec<u8>,
    views: Vec<ViewS>,
    triggers: Vec<Trig>,
}

const AUDIT: &str = "audit_log";

/// The application function opaque views call.
const APP_FN: &str = "app_visible";

// ---------------------------------------------------------------------------
// Storage classes: what values a column holds, and its literals.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Store {
    Int,
    Real,
    Text,
    Blob,
    Mixed,
}

fn affinity(ty: Option<&str>) -> &'static str {
    sqlite_reconcile::diff::affinity(ty)
}

fn store(ty: Option<&str>, strict: bool) -> Store {
    if strict && ty.is_some_and(|t| t.eq_ignore_ascii_case("ANY")) {
        return Store::Mixed;
    }
    match affinity(ty) {
        "INTEGER" | "NUMERIC" => Store::Int,
        "REAL" => Store::Real,
        "TEXT" => Store::Text,
        _ if strict => Store::Blob,
        _ => Store::Mixed,
    }
}

fn default_sql(seed: u8, s: Store) -> &'static str {
    let options: &[&str] = match s {
        Store::Int => &["0", "-1", "42", "NULL", "(abs(-3))"],
        Store::Real => &["1.5", "0.0", "-2.5", "NULL", "(1.0 / 4)"],
        Store::Text => &["'x'", "'QUEUED'", "CURRENT_TIMESTAMP", "NULL", "(lower('ABC'))"],
        Store::Blob => &["x'00'", "x'ABCD'", "NULL", "x''", "(zeroblob(2))"],
        Store::Mixed => &["0", "'a'", "x'00'", "NULL", "(abs(-3))"],
    };
    options[seed as usize % options.len()]
}

fn backfill_sql(s: Store) -> &'static str {
    match s {
        Store::Int => "7",
        Store::Real => "2.5",
        Store::Text => "'filled'",
        Store::Blob => "x'FF'",
        Store::Mixed => "0",
    }
}

fn value(seed: (u8, i8), s: Store) -> Value {
    let (k, n) = seed;
    if k % 10 == 0 {
        return Value::Null;
    }
    let s = match s {
        Store::Mixed => [Store::Int, Store::Real, Store::Text, Store::Blob][k as usize % 4],
        other => other,
    };
    match s {
        Store::Int => Value::Integer(n as i64),
        Store::Real => Value::Real(n as f64 + 0.5),
        Store::Text => Value::Text(match k % 3 {
            0 => format!("s{n}"),
            1 => format!("S{n}"),
            _ => format!("s{n} "),
        }),
        _ => Value::Blob(vec![n as u8, k]),
    }
}

// ---------------------------------------------------------------------------
// Strategies. Selectors are plain numbers, resolved when placed.

fn conflict_strategy() -> impl Strategy<Value = Option<Conflict>> {
    prop_oneof![
        4 => Just(None),
        1 => Just(Some(Conflict::Abort)),
        1 => Just(Some(Conflict::Replace)),
        1 => Just(Some(Conflict::Ignore)),
        1 => Just(Some(Conflict::Fail)),
        1 => Just(Some(Conflict::Rollback)),
    ]
}

fn action_strategy() -> impl Strategy<Value = Option<FkAction>> {
    prop_oneof![
        3 => Just(None),
        1 => Just(Some(FkAction::Cascade)),
        1 => Just(Some(FkAction::SetNull)),
        1 => Just(Some(FkAction::SetDefault)),
        1 => Just(Some(FkAction::Restrict)),
        1 => Just(Some(FkAction::NoAction)),
    ]
}

fn col_strategy() -> impl Strategy<Value = Col> {
    (
        0u8..5,
        0..TYPES.len(),
        prop::bool::weighted(0.3),
        conflict_strategy(),
        prop::option::weighted(0.3, 0u8..5),
        prop::option::weighted(0.2, prop::sample::select(COLLATIONS)),
        prop::bool::weighted(0.12),
        prop::option::weighted(0.2, (0u8..5, any::<bool>())),
        prop::option::weighted(0.12, (0u8..5, any::<u8>(), any::<bool>())),
    )
        .prop_map(|(style, ty, not_null, conflict, default, collate, unique, check, generated)| Col {
            id: style, // placeholder: placement gives the id and the name
            name: String::new(),
            ty: TYPES[ty],
            not_null,
            conflict,
            default,
            collate,
            unique,
            check,
            generated: generated.map(|(kind, source, stored)| Gen { kind, source, stored }),
            renamed_from: None,
            convert: None,
            backfill: None,
        })
}

fn pk_strategy() -> impl Strategy<Value = Pk> {
    prop_oneof![
        2 => Just(Pk::None),
        3 => (any::<u8>(), prop::bool::weighted(0.3), prop::bool::weighted(0.1))
            .prop_map(|(col, autoinc, desc)| Pk::Col { col, autoinc, desc }),
        2 => prop::collection::vec(any::<u8>(), 1..=3).prop_map(Pk::Table),
    ]
}

fn fk_strategy() -> impl Strategy<Value = Fk> {
    (
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 1..=2),
        prop::option::weighted(0.6, any::<u8>()),
        action_strategy(),
        action_strategy(),
        prop::bool::weighted(0.2),
        any::<bool>(),
    )
        .prop_map(|(parent, cols, key, on_delete, on_update, deferred, named)| Fk {
            parent,
            cols,
            key,
            on_delete,
            on_update,
            deferred,
            named,
        })
}

fn term_strategy() -> impl Strategy<Value = Term> {
    (
        any::<u8>(),
        prop_oneof![3 => Just(0u8), 1 => 1u8..5],
        prop::option::weighted(0.15, prop::sample::select(COLLATIONS)),
        prop::option::weighted(0.3, any::<bool>()),
    )
        .prop_map(|(col, kind, collate, desc)| Term { col, kind, collate, desc })
}

fn idx_strategy() -> impl Strategy<Value = Idx> {
    (
        prop::collection::vec(term_strategy(), 1..=3),
        prop::bool::weighted(0.25),
        prop::option::weighted(0.25, (0u8..2, any::<u8>())),
    )
        .prop_map(|(terms, unique, filter)| Idx {
            id: 0,
            name: String::new(),
            terms,
            unique,
            filter,
            renamed_from: None,
        })
}

fn tcheck_strategy() -> impl Strategy<Value = TCheck> {
    (0u8..3, any::<u8>(), any::<u8>(), any::<bool>()).prop_map(|(kind, a, b, named)| TCheck { kind, a, b, named })
}

fn row_strategy() -> impl Strategy<Value = Vec<(u8, i8)>> {
    prop::collection::vec((any::<u8>(), -5i8..40), 8)
}

fn table_strategy() -> impl Strategy<Value = Tab> {
    (
        (0u8..5, prop::collection::vec(col_strategy(), 1..=5), pk_strategy()),
        (prop::bool::weighted(0.2), prop::bool::weighted(0.25), prop::bool::weighted(0.2)),
        prop::collection::vec(prop::collection::vec(any::<u8>(), 1..=2), 0..=1),
        prop::collection::vec(tcheck_strategy(), 0..=1),
        prop::collection::vec(fk_strategy(), 0..=2),
        prop::collection::vec(idx_strategy(), 0..=2),
        prop::collection::vec(row_strategy(), 0..=6),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.15, any::<u8>()),
    )
        .prop_map(
            |(
                (style, cols, pk),
                (without_rowid, strict, pk_desc),
                uniques,
                checks,
                fks,
                indexes,
                rows,
                delete_top,
                dangling,
            )| {
                Tab {
                    id: style, // placeholder: placement gives the id and the name
                    name: String::new(),
                    cols,
                    pk,
                    without_rowid,
                    strict,
                    pk_desc,
                    uniques,
                    checks,
                    fks,
                    indexes,
                    rows,
                    delete_top,
                    dangling,
                    renamed_from: None,
                }
            },
        )
}

fn src_strategy() -> impl Strategy<Value = Src> {
    prop_oneof![2 => any::<u8>().prop_map(Src::Table), 1 => any::<u8>().prop_map(Src::View)]
}

fn view_strategy() -> impl Strategy<Value = ViewS> {
    (
        src_strategy(),
        prop::option::weighted(0.7, prop::collection::vec(any::<u8>(), 1..=3)),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_flat_map(|(src, cols, alias, filter, opaque)| {
            prop::bool::weighted(0.25).prop_map(move |named| ViewS {
                id: 0,
                named,
                src: src.clone(),
                cols: cols.clone(),
                alias,
                filter,
                opaque,
            })
        })
}

fn trig_strategy() -> impl Strategy<Value = Trig> {
    (prop_oneof![4 => any::<u8>().prop_map(Src::Table), 1 => any::<u8>().prop_map(Src::View)], 0u8..2, 0u8..4)
        .prop_flat_map(|(on, timing, event)| {
            (Just(on), Just(timing), Just(event), any::<u8>(), any::<bool>(), 0u8..3, any::<u8>())
        })
        .prop_map(|(on, timing, event, col, when, body, other)| Trig {
            id: 0,
            on,
            timing,
            event,
            col,
            when,
            body,
            other,
        })
}

/// One change from A to B; numbers select among what exists.
#[derive(Debug, Clone)]
enum Mut {
    AddColumn(u8, Col, u8),
    DropColumn(u8, u8),
    RenameColumn(u8, u8),
    ChangeType(u8, u8, u8),
    ToggleNotNull(u8, u8),
    ChangeDefault(u8, u8, Option<u8>),
    ChangeCollate(u8, u8, Option<&'static str>),
    ToggleUnique(u8, u8),
    SetColumnCheck(u8, u8, Option<(u8, bool)>),
    SetGenerated(u8, u8, u8, bool),
    ToggleGenerated(u8, u8, u8, u8, bool),
    SwapColumns(u8, u8, u8),
    AddTableCheck(u8, TCheck),
    DropTableCheck(u8, u8),
    AddIndex(u8, Idx),
    DropIndex(u8, u8),
    ChangeIndex(u8, u8, Idx),
    RenameIndex(u8, u8),
    ChangePk(u8, Pk),
    ToggleStrict(u8),
    ToggleWithoutRowid(u8),
    AddFk(u8, Fk),
    DropFk(u8, u8),
    ChangeFkActions(u8, u8, Option<FkAction>, Option<FkAction>, bool),
    AddTable(Tab),
    DropTable(u8),
    RenameTable(u8),
    AddView(ViewS),
    DropView(u8),
    ChangeView(u8, ViewS),
    AddTrigger(Trig),
    DropTrigger(u8),
    AddVirtualTable,
    DropVirtualTable(u8),
}

fn mut_strategy() -> impl Strategy<Value = Mut> {
    let b = any::<u8>;
    prop_oneof![
        3 => (b(), col_strategy(), b()).prop_map(|(t, c, p)| Mut::AddColumn(t, c, p)),
        3 => (b(), b()).prop_map(|(t, c)| Mut::DropColumn(t, c)),
        3 => (b(), b()).prop_map(|(t, c)| Mut::RenameColumn(t, c)),
        3 => (b(), b(), 0..TYPES.len() as u8).prop_map(|(t, c, y)| Mut::ChangeType(t, c, y)),
        3 => (b(), b()).prop_map(|(t, c)| Mut::ToggleNotNull(t, c)),
        2 => (b(), b(), prop::option::of(0u8..5)).prop_map(|(t, c, d)| Mut::ChangeDefault(t, c, d)),
        2 => (b(), b(), prop::option::of(prop::sample::select(COLLATIONS))).prop_map(|(t, c, x)| Mut::ChangeCollate(t, c, x)),
        2 => (b(), b()).prop_map(|(t, c)| Mut::ToggleUnique(t, c)),
        2 => (b(), b(), prop::option::of((0u8..5, any::<bool>()))).prop_map(|(t, c, k)| Mut::SetColumnCheck(t, c, k)),
        1 => (b(), b(), 0u8..5, any::<bool>()).prop_map(|(t, c, k, s)| Mut::SetGenerated(t, c, k, s)),
        2 => (b(), b(), b()).prop_map(|(t, x, y)| Mut::SwapColumns(t, x, y)),
        2 => (b(), tcheck_strategy()).prop_map(|(t, k)| Mut::AddTableCheck(t, k)),
        1 => (b(), b()).prop_map(|(t, k)| Mut::DropTableCheck(t, k)),
        2 => (b(), idx_strategy()).prop_map(|(t, i)| Mut::AddIndex(t, i)),
        2 => (b(), b()).prop_map(|(t, i)| Mut::DropIndex(t, i)),
        2 => (b(), b(), idx_strategy()).prop_map(|(t, k, i)| Mut::ChangeIndex(t, k, i)),
        1 => (b(), b()).prop_map(|(t, i)| Mut::RenameIndex(t, i)),
        2 => (b(), pk_strategy()).prop_map(|(t, p)| Mut::ChangePk(t, p)),
        2 => b().prop_map(Mut::ToggleStrict),
        2 => b().prop_map(Mut::ToggleWithoutRowid),
        2 => (b(), fk_strategy()).prop_map(|(t, f)| Mut::AddFk(t, f)),
        1 => (b(), b()).prop_map(|(t, f)| Mut::DropFk(t, f)),
        1 => (b(), b(), action_strategy(), action_strategy(), any::<bool>())
            .prop_map(|(t, f, d, u, x)| Mut::ChangeFkActions(t, f, d, u, x)),
        1 => table_strategy().prop_map(Mut::AddTable),
        2 => b().prop_map(Mut::DropTable),
        2 => b().prop_map(Mut::RenameTable),
        1 => view_strategy().prop_map(Mut::AddView),
        1 => b().prop_map(Mut::DropView),
        1 => (b(), view_strategy()).prop_map(|(k, v)| Mut::ChangeView(k, v)),
        1 => trig_strategy().prop_map(Mut::AddTrigger),
        1 => b().prop_map(Mut::DropTrigger),
        2 => (b(), b(), 0u8..5, b(), any::<bool>()).prop_map(|(t, c, k, src, st)| Mut::ToggleGenerated(t, c, k, src, st)),
        1 => Just(Mut::AddVirtualTable),
        1 => b().prop_map(Mut::DropVirtualTable),
    ]
}

/// One generated case: the raw A and the mutations that make B.
#[derive(Debug, Clone)]
struct Case {
    tables: Vec<Tab>,
    vtabs: usize,
    views: Vec<ViewS>,
    triggers: Vec<Trig>,
    muts: Vec<Mut>,
}

fn case_strategy() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(table_strategy(), 1..=4),
        prop::collection::vec(view_strategy(), 0..=3),
        prop::collection::vec(trig_strategy(), 0..=3),
        prop::collection::vec(mut_strategy(), 1..=8),
        prop_oneof![4 => Just(0usize), 1 => Just(1usize)],
    )
        .prop_map(|(tables, views, triggers, muts, vtabs)| Case { tables, vtabs, views, triggers, muts })
}

// ---------------------------------------------------------------------------
// Placement: selectors → ids, and a spec SQLite accepts.

fn pick<T>(items: &[T], sel: u8) -> Option<&T> {
    (!items.is_empty()).then(|| &items[sel as usize % items.len()])
}

/// The ids that objects made in B must not take: those of A (a dropped object's
/// id given to a new one would make the harness take the new one for the old).
#[derive(Debug, Clone, Copy, Default)]
struct Floor {
    tables: u8,
    cols: u8,
    indexes: u8,
    views: u8,
    triggers: u8,
    vtabs: u8,
}

fn next_id(ids: impl Iterator<Item = u8>, floor: u8) -> u8 {
    ids.map(|i| i + 1).max().unwrap_or(0).max(floor)
}

fn floor(a: Option<&Spec>, table: Option<u8>) -> Floor {
    let Some(a) = a else { return Floor::default() };
    let t = table.and_then(|id| a.tables.iter().find(|t| t.id == id));
    Floor {
        tables: next_id(a.tables.iter().map(|t| t.id), 0),
        cols: t.map(|t| next_id(t.cols.iter().map(|c| c.id), 0)).unwrap_or(0),
        indexes: t.map(|t| next_id(t.indexes.iter().map(|i| i.id), 0)).unwrap_or(0),
        views: next_id(a.views.iter().map(|v| v.id), 0),
        triggers: next_id(a.triggers.iter().map(|t| t.id), 0),
        vtabs: next_id(a.vtabs.iter().copied(), 0),
    }
}

/// A new column `c` (selectors inside) given the next id of `t`.
fn place_col(t: &Tab, mut c: Col, f: Floor) -> Col {
    let id = next_id(t.cols.iter().map(|c| c.id), f.cols);
    c.name = column_name(id, c.id);
    c.id = id;
    if let Some(g) = &mut c.generated {
        let stored: Vec<u8> = t.cols.iter().filter(|c| c.generated.is_none()).map(|c| c.id).collect();
        g.source = pick(&stored, g.source).copied().unwrap_or(u8::MAX);
    }
    c
}

fn place_terms(t: &Tab, terms: &mut [Term]) {
    for term in terms {
        term.col = pick(&t.cols, term.col).map(|c| c.id).unwrap_or(0);
    }
}

fn place_idx(t: &Tab, mut i: Idx, f: Floor) -> Idx {
    let id = next_id(t.indexes.iter().map(|i| i.id), f.indexes);
    i.id = id;
    i.name = format!("ix_{}_{id}", t.id);
    place_terms(t, &mut i.terms);
    if let Some((_, col)) = &mut i.filter {
        *col = pick(&t.cols, *col).map(|c| c.id).unwrap_or(0);
    }
    i
}

fn place_check(t: &Tab, mut k: TCheck) -> TCheck {
    k.a = pick(&t.cols, k.a).map(|c| c.id).unwrap_or(0);
    k.b = pick(&t.cols, k.b).map(|c| c.id).unwrap_or(0);
    k
}

fn place_pk(t: &Tab, pk: Pk) -> Pk {
    match pk {
        Pk::None => Pk::None,
        Pk::Col { col, autoinc, desc } => match pick(&t.cols, col) {
            Some(c) => Pk::Col { col: c.id, autoinc, desc },
            None => Pk::None,
        },
        Pk::Table(cols) => Pk::Table(cols.iter().filter_map(|s| pick(&t.cols, *s).map(|c| c.id)).collect()),
    }
}

fn place_fk(spec: &Spec, t: &Tab, mut f: Fk) -> Fk {
    // The parent may be the table itself (a self reference).
    let ids: Vec<u8> = spec.tables.iter().map(|t| t.id).chain(std::iter::once(t.id)).collect();
    f.parent = pick(&ids, f.parent).copied().unwrap_or(t.id);
    f.cols = f.cols.iter().filter_map(|s| pick(&t.cols, *s).map(|c| c.id)).collect();
    f
}

/// A new table (selectors inside) with the next table id of `spec`.
fn place_table(spec: &Spec, raw: Tab, f: Floor) -> Tab {
    let id = next_id(spec.tables.iter().map(|t| t.id), f.tables);
    let mut t = Tab {
        id,
        name: table_name(id, raw.id),
        cols: Vec::new(),
        pk: Pk::None,
        without_rowid: raw.without_rowid,
        strict: raw.strict,
        pk_desc: raw.pk_desc,
        uniques: Vec::new(),
        checks: Vec::new(),
        fks: Vec::new(),
        indexes: Vec::new(),
        rows: raw.rows,
        delete_top: raw.delete_top,
        dangling: raw.dangling,
        renamed_from: None,
    };
    for c in raw.cols {
        let c = place_col(&t, c, Floor::default());
        t.cols.push(c);
    }
    t.pk = place_pk(&t, raw.pk);
    t.uniques =
        raw.uniques.iter().map(|u| u.iter().filter_map(|s| pick(&t.cols, *s).map(|c| c.id)).collect()).collect();
    t.checks = raw.checks.into_iter().map(|k| place_check(&t, k)).collect();
    for i in raw.indexes {
        let i = place_idx(&t, i, Floor::default());
        t.indexes.push(i);
    }
    let mut with_self = spec.clone();
    with_self.tables.push(t.clone());
    t.fks = raw.fks.into_iter().map(|f| place_fk(&with_self, &t, f)).collect();
    t
}

fn place_view(spec: &Spec, mut v: ViewS, f: Floor) -> ViewS {
    v.id = next_id(spec.views.iter().map(|v| v.id), f.views);
    v.src = match v.src {
        Src::Table(s) => match pick(&spec.tables, s) {
            Some(t) => Src::Table(t.id),
            None => Src::Table(u8::MAX),
        },
        // Only views made before: no cycles.
        Src::View(s) => match pick(&spec.views, s) {
            Some(w) => Src::View(w.id),
            None => match spec.tables.first() {
                Some(t) => Src::Table(t.id),
                None => Src::Table(u8::MAX),
            },
        },
    };
    v
}

fn place_trigger(spec: &Spec, mut tr: Trig, f: Floor) -> Trig {
    tr.id = next_id(spec.triggers.iter().map(|t| t.id), f.triggers);
    tr.on = match tr.on {
        Src::View(s) if !spec.views.is_empty() => Src::View(pick(&spec.views, s).map(|v| v.id).unwrap_or(0)),
        Src::Table(s) | Src::View(s) => Src::Table(pick(&spec.tables, s).map(|t| t.id).unwrap_or(u8::MAX)),
    };
    tr.other = pick(&spec.tables, tr.other).map(|t| t.id).unwrap_or(u8::MAX);
    tr
}

fn place_case(case: &Case) -> Spec {
    let mut spec = Spec::default();
    for raw in &case.tables {
        let t = place_table(&spec, raw.clone(), Floor::default());
        spec.tables.push(t);
    }
    // Foreign keys may point at tables placed after them: place them again against all tables.
    let all = spec.clone();
    for (t, raw) in spec.tables.iter_mut().zip(&case.tables) {
        let t_now = t.clone();
        t.fks = raw.fks.iter().cloned().map(|f| place_fk(&all, &t_now, f)).collect();
    }
    for v in &case.views {
        let v = place_view(&spec, v.clone(), Floor::default());
        spec.views.push(v);
    }
    for tr in &case.triggers {
        let tr = place_trigger(&spec, tr.clone(), Floor::default());
        spec.triggers.push(tr);
    }
    spec.vtabs = (0..case.vtabs as u8).collect();
    sanitize(&mut spec);
    spec
}

fn is_stored(c: &Col) -> bool {
    c.generated.is_none()
}

fn strict_type(ty: Option<&'static str>) -> &'static str {
    match ty {
        Some(t) if ["INT", "INTEGER", "REAL", "TEXT", "BLOB", "ANY"].contains(&t) => t,
        _ => match affinity(ty) {
            "INTEGER" => "INTEGER",
            "TEXT" => "TEXT",
            "REAL" => "REAL",
            _ => "ANY",
        },
    }
}

/// The candidate keys of a table a foreign key may reference: the primary key, then UNIQUE ones.
fn candidate_keys(t: &Tab) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let pk = pk_cols(t);
    if !pk.is_empty() {
        out.push(pk);
    }
    for c in &t.cols {
        if c.unique && is_stored(c) {
            out.push(vec![c.id]);
        }
    }
    for u in &t.uniques {
        out.push(u.clone());
    }
    out
}

fn pk_cols(t: &Tab) -> Vec<u8> {
    match &t.pk {
        Pk::None => Vec::new(),
        Pk::Col { col, .. } => vec![*col],
        Pk::Table(cols) => cols.clone(),
    }
}

fn col(t: &Tab, id: u8) -> Option<&Col> {
    t.cols.iter().find(|c| c.id == id)
}

/// Makes a spec valid for SQLite; every rule keeps what it can.
fn sanitize(spec: &mut Spec) {
    for t in &mut spec.tables {
        sanitize_columns(t);
    }
    for t in &mut spec.tables {
        sanitize_keys(t);
    }
    let keyed = spec.tables.clone();
    for t in &mut spec.tables {
        let own = t.clone();
        t.fks.retain_mut(|f| sanitize_fk(&keyed, &own, f));
    }
    // Views: the source must exist (views only on earlier views).
    let mut kept: Vec<ViewS> = Vec::new();
    for v in &spec.views {
        let ok = match v.src {
            Src::Table(id) => spec.tables.iter().any(|t| t.id == id),
            Src::View(id) => kept.iter().any(|w| w.id == id),
        };
        if ok {
            kept.push(v.clone());
        }
    }
    spec.views = kept;
    let views = spec.views.clone();
    spec.triggers.retain(|tr| match tr.on {
        Src::Table(id) => spec.tables.iter().any(|t| t.id == id),
        Src::View(id) => views.iter().any(|v| v.id == id),
    });
}

fn sanitize_columns(t: &mut Tab) {
    // Unique names, case-insensitively as SQLite has them.
    let mut seen: Vec<String> = Vec::new();
    for c in &mut t.cols {
        while seen.contains(&c.name.to_lowercase()) {
            c.name = format!("{}_{}", c.name, c.id);
        }
        seen.push(c.name.to_lowercase());
    }
    if !t.cols.iter().any(is_stored) {
        t.cols[0].generated = None;
    }
    let stored: Vec<u8> = t.cols.iter().filter(|c| is_stored(c)).map(|c| c.id).collect();
    for c in &mut t.cols {
        if let Some(g) = &mut c.generated {
            if !stored.contains(&g.source) {
                g.source = stored[0];
            }
            c.not_null = false;
            c.default = None;
            c.unique = false;
            c.conflict = None;
            c.check = None;
        }
        if t.strict {
            c.ty = Some(strict_type(c.ty));
        }
        if c.not_null && c.conflict.is_some() && c.default.is_none() && c.conflict == Some(Conflict::Replace) {
            // NOT NULL ON CONFLICT REPLACE without a default would fail anyway; keep it simple.
            c.conflict = Some(Conflict::Abort);
        }
    }
}

fn sanitize_keys(t: &mut Tab) {
    let stored = |t: &Tab, id: u8| col(t, id).is_some_and(is_stored);
    t.pk = match std::mem::replace(&mut t.pk, Pk::None) {
        Pk::Col { col: c, autoinc, desc } if stored(t, c) => {
            let integer = col(t, c).is_some_and(|c| c.ty == Some("INTEGER"));
            Pk::Col { col: c, autoinc: autoinc && integer && !desc && !t.without_rowid, desc }
        }
        Pk::Table(cols) => {
            let mut uniq: Vec<u8> = Vec::new();
            for c in cols {
                if stored(t, c) && !uniq.contains(&c) {
                    uniq.push(c);
                }
            }
            if uniq.is_empty() {
                Pk::None
            } else {
                Pk::Table(uniq)
            }
        }
        _ => Pk::None,
    };
    if t.pk == Pk::None {
        t.without_rowid = false;
    }
    let ids: Vec<u8> = t.cols.iter().map(|c| c.id).collect();
    let first = ids[0];
    let mut uniques: Vec<Vec<u8>> = Vec::new();
    for u in std::mem::take(&mut t.uniques) {
        let mut cols: Vec<u8> = Vec::new();
        for c in u {
            if stored(t, c) && !cols.contains(&c) {
                cols.push(c);
            }
        }
        if !cols.is_empty() && !uniques.contains(&cols) {
            uniques.push(cols);
        }
    }
    t.uniques = uniques;
    for k in &mut t.checks {
        if !ids.contains(&k.a) {
            k.a = first;
        }
        if !ids.contains(&k.b) {
            k.b = first;
        }
    }
    let mut names: Vec<String> = Vec::new();
    t.indexes.retain_mut(|i| {
        let mut terms: Vec<Term> = Vec::new();
        for mut term in std::mem::take(&mut i.terms) {
            if !ids.contains(&term.col) {
                term.col = first;
            }
            if !terms.iter().any(|x| x.col == term.col && x.kind == term.kind) {
                terms.push(term);
            }
        }
        i.terms = terms;
        if let Some((_, c)) = &mut i.filter {
            if !ids.contains(c) {
                *c = first;
            }
        }
        let fresh = !names.contains(&i.name);
        names.push(i.name.clone());
        fresh && !i.terms.is_empty()
    });
}

fn sanitize_fk(tables: &[Tab], own: &Tab, f: &mut Fk) -> bool {
    let Some(parent) = tables.iter().find(|t| t.id == f.parent) else { return false };
    let keys = candidate_keys(parent);
    let Some(key) = (match f.key {
        None => (!pk_cols(parent).is_empty()).then(|| pk_cols(parent)),
        Some(s) => pick(&keys, s).cloned(),
    }) else {
        return false;
    };
    let mut cols: Vec<u8> = Vec::new();
    for c in f.cols.iter().copied().chain(own.cols.iter().map(|c| c.id)) {
        if cols.len() == key.len() {
            break;
        }
        if col(own, c).is_some_and(is_stored) && !cols.contains(&c) {
            cols.push(c);
        }
    }
    if cols.len() != key.len() {
        return false;
    }
    f.cols = cols;
    if f.key.is_some() {
        // Keep the key it resolved to, by its position among the parent's keys.
        f.key = keys.iter().position(|k| *k == key).map(|p| p as u8);
    }
    true
}

// ---------------------------------------------------------------------------
// Mutations: A → B.

fn table_mut(spec: &mut Spec, sel: u8) -> Option<&mut Tab> {
    if spec.tables.is_empty() {
        return None;
    }
    let n = spec.tables.len();
    Some(&mut spec.tables[sel as usize % n])
}

fn col_mut(t: &mut Tab, sel: u8) -> &mut Col {
    let n = t.cols.len();
    &mut t.cols[sel as usize % n]
}

/// Whether a column is in the key of a table that is WITHOUT ROWID in A: its rows
/// are found by that key, so it is neither dropped nor retyped.
fn protected(a: &Spec, t: &Tab, sel: u8) -> bool {
    let c = t.cols[sel as usize % t.cols.len()].id;
    a.tables.iter().any(|o| o.id == t.id && o.without_rowid && pk_cols(o).contains(&c))
}

fn mutate(a: &Spec, spec: &mut Spec, m: &Mut) {
    match m.clone() {
        Mut::AddColumn(t, c, pos) => {
            if let Some(t) = table_mut(spec, t) {
                let c = place_col(t, c, floor(Some(a), Some(t.id)));
                let at = pos as usize % (t.cols.len() + 1);
                t.cols.insert(at, c);
            }
        }
        Mut::DropColumn(t, c) => {
            if let Some(t) = table_mut(spec, t) {
                if t.cols.len() > 1 && !protected(a, t, c) {
                    let at = c as usize % t.cols.len();
                    t.cols.remove(at);
                }
            }
        }
        Mut::RenameColumn(t, c) => {
            if let Some(t) = table_mut(spec, t) {
                let c = col_mut(t, c);
                c.name = format!("{}_r", c.name);
            }
        }
        Mut::ChangeType(t, c, y) => {
            if let Some(t) = table_mut(spec, t) {
                if protected(a, t, c) {
                    return;
                }
                let c = col_mut(t, c);
                if c.generated.is_none() {
                    c.ty = TYPES[y as usize % TYPES.len()];
                }
            }
        }
        Mut::ToggleNotNull(t, c) => {
            if let Some(t) = table_mut(spec, t) {
                let c = col_mut(t, c);
                c.not_null = !c.not_null;
            }
        }
        Mut::ChangeDefault(t, c, d) => {
            if let Some(t) = table_mut(spec, t) {
                col_mut(t, c).default = d;
            }
        }
        Mut::ChangeCollate(t, c, x) => {
            if let Some(t) = table_mut(spec, t) {
                col_mut(t, c).collate = x;
            }
        }
        Mut::ToggleUnique(t, c) => {
            if let Some(t) = table_mut(spec, t) {
                let c = col_mut(t, c);
                c.unique = !c.unique;
            }
        }
        Mut::SetColumnCheck(t, c, k) => {
            if let Some(t) = table_mut(spec, t) {
                col_mut(t, c).check = k;
            }
        }
        Mut::SetGenerated(t, c, kind, stored) => {
            if let Some(t) = table_mut(spec, t) {
                if let Some(g) = &mut col_mut(t, c).generated {
                    g.kind = kind;
                    g.stored = stored;
                }
            }
        }
        Mut::SwapColumns(t, a, b) => {
            if let Some(t) = table_mut(spec, t) {
                let n = t.cols.len();
                t.cols.swap(a as usize % n, b as usize % n);
            }
        }
        Mut::AddTableCheck(t, k) => {
            if let Some(t) = table_mut(spec, t) {
                let k = place_check(t, k);
                t.checks.push(k);
            }
        }
        Mut::DropTableCheck(t, k) => {
            if let Some(t) = table_mut(spec, t) {
                if !t.checks.is_empty() {
                    let at = k as usize % t.checks.len();
                    t.checks.remove(at);
                }
            }
        }
        Mut::AddIndex(t, i) => {
            if let Some(t) = table_mut(spec, t) {
                let i = place_idx(t, i, floor(Some(a), Some(t.id)));
                t.indexes.push(i);
            }
        }
        Mut::DropIndex(t, i) => {
            if let Some(t) = table_mut(spec, t) {
                if !t.indexes.is_empty() {
                    let at = i as usize % t.indexes.len();
                    t.indexes.remove(at);
                }
            }
        }
        Mut::ChangeIndex(t, k, i) => {
            if let Some(t) = table_mut(spec, t) {
                if !t.indexes.is_empty() {
                    let at = k as usize % t.indexes.len();
                    let mut i = i;
                    place_terms(t, &mut i.terms);
                    if let Some((_, col)) = &mut i.filter {
                        *col = pick(&t.cols, *col).map(|c| c.id).unwrap_or(0);
                    }
                    let old = &mut t.indexes[at];
                    old.terms = i.terms;
                    old.unique = i.unique;
                    old.filter = i.filter;
                }
            }
        }
        Mut::RenameIndex(t, i) => {
            if let Some(t) = table_mut(spec, t) {
                if !t.indexes.is_empty() {
                    let at = i as usize % t.indexes.len();
                    t.indexes[at].name.push_str("_r");
                }
            }
        }
        Mut::ChangePk(t, pk) => {
            if let Some(t) = table_mut(spec, t) {
                // A WITHOUT ROWID table keeps its key: its rows are found by it.
                if !t.without_rowid {
                    t.pk = place_pk(t, pk);
                }
            }
        }
        Mut::ToggleStrict(t) => {
            if let Some(t) = table_mut(spec, t) {
                t.strict = !t.strict;
                if !t.strict {
                    // ANY outside STRICT has NUMERIC affinity; untyped keeps the values as they are.
                    for c in &mut t.cols {
                        if c.ty == Some("ANY") {
                            c.ty = None;
                        }
                    }
                }
            }
        }
        Mut::ToggleWithoutRowid(t) => {
            if let Some(t) = table_mut(spec, t) {
                // Only over an existing key: rows are matched by it across the change.
                if t.pk != Pk::None {
                    t.without_rowid = !t.without_rowid;
                    if let Pk::Col { autoinc, .. } = &mut t.pk {
                        *autoinc = false;
                    }
                }
            }
        }
        Mut::AddFk(t, f) => {
            let Some(at) = (!spec.tables.is_empty()).then(|| t as usize % spec.tables.len()) else { return };
            let own = spec.tables[at].clone();
            let f = place_fk(spec, &own, f);
            spec.tables[at].fks.push(f);
        }
        Mut::DropFk(t, f) => {
            if let Some(t) = table_mut(spec, t) {
                if !t.fks.is_empty() {
                    let at = f as usize % t.fks.len();
                    t.fks.remove(at);
                }
            }
        }
        Mut::ChangeFkActions(t, f, d, u, x) => {
            if let Some(t) = table_mut(spec, t) {
                if !t.fks.is_empty() {
                    let n = t.fks.len();
                    let fk = &mut t.fks[f as usize % n];
                    fk.on_delete = d;
                    fk.on_update = u;
                    fk.deferred = x;
                }
            }
        }
        Mut::AddTable(raw) => {
            let f = floor(Some(a), None);
            let mut t = place_table(spec, raw, f);
            t.rows.clear();
            spec.tables.push(t);
        }
        Mut::DropTable(t) => {
            if spec.tables.len() > 1 {
                let at = t as usize % spec.tables.len();
                spec.tables.remove(at);
            }
        }
        Mut::RenameTable(t) => {
            if let Some(t) = table_mut(spec, t) {
                t.name.push_str("_r");
            }
        }
        Mut::AddView(v) => {
            let v = place_view(spec, v, floor(Some(a), None));
            spec.views.push(v);
        }
        Mut::DropView(k) => {
            if !spec.views.is_empty() {
                let at = k as usize % spec.views.len();
                spec.views.remove(at);
            }
        }
        Mut::ChangeView(k, v) => {
            if !spec.views.is_empty() {
                let at = k as usize % spec.views.len();
                // Only views made before it, as a source.
                let before = Spec { views: spec.views[..at].to_vec(), ..spec.clone() };
                let mut v = place_view(&before, v, Floor::default());
                v.id = spec.views[at].id;
                spec.views[at] = v;
            }
        }
        Mut::AddTrigger(tr) => {
            let tr = place_trigger(spec, tr, floor(Some(a), None));
            spec.triggers.push(tr);
        }
        Mut::ToggleGenerated(t, c, kind, source, stored) => {
            if let Some(t) = table_mut(spec, t) {
                if protected(a, t, c) {
                    return;
                }
                let at = c as usize % t.cols.len();
                let id = t.cols[at].id;
                let others: Vec<u8> = t.cols.iter().filter(|x| is_stored(x) && x.id != id).map(|x| x.id).collect();
                let c = &mut t.cols[at];
                if c.generated.is_some() {
                    c.generated = None;
                } else if let Some(src) = pick(&others, source) {
                    c.generated = Some(Gen { kind, source: *src, stored });
                }
            }
        }
        Mut::AddVirtualTable => {
            let id = next_id(spec.vtabs.iter().copied(), floor(Some(a), None).vtabs);
            spec.vtabs.push(id);
        }
        Mut::DropVirtualTable(k) => {
            if !spec.vtabs.is_empty() {
                let at = k as usize % spec.vtabs.len();
                spec.vtabs.remove(at);
            }
        }
        Mut::DropTrigger(k) => {
            if !spec.triggers.is_empty() {
                let at = k as usize % spec.triggers.len();
                spec.triggers.remove(at);
            }
        }
    }
}

fn needs_convert(old: Store, new: Store) -> bool {
    old != new && new != Store::Mixed
}

/// The column that is the rowid (an INTEGER PRIMARY KEY).
fn rowid_alias(t: &Tab) -> Option<u8> {
    let integer = |id: u8| col(t, id).is_some_and(|c| c.ty == Some("INTEGER"));
    match &t.pk {
        _ if t.without_rowid => None,
        Pk::Col { col, desc: false, .. } if integer(*col) => Some(*col),
        Pk::Table(cols) if cols.len() == 1 && integer(cols[0]) => Some(cols[0]),
        _ => None,
    }
}

/// Keeps rows findable across A → B: a table that becomes WITHOUT ROWID keeps
/// its old key with its values, and no column becomes the rowid of a table
/// that had another one (its values would renumber the rows).
fn fix_keys(a: &Spec, b: &mut Spec) {
    for t in &mut b.tables {
        let Some(old) = a.tables.iter().find(|x| x.id == t.id) else { continue };
        if !old.without_rowid && t.without_rowid {
            // Rowids that are not a column do not survive WITHOUT ROWID and back (a documented
            // limitation): only a table whose rowid is its INTEGER PRIMARY KEY makes the round trip.
            let key = pk_cols(old);
            let kept = rowid_alias(old).is_some()
                && !key.is_empty()
                && key.iter().all(|id| match (col(old, *id), col(t, *id)) {
                    (Some(o), Some(n)) => !needs_convert(store(o.ty, old.strict), store(n.ty, t.strict)),
                    _ => false,
                });
            if !kept {
                t.without_rowid = false;
            }
        }
        if !old.without_rowid && !t.without_rowid {
            if let Some(x) = rowid_alias(t).filter(|x| rowid_alias(old) != Some(*x)) {
                if let Some(c) = t.cols.iter_mut().find(|c| c.id == x) {
                    c.ty = Some("INT");
                }
            }
        }
    }
}

/// B from A: the mutations, then the hints that say how to get there (renames,
/// `convert` where a column's values change class, `backfill` where NOT NULL is new).
fn derive_b(a: &Spec, muts: &[Mut]) -> Spec {
    let mut b = a.clone();
    for m in muts {
        mutate(a, &mut b, m);
        sanitize(&mut b);
    }
    fix_keys(a, &mut b);
    sanitize(&mut b);
    for t in &mut b.tables {
        t.rows.clear();
        let old_t = a.tables.iter().find(|x| x.id == t.id);
        t.renamed_from = old_t.filter(|o| o.name != t.name).map(|o| o.name.clone());
        for i in &mut t.indexes {
            let old_i = old_t.and_then(|o| o.indexes.iter().find(|x| x.id == i.id));
            i.renamed_from = old_i.filter(|o| o.name != i.name).map(|o| o.name.clone());
        }
        let strict = t.strict;
        for c in &mut t.cols {
            let old_c = old_t.and_then(|o| col(o, c.id).map(|c| (c, o.strict)));
            c.renamed_from = old_c.filter(|(o, _)| o.name != c.name).map(|(o, _)| o.name.clone());
            let new_store = store(c.ty, strict);
            match old_c {
                Some((o, old_strict)) if c.generated.is_none() => {
                    let old_store = store(o.ty, old_strict);
                    if needs_convert(old_store, new_store) {
                        let target = match new_store {
                            Store::Int => "INTEGER",
                            Store::Real => "REAL",
                            Store::Text => "TEXT",
                            _ => "BLOB",
                        };
                        c.convert = Some(format!("CAST({} AS {target})", quote_ident(&o.name)));
                    }
                    if c.not_null && !o.not_null {
                        c.backfill = Some(backfill_sql(new_store).to_string());
                    }
                }
                Some(_) => {}
                None => {
                    if c.not_null && c.generated.is_none() && c.default.is_none() {
                        c.backfill = Some(backfill_sql(new_store).to_string());
                    }
                }
            }
        }
    }
    b
}

// ---------------------------------------------------------------------------
// Rendering: spec → model (→ YAML → load, as a user's schema goes).

fn q(name: &str) -> String {
    quote_ident(name)
}

fn col_check_sql(kind: u8, c: &str) -> String {
    match kind % 5 {
        0 => format!("length({c}) < 40"),
        1 => format!("{c} IS NULL OR {c} <> 'forbidden'"),
        2 => format!("typeof({c}) <> 'blob'"),
        3 => format!("{c} IS NULL OR {c} >= 0"),
        _ => format!("{c} IN (1, 2, 3) OR {c} IS NULL OR 1"),
    }
}

fn table_check_sql(kind: u8, a: &str, b: &str) -> String {
    match kind % 3 {
        0 => format!("{a} IS NULL OR {b} IS NULL OR {a} <> {b} OR 1"),
        1 => format!("coalesce(length({a}), 0) + coalesce(length({b}), 0) < 90"),
        _ => format!("{a} IS NOT 'forbidden' AND {b} IS NOT 'forbidden'"),
    }
}

fn gen_sql(kind: u8, s: &str) -> String {
    match kind % 5 {
        0 => format!("{s} * 2"),
        1 => format!("upper({s})"),
        2 => format!("length({s})"),
        3 => format!("coalesce({s}, 0) + 1"),
        _ => format!("{s} || '!'"),
    }
}

fn term_expr_sql(kind: u8, c: &str) -> String {
    match kind % 5 {
        0 => c.to_string(),
        1 => format!("lower({c})"),
        2 => format!("{c} + 1"),
        3 => format!("abs({c})"),
        _ => format!("length({c})"),
    }
}

fn filter_sql(kind: u8, c: &str) -> String {
    match kind % 2 {
        0 => format!("{c} IS NOT NULL"),
        _ => format!("{c} > 0"),
    }
}

fn cname(t: &Tab, id: u8) -> String {
    col(t, id).map(|c| c.name.clone()).unwrap_or_default()
}

fn to_column(t: &Tab, c: &Col) -> model::Column {
    let pk = match &t.pk {
        Pk::Col { col, autoinc, desc } if *col == c.id => Some((*autoinc, *desc)),
        _ => None,
    };
    let s = store(c.ty, t.strict);
    model::Column {
        name: c.name.clone(),
        ty: c.ty.map(str::to_string),
        primary_key: pk.is_some(),
        primary_key_order: pk.and_then(|(_, desc)| desc.then_some(SortOrder::Desc)),
        primary_key_on_conflict: None,
        autoincrement: pk.is_some_and(|(a, _)| a),
        not_null: c.not_null,
        not_null_on_conflict: if c.not_null { c.conflict } else { None },
        unique: c.unique,
        unique_on_conflict: if c.unique { c.conflict } else { None },
        default: c.default.map(|d| Expr::new(default_sql(d, s))),
        collate: c.collate.map(str::to_string),
        checks: c
            .check
            .map(|(kind, named)| Check {
                name: named.then(|| format!("ck_{}", c.id)),
                expr: Expr::new(col_check_sql(kind, &q(&c.name))),
            })
            .into_iter()
            .collect(),
        references: None,
        generated: c
            .generated
            .as_ref()
            .map(|g| Generated { expr: Expr::new(gen_sql(g.kind, &q(&cname(t, g.source)))), stored: g.stored }),
        renamed_from: c.renamed_from.clone(),
        convert: c.convert.as_deref().map(Expr::new),
        backfill: c.backfill.as_deref().map(Expr::new),
    }
}

fn fk_parent_cols(spec: &Spec, f: &Fk) -> (String, Vec<String>, Vec<u8>) {
    let Some(parent) = spec.tables.iter().find(|t| t.id == f.parent) else { return (String::new(), vec![], vec![]) };
    let key = match f.key {
        None => pk_cols(parent),
        Some(k) => candidate_keys(parent).get(k as usize).cloned().unwrap_or_default(),
    };
    let names = if f.key.is_some() { key.iter().map(|id| cname(parent, *id)).collect() } else { Vec::new() };
    (parent.name.clone(), names, key)
}

fn to_table(spec: &Spec, t: &Tab) -> model::Table {
    let mut columns: Vec<model::Column> = t.cols.iter().map(|c| to_column(t, c)).collect();
    let mut foreign_keys = Vec::new();
    for (k, f) in t.fks.iter().enumerate() {
        let (parent, ref_cols, _) = fk_parent_cols(spec, f);
        let child: Vec<String> = f.cols.iter().map(|id| cname(t, *id)).collect();
        let name = f.named.then(|| format!("fk_{}_{k}", t.id));
        // A single-column reference is written on the column when it has no name; the rest at table level.
        let column_level = child.len() == 1 && !f.named && k % 2 == 0;
        let on_column =
            column_level.then(|| columns.iter().position(|c| c.name == child[0] && c.references.is_none())).flatten();
        if let Some(pos) = on_column {
            columns[pos].references = Some(References {
                name,
                table: parent,
                column: ref_cols.first().cloned(),
                on_delete: f.on_delete,
                on_update: f.on_update,
                deferred: f.deferred,
            });
        } else {
            foreign_keys.push(ForeignKey {
                name,
                columns: child,
                references: parent,
                referenced_columns: ref_cols,
                on_delete: f.on_delete,
                on_update: f.on_update,
                deferred: f.deferred,
            });
        }
    }
    if let Some(sel) = t.dangling {
        let free: Vec<usize> = (0..columns.len())
            .filter(|&i| {
                let c = &columns[i];
                c.generated.is_none()
                    && c.references.is_none()
                    && !foreign_keys.iter().any(|f| f.columns.contains(&c.name))
            })
            .collect();
        if let Some(&i) = pick(&free, sel) {
            columns[i].references = Some(References {
                name: None,
                table: format!("gone{}", t.id),
                column: Some("id".to_string()),
                on_delete: Some(FkAction::Cascade),
                on_update: None,
                deferred: false,
            });
        }
    }
    let key = |cols: &[u8], name: Option<String>| Key {
        name,
        columns: cols.iter().map(|id| IndexedColumn::column(&cname(t, *id))).collect(),
        on_conflict: None,
    };
    let mut indexes = BTreeMap::new();
    for i in &t.indexes {
        let columns = i
            .terms
            .iter()
            .map(|term| IndexedColumn {
                expr: Expr::new(term_expr_sql(term.kind, &q(&cname(t, term.col)))),
                collate: term.collate.map(str::to_string),
                order: term.desc.map(|d| if d { SortOrder::Desc } else { SortOrder::Asc }),
            })
            .collect();
        indexes.insert(
            i.name.clone(),
            Index {
                columns,
                unique: i.unique,
                where_: i.filter.map(|(kind, c)| Expr::new(filter_sql(kind, &q(&cname(t, c))))),
                renamed_from: i.renamed_from.clone(),
            },
        );
    }
    model::Table {
        renamed_from: t.renamed_from.clone(),
        columns,
        primary_key: match &t.pk {
            Pk::Table(cols) => {
                let mut k = key(cols, None);
                if t.pk_desc {
                    k.columns[0].order = Some(SortOrder::Desc);
                }
                Some(k)
            }
            _ => None,
        },
        unique: t
            .uniques
            .iter()
            .enumerate()
            .map(|(k, u)| key(u, (k % 2 == 1).then(|| format!("uq_{}_{k}", t.id))))
            .collect(),
        checks: t
            .checks
            .iter()
            .enumerate()
            .map(|(k, ck)| Check {
                name: ck.named.then(|| format!("tck_{}_{k}", t.id)),
                expr: Expr::new(table_check_sql(ck.kind, &q(&cname(t, ck.a)), &q(&cname(t, ck.b)))),
            })
            .collect(),
        foreign_keys,
        strict: t.strict,
        without_rowid: t.without_rowid,
        indexes,
    }
}

/// The names of a view's result columns, or of a table's columns.
fn outputs(spec: &Spec, src: &Src) -> Vec<String> {
    match src {
        Src::Table(id) => spec
            .tables
            .iter()
            .find(|t| t.id == *id)
            .map(|t| t.cols.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default(),
        Src::View(id) => match spec.views.iter().find(|v| v.id == *id) {
            Some(v) => view_outputs(spec, v).into_iter().map(|(_, out)| out).collect(),
            None => Vec::new(),
        },
    }
}

/// (source column, result name) of a view's select list.
fn view_outputs(spec: &Spec, v: &ViewS) -> Vec<(String, String)> {
    let list = select_list(spec, v);
    if !v.named {
        return list;
    }
    list.into_iter().enumerate().map(|(i, (c, _))| (c, format!("x{i}"))).collect()
}

/// (source column, name in the SELECT) of a view's select list.
fn select_list(spec: &Spec, v: &ViewS) -> Vec<(String, String)> {
    let src = outputs(spec, &v.src);
    match &v.cols {
        None => src.into_iter().map(|c| (c.clone(), c)).collect(),
        Some(sel) => {
            let mut out: Vec<(String, String)> = Vec::new();
            for s in sel {
                let Some(c) = pick(&src, *s) else { continue };
                if out.iter().any(|(x, _)| x == c) {
                    continue;
                }
                let name = if v.alias { format!("a{}", out.len()) } else { c.clone() };
                out.push((c.clone(), name));
            }
            out
        }
    }
}

fn src_name(spec: &Spec, src: &Src) -> String {
    match src {
        Src::Table(id) => spec.tables.iter().find(|t| t.id == *id).map(|t| t.name.clone()).unwrap_or_default(),
        Src::View(id) => format!("v{id}"),
    }
}

fn view_sql(spec: &Spec, v: &ViewS) -> String {
    let from = q(&src_name(spec, &v.src));
    let outs = select_list(spec, v);
    let list = match &v.cols {
        None => "*".to_string(),
        Some(_) => outs
            .iter()
            .map(|(c, name)| if c == name { q(c) } else { format!("{} AS {}", q(c), q(name)) })
            .collect::<Vec<_>>()
            .join(", "),
    };
    let mut sql = format!("SELECT {list} FROM {from}");
    if let Some((c, _)) = outs.first() {
        let mut conditions = Vec::new();
        if v.filter {
            conditions.push(format!("{} IS NOT NULL", q(c)));
        }
        if v.opaque {
            conditions.push(format!("{APP_FN}({}) IS NULL", q(c)));
        }
        if !conditions.is_empty() {
            sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
        }
    }
    if v.named {
        let names: Vec<String> = view_outputs(spec, v).iter().map(|(_, n)| q(n)).collect();
        sql = format!("CREATE VIEW {}({}) AS {sql}", q(&format!("v{}", v.id)), names.join(", "));
    }
    sql
}

fn trigger_sql(spec: &Spec, tr: &Trig) -> String {
    let name = format!("tr{}", tr.id);
    let on = q(&src_name(spec, &tr.on));
    let cols = outputs(spec, &tr.on);
    let col = pick(&cols, tr.col).cloned().unwrap_or_default();
    let on_view = matches!(tr.on, Src::View(_));
    let timing = if on_view {
        "INSTEAD OF"
    } else if tr.timing == 0 {
        "BEFORE"
    } else {
        "AFTER"
    };
    let event = match tr.event % 4 {
        0 => "INSERT".to_string(),
        1 => "DELETE".to_string(),
        2 => "UPDATE".to_string(),
        _ => format!("UPDATE OF {}", q(&col)),
    };
    let row = if tr.event % 4 == 1 { "OLD" } else { "NEW" };
    let when = if tr.when { format!(" WHEN {row}.{} IS NOT NULL", q(&col)) } else { String::new() };
    let other = spec.tables.iter().find(|t| t.id == tr.other);
    let body = match (tr.body % 3, other) {
        (1, _) => format!("INSERT INTO {AUDIT} (msg) VALUES ('{name}')"),
        (2, Some(o)) => {
            let stored = o.cols.iter().find(|c| is_stored(c)).unwrap_or(&o.cols[0]);
            let oc = q(&stored.name);
            format!("UPDATE {} SET {oc} = {oc} WHERE 0", q(&o.name))
        }
        _ => format!("SELECT {row}.{}", q(&col)),
    };
    format!("CREATE TRIGGER {name} {timing} {event} ON {on}{when} BEGIN {body}; END")
}

fn uses_audit(spec: &Spec) -> bool {
    spec.triggers.iter().any(|t| t.body % 3 == 1)
}

fn to_schema(spec: &Spec, audit: bool) -> model::Schema {
    let mut s = model::Schema::default();
    for t in &spec.tables {
        s.tables.insert(t.name.clone(), to_table(spec, t));
    }
    if audit {
        s.tables.insert(
            AUDIT.to_string(),
            model::Table {
                columns: vec![model::Column { name: "msg".into(), ty: Some("TEXT".into()), ..Default::default() }],
                ..Default::default()
            },
        );
    }
    for v in &spec.views {
        s.views.insert(format!("v{}", v.id), model::View { sql: view_sql(spec, v) });
    }
    // Half the schemas with opaque views declare the function (then its views are checked
    // against a stand-in); the others leave them unchecked, with the `not-prepared` lint.
    if spec.views.iter().any(|v| v.opaque) && spec.views.len() % 2 == 0 {
        s.functions.insert(APP_FN.to_string(), model::Function { args: Some(1) });
    }
    for tr in &spec.triggers {
        s.triggers.insert(format!("tr{}", tr.id), model::Trigger { sql: trigger_sql(spec, tr) });
    }
    for id in &spec.vtabs {
        let name = format!("fts{id}");
        s.virtual_tables.insert(
            name.clone(),
            model::VirtualTable { sql: format!("CREATE VIRTUAL TABLE {name} USING fts5(body, note)") },
        );
    }
    s
}

/// The schema through YAML and the loader, as a user's file would go.
fn through_yaml(schema: &model::Schema) -> Result<(String, model::Schema), String> {
    let yaml = to_yaml(schema).map_err(|e| format!("to_yaml: {e}"))?;
    let loaded = load::load_sources(&[("schema.yaml", yaml.as_str())]).map_err(|e| format!("load: {e}\n{yaml}"))?;
    let desired = load::desired(&loaded).map_err(|e| format!("load::desired: {e}\n{yaml}"))?;
    Ok((yaml, desired))
}

// ---------------------------------------------------------------------------
// Building A with its rows.

fn fill(conn: &Connection, a: &Spec) -> Result<(), String> {
    let err = |e: rusqlite::Error| e.to_string();
    conn.execute_batch("PRAGMA foreign_keys = OFF").map_err(err)?;
    for t in &a.tables {
        let stored: Vec<&Col> = t.cols.iter().filter(|c| is_stored(c)).collect();
        let list = stored.iter().map(|c| q(&c.name)).collect::<Vec<_>>().join(", ");
        let marks = vec!["?"; stored.len()].join(", ");
        let sql = format!("INSERT OR ABORT INTO {} ({list}) VALUES ({marks})", q(&t.name));
        for seeds in &t.rows {
            let values: Vec<Value> = stored
                .iter()
                .map(|c| {
                    let pos = t.cols.iter().position(|x| x.id == c.id).unwrap_or(0);
                    let seed = seeds[pos % seeds.len()];
                    value(seed, value_store(a, t, c))
                })
                .collect();
            // Rows that break a constraint of A are simply not there.
            let _ = conn.execute(&sql, rusqlite::params_from_iter(values));
        }
        if t.delete_top && !t.without_rowid {
            conn.execute_batch(&format!("DELETE FROM {0} WHERE rowid = (SELECT max(rowid) FROM {0})", q(&t.name)))
                .map_err(err)?;
        }
    }
    for id in &a.vtabs {
        conn.execute_batch(&format!("INSERT INTO fts{id} (body, note) VALUES ('hello', 'world')")).map_err(err)?;
    }
    repair_foreign_keys(conn, a)?;
    conn.execute_batch("PRAGMA foreign_keys = ON").map_err(err)
}

/// The class of values a column is filled with: a foreign key column takes its parent's.
fn value_store(spec: &Spec, t: &Tab, c: &Col) -> Store {
    for f in &t.fks {
        if let Some(k) = f.cols.iter().position(|x| *x == c.id) {
            let (_, _, key) = fk_parent_cols(spec, f);
            if let (Some(p), Some(pid)) = (spec.tables.iter().find(|p| p.id == f.parent), key.get(k)) {
                if let Some(pc) = col(p, *pid) {
                    let s = store(pc.ty, p.strict);
                    // Only when the child column can hold it.
                    if !t.strict || s == store(c.ty, t.strict) || store(c.ty, t.strict) == Store::Mixed {
                        return s;
                    }
                }
            }
        }
    }
    store(c.ty, t.strict)
}

/// Deletes the rows whose foreign keys point nowhere, until none are left.
fn repair_foreign_keys(conn: &Connection, a: &Spec) -> Result<(), String> {
    for _ in 0..8 {
        for t in &a.tables {
            for f in &t.fks {
                let (parent, _, key) = fk_parent_cols(a, f);
                let Some(p) = a.tables.iter().find(|p| p.id == f.parent) else { continue };
                let child: Vec<String> = f.cols.iter().map(|id| q(&cname(t, *id))).collect();
                let par: Vec<String> = key.iter().map(|id| q(&cname(p, *id))).collect();
                let not_null = child.iter().map(|c| format!("c.{c} IS NOT NULL")).collect::<Vec<_>>().join(" AND ");
                let matches =
                    par.iter().zip(&child).map(|(pc, cc)| format!("p.{pc} = c.{cc}")).collect::<Vec<_>>().join(" AND ");
                let sql = format!(
                    "DELETE FROM {0} AS c WHERE {not_null} AND NOT EXISTS (SELECT 1 FROM {1} AS p WHERE {matches})",
                    q(&t.name),
                    q(&parent)
                );
                conn.execute_batch(&sql).map_err(|e| format!("{e}: {sql}"))?;
            }
        }
        let bad: Vec<String> = {
            // A dangling reference (its parent is no table) is A's own, as in the databases it copies.
            let mut stmt = conn
                .prepare(
                    "SELECT DISTINCT \"table\" FROM pragma_foreign_key_check \
                     WHERE lower(parent) IN (SELECT lower(name) FROM sqlite_schema WHERE type = 'table')",
                )
                .map_err(|e| e.to_string())?;
            let rows = stmt.query_map([], |r| r.get(0)).map_err(|e| e.to_string())?;
            rows.collect::<Result<_, _>>().map_err(|e| e.to_string())?
        };
        if bad.is_empty() {
            return Ok(());
        }
        // What the join above misses (affinity corner cases): empty those tables.
        for t in bad {
            conn.execute_batch(&format!("DELETE FROM {}", q(&t))).map_err(|e| e.to_string())?;
        }
    }
    Err("foreign keys still violated after repair".into())
}

/// The database as SQL: schema objects and rows, loadable by `Scenario::new`.
fn dump(conn: &Connection) -> String {
    let mut out = String::from("PRAGMA foreign_keys = OFF;\n");
    let objects: Vec<(String, String, String)> = conn
        .prepare(
            "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%' \
             AND name NOT IN (SELECT name FROM pragma_table_list WHERE type = 'shadow') \
             ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, name",
        )
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?.collect())
        .unwrap_or_default();
    for (_, _, sql) in objects.iter().filter(|o| o.0 != "trigger") {
        out.push_str(sql);
        out.push_str(";\n");
    }
    for (kind, name, sql) in &objects {
        if kind != "table" || sql.to_ascii_uppercase().starts_with("CREATE VIRTUAL") {
            continue;
        }
        let cols: Vec<String> = conn
            .prepare("SELECT name FROM pragma_table_xinfo(?1) WHERE hidden = 0 ORDER BY cid")
            .and_then(|mut s| s.query_map([name], |r| r.get(0))?.collect())
            .unwrap_or_default();
        let list = cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
        let quoted = cols.iter().map(|c| format!("quote({})", q(c))).collect::<Vec<_>>().join(" || ', ' || ");
        let rows: Vec<String> = conn
            .prepare(&format!("SELECT {quoted} FROM {} ORDER BY rowid", q(name)))
            .or_else(|_| conn.prepare(&format!("SELECT {quoted} FROM {}", q(name))))
            .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
            .unwrap_or_default();
        for r in rows {
            out.push_str(&format!("INSERT INTO {} ({list}) VALUES ({r});\n", q(name)));
        }
    }
    let seqs: Vec<(String, i64)> = conn
        .prepare("SELECT name, seq FROM sqlite_sequence")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .unwrap_or_default();
    for (name, seq) in seqs {
        out.push_str(&format!("UPDATE sqlite_sequence SET seq = {seq} WHERE name = '{}';\n", name.replace('\'', "''")));
    }
    for (_, _, sql) in objects.iter().filter(|o| o.0 == "trigger") {
        out.push_str(sql);
        out.push_str(";\n");
    }
    out
}

// ---------------------------------------------------------------------------
// One case.

/// How a case ended, when it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Applied,
    Unchanged,
    RefusedByData,
    /// On a libSQL server: a view reads a view that calls a function of the application, which
    /// the server does not have, so SQLite's check of every view on `ALTER TABLE … RENAME`
    /// fails there (docs/LIMITATIONS.md); the change rolled back whole.
    ServerLacksFunction,
    /// On a libSQL server, not run: a generated column of a STRICT table. The server's SQLite
    /// (3.45) stores there values of another type than the column's, which the local SQLite
    /// (3.54) that the checks read the server back into refuses. Run locally like every case.
    NotComparableOnServer,
}

fn sequences(conn: &Connection) -> BTreeMap<String, i64> {
    conn.prepare("SELECT name, seq FROM sqlite_sequence")
        .and_then(|mut s| s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .unwrap_or_default()
}

fn is_data_error(e: &Error) -> bool {
    match e {
        Error::Apply(ApplyError::ForeignKeyViolations(_)) => true,
        Error::Apply(ApplyError::Step { message, .. }) => {
            message.contains("constraint failed") || message.contains("cannot store")
        }
        _ => false,
    }
}

/// What B drops of A's values: a table with rows, or a stored column holding
/// values that is gone or computed in B.
fn lost_values(a: &Spec, b: &Spec, rows: &BTreeMap<String, crate::harness::Rows>) -> Option<String> {
    for t in &a.tables {
        let Some(r) = rows.get(&t.name).filter(|r| !r.is_empty()) else { continue };
        let Some(new) = b.tables.iter().find(|x| x.id == t.id) else {
            return Some(format!("the rows of table `{}`", t.name));
        };
        for c in t.cols.iter().filter(|c| is_stored(c)) {
            let kept = col(new, c.id).is_some_and(is_stored);
            let held = r.values().any(|row| row.get(&c.name.to_ascii_lowercase()).is_some_and(|v| *v != Value::Null));
            if !kept && held {
                return Some(format!("the values of column `{}.{}`", t.name, c.name));
            }
        }
    }
    None
}

/// A's columns as a database written by other tools has them: the default collation spelled
/// out (`COLLATE binary`) and built-in names in another case. B, from the YAML, says neither,
/// and must find no difference in them.
fn respell_collations(s: &mut model::Schema) {
    for (i, c) in s.tables.values_mut().flat_map(|t| t.columns.iter_mut()).enumerate() {
        c.collate = match (c.collate.as_deref(), i % 3) {
            (None, 0) => Some("binary".to_string()),
            (Some(name), 1) => Some(name.to_ascii_lowercase()),
            (other, _) => other.map(str::to_string),
        };
    }
}

fn run_case(case: &Case, on_server: bool) -> Result<Outcome, String> {
    let a = place_case(case);
    let b = derive_b(&a, &case.muts);
    let audit = uses_audit(&a) || uses_audit(&b);
    let (a_yaml, a_schema) = through_yaml(&to_schema(&a, audit)).map_err(|e| format!("A does not load: {e}"))?;
    let (b_yaml, b_schema) = through_yaml(&to_schema(&b, audit)).map_err(|e| format!("B does not load: {e}"))?;

    let strict_generated =
        |s: &model::Schema| s.tables.values().any(|t| t.strict && t.columns.iter().any(|c| c.generated.is_some()));
    if on_server && (strict_generated(&a_schema) || strict_generated(&b_schema)) {
        return Ok(Outcome::NotComparableOnServer);
    }
    let dir = Dir::new();
    let db = dir.join("app.db");
    let repro;
    {
        let conn = Connection::open(&db).map_err(|e| e.to_string())?;
        let mut bare = a_schema.clone();
        respell_collations(&mut bare);
        let triggers = std::mem::take(&mut bare.triggers);
        normalize::build(&conn, &bare).map_err(|e| format!("building A: {e}\n{a_yaml}"))?;
        fill(&conn, &a)?;
        for tr in triggers.values() {
            conn.execute_batch(&tr.sql).map_err(|e| format!("trigger of A: {e}"))?;
        }
        repro = format!("--- A (SQL):\n{}--- B (YAML):\n{b_yaml}", dump(&conn));
    }
    let fail = |what: String| format!("{what}\n{repro}--- mutations: {:?}\n", case.muts);
    let mut s = match on_server {
        false => Scenario::open(dir, db),
        true => Scenario::open_on_server(dir, db).ok_or("no libSQL server to run on")?,
    };
    s.desired = Some(b_schema.clone());
    let seq_before = sequences(&s.conn());

    // First as an application would at startup, without permission to lose data:
    // whatever runs then must lose nothing; a refusal must change nothing.
    let first = match s.try_apply_desired(&b_schema, false) {
        Err(Error::Refused(Refusal::Destructive(_))) => {
            s.check_unchanged().map_err(|u| fail(format!("a refused plan changed the database: {u}")))?;
            s.try_apply_desired(&b_schema, true)
        }
        Ok(plan) => {
            if let Some(lost) = lost_values(&a, &b, &s.rows) {
                return Err(fail(format!("a plan without destructive steps lost {lost}")));
            }
            Ok(plan)
        }
        other => other,
    };
    match first {
        Ok(plan) if plan.is_empty() => {
            s.check_unchanged().map_err(|e| fail(format!("an empty plan changed the database: {e}")))?;
            s.try_check_four(&[]).map_err(|e| fail(format!("after an empty plan: {e}")))?;
            return Ok(Outcome::Unchanged);
        }
        Ok(_) => {}
        Err(e) if is_data_error(&e) => {
            s.check_unchanged().map_err(|u| fail(format!("failed apply ({e}) changed the database: {u}")))?;
            return Ok(Outcome::RefusedByData);
        }
        Err(e) if on_server && e.to_string().contains("no such function") => {
            s.check_unchanged().map_err(|u| fail(format!("failed apply ({e}) changed the database: {u}")))?;
            return Ok(Outcome::ServerLacksFunction);
        }
        Err(e) => return Err(fail(format!("apply failed: {e}"))),
    }

    let renames: Vec<(String, String, String)> = b_schema
        .tables
        .iter()
        .flat_map(|(t, table)| {
            table.columns.iter().filter_map(move |c| c.renamed_from.clone().map(|old| (t.clone(), c.name.clone(), old)))
        })
        .collect();
    let renames: Vec<(&str, &str, &str)> =
        renames.iter().map(|(t, n, o)| (t.as_str(), n.as_str(), o.as_str())).collect();
    s.try_check_four(&renames).map_err(|e| fail(format!("after apply: {e}")))?;
    {
        let conn = s.conn();
        if audit {
            let fired: i64 = conn
                .query_row(&format!("SELECT count(*) FROM {AUDIT}"), [], |r| r.get(0))
                .map_err(|e| e.to_string())?;
            if fired != 0 {
                return Err(fail(format!("{fired} trigger(s) fired during the migration")));
            }
        }
        let seq_after = sequences(&conn);
        for (name, seq) in &seq_before {
            let new_name = b_schema
                .tables
                .iter()
                .find(|(n, t)| *n == name || t.renamed_from.as_deref() == Some(name.as_str()))
                .filter(|(_, t)| t.columns.iter().any(|c| c.autoincrement))
                .map(|(n, _)| n.clone());
            if let Some(n) = new_name {
                if seq_after.get(&n).copied().unwrap_or(0) < *seq {
                    return Err(fail(format!(
                        "AUTOINCREMENT mark of `{n}` went from {seq} to {:?}",
                        seq_after.get(&n)
                    )));
                }
            }
        }
    }
    s.try_check_rollback().map_err(|e| fail(format!("rollback: {e}")))?;
    Ok(Outcome::Applied)
}

#[test]
fn random_schema_pairs_hold_the_scenario_checks() {
    random_pairs(cases(), false);
}

/// The same properties with each case's database on a real libSQL server (a fresh `sqld`
/// each), planned for its SQLite version, applied and rolled back there, every check read back
/// from it. `RECONCILE_PROPTEST_SERVER_CASES` sets the number of cases (default 256).
#[test]
fn random_schema_pairs_hold_the_scenario_checks_on_a_libsql_server() {
    if crate::harness::sqld().is_none() {
        return;
    }
    let cases = std::env::var("RECONCILE_PROPTEST_SERVER_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    random_pairs(cases, true);
}

fn random_pairs(cases: u32, on_server: bool) {
    let config =
        Config { cases, failure_persistence: None, max_shrink_iters: 4096, rng_seed: rng_seed(), ..Config::default() };
    let mut runner = TestRunner::new(config);
    let counts = std::cell::RefCell::new(BTreeMap::<String, usize>::new());
    let started = std::time::Instant::now();
    let result = runner.run(&case_strategy(), |case| {
        let outcome = run_case(&case, on_server).map_err(TestCaseError::fail)?;
        *counts.borrow_mut().entry(format!("{outcome:?}")).or_default() += 1;
        Ok(())
    });
    let place = if on_server { " on a libSQL server" } else { "" };
    println!("props{place}: {:?} in {:.1?}", counts.borrow(), started.elapsed());
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, _)) => panic!("minimal failing case:\n{reason}"),
        Err(e) => panic!("{e}"),
    }
}
