//! The CLI's interface as users and tools see it: the help of every command,
//! the plan text, each JSON format (docs/JSON.md), colors, `--quiet` and
//! `-v`, the rebuild progress bar on a terminal, shell completions and the
//! man page. Snapshots under `tests/it/snapshots/`, each holding a run's exit
//! code, stdout and stderr together (`harness::snapshot`), make every change to
//! them deliberate: review one with `INSTA_UPDATE=always` and `git diff`.

use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::harness::{reconcile, reconcile_env, reconcile_on_terminal, snapshot, stderr, stdout, Dir};

#[track_caller]
fn ok(o: Output) -> Output {
    assert_eq!(o.status.code(), Some(0), "expected exit code 0; stderr:\n{}", stderr(&o));
    o
}

// ---- help ----

/// The commands listed by the top-level help, which every other help test goes through.
fn commands() -> Vec<String> {
    let help = stdout(&ok(reconcile(Path::new("."), &["--help"])));
    let list = help.split("Commands:\n").nth(1).and_then(|rest| rest.split("\n\n").next()).unwrap_or_default();
    list.lines().filter_map(|l| l.split_whitespace().next()).filter(|c| *c != "help").map(String::from).collect()
}

#[test]
fn help_lists_every_command() {
    let names = commands();
    let want = [
        "inspect",
        "check",
        "plan",
        "apply",
        "drift",
        "rollback",
        "history",
        "reset",
        "fleet",
        "schema",
        "completions",
        "man",
    ];
    assert_eq!(names, want);
}

#[test]
fn top_level_help() {
    let d = Dir::new();
    insta::assert_snapshot!("help", snapshot(&ok(reconcile(d.path(), &["--help"])), str::to_string));
}

#[test]
fn every_command_help() {
    let d = Dir::new();
    for name in commands() {
        let help = snapshot(&ok(reconcile(d.path(), &[&name, "--help"])), str::to_string);
        insta::assert_snapshot!(format!("help_{name}"), help);
    }
    for action in ["plan", "apply", "drift"] {
        let help = snapshot(&ok(reconcile(d.path(), &["fleet", action, "--help"])), str::to_string);
        insta::assert_snapshot!(format!("help_fleet_{action}"), help);
    }
}

/// Every option that can come from the environment names its variable, and where
/// reconcile.toml can set it too, the key and the default, in the order they win.
#[test]
fn help_says_where_each_setting_comes_from() {
    let d = Dir::new();
    for name in commands() {
        let help = stdout(&ok(reconcile(d.path(), &[&name, "-h"])));
        for line in help.lines().filter(|l| l.contains("[env: RECONCILE_")) {
            let env = line.find("[env:").unwrap_or(0);
            let default = line.find("[default:").unwrap_or(0);
            assert!(env < default, "`{name}`: no default after the variable in {line:?}");
            if let Some(toml) = line.find("[reconcile.toml:") {
                assert!(env < toml && toml < default, "`{name}`: not flag > env > file > default in {line:?}");
            }
        }
        if help.contains("[reconcile.toml:") {
            assert!(help.contains("Settings: flag > RECONCILE_* variable > reconcile.toml > default"), "{name}");
        }
    }
    let top = stdout(&ok(reconcile(d.path(), &["--help"])));
    for var in ["RECONCILE_DB", "RECONCILE_SCHEMA", "RECONCILE_PLANS", "RECONCILE_BUSY_TIMEOUT", "RECONCILE_ENV"] {
        assert!(top.contains(var), "{var} missing from the settings table");
    }
}

#[test]
fn bad_usage_exits_1_not_the_drift_code() {
    let d = Dir::new();
    let o = reconcile(d.path(), &["drift", "--no-such-flag"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("--no-such-flag"));
    let o = reconcile_env(d.path(), &["plan"], &[("RECONCILE_COLOR", "sometimes")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid value 'sometimes' for '--color <WHEN>'"), "{}", stderr(&o));
}

// ---- a representative plan ----

const BEFORE: &str = "CREATE TABLE feed(id INTEGER PRIMARY KEY, url TEXT, title TEXT);
CREATE INDEX feed_title ON feed(title);
CREATE TABLE log(feed_id INTEGER, msg TEXT);
CREATE TABLE legacy(x);
CREATE VIEW titled AS SELECT id, title FROM feed WHERE title IS NOT NULL;
CREATE TRIGGER feed_touch AFTER UPDATE OF title ON feed BEGIN INSERT INTO log (feed_id, msg) VALUES (NEW.id, 'title'); END;
INSERT INTO feed VALUES (1, 'http://a', 'A'), (2, NULL, 'B');
INSERT INTO legacy VALUES ('old');";

/// `feed` gains a UNIQUE column (a rebuild under a view and a trigger), `log` a column
/// (native), `legacy` is dropped (destructive).
const AFTER: &str = "tables:
  feed:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: url, type: TEXT }
      - { name: title, type: TEXT }
      - { name: slug, type: TEXT, unique: true }
    indexes:
      feed_title: { columns: [title] }
  log:
    columns:
      - { name: feed_id, type: INTEGER }
      - { name: msg, type: TEXT }
      - { name: at, type: TEXT }
views:
  titled:
    sql: SELECT id, title FROM feed WHERE title IS NOT NULL
triggers:
  feed_touch:
    sql: CREATE TRIGGER feed_touch AFTER UPDATE OF title ON feed BEGIN INSERT INTO log (feed_id, msg) VALUES (NEW.id, 'title'); END
";

fn project() -> Dir {
    let d = Dir::new();
    d.db("app.db", BEFORE);
    d.write("schema/app.yaml", AFTER);
    d
}

#[test]
fn plan_text() {
    let d = project();
    let o = ok(reconcile(d.path(), &["plan"]));
    assert_eq!(stdout(&o), "", "the text plan is for people: stderr");
    let text = stderr(&o);
    assert!(!text.contains('\x1b'), "NO_COLOR: no escapes");
    insta::assert_snapshot!("plan_text", snapshot(&o, str::to_string));
}

#[test]
fn plan_text_color() {
    let d = project();
    // Not a terminal (a pipe), NO_COLOR unset: no color.
    let piped = stderr(&ok(reconcile_env(d.path(), &["plan"], &[("NO_COLOR", "")])));
    assert!(!piped.contains('\x1b'), "{piped}");
    // Asked for, it colors the risk markers, and only adds escapes to the plain text.
    let colored = stderr(&ok(reconcile_env(d.path(), &["plan", "--color", "always"], &[])));
    assert!(colored.contains("\x1b[1;31mdestructive\x1b[0m"), "{colored}");
    assert!(colored.contains("\x1b[1;35mrebuild\x1b[0m"), "{colored}");
    assert!(colored.contains("\x1b[1;33mdata-dependent\x1b[0m"), "{colored}");
    assert_eq!(strip_ansi(&colored), piped);
    // JSON and SQL on stdout never, even when asked.
    for format in ["json", "sql"] {
        let o = ok(reconcile_env(d.path(), &["plan", "--format", format], &[("RECONCILE_COLOR", "always")]));
        assert!(!stdout(&o).contains('\x1b'), "{format}");
    }
    // On a terminal: colored by default, not with NO_COLOR, and --color never wins.
    let (tty, _) = reconcile_on_terminal(d.path(), &["plan"], &[]);
    assert!(tty.contains("\x1b[1;31mdestructive"), "{tty}");
    let (tty, _) = reconcile_on_terminal(d.path(), &["plan"], &[("NO_COLOR", "1")]);
    assert!(!tty.contains('\x1b') && tty.contains("[destructive]"), "{tty}");
    let (tty, _) = reconcile_on_terminal(d.path(), &["plan", "--color", "never"], &[]);
    assert!(!tty.contains('\x1b'), "{tty}");
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

// ---- JSON formats (docs/JSON.md) ----

/// The JSON as printed, with the values that change from run to run replaced by their
/// name (`"applied_at": "[APPLIED_AT]"`); field order is kept, as it is part of what users see.
fn redacted(json: &str) -> String {
    const VOLATILE: [&str; 9] = [
        "id",
        "applied_at",
        "elapsed_ms",
        "tool_version",
        "sqlite_version",
        "fingerprint_before",
        "fingerprint_after",
        "rolls_back",
        "backup",
    ];
    let _: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}):\n{json}"));
    let mut out = String::new();
    for line in json.lines() {
        let body = line.trim_start();
        let key = VOLATILE.iter().find(|k| body.starts_with(&format!("\"{k}\": ")));
        match key {
            Some(k) if !body.ends_with("null") && !body.ends_with("null,") => {
                let indent = &line[..line.len() - body.len()];
                let comma = if body.ends_with(',') { "," } else { "" };
                out.push_str(&format!("{indent}\"{k}\": \"[{}]\"{comma}\n", k.to_ascii_uppercase()));
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// The `version` field every JSON output carries.
#[track_caller]
fn versioned(json: &str) -> &str {
    let v: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}):\n{json}"));
    assert_eq!(v["version"], 1, "{json}");
    json
}

#[test]
fn plan_json() {
    let d = project();
    let o = ok(reconcile(d.path(), &["plan", "--format", "json"]));
    insta::assert_snapshot!("plan_json", snapshot(&o, |out| redacted(versioned(out))));
}

#[test]
fn plan_json_in_sync() {
    let d = project();
    ok(reconcile(d.path(), &["apply", "--yes", "--allow-destructive"]));
    let o = ok(reconcile(d.path(), &["plan", "--format", "json"]));
    insta::assert_snapshot!("plan_json_in_sync", snapshot(&o, |out| redacted(versioned(out))));
}

#[test]
fn drift_json() {
    let d = project();
    let o = reconcile(d.path(), &["drift", "--format", "json"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    insta::assert_snapshot!("drift_json", snapshot(&o, |out| redacted(versioned(out))));
    ok(reconcile(d.path(), &["apply", "--yes", "--allow-destructive"]));
    let o = ok(reconcile(d.path(), &["drift", "--format", "json"]));
    insta::assert_snapshot!("drift_json_in_sync", snapshot(&o, |out| redacted(versioned(out))));
}

#[test]
fn history_json() {
    let d = project();
    let o = ok(reconcile(d.path(), &["history", "--format", "json"]));
    insta::assert_snapshot!("history_json_empty", snapshot(&o, |out| redacted(versioned(out))));
    ok(reconcile(d.path(), &["apply", "--yes", "--allow-destructive"]));
    ok(reconcile(d.path(), &["rollback", "--yes", "--allow-destructive"]));
    let o = ok(reconcile(d.path(), &["history", "--format", "json"]));
    insta::assert_snapshot!("history_json", snapshot(&o, |out| redacted(versioned(out))));
}

// ---- --quiet and -v ----

#[test]
fn quiet_prints_only_errors() {
    let d = project();
    let o = ok(reconcile(d.path(), &["apply", "--yes", "--allow-destructive", "-q"]));
    assert_eq!((stdout(&o), stderr(&o)), (String::new(), String::new()));
    for args in [&["check", "-q"][..], &["drift", "-q"], &["history", "-q", "--db", "missing.db"]] {
        let o = reconcile(d.path(), args);
        if args[0] == "history" {
            assert_eq!(o.status.code(), Some(1));
            assert!(stderr(&o).starts_with("error: missing.db"), "{}", stderr(&o));
        } else {
            assert_eq!((o.status.code(), stderr(&o)), (Some(0), String::new()), "{args:?}");
        }
    }
    // What the command is for still prints: drift's exit code and JSON.
    d.write("schema/extra.yaml", "tables:\n  extra:\n    columns:\n      - { name: id }\n");
    let o = reconcile(d.path(), &["drift", "-q"]);
    assert_eq!((o.status.code(), stderr(&o)), (Some(2), String::new()));
    let o = reconcile(d.path(), &["drift", "-q", "--format", "json"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stdout(&o).contains("\"in_sync\": false"));
    // Without --yes and without a terminal, the refusal still says why.
    let o = reconcile(d.path(), &["apply", "-q"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).starts_with("refused: not a terminal and no --yes: review it with `reconcile plan`"));
    assert!(reconcile(d.path(), &["apply", "-q", "-v"]).status.code() == Some(1), "-q and -v conflict");
}

#[test]
fn verbose_shows_steps_sql_and_timings() {
    let d = project();
    let o = ok(reconcile(d.path(), &["apply", "--yes", "--allow-destructive", "-v"]));
    let err = stderr(&o);
    for part in [
        "step 1/",
        ": rebuild table `feed` (create, copy, drop, rename)",
        "     INSERT OR ABORT INTO _reconcile_new_feed (rowid, id, url, title) SELECT rowid, id, url, title FROM feed\n",
        "   done in ",
        "verified the result against the schema in ",
    ] {
        assert!(err.contains(part), "expected {part:?} in:\n{err}");
    }
    assert!(!err.contains("setting db"), "-v alone shows no setting sources:\n{err}");
}

#[test]
fn very_verbose_shows_where_settings_came_from() {
    let d = project();
    d.write("reconcile.toml", "schema = \"schema\"\nbusy_timeout_ms = 250\n");
    let o = ok(reconcile_env(
        d.path(),
        &["apply", "--yes", "--allow-destructive", "-vv", "--plans", "reviewed"],
        &[("RECONCILE_DB", "app.db")],
    ));
    let err = stderr(&o);
    for part in [
        "config: reconcile.toml\n",
        "setting db = \"app.db\" (from RECONCILE_DB)",
        "setting schema = \"schema\" (from schema in reconcile.toml)",
        "setting busy_timeout_ms = 250 (from busy_timeout_ms in reconcile.toml)",
        "setting allow_destructive = true (from --allow-destructive)",
        "setting plans = \"reviewed\" (from --plans)",
        "loaded and validated schema in ",
        "inspected app.db and planned the change and its rollback in ",
        "step 1/",
    ] {
        assert!(err.contains(part), "expected {part:?} in:\n{err}");
    }
}

// ---- progress ----

/// A database whose `feed` table has `rows` rows and a schema that rebuilds it.
fn big_rebuild(rows: u64) -> Dir {
    let d = Dir::new();
    d.db(
        "app.db",
        &format!(
            "CREATE TABLE feed(id INTEGER PRIMARY KEY, title TEXT);
             WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < {rows})
             INSERT INTO feed SELECT i, 't' || i FROM r;"
        ),
    );
    d.write(
        "schema/app.yaml",
        "tables:\n  feed:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      \
         - { name: title, type: TEXT }\n      - { name: slug, type: TEXT, unique: true }\n",
    );
    d
}

fn count(db: &Path) -> i64 {
    let conn = rusqlite::Connection::open(db).expect("open");
    conn.query_row("SELECT count(*) FROM feed WHERE title = 't' || id", [], |r| r.get(0)).expect("count")
}

#[test]
fn progress_bar_on_a_terminal_only() {
    let rows = 120_000;
    // On a terminal: the bar with rows and an ETA, then the rows copied.
    let d = big_rebuild(rows);
    let (tty, code) = reconcile_on_terminal(d.path(), &["apply", "--yes"], &[]);
    assert_eq!(code, Some(0), "{tty}");
    assert!(tty.contains("  copying feed  [") && tty.contains("/120,000 rows  ") && tty.contains("ETA"), "{tty}");
    assert!(tty.contains("copied 120,000 rows of feed in "), "{tty}");
    assert_eq!(count(&d.join("app.db")), rows as i64);
    // The stored plan is the plan: the progress function is not in it.
    let plans: Vec<_> = std::fs::read_dir(d.join("plans")).expect("plans").collect();
    for entry in plans {
        let forward = std::fs::read_to_string(entry.expect("entry").path().join("forward.sql")).expect("forward.sql");
        assert!(forward.contains("SELECT rowid, id, title FROM feed;") && !forward.contains("progress"), "{forward}");
    }
    let history = stdout(&ok(reconcile(d.path(), &["history", "--format", "json"])));
    assert!(!history.contains("progress"));

    // In a pipe: nothing of it.
    let d = big_rebuild(rows);
    let err = stderr(&ok(reconcile(d.path(), &["apply", "--yes"])));
    assert!(!err.contains("copying") && !err.contains("copied") && !err.contains('\r'), "{err}");
    assert_eq!(count(&d.join("app.db")), rows as i64);

    // On a terminal with --quiet: nothing at all.
    let d = big_rebuild(rows);
    let (tty, code) = reconcile_on_terminal(d.path(), &["apply", "--yes", "-q"], &[]);
    assert_eq!((code, tty.as_str()), (Some(0), ""));

    // Small tables finish too fast for a bar.
    let d = big_rebuild(1_000);
    let (tty, code) = reconcile_on_terminal(d.path(), &["apply", "--yes"], &[]);
    assert_eq!(code, Some(0), "{tty}");
    assert!(!tty.contains("copying") && !tty.contains("copied"), "{tty}");
}

/// An observer that records what an apply tells it.
#[derive(Default)]
struct Recorder {
    threshold: Option<u64>,
    last: AtomicU64,
    calls: AtomicU64,
    log: Mutex<Vec<String>>,
}

impl sqlite_reconcile::Observer for Recorder {
    fn step_started(&self, index: usize, total: usize, step: &sqlite_reconcile::Step) {
        self.log.lock().unwrap().push(format!("start {}/{total} {}", index + 1, step.object));
    }
    fn copy_threshold(&self) -> Option<u64> {
        self.threshold
    }
    fn copy_progress(&self, _table: &str, done: u64, total: u64) {
        assert!(done <= total);
        self.last.store(done, Ordering::SeqCst);
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
    fn copy_finished(&self, table: &str, copied: u64, ok: bool) {
        self.log.lock().unwrap().push(format!("copied {copied} of {table}: {ok}"));
    }
}

/// The progress function counts exactly the rows copied, and a failing copy still reports its end.
#[test]
fn copy_progress_is_exact() {
    let d = big_rebuild(5_000);
    let db = d.join("app.db");
    let rec = Arc::new(Recorder { threshold: Some(0), ..Recorder::default() });
    let reconciler = sqlite_reconcile::Reconciler::from_dir(d.join("schema")).expect("schema");
    let mut conn = rusqlite::Connection::open(&db).expect("open");
    let prepared = reconciler.prepare(&mut conn).expect("prepare");
    let observer: Arc<dyn sqlite_reconcile::Observer> = rec.clone();
    let mut options = sqlite_reconcile::ApplyOptions { observer: Some(observer), ..Default::default() };
    sqlite_reconcile::apply::apply(&mut conn, &prepared.forward, &prepared.after, &options).expect("apply");
    assert_eq!(rec.last.load(Ordering::SeqCst), 4 * 1024);
    assert_eq!(rec.calls.load(Ordering::SeqCst), 1 + 4, "once at the start, then every 1,024 rows");
    assert_eq!(*rec.log.lock().unwrap(), ["start 1/1 feed", "copied 5000 of feed: true"]);
    assert_eq!(count(&db), 5_000);
    // The function is gone once the copy is done.
    let e = conn.query_row("SELECT _reconcile_progress()", [], |r| r.get::<_, bool>(0)).unwrap_err();
    assert!(e.to_string().contains("no such function"), "{e}");

    // A copy that fails (a duplicate for the new UNIQUE) ends the bar, after the rows it reached,
    // and rolls back as usual.
    let d = Dir::new();
    let db = d.db("app.db", "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'), (2, 'a');");
    let yaml = "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      \
                - { name: v, type: TEXT, unique: true }\n";
    let reconciler = sqlite_reconcile::Reconciler::from_sources(&[("t.yaml", yaml)]).expect("schema");
    let mut conn = rusqlite::Connection::open(&db).expect("open");
    let prepared = reconciler.prepare(&mut conn).expect("prepare");
    let rec = Arc::new(Recorder { threshold: Some(0), ..Recorder::default() });
    let observer: Arc<dyn sqlite_reconcile::Observer> = rec.clone();
    options.observer = Some(observer);
    let e = sqlite_reconcile::apply::apply(&mut conn, &prepared.forward, &prepared.after, &options).unwrap_err();
    assert!(e.to_string().contains("UNIQUE constraint failed"), "{e}");
    assert!(!e.to_string().contains("progress"), "errors show the plan's statement: {e}");
    assert_eq!(*rec.log.lock().unwrap(), ["start 1/1 t", "copied 2 of t: false"]);
}

// ---- completions and man page ----

#[test]
fn completions() {
    let d = Dir::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout(&ok(reconcile(d.path(), &["completions", shell])));
        for word in ["reconcile", "apply", "drift", "rollback", "allow-destructive", "color"] {
            assert!(script.contains(word), "{shell}: no {word:?}");
        }
    }
    let bash = stdout(&ok(reconcile(d.path(), &["completions", "bash"])));
    let path = d.write("reconcile.bash", &bash);
    let check = std::process::Command::new("bash").arg("-n").arg(&path).output().expect("run bash -n");
    assert!(check.status.success(), "bash -n: {}", String::from_utf8_lossy(&check.stderr));
    let o = reconcile(d.path(), &["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn man_pages() {
    let d = Dir::new();
    let page = stdout(&ok(reconcile(d.path(), &["man"])));
    assert!(page.contains(".TH reconcile 1"), "{page}");
    for part in ["apply", "drift", "RECONCILE_DB", "Exit codes"] {
        assert!(page.contains(part), "no {part:?} in the man page");
    }
    for name in commands() {
        let page = stdout(&ok(reconcile(d.path(), &["man", &name])));
        assert!(
            page.contains(&format!(".TH reconcile\\-{name} 1")) || page.contains(&format!(".TH reconcile-{name} 1"))
        );
    }
    let o = reconcile(d.path(), &["man", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no command `nope`; the commands are inspect, check"), "{}", stderr(&o));
}
