//! Disk faults: `reconcile apply` and `reconcile rollback` run under libfiu (`fiu-run -x`, Debian
//! `fiu-utils`), which makes one kind of system call fail, at its N-th call and only there,
//! with a chosen errno (`faults/nth.c` counts the calls). N is swept over the whole run, for
//! each kind of call, in rollback-journal and WAL modes, for three plans: a destructive one
//! (so a backup file is written), a rebuild under triggers and a view, and a native ALTER.
//!
//! After each injected run, the same checks as after a kill (`crash::check_trial`): the process
//! exited 0 having really finished, or non-zero naming what failed; `integrity_check` is ok;
//! the database holds exactly the state before or exactly the state after; the history, the
//! backup file and the plan files agree with it. Then the same command finishes the job and
//! the inverse command undoes it.
//!
//! `cargo test` sweeps a fixed sample of each case (a few hundred runs in all);
//! `RECONCILE_FAULTS=all` sweeps every call (docs/SAFETY.md has the table).
//!
//! Power loss: `faults/powercut.c` keeps of each file what its last fsync made durable and cuts
//! the run at its K-th fsync; the directory is rebuilt as the cut left it and checked the same
//! way, K swept over every fsync of an apply of each plan in both modes.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::crash::{self, before_sql_sized, check_trial, reference_of, Cmd, Mode, Reference};
use crate::harness::{command, copy_dir, stderr, Dir};

/// A kind of system call, the libfiu point that fails it, and the errno it fails with.
#[derive(Debug, Clone, Copy)]
struct Fault {
    call: &'static str,
    point: &'static str,
    errno: i32,
    /// What the system says for that errno, which a message about it may quote.
    says: &'static str,
}

const FAULTS: &[Fault] = &[
    Fault { call: "open", point: "posix/io/oc/open", errno: libc::EACCES, says: "Permission denied" },
    Fault { call: "pread", point: "posix/io/rw/pread", errno: libc::EIO, says: "Input/output error" },
    Fault { call: "read", point: "posix/io/rw/read", errno: libc::EIO, says: "Input/output error" },
    Fault { call: "pwrite", point: "posix/io/rw/pwrite", errno: libc::EIO, says: "Input/output error" },
    Fault { call: "pwrite (disk full)", point: "posix/io/rw/pwrite", errno: libc::ENOSPC, says: "No space left" },
    Fault { call: "write", point: "posix/io/rw/write", errno: libc::ENOSPC, says: "No space left" },
    Fault { call: "fsync", point: "posix/io/sync/fsync", errno: libc::EIO, says: "Input/output error" },
    Fault { call: "rename", point: "posix/io/dir/rename", errno: libc::EACCES, says: "Permission denied" },
    Fault { call: "unlink", point: "posix/io/dir/unlink", errno: libc::EACCES, says: "Permission denied" },
    Fault { call: "mmap", point: "posix/mm/mmap", errno: libc::ENOMEM, says: "Cannot allocate memory" },
    Fault { call: "malloc", point: "libc/mm/malloc", errno: libc::ENOMEM, says: "memory allocation" },
];

/// The three plans, each from the same small database.
#[derive(Debug, Clone, Copy)]
enum Plan {
    /// `users.legacy` dropped: its values go to a backup file.
    Destructive,
    /// `users.email` made NOCASE: `users` rebuilt under its index, a trigger and a view, with
    /// `orders` referencing it.
    Rebuild,
    /// `audit.source` added in place.
    NativeAlter,
}

const PLANS: [Plan; 3] = [Plan::Destructive, Plan::Rebuild, Plan::NativeAlter];

/// The database's schema as YAML (inspected), changed as `plan` says.
fn desired(plan: Plan, mode: Mode) -> String {
    let dir = Dir::new();
    dir.db("app.db", &before_sql_sized(mode, 60, 120));
    let out = command(dir.path(), &["inspect", "--db", "app.db"]).output().expect("inspect");
    assert!(out.status.success(), "{}", stderr(&out));
    let mut doc: serde_yaml::Value = serde_yaml::from_slice(&out.stdout).expect("YAML");
    let tables = doc["tables"].as_mapping_mut().expect("tables");
    let columns = |t: &str, doc: &mut serde_yaml::Mapping| -> Vec<serde_yaml::Value> {
        doc.get_mut(t).and_then(|t| t["columns"].as_sequence().cloned()).expect("columns")
    };
    match plan {
        Plan::Destructive => {
            let kept: Vec<serde_yaml::Value> =
                columns("users", tables).into_iter().filter(|c| c["name"] != "legacy").collect();
            tables.get_mut("users").unwrap()["columns"] = serde_yaml::Value::Sequence(kept);
        }
        Plan::Rebuild => {
            let mut cols = columns("users", tables);
            for c in &mut cols {
                if c["name"] == "email" {
                    c["collate"] = "NOCASE".into();
                }
            }
            tables.get_mut("users").unwrap()["columns"] = serde_yaml::Value::Sequence(cols);
        }
        Plan::NativeAlter => {
            let mut cols = columns("audit", tables);
            cols.push(serde_yaml::from_str("{ name: source, type: TEXT, default: \"'app'\" }").unwrap());
            tables.get_mut("audit").unwrap()["columns"] = serde_yaml::Value::Sequence(cols);
        }
    }
    serde_yaml::to_string(&doc).unwrap()
}

/// `fiu-run` and the N-th-call companion library, or why they cannot be had (then the tests say
/// skipped, and fail under `CI=true`).
fn tools() -> Result<&'static Path, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if Command::new("fiu-run").arg("-h").output().is_err() {
                // The system's package manager, where this user may run it.
                let root = unsafe { libc::geteuid() } == 0;
                let apt = if root { vec!["apt-get"] } else { vec!["sudo", "-n", "apt-get"] };
                let _ = Command::new(apt[0]).args(&apt[1..]).args(["update", "-qq"]).output();
                let _ = Command::new(apt[0]).args(&apt[1..]).args(["install", "-y", "-qq", "fiu-utils"]).output();
                Command::new("fiu-run")
                    .arg("-h")
                    .output()
                    .map_err(|e| format!("fiu-run (Debian fiu-utils) is missing and could not be installed: {e}"))?;
            }
            build_library("nth", &["-L/usr/lib", "-l:libfiu.so.0"])
        })
        .as_ref()
        .map(PathBuf::as_path)
        .map_err(Clone::clone)
}

/// What one run under a fault did.
struct Ran {
    output: std::process::Output,
    /// The calls of the fault's kind the run made (up to the failing one), when it could say.
    calls: Option<u64>,
    /// Whether the N-th call came (and failed).
    fired: bool,
}

/// Runs `cmd` in `dir` with `fault` at its `nth` call (0: none, only counting).
fn run_with_fault(lib: &Path, dir: &Path, cmd: Cmd, fault: Fault, nth: u64) -> Ran {
    let report = dir.join(".fault-report");
    let mut args: Vec<&str> = vec!["-q"];
    args.extend(cmd.args());
    let output = Command::new("fiu-run")
        .args(["-x", "sh", "-c", "LD_PRELOAD=\"$LD_PRELOAD $RECONCILE_FAULT_LIB\" exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_reconcile"))
        .args(&args)
        .current_dir(dir)
        .env_remove("CI")
        .env("NO_COLOR", "1")
        .env("RECONCILE_FAULT_LIB", lib)
        .env("RECONCILE_FAULT_POINT", fault.point)
        .env("RECONCILE_FAULT_NTH", nth.to_string())
        .env("RECONCILE_FAULT_ERRNO", fault.errno.to_string())
        .env("RECONCILE_FAULT_REPORT", &report)
        .stdin(Stdio::null())
        .output()
        .expect("run fiu-run");
    let said = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    let mut words = said.split_whitespace();
    let calls = words.next().and_then(|w| w.parse().ok());
    // A process that aborted wrote no report: its fault fired.
    let fired = words.next().map_or(nth > 0, |w| w == "1");
    Ran { output, calls, fired }
}

/// The N values a case sweeps: every call, or `sample` of them spread over the run.
fn sweep(total: u64, sample: Option<u64>) -> Vec<u64> {
    match sample {
        None => (1..=total).collect(),
        Some(k) if total <= k => (1..=total).collect(),
        Some(k) => (0..k).map(|i| 1 + i * (total - 1) / (k - 1).max(1)).collect(),
    }
}

/// Outcomes of one case: injection points swept, runs that left the state before, after.
#[derive(Debug, Default, Clone, Copy)]
struct Count {
    swept: usize,
    before: usize,
    after: usize,
}

/// The message of a failed run names what failed: the operation (or the system's words for the
/// errno) and a file.
fn names_what_failed(said: &str, fault: Fault) -> bool {
    let op = said.contains("SQLite's failing call")
        || said.contains(fault.says)
        || said.contains("(os error")
        || said.contains("disk is full")
        || said.contains("memory allocation")
        || said.contains("out of memory")
        || said.contains("failed");
    // Memory is no file: an allocation that failed names the operation only.
    let file = fault.errno == libc::ENOMEM
        || ["app.db", "schema", "plans", "reconcile.toml", "/"].iter().any(|f| said.contains(f));
    op && file
}

fn campaign(cmd: Cmd, mode: Mode) {
    let lib = match tools() {
        Ok(lib) => lib,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("fault injection is required under CI=true: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let all = std::env::var("RECONCILE_FAULTS").is_ok_and(|v| v == "all");
    let mut table: BTreeMap<&str, Count> = BTreeMap::new();
    let mut unnamed = Vec::new();
    let mut misreported: BTreeMap<&str, usize> = BTreeMap::new();
    for plan in PLANS {
        let r: Reference = reference_of(&before_sql_sized(mode, 60, 120), &desired(plan, mode), cmd);
        for fault in FAULTS {
            // Every call in the full sweep (thousands of mallocs: 120 of them); a few by default.
            let sample = match (all, fault.point) {
                (true, "libc/mm/malloc") => Some(120),
                (true, _) => None,
                (false, "libc/mm/malloc") => Some(2),
                (false, _) => Some(3),
            };
            let probe = Dir::new();
            copy_dir(r.template.path(), probe.path());
            let counted = run_with_fault(lib, probe.path(), cmd, *fault, 0);
            assert!(
                counted.output.status.success(),
                "{plan:?} {cmd:?}: the run without a fault failed: {}",
                stderr(&counted.output)
            );
            let total = counted.calls.expect("the run without a fault reports its calls");
            for nth in sweep(total, sample) {
                let label = format!(
                    "{cmd:?} of the {plan:?} plan in {mode:?} mode, {} failing at call {nth} of {total}",
                    fault.call
                );
                let dir = Dir::new();
                copy_dir(r.template.path(), dir.path());
                let ran = run_with_fault(lib, dir.path(), cmd, *fault, nth);
                let said = stderr(&ran.output);
                let aborted = ran.output.status.signal() == Some(libc::SIGABRT);
                assert!(
                    ran.output.status.code().is_some_and(|c| c == 0 || c == 1 || c == 3)
                        || (aborted && fault.errno == libc::ENOMEM),
                    "{label}: exited {:?} (a panic or a crash):\n{said}",
                    ran.output.status
                );
                let failed = !ran.output.status.success();
                // Without memory the Rust runtime aborts (before `main`, or at the allocation),
                // saying which allocation failed: like a kill, the checks below hold.
                if aborted && !(said.contains("memory allocation") || said.contains("failed to allocate")) {
                    unnamed.push(format!("{label}: aborted: {said}"));
                }
                if failed && fault.errno == libc::EIO && said.contains("database disk image is malformed") {
                    // SQLite itself reports some failed reads as corruption (docs/SAFETY.md): the
                    // database is intact (checked below), the message says the wrong thing.
                    *misreported.entry(fault.call).or_default() += 1;
                } else if failed && !aborted && !names_what_failed(&said, *fault) {
                    unnamed.push(format!("{label}: {said}"));
                }
                assert!(!failed || ran.fired, "{label}: failed without the fault:\n{said}");
                let landed = check_trial(&r, cmd, dir.path(), failed, &label);
                let c = table.entry(fault.call).or_default();
                c.swept += 1;
                if landed <= crash::Landed::RolledBack {
                    c.before += 1;
                    // The same command then finishes the job.
                    crash::run_to_end(dir.path(), cmd);
                } else {
                    c.after += 1;
                }
                let s = crash::state(&dir.path().join("app.db"));
                assert_eq!(s.content, r.new.content, "{label}: the run after the fault did not reach the state after");
                // And the inverse undoes it.
                let inverse = if cmd == Cmd::Apply { Cmd::Rollback } else { Cmd::Apply };
                crash::run_to_end(dir.path(), inverse);
                // The schema as the planner reads it (a rollback writes its own DDL text), every row.
                let back = crash::state(&dir.path().join("app.db"));
                assert_eq!(back.content.rows, r.old.content.rows, "{label}: {inverse:?} after the fault lost rows");
                let schema = |db: &Path| {
                    let conn = rusqlite::Connection::open(db).unwrap();
                    sqlite_reconcile::inspect(&conn, &sqlite_reconcile::InspectOptions::default()).unwrap()
                };
                let left = sqlite_reconcile::diff::diff(
                    &schema(&dir.path().join("app.db")),
                    &schema(&r.template.join("app.db")),
                );
                assert!(
                    left.is_empty(),
                    "{label}: {inverse:?} after the fault did not give the schema before: {left:?}"
                );
            }
        }
    }
    let runs: usize = table.values().map(|c| c.swept).sum();
    eprintln!("faults in {cmd:?}, {mode:?} mode: {runs} injected runs (0 inconsistent; a state neither before nor after fails the test)");
    for (call, n) in &misreported {
        eprintln!("  {n} failed {call} runs reported by SQLite as \"database disk image is malformed\"");
    }
    for (call, c) in &table {
        eprintln!("  | {call} | {mode:?} | {cmd:?} | {} | {} | {} | 0 |", c.swept, c.before, c.after);
    }
    assert!(unnamed.is_empty(), "failed runs whose message names no operation or file:\n{}", unnamed.join("\n---\n"));
}

#[test]
fn apply_under_disk_faults_in_rollback_journal_mode() {
    campaign(Cmd::Apply, Mode::RollbackJournal);
}

#[test]
fn apply_under_disk_faults_in_wal_mode() {
    campaign(Cmd::Apply, Mode::Wal);
}

#[test]
fn rollback_under_disk_faults_in_rollback_journal_mode() {
    campaign(Cmd::Rollback, Mode::RollbackJournal);
}

#[test]
fn rollback_under_disk_faults_in_wal_mode() {
    campaign(Cmd::Rollback, Mode::Wal);
}

// ---- power loss ----

/// The power-cut library (`faults/powercut.c`), built once.
fn powercut_lib() -> Result<&'static Path, String> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT.get_or_init(|| build_library("powercut", &["-ldl"])).as_ref().map(PathBuf::as_path).map_err(Clone::clone)
}

/// Builds `tests/it/faults/<name>.c` into `target/faults/<name>.so`, linked with `link`.
fn build_library(name: &str, link: &[&str]) -> Result<PathBuf, String> {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/faults");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    let lib = out.join(format!("{name}.so"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/it/faults/{name}.c"));
    let built = Command::new("cc")
        .args(["-shared", "-fPIC", "-O1", "-o"])
        .arg(&lib)
        .arg(&src)
        .args(link)
        .output()
        .map_err(|e| format!("no C compiler to build {}: {e}", src.display()))?;
    if !built.status.success() {
        return Err(format!("cannot build {}: {}", src.display(), String::from_utf8_lossy(&built.stderr)));
    }
    Ok(lib)
}

/// Every regular file under `dir`, by path.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        match e.file_type() {
            Ok(t) if t.is_dir() => out.extend(files(&p)),
            Ok(t) if t.is_file() => out.push(p),
            _ => {}
        }
    }
    out
}

/// Runs `reconcile apply` in `dir`, the power cut at its `cut`-th fsync (0: none); the fsyncs it
/// made.
fn run_with_power_cut(lib: &Path, dir: &Path, shadow: &Path, cut: u64) -> (std::process::Output, u64) {
    let report = shadow.join("report");
    let mut args: Vec<&str> = vec!["-q"];
    args.extend(Cmd::Apply.args());
    let output = Command::new(env!("CARGO_BIN_EXE_reconcile"))
        .args(&args)
        .current_dir(dir)
        .env_remove("CI")
        .env("LD_PRELOAD", lib)
        .env("RECONCILE_CUT_DIR", dir)
        .env("RECONCILE_CUT_SHADOW", shadow)
        .env("RECONCILE_CUT_AT", cut.to_string())
        .env("RECONCILE_CUT_REPORT", &report)
        .stdin(Stdio::null())
        .output()
        .expect("run reconcile");
    let syncs = std::fs::read_to_string(&report).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    (output, syncs)
}

/// The directory as the power cut leaves it: each file holds what it held at its last fsync;
/// a file never synced holds what it held before the run, or nothing if the run made it.
fn after_the_cut(dir: &Path, shadow: &Path, initial: &BTreeMap<PathBuf, Vec<u8>>) {
    use std::os::unix::fs::MetadataExt;
    for f in files(dir) {
        let ino = std::fs::metadata(&f).unwrap().ino();
        let synced = shadow.join(ino.to_string());
        let durable = if synced.is_file() {
            std::fs::read(&synced).unwrap()
        } else {
            initial.get(&f).cloned().unwrap_or_default()
        };
        std::fs::write(&f, durable).unwrap();
    }
}

fn power_cut_everywhere(mode: Mode) {
    let lib = match powercut_lib() {
        Ok(lib) => lib,
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("the power-cut library is required under CI=true: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    for plan in PLANS {
        let r: Reference = reference_of(&before_sql_sized(mode, 60, 120), &desired(plan, mode), Cmd::Apply);
        let probe = Dir::new();
        copy_dir(r.template.path(), probe.path());
        let shadow = Dir::new();
        let dir = std::fs::canonicalize(probe.path()).unwrap();
        let (out, total) = run_with_power_cut(lib, &dir, shadow.path(), 0);
        assert!(out.status.success(), "{plan:?}: the run without a cut failed: {}", stderr(&out));
        assert!(total > 3, "{plan:?}: only {total} fsyncs");
        let (mut before, mut after) = (0, 0);
        for cut in 1..=total {
            let label = format!("apply of the {plan:?} plan in {mode:?} mode, power cut at fsync {cut} of {total}");
            let run = Dir::new();
            copy_dir(r.template.path(), run.path());
            let dir = std::fs::canonicalize(run.path()).unwrap();
            let initial: BTreeMap<PathBuf, Vec<u8>> =
                files(&dir).into_iter().map(|f| (f.clone(), std::fs::read(&f).unwrap())).collect();
            let shadow = Dir::new();
            let (out, _) = run_with_power_cut(lib, &dir, shadow.path(), cut);
            assert_eq!(out.status.code(), Some(137), "{label}: the run did not stop at the cut: {}", stderr(&out));
            after_the_cut(&dir, shadow.path(), &initial);
            match check_trial(&r, Cmd::Apply, &dir, true, &label) {
                l if l <= crash::Landed::RolledBack => {
                    before += 1;
                    crash::run_to_end(&dir, Cmd::Apply);
                    let s = crash::state(&dir.join("app.db"));
                    assert_eq!(s.content, r.new.content, "{label}: the apply after the cut did not finish the job");
                }
                _ => after += 1,
            }
        }
        eprintln!("  | power cut | {mode:?} | {plan:?} | {total} | {before} | {after} | 0 |");
    }
}

#[test]
fn apply_cut_by_a_power_loss_at_every_fsync_in_rollback_journal_mode() {
    power_cut_everywhere(Mode::RollbackJournal);
}

#[test]
fn apply_cut_by_a_power_loss_at_every_fsync_in_wal_mode() {
    power_cut_everywhere(Mode::Wal);
}
