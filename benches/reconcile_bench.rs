//! Benchmarks of the performance budgets in DESIGN.md, with their own data.
//!
//! ```text
//! cargo bench --bench reconcile_bench -- <scenario>... [--quick]
//! ```
//!
//! Scenarios: `rebuild-1m`, `plan-1000`, `startup-noop`, `scaling`, `all`.
//! `--quick` runs fewer repetitions (for trying things out, not for reporting).
//!
//! Whole-process figures run the release `reconcile` binary as a child and
//! take its wall time and peak RSS (`wait4`'s `ru_maxrss`). The hand-written
//! SQL a rebuild is compared with runs in a child too (this binary again, in a
//! hidden mode), on the same bundled SQLite, so both pay process startup
//! equally; the two are run alternately, each on a fresh copy of one database.
//! Results are printed as Markdown tables for docs/PERFORMANCE.md.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use sqlite_reconcile::{inspect, load, migration, normalize, plan, render, InspectOptions, Reconciler};

const RECONCILE: &str = env!("CARGO_BIN_EXE_reconcile");

/// The temporary directory of this run: children work there (`plans/` and backups land in it).
static WORK: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(mode) = args.first().filter(|a| a.starts_with("__")) {
        child(mode, &args[1..]);
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let mut scenarios: Vec<&str> = args.iter().filter(|a| !a.starts_with("--")).map(String::as_str).collect();
    if scenarios.is_empty() {
        // `cargo test --all-targets` runs this binary without arguments: do nothing.
        eprintln!("usage: cargo bench --bench reconcile_bench -- <rebuild-1m|plan-1000|startup-noop|scaling|all>... [--quick]");
        return;
    }
    if scenarios.contains(&"all") {
        scenarios = vec!["startup-noop", "plan-1000", "rebuild-1m", "scaling"];
    }
    let reps = Reps::new(quick);
    let work = tempfile::tempdir().expect("temp dir");
    WORK.set(work.path().to_path_buf()).expect("work dir once");
    println!("<!-- {} -->", machine());
    for s in scenarios {
        match s {
            "rebuild-1m" => print_rebuild(1_000_000, &rebuild_scenario(work.path(), 1_000_000, reps.rebuild, true)),
            "plan-1000" => {
                plan_scenario(work.path(), 1000, reps.plan, true);
            }
            "startup-noop" => startup_noop(work.path(), reps.startup),
            "scaling" => scaling(work.path(), &reps),
            other => {
                eprintln!("unknown scenario `{other}`");
                std::process::exit(2);
            }
        }
    }
}

/// Repetition counts: odd, so the median is a measured run.
struct Reps {
    rebuild: usize,
    plan: usize,
    startup: usize,
    scaling_rebuild: usize,
}

impl Reps {
    fn new(quick: bool) -> Reps {
        if quick {
            Reps { rebuild: 1, plan: 3, startup: 11, scaling_rebuild: 1 }
        } else {
            Reps { rebuild: 7, plan: 11, startup: 51, scaling_rebuild: 5 }
        }
    }
}

// ---- measuring ----

/// One child process run: wall time and peak resident set size.
#[derive(Clone, Copy)]
struct Run {
    wall: Duration,
    max_rss_kib: u64,
}

/// Runs `program args` to completion, stdout to `out` (or nowhere), and measures it.
/// Panics on failure.
///
/// The run goes through a small helper process (this binary, `__measure`): a child's
/// `ru_maxrss` starts from the RSS of the process that spawned it (exec keeps the old
/// image's high-water mark), and this process grows large while it builds fixtures.
fn run_child(program: &Path, args: &[&str], out: Option<&Path>) -> Run {
    let tmp = std::env::temp_dir();
    let err_path = tmp.join(format!("reconcile-bench-{}.stderr", std::process::id()));
    let result_path = tmp.join(format!("reconcile-bench-{}.result", std::process::id()));
    let stdout = match out {
        Some(p) => Stdio::from(fs::File::create(p).expect("stdout file")),
        None => Stdio::null(),
    };
    let status = Command::new(std::env::current_exe().expect("current exe"))
        .arg("__measure")
        .arg(&result_path)
        .arg(program)
        .args(args)
        .env_remove("RECONCILE_DB")
        .env_remove("RECONCILE_SCHEMA")
        .env("NO_COLOR", "1")
        .current_dir(WORK.get().expect("work dir set"))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::from(fs::File::create(&err_path).expect("stderr file")))
        .status()
        .expect("run the measuring helper");
    if !status.success() {
        let msg = fs::read_to_string(&err_path).unwrap_or_default();
        panic!("{} {args:?} failed ({status}):\n{msg}", program.display());
    }
    let result = fs::read_to_string(&result_path).expect("helper result");
    let mut it = result.split_whitespace().map(|x| x.parse::<u64>().expect("helper number"));
    let (nanos, max_rss_kib) = (it.next().expect("wall"), it.next().expect("rss"));
    let _ = fs::remove_file(&err_path);
    let _ = fs::remove_file(&result_path);
    Run { wall: Duration::from_nanos(nanos), max_rss_kib }
}

/// The helper: runs the command (inheriting stdio), writes "wall-ns peak-rss-KiB" to
/// `result`, and exits with the command's success.
fn measure(result: &str, program: &str, args: &[String]) -> ! {
    let start = Instant::now();
    let child = Command::new(program).args(args).spawn().expect("spawn child");
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our own child, not yet reaped; both pointers are to live locals.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    drop(child);
    assert_eq!(reaped, pid, "wait4 failed");
    fs::write(result, format!("{} {}", wall.as_nanos(), usage.ru_maxrss)).expect("write result");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    std::process::exit(if ok { 0 } else { 1 })
}

/// Median, minimum and maximum of some durations.
struct Stats {
    median: Duration,
    min: Duration,
    max: Duration,
    n: usize,
}

impl Stats {
    fn of(xs: &[Duration]) -> Stats {
        let mut v = xs.to_vec();
        v.sort();
        let n = v.len();
        let median = if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2 };
        Stats { median, min: v[0], max: v[n - 1], n }
    }
    fn of_runs(runs: &[Run]) -> Stats {
        Stats::of(&runs.iter().map(|r| r.wall).collect::<Vec<_>>())
    }
}

fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1000.0;
    if m >= 100.0 {
        format!("{m:.0} ms")
    } else if m >= 10.0 {
        format!("{m:.1} ms")
    } else {
        format!("{m:.2} ms")
    }
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn peak(runs: &[Run]) -> u64 {
    runs.iter().map(|r| r.max_rss_kib).max().unwrap_or(0)
}

fn row(what: &str, s: &Stats, ratio: &str, rss: &str) {
    println!("| {what} | {} | {} – {} | {} | {ratio} | {rss} |", ms(s.median), ms(s.min), ms(s.max), s.n);
}

fn header(title: &str) {
    println!("\n### {title}\n");
    println!("| what | median | min – max | runs | ratio | peak RSS |");
    println!("|---|---:|---:|---:|---:|---:|");
}

/// Times an in-process closure `n` times.
fn time_n(n: usize, mut f: impl FnMut()) -> Stats {
    let xs: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    Stats::of(&xs)
}

/// Runs the release `reconcile` binary with `args`, measured.
fn reconcile(args: &[&str], out: Option<&Path>) -> Run {
    run_child(Path::new(RECONCILE), args, out)
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let sqlite = Connection::open_in_memory()
        .and_then(|c| c.query_row("SELECT sqlite_version()", [], |r| r.get::<_, String>(0)))
        .unwrap_or_default();
    format!("{cpu}, {cores} cores, SQLite {sqlite}")
}

// ---- children ----

/// Hidden modes of this binary, run as children so they pay process startup like `reconcile`.
fn child(mode: &str, args: &[String]) {
    match mode {
        // __measure RESULT PROGRAM ARGS...: see `run_child`.
        "__measure" => measure(&args[0], &args[1], &args[2..]),
        // __handwritten DB CACHE_KIB: the rebuild of `events` written by hand, one transaction.
        "__handwritten" => {
            let mut conn = Connection::open(&args[0]).expect("open");
            let cache_kib: i64 = args[1].parse().expect("cache KiB");
            if cache_kib > 0 {
                conn.execute_batch(&format!("PRAGMA cache_size = -{cache_kib}")).expect("cache_size");
            }
            conn.execute_batch("PRAGMA foreign_keys = OFF").expect("fk off");
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).expect("begin");
            tx.execute_batch(HANDWRITTEN_REBUILD).expect("rebuild");
            let bad: i64 = tx.query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| r.get(0)).expect("fk");
            assert_eq!(bad, 0);
            tx.commit().expect("commit");
            conn.execute_batch("PRAGMA foreign_keys = ON").expect("fk on");
        }
        // __lib-apply DB SCHEMA_DIR CACHE_KIB: what an app calls at startup, on a
        // connection whose page cache it sized itself.
        "__lib-apply" => {
            let mut conn = Connection::open(&args[0]).expect("open");
            let cache_kib: i64 = args[2].parse().expect("cache KiB");
            if cache_kib > 0 {
                conn.execute_batch(&format!("PRAGMA cache_size = -{cache_kib}")).expect("cache_size");
            }
            let report = Reconciler::from_dir(&args[1]).expect("load").reconcile(&mut conn).expect("reconcile");
            assert!(report.steps > 0);
        }
        // __fixture-plan N DIR: leave the plan fixture in DIR, for profiling by hand.
        "__fixture-plan" => {
            let n: usize = args[0].parse().expect("table count");
            let (db, schema, _) = plan_fixture(Path::new(&args[1]), n, true);
            println!("{} {}", db.display(), schema.display());
        }
        // __fixture-rebuild ROWS DIR: the rebuild fixture, likewise.
        "__fixture-rebuild" => {
            let rows: i64 = args[0].parse().expect("row count");
            let (db, schema) = rebuild_fixture(Path::new(&args[1]), rows);
            println!("{} {}", db.display(), schema.display());
        }
        other => panic!("unknown child mode {other}"),
    }
}

// ---- rebuild ----

const REBUILD_BEFORE: &str = "
CREATE TABLE events(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, kind TEXT NOT NULL, payload TEXT, created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP);
CREATE TABLE events_log(event_id INTEGER, old_kind TEXT, new_kind TEXT);
CREATE TRIGGER events_kind_log AFTER UPDATE OF kind ON events BEGIN INSERT INTO events_log VALUES (OLD.id, OLD.kind, NEW.kind); END;";

/// Rows: ~100-byte payloads (one in a hundred NULL, which the change fills with '').
const REBUILD_ROWS: &str = "
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
INSERT INTO events(id, user_id, kind, payload, created_at)
SELECT i, i % 50000,
       CASE i % 4 WHEN 0 THEN 'click' WHEN 1 THEN 'view' WHEN 2 THEN 'buy' ELSE 'share' END,
       CASE WHEN i % 100 = 0 THEN NULL
            ELSE printf('%010d:', i) || substr('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna', 1 + i % 7, 89) END,
       datetime(1700000000 + i * 7, 'unixepoch')
FROM n";

const REBUILD_INDEXES: &str = "
CREATE INDEX events_user ON events(user_id, created_at);
CREATE INDEX events_kind ON events(kind);";

const REBUILD_YAML: &str = "tables:
  events:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: user_id, type: INTEGER, not_null: true }
      - { name: kind, type: TEXT, not_null: true }
      - { name: payload, type: TEXT, not_null: true, default: \"''\" }
      - { name: created_at, type: TEXT, not_null: true, default: CURRENT_TIMESTAMP }
    checks:
      - { name: events_kind_ck, expr: \"kind IN ('click', 'view', 'buy', 'share')\" }
    indexes:
      events_user: { columns: [user_id, created_at] }
      events_kind: { columns: [kind] }
  events_log:
    columns:
      - { name: event_id, type: INTEGER }
      - { name: old_kind, type: TEXT }
      - { name: new_kind, type: TEXT }
triggers:
  events_kind_log:
    sql: CREATE TRIGGER events_kind_log AFTER UPDATE OF kind ON events BEGIN INSERT INTO events_log VALUES (OLD.id, OLD.kind, NEW.kind); END
";

/// The same rebuild as a person writes it (lang_altertable §7), inside the caller's transaction.
const HANDWRITTEN_REBUILD: &str = "
CREATE TABLE events_new(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, kind TEXT NOT NULL,
  payload TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT events_kind_ck CHECK (kind IN ('click', 'view', 'buy', 'share')));
INSERT INTO events_new(id, user_id, kind, payload, created_at)
  SELECT id, user_id, kind, coalesce(payload, ''), created_at FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_user ON events(user_id, created_at);
CREATE INDEX events_kind ON events(kind);
CREATE TRIGGER events_kind_log AFTER UPDATE OF kind ON events BEGIN INSERT INTO events_log VALUES (OLD.id, OLD.kind, NEW.kind); END;";

/// Builds (once) the `events` database of `rows` rows and the desired schema directory.
fn rebuild_fixture(work: &Path, rows: i64) -> (PathBuf, PathBuf) {
    let base = work.join(format!("events-{rows}.db"));
    let schema = work.join("events-schema");
    if !schema.exists() {
        fs::create_dir_all(&schema).expect("mkdir");
        fs::write(schema.join("events.yaml"), REBUILD_YAML).expect("write yaml");
    }
    if !base.exists() {
        let t = Instant::now();
        let c = Connection::open(&base).expect("open");
        c.execute_batch(REBUILD_BEFORE).expect("ddl");
        c.execute(REBUILD_ROWS, [rows]).expect("rows");
        c.execute_batch(REBUILD_INDEXES).expect("indexes");
        let size = fs::metadata(&base).map(|m| m.len()).unwrap_or(0);
        eprintln!("built {} ({rows} rows, {:.0} MiB) in {:?}", base.display(), size as f64 / 1048576.0, t.elapsed());
    }
    (base, schema)
}

/// A fresh copy of `base`, flushed to disk so no write-back of the copy overlaps a timed run.
fn fresh_copy(base: &Path, to: &Path) {
    let _ = fs::remove_file(to);
    fs::copy(base, to).expect("copy db");
    fs::File::open(to).and_then(|f| f.sync_all()).expect("sync copy");
}

/// Checks the rebuilt database: the desired schema, every row, no NULL payloads, indexes used.
fn check_rebuilt(db: &Path, rows: i64, desired: &sqlite_reconcile::Schema) {
    let c = Connection::open(db).expect("open");
    let actual = inspect(&c, &InspectOptions::default()).expect("inspect");
    let left = sqlite_reconcile::diff::diff(&actual, &desired.without_hints());
    assert!(left.is_empty(), "{}: differs from the desired schema: {left:?}", db.display());
    let (n, nulls): (i64, i64) = c
        .query_row("SELECT count(*), count(*) - count(payload) FROM events", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("count");
    assert_eq!((n, nulls), (rows, 0), "{}", db.display());
    let ok: String = c.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity");
    assert_eq!(ok, "ok");
}

/// Times `reconcile apply` against the hand-written rebuild, alternating, on fresh copies.
fn rebuild_scenario(work: &Path, rows: i64, reps: usize, variants: bool) -> Vec<(String, Vec<Run>)> {
    let (base, schema) = rebuild_fixture(work, rows);
    let desired = load::desired_from_dir(&schema).expect("desired");
    let db = work.join("events-run.db");
    let schema_s = schema.to_str().expect("utf-8 path");
    let db_s = db.to_str().expect("utf-8 path").to_string();
    let me = std::env::current_exe().expect("current exe");
    // Emptied before every run: plan ids are unique per database, and every run starts from the same one.
    let plans = work.join("plans-rebuild");
    let plans_s = plans.to_str().expect("utf-8 path");

    type Runner<'a> = (&'a str, Box<dyn Fn() -> Run + 'a>);
    let mut runners: Vec<Runner> = vec![
        (
            "`reconcile apply` (whole process)",
            Box::new(|| reconcile(&["apply", "--db", &db_s, "--schema", schema_s, "--plans", plans_s, "--yes"], None)),
        ),
        (
            "hand-written SQL transaction (child process)",
            Box::new(|| run_child(&me, &["__handwritten", &db_s, "0"], None)),
        ),
    ];
    if variants {
        runners.push((
            "library `Reconciler::reconcile` (child process)",
            Box::new(|| run_child(&me, &["__lib-apply", &db_s, schema_s, "0"], None)),
        ));
        runners.push((
            "library, caller sets `cache_size` 64 MiB",
            Box::new(|| run_child(&me, &["__lib-apply", &db_s, schema_s, "65536"], None)),
        ));
        runners.push((
            "hand-written, `cache_size` 64 MiB",
            Box::new(|| run_child(&me, &["__handwritten", &db_s, "65536"], None)),
        ));
    }
    let mut results: Vec<Vec<Run>> = vec![Vec::new(); runners.len()];
    for rep in 0..reps {
        // Alternate the order each repetition so neither side always runs first.
        let mut order: Vec<usize> = (0..runners.len()).collect();
        if rep % 2 == 1 {
            order.reverse();
        }
        for i in order {
            fresh_copy(&base, &db);
            let _ = fs::remove_dir_all(&plans);
            let _ = fs::remove_dir_all(work.join("events-run.db.reconcile"));
            let r = (runners[i].1)();
            if rep == 0 {
                check_rebuilt(&db, rows, &desired);
            }
            results[i].push(r);
            eprintln!("  rebuild {rows}: {} run {}: {}", runners[i].0, rep + 1, ms(r.wall));
        }
    }
    let _ = fs::remove_file(&db);
    runners.iter().map(|(what, _)| what.to_string()).zip(results).collect()
}

/// Prints the rebuild results, ratios against the hand-written transaction (the second entry).
fn print_rebuild(rows: i64, results: &[(String, Vec<Run>)]) {
    let base = Stats::of_runs(&results[1].1);
    header(&format!("rebuild, {rows} rows (2 indexes, 1 trigger; adds a CHECK, payload NOT NULL DEFAULT '')"));
    for (what, runs) in results {
        let s = Stats::of_runs(runs);
        row(what, &s, &format!("{:.3}×", s.median.as_secs_f64() / base.median.as_secs_f64()), &mib(peak(runs)));
    }
}

// ---- plan ----

/// A database of `n` tables (10 columns, 2 indexes each; every fifth table has a
/// foreign key) and a desired schema that changes every tenth table, cycling through
/// four kinds of change. Returns (db, schema dir, changed tables by kind).
fn plan_fixture(work: &Path, n: usize, changed: bool) -> (PathBuf, PathBuf, BTreeMap<String, usize>) {
    let tag = if changed { "changed" } else { "same" };
    let db = work.join(format!("plan-{n}.db"));
    let schema = work.join(format!("plan-{n}-{tag}"));
    let name = |i: usize| format!("t{i:05}");
    let mut expected = BTreeMap::new();
    if !db.exists() {
        let mut sql = String::from("BEGIN;\n");
        for i in 0..n {
            let t = name(i);
            let fk = if i % 5 == 4 { format!(" REFERENCES {}(id)", name(i / 5)) } else { String::new() };
            sql.push_str(&format!(
                "CREATE TABLE {t}(id INTEGER PRIMARY KEY, c1 TEXT NOT NULL, c2 INTEGER, c3 REAL, c4 TEXT, \
                 c5 INTEGER NOT NULL DEFAULT 0, c6 TEXT, c7 BLOB, c8 TEXT COLLATE NOCASE, c9 INTEGER{fk});\n\
                 CREATE INDEX {t}_c1 ON {t}(c1);\nCREATE INDEX {t}_c2_c5 ON {t}(c2, c5);\n"
            ));
        }
        sql.push_str("COMMIT;");
        Connection::open(&db).and_then(|c| c.execute_batch(&sql)).expect("build plan db");
    }
    let _ = fs::remove_dir_all(&schema);
    fs::create_dir_all(&schema).expect("mkdir");
    let mut files: BTreeMap<usize, String> = BTreeMap::new();
    for i in 0..n {
        let t = name(i);
        let kind = if changed && i % 10 == 3 { Some((i / 10) % 4) } else { None };
        let fk =
            if i % 5 == 4 { format!(", references: {{ table: {}, column: id }}", name(i / 5)) } else { String::new() };
        let mut y = format!("  {t}:\n    columns:\n      - {{ name: id, type: INTEGER, primary_key: true }}\n");
        y.push_str("      - { name: c1, type: TEXT, not_null: true }\n      - { name: c2, type: INTEGER }\n");
        y.push_str(&format!("      - {{ name: c3, type: {} }}\n", if kind == Some(2) { "TEXT" } else { "REAL" }));
        y.push_str(&format!(
            "      - {{ name: c4, type: TEXT{} }}\n",
            if kind == Some(3) { ", not_null: true" } else { "" }
        ));
        y.push_str(
            "      - { name: c5, type: INTEGER, not_null: true, default: 0 }\n      - { name: c6, type: TEXT }\n",
        );
        y.push_str("      - { name: c7, type: BLOB }\n      - { name: c8, type: TEXT, collate: NOCASE }\n");
        y.push_str(&format!("      - {{ name: c9, type: INTEGER{fk} }}\n"));
        if kind == Some(0) {
            y.push_str("      - { name: c10, type: TEXT }\n");
        }
        y.push_str("    indexes:\n");
        if kind == Some(1) {
            y.push_str(&format!("      {t}_c4: {{ columns: [c4] }}\n"));
        } else {
            y.push_str(&format!("      {t}_c1: {{ columns: [c1] }}\n"));
        }
        y.push_str(&format!("      {t}_c2_c5: {{ columns: [c2, c5] }}\n"));
        if let Some(k) = kind {
            expected.insert(t, k);
        }
        files.entry(i / 100).or_default().push_str(&y);
    }
    for (f, body) in files {
        fs::write(schema.join(format!("part{f:03}.yaml")), format!("tables:\n{body}")).expect("write yaml");
    }
    (db, schema, expected)
}

/// The table an object of a change belongs to (`t00013.c10`, `t00013_c4` → `t00013`).
fn table_of(object: &str) -> String {
    object.chars().take(6).collect()
}

/// Checks a JSON plan: exactly the expected tables change, each by its kind of change.
fn check_plan_json(json: &str, expected: &BTreeMap<String, usize>) {
    let v: serde_json::Value = serde_json::from_str(json).expect("plan JSON");
    let changes = v["changes"].as_array().expect("changes");
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in changes {
        let object = c["object"].as_str().unwrap_or_default();
        found.entry(table_of(object)).or_default().push(format!("{} {object}: {}", c["kind"], c["what"]));
    }
    let found_tables: BTreeSet<&String> = found.keys().collect();
    let want_tables: BTreeSet<&String> = expected.keys().collect();
    assert_eq!(found_tables, want_tables, "the plan changes other tables than the changed ones");
    let steps = v["steps"].as_array().expect("steps");
    for (t, kind) in expected {
        let kinds: BTreeSet<&str> = steps
            .iter()
            .filter(|s| table_of(s["object"].as_str().unwrap_or_default()) == *t)
            .filter_map(|s| s["kind"].as_str())
            .collect();
        let want: BTreeSet<&str> = match kind {
            0 | 3 => ["alter_table"].into(),
            1 => ["drop_index", "create_index"].into(),
            _ => ["rebuild_table", "create_index"].into(),
        };
        assert_eq!(kinds, want, "`{t}`: unexpected steps; changes: {:?}", found[t]);
    }
}

/// In-process stage timings of one plan, each the median of some repetitions.
struct Stages {
    load: Stats,
    desired: Stats,
    normalize: Stats,
    one_database: Stats,
    inspect: Stats,
    facts: Stats,
    diff: Stats,
    plan: Stats,
    render: Stats,
    prepare: Stats,
}

fn stages(db: &Path, schema: &Path, reps: usize) -> Stages {
    let mut conn = Connection::open(db).expect("open");
    let opts = InspectOptions::default();
    let load = time_n(reps, || {
        load::load_dir(schema).expect("load");
    });
    let l = load::load_dir(schema).expect("load");
    let desired_t = time_n(reps, || {
        load::desired(&l).expect("desired");
    });
    let desired = load::desired(&l).expect("desired");
    // The scratch build and inspection as `load::desired` does it (databases of
    // 100 tables each), and the same schema built and inspected in one database.
    let normalize_t = time_n(reps, || {
        normalize::desired(&l.schema).expect("normalize");
    });
    let one_database = time_n(reps, || {
        let scratch = Connection::open_in_memory().expect("scratch");
        normalize::build(&scratch, &l.schema).expect("build");
        inspect(&scratch, &opts).expect("inspect");
    });
    let inspect_t = time_n(reps, || {
        inspect(&conn, &opts).expect("inspect");
    });
    let actual = inspect(&conn, &opts).expect("inspect");
    let facts = || {
        let version = sqlite_reconcile::engine::sqlite_version(&conn).expect("version");
        sqlite_reconcile::facts::of(&actual, version)
    };
    let facts_t = time_n(reps, || {
        facts();
    });
    let f = facts();
    let diff = time_n(reps, || {
        sqlite_reconcile::diff::diff(&actual, &desired);
    });
    // Planning from the comparison, as every caller does: the diff and its renames, then the steps.
    let plan_t = time_n(reps, || {
        plan::plan(&sqlite_reconcile::diff::compare(&actual, &desired), &f).expect("plan");
    });
    let p = plan::plan(&sqlite_reconcile::diff::compare(&actual, &desired), &f).expect("plan");
    let render = time_n(reps, || {
        render::json(&p);
    });
    let prepare = time_n(reps, || {
        migration::prepare(&mut conn, &desired, &opts).expect("prepare");
    });
    Stages {
        load,
        desired: desired_t,
        normalize: normalize_t,
        one_database,
        inspect: inspect_t,
        facts: facts_t,
        diff,
        plan: plan_t,
        render,
        prepare,
    }
}

/// Times `reconcile plan` over `n` tables (every run's output checked), and its stages in process.
fn plan_scenario(work: &Path, n: usize, reps: usize, detail: bool) -> (Stats, Stages) {
    let (db, schema, expected) = plan_fixture(work, n, true);
    let out = work.join(format!("plan-{n}.json"));
    let (db_s, schema_s) = (db.to_str().expect("utf-8"), schema.to_str().expect("utf-8"));
    let args = ["plan", "--db", db_s, "--schema", schema_s, "--format", "json"];
    let runs: Vec<Run> = (0..reps)
        .map(|_| {
            let r = reconcile(&args, Some(&out));
            check_plan_json(&fs::read_to_string(&out).expect("plan output"), &expected);
            r
        })
        .collect();
    let st = stages(&db, &schema, reps);
    let stats = Stats::of_runs(&runs);
    header(&format!("plan, {n} tables ({} changed, exactly those found)", expected.len()));
    row("`reconcile plan --format json` (whole process)", &stats, "1", &mib(peak(&runs)));
    if detail {
        let text_args = ["plan", "--db", db_s, "--schema", schema_s];
        let text_runs: Vec<Run> = (0..reps).map(|_| reconcile(&text_args, None)).collect();
        let ts = Stats::of_runs(&text_runs);
        row("`reconcile plan` (text, whole process)", &ts, &ratio(&ts, &stats), &mib(peak(&text_runs)));
    }
    row("introspection alone (`inspect`, in process)", &st.inspect, &ratio(&st.inspect, &stats), "");
    if detail {
        alembic(work, &db, &schema, &expected, reps, &stats, &st);
    }
    if detail {
        println!("\nIn process, stage by stage (median of {reps}):\n");
        println!("| stage | median |\n|---|---:|");
        let stage = |what: &str, s: &Stats| println!("| {what} | {} |", ms(s.median));
        stage("read and parse YAML (`load::load_dir`)", &st.load);
        stage("validate + normalize (`load::desired`)", &st.desired);
        stage("&nbsp;&nbsp;of which the scratch build + inspect (`normalize::desired`)", &st.normalize);
        stage("(the same build + inspect in one scratch database)", &st.one_database);
        stage("inspect the database", &st.inspect);
        stage("facts (version; authorizer per view in a scratch copy)", &st.facts);
        stage("diff alone", &st.diff);
        stage("diff + plan + order (`plan::plan`)", &st.plan);
        stage("render JSON", &st.render);
        stage("`migration::prepare`: inspect, facts, plan, and the rollback plan", &st.prepare);
    }
    (stats, st)
}

/// Alembic's autogenerate comparison (`benches/alembic_compare.py`) on the same two
/// schemas, when Python has Alembic; it must find the same tables.
fn alembic(
    work: &Path,
    db: &Path,
    schema: &Path,
    expected: &BTreeMap<String, usize>,
    reps: usize,
    ours: &Stats,
    st: &Stages,
) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/alembic_compare.py");
    let has = Command::new("python3").args(["-c", "import alembic"]).stderr(Stdio::null()).status();
    if !has.is_ok_and(|s| s.success()) {
        println!("| Alembic `compare_metadata` | not installed (`pip install alembic`): skipped | | | | |");
        return;
    }
    // The desired schema as a database, for Alembic to reflect as its models.
    let desired_db = work.join("plan-desired.db");
    let _ = fs::remove_file(&desired_db);
    let (d, s) = (desired_db.to_str().expect("utf-8"), schema.to_str().expect("utf-8"));
    reconcile(&["apply", "--db", d, "--schema", s, "--yes"], None);
    let out = work.join("alembic.json");
    let mut compare = Vec::new();
    let runs: Vec<Run> = (0..reps)
        .map(|_| {
            let args = [script.to_str().expect("utf-8"), db.to_str().expect("utf-8"), d];
            let r = run_child(Path::new("python3"), &args, Some(&out));
            let v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&out).expect("output")).expect("json");
            let tables: BTreeSet<String> =
                v["tables"].as_array().expect("tables").iter().filter_map(|t| t.as_str().map(String::from)).collect();
            assert_eq!(tables, expected.keys().cloned().collect::<BTreeSet<_>>(), "Alembic found other tables");
            compare.push(Duration::from_secs_f64(v["seconds"].as_f64().expect("seconds")));
            r
        })
        .collect();
    let whole = Stats::of_runs(&runs);
    let cmp = Stats::of(&compare);
    row(
        "Alembic: python3 + reflect models + `compare_metadata` (whole process)",
        &whole,
        &ratio(&whole, ours),
        &mib(peak(&runs)),
    );
    row("Alembic: `compare_metadata` alone", &cmp, &ratio(&cmp, ours), "");
    let ours_compare = st.inspect.median + st.plan.median;
    println!(
        "\nAlembic's comparison alone is {:.1}× our whole `reconcile plan` process and {:.0}× our like-for-like \
         part (inspect + diff + plan, {}, with the models already in memory).",
        cmp.median.as_secs_f64() / ours.median.as_secs_f64(),
        cmp.median.as_secs_f64() / ours_compare.as_secs_f64(),
        ms(ours_compare)
    );
}

fn ratio(a: &Stats, b: &Stats) -> String {
    format!("{:.2}×", a.median.as_secs_f64() / b.median.as_secs_f64())
}

// ---- startup ----

fn startup_noop(work: &Path, reps: usize) {
    // Two databases with the same 20 tables, in sync: one made by `reconcile apply` (its history
    // row lets the no-op fast path answer), one made without it (no history: the full path).
    let (bare_db, schema, expected) = plan_fixture(work, 20, false);
    assert!(expected.is_empty());
    let db = work.join("startup-applied.db");
    let _ = fs::remove_file(&db);
    let (db_s, bare_s, schema_s) =
        (db.to_str().expect("utf-8"), bare_db.to_str().expect("utf-8"), schema.to_str().expect("utf-8"));
    reconcile(&["apply", "--db", db_s, "--schema", schema_s, "--yes"], None);
    // In sync first: `drift` exits 0 only when there is no difference.
    reconcile(&["drift", "--db", db_s, "--schema", schema_s], None);
    reconcile(&["drift", "--db", bare_s, "--schema", schema_s], None);
    let fast = ["apply", "--db", db_s, "--schema", schema_s, "--yes"];
    let full = ["apply", "--db", bare_s, "--schema", schema_s, "--yes"];
    let count = [db_s, "SELECT count(*) FROM sqlite_schema"];
    let shell = Path::new("sqlite3");
    for _ in 0..3 {
        // Warm the page cache.
        reconcile(&fast, None);
        reconcile(&full, None);
        run_child(shell, &count, None);
    }
    // In turn, so that drift of the machine's speed touches all three alike.
    let (mut fast_runs, mut full_runs, mut shell_runs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..reps {
        fast_runs.push(reconcile(&fast, None));
        shell_runs.push(run_child(shell, &count, None));
        full_runs.push(reconcile(&full, None));
    }
    let version = ["--version"];
    let bare: Vec<Run> = (0..reps).map(|_| reconcile(&version, None)).collect();
    // The app's call: the schema is embedded, the connection is the app's own.
    let sources: Vec<(String, String)> = fs::read_dir(&schema)
        .expect("schema dir")
        .map(|e| {
            let p = e.expect("entry").path();
            (p.display().to_string(), fs::read_to_string(&p).expect("read"))
        })
        .collect();
    let reconciler = Reconciler::from_sources(&sources).expect("load");
    let conn = Connection::open(&db).expect("open");
    // The library's first call on this database made no change; it records nothing, so it is
    // in sync through the full path until a change made by the library stamps it: apply one.
    let lib_db = work.join("startup-lib.db");
    let _ = fs::remove_file(&lib_db);
    let mut lib_conn = Connection::open(&lib_db).expect("open");
    assert!(reconciler.reconcile(&mut lib_conn).expect("reconcile").id.is_some());
    let lib_fast = time_n(reps * 20, || {
        let report = reconciler.reconcile(&mut lib_conn).expect("reconcile");
        assert!(report.id.is_none(), "not in sync");
    });
    let lib_full = time_n(reps, || {
        let mut conn = Connection::open(&bare_db).expect("open");
        let report = reconciler.reconcile(&mut conn).expect("reconcile");
        assert!(report.id.is_none(), "not in sync");
    });
    let lib_construct = time_n(reps, || {
        Reconciler::from_sources(&sources).expect("load");
    });
    let lib_inspect = time_n(reps, || {
        inspect(&conn, &InspectOptions::default()).expect("inspect");
    });
    conn.execute_batch("SELECT 1").expect("conn");
    let s = Stats::of_runs(&fast_runs);
    let sh = Stats::of_runs(&shell_runs);
    let f = Stats::of_runs(&full_runs);
    header("startup no-op, 20 tables in sync (budget: < 10 ms for the whole process; ≤ 1.5× the sqlite3 shell)");
    row("`reconcile apply --yes`, fast path (whole process)", &s, "1", &mib(peak(&fast_runs)));
    row("`sqlite3 DB \"SELECT count(*) FROM sqlite_schema\"`", &sh, &ratio(&sh, &s), &mib(peak(&shell_runs)));
    row("`reconcile apply --yes`, full path (no history)", &f, &ratio(&f, &s), &mib(peak(&full_runs)));
    let b = Stats::of_runs(&bare);
    row("`reconcile --version` (process floor)", &b, &ratio(&b, &s), &mib(peak(&bare)));
    println!("\nfast path / sqlite3 shell, ratio of medians: {}", ratio(&s, &sh));
    header("startup no-op, the library (in process)");
    println!(
        "| `reconcile` on an open connection, fast path | {} µs | {} – {} µs | {} | | |",
        lib_fast.median.as_micros(),
        lib_fast.min.as_micros(),
        lib_fast.max.as_micros(),
        lib_fast.n
    );
    row("open + `reconcile`, full path (no history)", &lib_full, &ratio(&lib_full, &s), "");
    row(
        "`Reconciler::from_sources` (load + normalize, once per process)",
        &lib_construct,
        &ratio(&lib_construct, &s),
        "",
    );
    row("`inspect` of the database (the full path's read)", &lib_inspect, &ratio(&lib_inspect, &s), "");
}

// ---- scaling ----

fn scaling(work: &Path, reps: &Reps) {
    let mut plan_rows = Vec::new();
    for n in [100, 1000, 5000] {
        let r = if n >= 5000 { reps.plan.min(3) } else { reps.plan };
        plan_rows.push((n, plan_scenario(work, n, r, false)));
    }
    println!("\n### plan scaling (medians; stages in process)\n");
    println!("| tables | `reconcile plan` | per table | vs linear from 100 | load YAML | scratch build + inspect | the same in one database | inspect db | diff + plan | prepare |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let per_100 = plan_rows[0].1 .0.median.as_secs_f64() / 100.0;
    for (n, (s, st)) in &plan_rows {
        let per = s.median.as_secs_f64() / *n as f64;
        println!(
            "| {n} | {} | {:.0} µs | {:.2}× | {} | {} | {} | {} | {} | {} |",
            ms(s.median),
            per * 1e6,
            per / per_100,
            ms(st.load.median),
            ms(st.normalize.median),
            ms(st.one_database.median),
            ms(st.inspect.median),
            ms(st.plan.median),
            ms(st.prepare.median)
        );
    }
    println!("\n### rebuild scaling (medians)\n");
    println!("| rows | `reconcile apply` | hand-written | ratio | per 1k rows | peak RSS reconcile | peak RSS hand-written |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for rows in [10_000, 100_000, 1_000_000] {
        let r = rebuild_scenario(work, rows, reps.scaling_rebuild, false);
        let (ours, hand) = (Stats::of_runs(&r[0].1), Stats::of_runs(&r[1].1));
        println!(
            "| {rows} | {} | {} | {:.3}× | {:.2} ms | {} | {} |",
            ms(ours.median),
            ms(hand.median),
            ours.median.as_secs_f64() / hand.median.as_secs_f64(),
            ours.median.as_secs_f64() * 1e6 / rows as f64,
            mib(peak(&r[0].1)),
            mib(peak(&r[1].1))
        );
    }
}
