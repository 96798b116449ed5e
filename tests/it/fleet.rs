//! Fleets: `reconcile fleet plan|apply|drift` over 200 real tenant files in three schema states,
//! with hand-changed and broken tenants among them; the canary; a state file and a rerun that
//! touches nothing converged; a SIGKILL mid-run that leaves every tenant before or after; the
//! library planning once per distinct schema.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use rusqlite::Connection;
use serde_json::Value as Json;
use sqlite_reconcile::fleet::{Fleet, FleetOptions, Outcome};
use sqlite_reconcile::{history, Reconciler};

use crate::harness::{command, reconcile, state, stderr, stdout, Dir};

/// Two versions behind: users and notes.
const V1: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id), body TEXT);";
/// One behind: users got a name.
const V2: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT);
CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id), body TEXT);";
/// The desired schema, as SQL: the name NOT NULL, notes' bodies NOT NULL, notes tagged and
/// indexed by user.
const V3: &str = "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, name TEXT NOT NULL DEFAULT '');
CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users (id), body TEXT NOT NULL, tag TEXT);
CREATE INDEX notes_user ON notes (user_id);";
const V3_YAML: &str = r#"tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: email, type: TEXT, not_null: true }
      - { name: name, type: TEXT, not_null: true, default: "''" }
  notes:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: user_id, type: INTEGER, references: { table: users, column: id } }
      - { name: body, type: TEXT, not_null: true }
      - { name: tag, type: TEXT }
    indexes:
      notes_user: { columns: [user_id] }
"#;

/// Rows for tenant `n` of a schema with (`named`) or without a name column.
fn rows(n: usize, named: bool) -> String {
    let user = |id: usize| match named {
        true => format!("INSERT INTO users (id, email, name) VALUES ({id}, 'u{id}@t{n}', 'user {id}');"),
        false => format!("INSERT INTO users (id, email) VALUES ({id}, 'u{id}@t{n}');"),
    };
    let mut sql: String = (1..=3).map(user).collect();
    for id in 1..=5 {
        sql.push_str(&format!(
            "INSERT INTO notes (id, user_id, body) VALUES ({id}, {}, 'note {id} of {n}');",
            id % 3 + 1
        ));
    }
    sql
}

/// What a tenant is made as.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    InSync,
    OneBehind,
    TwoBehind,
    ExtraIndex,
    ExtraColumn,
    NotADatabase,
    Locked,
    NullBodies,
}

fn make(dir: &Dir, n: usize, kind: Kind) -> PathBuf {
    let rel = format!("tenants/t{n:03}.db");
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    let sql = match kind {
        Kind::InSync => format!("{V3}{}", rows(n, true)),
        Kind::OneBehind | Kind::Locked => format!("{V2}{}", rows(n, true)),
        Kind::TwoBehind => format!("{V1}{}", rows(n, false)),
        Kind::ExtraIndex => format!("{V3}{}CREATE INDEX notes_body ON notes (body);", rows(n, true)),
        Kind::ExtraColumn => format!(
            "{V3}{}ALTER TABLE users ADD COLUMN nickname TEXT; UPDATE users SET nickname = 'nick' || id;",
            rows(n, true)
        ),
        Kind::NullBodies => format!("{V2}{}UPDATE notes SET body = NULL WHERE id = 2;", rows(n, true)),
        Kind::NotADatabase => return dir.write(&rel, "these are not the bytes of a database\n"),
    };
    dir.db(&rel, &sql)
}

/// The 200 tenants: 64 in sync, 64 one behind, 64 two behind, 3 with an extra index, 2 with an
/// extra column holding values, one not a database, one locked, one with a NULL body the new NOT
/// NULL refuses. Spread through the list, so that no kind sits together.
fn fleet_of_200(dir: &Dir) -> Vec<(PathBuf, Kind)> {
    dir.write("schema/app.yaml", V3_YAML);
    let special = [
        (17, Kind::ExtraIndex),
        (58, Kind::ExtraIndex),
        (141, Kind::ExtraIndex),
        (33, Kind::ExtraColumn),
        (120, Kind::ExtraColumn),
        (90, Kind::NotADatabase),
        (77, Kind::Locked),
        (150, Kind::NullBodies),
    ];
    let mut plain = [Kind::InSync, Kind::OneBehind, Kind::TwoBehind].into_iter().cycle();
    (0..200)
        .map(|n| {
            let kind = special.iter().find(|(i, _)| *i == n).map(|(_, k)| *k).unwrap_or_else(|| plain.next().unwrap());
            (make(dir, n, kind), kind)
        })
        .collect()
}

/// A tenant's bytes and modification time: what "untouched" means.
fn touch_mark(path: &Path) -> (Vec<u8>, std::time::SystemTime) {
    (std::fs::read(path).unwrap(), std::fs::metadata(path).unwrap().modified().unwrap())
}

fn json(out: &std::process::Output) -> Json {
    serde_json::from_str(&stdout(out)).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)))
}

fn by_target(doc: &Json) -> BTreeMap<String, Json> {
    doc["targets"].as_array().unwrap().iter().map(|r| (r["target"].as_str().unwrap().to_string(), r.clone())).collect()
}

/// The kept rows of a tenant: every column the tenant had, as it had them (a NOT NULL name
/// filled with its default where the tenant had none).
fn kept(before: &crate::harness::Rows, after: &crate::harness::Rows, table: &str) {
    assert_eq!(before.len(), after.len(), "{table}: row count");
    for (key, row) in before {
        let new = &after[key];
        for (column, value) in row {
            assert_eq!(&new[column], value, "{table} {key} {column}");
        }
    }
}

#[test]
fn a_fleet_of_200_converges_what_it_can_refuses_the_destructive_fails_the_broken_and_a_rerun_touches_nothing_converged()
{
    let dir = Dir::new();
    let tenants = fleet_of_200(&dir);
    let before: Vec<_> = tenants.iter().map(|(p, k)| (*k != Kind::NotADatabase).then(|| state(p))).collect();
    // Another process holds the write lock of one tenant longer than the fleet waits.
    let locked = &tenants.iter().find(|(_, k)| *k == Kind::Locked).unwrap().0;
    let holder = Connection::open(locked).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE; UPDATE users SET email = email;").unwrap();

    // `fleet plan` shows one plan per distinct schema state: in sync, one behind, two behind,
    // extra index, extra column (the locked and NULL-named tenants share the one-behind schema).
    let plan = reconcile(dir.path(), &["fleet", "plan", "--targets", "tenants/*.db", "--format", "json"]);
    let doc = json(&plan);
    let plans = doc["plans"].as_array().unwrap();
    assert_eq!(plans.len(), 5, "{:#}", doc["plans"]);
    let counts: BTreeSet<u64> = plans.iter().map(|p| p["count"].as_u64().unwrap()).collect();
    assert_eq!(counts, BTreeSet::from([2, 3, 64, 66]), "{:#}", doc["plans"]);
    assert_eq!(doc["unreadable"].as_array().unwrap().len(), 1);
    assert_eq!(plans.iter().filter(|p| p["in_sync"] == true).count(), 1);
    assert_eq!(plans.iter().filter(|p| p["refused"].is_string()).count(), 1, "the extra column's drop");
    let text = reconcile(dir.path(), &["fleet", "plan", "--targets", "tenants/*.db"]);
    assert_eq!(stderr(&text).matches("\n- schema ").count(), 5, "{}", stderr(&text));
    assert!(stderr(&text).contains("200 databases in 5 distinct schemas"), "{}", stderr(&text));

    let state_file = dir.join("fleet-state.jsonl");
    let args = [
        "fleet",
        "apply",
        "--targets",
        "tenants/*.db",
        "--yes",
        "--on-error",
        "continue",
        "--timeout",
        "1",
        "--state",
        "fleet-state.jsonl",
        "--format",
        "json",
    ];
    let out = reconcile(dir.path(), &args);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    let totals = &doc["totals"];
    assert_eq!((totals["in_sync"].as_u64(), totals["applied"].as_u64()), (Some(64), Some(131)), "{totals}");
    assert_eq!((totals["refused"].as_u64(), totals["failed"].as_u64()), (Some(2), Some(3)), "{totals}");
    let reports = by_target(&doc);
    for ((path, kind), before) in tenants.iter().zip(&before) {
        let name = path.strip_prefix(dir.path()).unwrap().display().to_string();
        let r = &reports[&name];
        let outcome = r["outcome"].as_str().unwrap();
        match kind {
            Kind::InSync => assert_eq!(outcome, "in_sync", "{name}: {r}"),
            Kind::OneBehind | Kind::TwoBehind | Kind::ExtraIndex => {
                assert_eq!(outcome, "applied", "{name}: {r}");
                assert!(r["change_id"].is_string(), "{r}");
                assert_ne!(r["fingerprint_before"], r["fingerprint_after"]);
            }
            Kind::ExtraColumn => {
                assert_eq!(outcome, "refused", "{name}: {r}");
                assert!(r["error"].as_str().unwrap().contains("nickname"), "{r}");
            }
            Kind::NotADatabase => assert!(r["error"].as_str().unwrap().contains("not a database"), "{r}"),
            Kind::Locked => assert!(r["error"].as_str().unwrap().contains("lock"), "{r}"),
            Kind::NullBodies => assert!(r["error"].as_str().unwrap().contains("NOT NULL column `body`"), "{r}"),
        }
        if matches!(kind, Kind::NotADatabase | Kind::Locked | Kind::NullBodies) {
            assert_eq!(outcome, "failed", "{name}: {r}");
        }
        let Some((schema_before, rows_before)) = before else { continue };
        if matches!(kind, Kind::ExtraColumn | Kind::NullBodies | Kind::InSync) {
            assert_eq!(&state(path), before.as_ref().unwrap(), "{name} changed");
            continue;
        }
        if *kind == Kind::Locked {
            continue; // read after the lock is released
        }
        // Converged: the desired schema, a second plan empty, every kept value kept.
        let (schema_after, rows_after) = state(path);
        assert_ne!(&schema_after, schema_before);
        kept(&rows_before["users"], &rows_after["users"], "users");
        kept(&rows_before["notes"], &rows_after["notes"], "notes");
        let mut conn = Connection::open(path).unwrap();
        let reconciler = Reconciler::from_sources(&[("app.yaml", V3_YAML)]).unwrap();
        assert!(reconciler.prepare(&mut conn).unwrap().is_empty(), "{name} is not in sync");
        assert_eq!(history::history(&conn).unwrap().len(), 1, "{name}");
    }
    // The locked tenant waited for the timeout, then was left as it was.
    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    let locked_index = tenants.iter().position(|(_, k)| *k == Kind::Locked).unwrap();
    assert_eq!(&state(locked), before[locked_index].as_ref().unwrap());
    // The state file holds every outcome.
    let journal = std::fs::read_to_string(&state_file).unwrap();
    assert_eq!(journal.lines().filter(|l| l.contains("\"outcome\"")).count(), 200);

    // A rerun with the state file: nothing converged is touched, the lock is gone so that
    // tenant converges, the others end as before.
    let converged: Vec<(&PathBuf, _)> = tenants
        .iter()
        .filter(|(_, k)| matches!(k, Kind::InSync | Kind::OneBehind | Kind::TwoBehind | Kind::ExtraIndex))
        .map(|(p, _)| (p, touch_mark(p)))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let text_args = ["fleet", "apply", "--targets", "tenants/*.db", "--yes", "--state", "fleet-state.jsonl"];
    let again = reconcile(dir.path(), &text_args);
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    assert!(stderr(&again).contains("195 in sync, 1 applied, 2 refused, 2 failed"), "{}", stderr(&again));
    assert!(stderr(&again).contains("195 of them converged and unchanged since"), "{}", stderr(&again));
    for (path, mark) in converged {
        assert!(touch_mark(path) == mark, "{} was touched by the rerun", path.display());
    }
    let (after_schema, after_rows) = state(locked);
    kept(&before[locked_index].as_ref().unwrap().1["users"], &after_rows["users"], "users");
    assert_ne!(after_schema, before[locked_index].as_ref().unwrap().0);
    // The drift of the fleet now: the refused and the failed differ or fail.
    let drift = reconcile(dir.path(), &["fleet", "drift", "--targets", "tenants/*.db"]);
    assert_eq!(drift.status.code(), Some(1), "a failure wins: {}", stderr(&drift));
}

#[test]
fn a_canary_that_fails_stops_the_fleet_before_any_other_tenant_is_touched() {
    let dir = Dir::new();
    dir.write("schema/app.yaml", V3_YAML);
    // Tenant 0 sorts first and holds a NULL body: the canary fails there.
    let tenants: Vec<PathBuf> =
        (0..30).map(|n| make(&dir, n, if n == 0 { Kind::NullBodies } else { Kind::OneBehind })).collect();
    let marks: Vec<_> = tenants.iter().map(|p| touch_mark(p)).collect();
    let out = reconcile(
        dir.path(),
        &["fleet", "apply", "--targets", "tenants/*.db", "--yes", "--canary", "5", "--jobs", "2", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["totals"]["failed"].as_u64(), Some(1), "{}", doc["totals"]);
    assert_eq!(doc["totals"]["applied"].as_u64(), Some(4), "the other canaries: {}", doc["totals"]);
    assert_eq!(doc["totals"]["skipped"].as_u64(), Some(25), "{}", doc["totals"]);
    for (n, (path, mark)) in tenants.iter().zip(&marks).enumerate().skip(5) {
        assert!(touch_mark(path) == *mark, "tenant {n} was touched");
        assert!(history::history(&Connection::open(path).unwrap()).unwrap().is_empty());
    }
    // Text: the skipped say why.
    let out = reconcile(dir.path(), &["fleet", "apply", "--targets", "tenants/*.db", "--yes", "--canary", "5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("databases were not started: a canary failed"), "{}", stderr(&out));
    // --on-error stop: the first failure stops the rest (one job, so none is running). The two
    // canary runs converged 8; tenant 0 fails first, the 21 left are not started.
    let out = reconcile(
        dir.path(),
        &[
            "fleet",
            "apply",
            "--targets",
            "tenants/*.db",
            "--yes",
            "--on-error",
            "stop",
            "--jobs",
            "1",
            "--format",
            "json",
        ],
    );
    let doc = json(&out);
    assert_eq!(doc["totals"]["in_sync"].as_u64(), Some(8), "{}", doc["totals"]);
    assert_eq!(doc["totals"]["failed"].as_u64(), Some(1), "{}", doc["totals"]);
    assert_eq!(doc["totals"]["skipped"].as_u64(), Some(21), "{}", doc["totals"]);
}

/// The fleet process killed (SIGKILL) once it has changed some tenants: each tenant is exactly
/// before or after, and a rerun finishes the job.
#[test]
fn a_fleet_killed_mid_run_leaves_each_tenant_before_or_after_and_the_rerun_finishes() {
    let dir = Dir::new();
    dir.write("schema/app.yaml", V3_YAML);
    let tenants: Vec<PathBuf> = (0..300).map(|n| make(&dir, n, Kind::TwoBehind)).collect();
    let before: Vec<_> = tenants.iter().map(|p| state(p)).collect();
    let state_file = dir.join("s.jsonl");
    let mut child = command(
        dir.path(),
        &["fleet", "apply", "--targets", "tenants/*.db", "--yes", "--jobs", "2", "--state", "s.jsonl"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // Killed once at least 20 tenants have ended.
    let ended = |f: &Path| std::fs::read_to_string(f).map(|t| t.matches("\"outcome\"").count()).unwrap_or(0);
    let start = std::time::Instant::now();
    while ended(&state_file) < 20 && start.elapsed() < std::time::Duration::from_secs(60) {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let mut changed = 0;
    for (path, before) in tenants.iter().zip(&before) {
        let now = state(path);
        let entries = history::history(&Connection::open(path).unwrap()).unwrap();
        if &now == before {
            assert!(entries.is_empty(), "{}: history without the change", path.display());
        } else {
            changed += 1;
            assert_eq!(entries.len(), 1, "{}", path.display());
            kept(&before.1["users"], &now.1["users"], "users");
            kept(&before.1["notes"], &now.1["notes"], "notes");
        }
    }
    assert!(changed >= 20 && changed < tenants.len(), "killed mid-run: {changed} of {} changed", tenants.len());
    let rerun = reconcile(dir.path(), &["fleet", "apply", "--targets", "tenants/*.db", "--yes", "--format", "json"]);
    assert_eq!(rerun.status.code(), Some(0), "{}", stderr(&rerun));
    let doc = json(&rerun);
    assert_eq!(doc["totals"]["applied"].as_u64(), Some((tenants.len() - changed) as u64), "{}", doc["totals"]);
    assert_eq!(doc["totals"]["in_sync"].as_u64(), Some(changed as u64));
    let drift = reconcile(dir.path(), &["fleet", "drift", "--targets", "tenants/*.db"]);
    assert_eq!(drift.status.code(), Some(0), "{}", stderr(&drift));
    // Each tenant's rollback restores its schema and rows.
    for (path, before) in tenants.iter().zip(&before).step_by(37) {
        let out = reconcile(dir.path(), &["rollback", "--yes", "--allow-destructive", "--db", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert_eq!(&state(path), before);
    }
}

#[test]
fn targets_come_from_lists_and_globs_and_bad_specs_are_clear_errors() {
    let dir = Dir::new();
    dir.write("schema/app.yaml", V3_YAML);
    let a = make(&dir, 1, Kind::OneBehind);
    make(&dir, 2, Kind::InSync);
    dir.write("list.txt", &format!("# the tenants\n{}\n\ntenants/t002.db\n", a.display()));
    let out = reconcile(dir.path(), &["fleet", "drift", "--targets", "@list.txt", "--format", "json"]);
    assert_eq!(out.status.code(), Some(2), "one differs: {}", stderr(&out));
    let doc = json(&out);
    assert_eq!((doc["totals"]["drifted"].as_u64(), doc["totals"]["in_sync"].as_u64()), (Some(1), Some(1)));
    for (spec, says) in [("nothing/*.db", "matched no files"), ("@missing.txt", "missing.txt")] {
        let out = reconcile(dir.path(), &["fleet", "apply", "--yes", "--targets", spec]);
        assert_eq!(out.status.code(), Some(1), "{spec}");
        assert!(stderr(&out).contains(says), "{spec}: {}", stderr(&out));
    }
    // A path to nothing fails that member, and creates no file.
    let out = reconcile(dir.path(), &["fleet", "apply", "--yes", "--targets", "tenants/t001.db", "tenants/none.db"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("tenants/none.db"), "{}", stderr(&out));
    assert!(!dir.join("tenants/none.db").exists());
    // Without a terminal and without --yes, nothing is changed.
    make(&dir, 3, Kind::TwoBehind);
    let mark = touch_mark(&dir.join("tenants/t003.db"));
    let out = reconcile(dir.path(), &["fleet", "apply", "--targets", "tenants/*.db"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(touch_mark(&dir.join("tenants/t003.db")) == mark);
}

/// An application that opens its tenant databases itself: one `Fleet` from many threads plans
/// once per distinct schema.
#[test]
fn the_library_fleet_plans_once_per_distinct_schema_across_threads() {
    let dir = Dir::new();
    let kinds = [Kind::InSync, Kind::OneBehind, Kind::TwoBehind];
    let tenants: Vec<PathBuf> = (0..60).map(|n| make(&dir, n, kinds[n % 3])).collect();
    let loaded = sqlite_reconcile::load::load_sources(&[("app.yaml", V3_YAML)]).unwrap();
    let desired = sqlite_reconcile::load::desired(&loaded).unwrap();
    let fleet = Fleet::new(desired, None, FleetOptions::default());
    let outcomes: Vec<Outcome> = std::thread::scope(|s| {
        let handles: Vec<_> = tenants
            .chunks(15)
            .map(|chunk| {
                let fleet = &fleet;
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|p| fleet.reconcile(&mut Connection::open(p).unwrap()).unwrap().outcome)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::Applied).count(), 40);
    assert_eq!(outcomes.iter().filter(|o| **o == Outcome::InSync).count(), 20);
    assert_eq!(fleet.plans_made(), 3, "one plan per distinct schema");
    // Two plans ran; each result was read in full once, the other 19 of each compared by their
    // `sqlite_schema` rows with it.
    assert_eq!(fleet.results_verified_in_full(), 2);
    for p in &tenants {
        let mut conn = Connection::open(p).unwrap();
        assert_eq!(fleet.reconcile(&mut conn).unwrap().outcome, Outcome::InSync);
    }
}

/// A change still running at `--timeout` is stopped and rolled back; the tenant is as it was.
#[test]
fn a_change_still_running_at_the_timeout_is_stopped_and_leaves_the_tenant_unchanged() {
    let dir = Dir::new();
    let db = dir.db(
        "big.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 400000)
         INSERT INTO t SELECT i, 'value ' || i FROM n;",
    );
    // A collation: the table is rebuilt, its 400,000 rows copied.
    dir.write(
        "schema/app.yaml",
        "tables:\n  t:\n    columns:\n      - { name: id, type: INTEGER, primary_key: true }\n      - { name: v, type: TEXT, collate: NOCASE }\n",
    );
    let before = state(&db);
    let out = reconcile(
        dir.path(),
        &["fleet", "apply", "--yes", "--targets", "big.db", "--timeout", "0.05", "--format", "json"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    let error = doc["targets"][0]["error"].as_str().unwrap();
    assert!(error.contains("still running at the timeout (0.05 s) and was stopped"), "{error}");
    assert_eq!(state(&db), before);
    assert!(history::history(&Connection::open(&db).unwrap()).unwrap().is_empty());
    let out = reconcile(dir.path(), &["fleet", "apply", "--yes", "--targets", "big.db"]);
    assert_eq!(out.status.code(), Some(0), "without the timeout it converges: {}", stderr(&out));
}

/// On a terminal `fleet apply` draws one progress line (members done of the total, failures so
/// far); piped, it draws none.
#[test]
fn fleet_apply_draws_progress_on_a_terminal_only() {
    let dir = Dir::new();
    dir.write("schema/app.yaml", V3_YAML);
    for n in 0..40 {
        make(&dir, n, if n == 7 { Kind::NullBodies } else { Kind::OneBehind });
    }
    let (tty, code) = crate::harness::reconcile_on_terminal(
        dir.path(),
        &["fleet", "apply", "--yes", "--targets", "'tenants/*.db'"],
        &[],
    );
    assert_eq!(code, Some(1), "{tty}");
    assert!(tty.contains("40/40 databases  1 failed"), "{tty}");
    assert!(tty.contains("[########################]"), "{tty}");
    assert!(tty.contains("40 databases: 39 applied, 1 failed"), "{tty}");
    let piped = reconcile(dir.path(), &["fleet", "apply", "--yes", "--targets", "tenants/*.db"]);
    assert!(!stderr(&piped).contains("/40 databases"), "{}", stderr(&piped));
}

/// Members that are libSQL servers, listed in an `@FILE` beside files: grouped with the files
/// of the same schema only when their SQLite plans the same (planned per engine), each changed
/// in one stream as `apply` changes a server, every row kept, and the rollback restores.
#[test]
fn a_fleet_of_files_and_libsql_servers_converges_each_in_its_own_change() {
    use sqlite_reconcile::engine::Sql;
    let servers: Vec<_> = (0..2).map_while(|_| crate::harness::sqld()).collect();
    if servers.len() < 2 {
        return;
    }
    let dir = Dir::new();
    dir.write("schema/app.yaml", V3_YAML);
    let file = make(&dir, 1, Kind::OneBehind);
    let seed = format!("{V2}{}", rows(7, true));
    let clients: Vec<_> =
        servers.iter().map(|s| sqlite_reconcile::remote::Client::connect(&s.url, None).unwrap()).collect();
    for client in &clients {
        for sql in seed.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            client.rows(sql, &[]).unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }
    let notes = |c: &sqlite_reconcile::remote::Client| c.rows("SELECT * FROM notes ORDER BY id", &[]).unwrap();
    let before = notes(&clients[0]);
    dir.write(
        "members.txt",
        &format!("# two servers and a file\n{}\n{}\n{}\n", servers[0].url, servers[1].url, file.display()),
    );
    let plan = reconcile(dir.path(), &["fleet", "plan", "--targets", "@members.txt", "--format", "json"]);
    let doc = json(&plan);
    let counts: Vec<u64> = doc["plans"].as_array().unwrap().iter().map(|p| p["count"].as_u64().unwrap()).collect();
    assert_eq!(counts.iter().sum::<u64>(), 3, "{doc:#}");
    let out = reconcile(dir.path(), &["fleet", "apply", "--yes", "--targets", "@members.txt", "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["totals"]["applied"].as_u64(), Some(3), "{}", doc["totals"]);
    for (server, client) in servers.iter().zip(&clients) {
        let drift = reconcile(dir.path(), &["drift", "--db", &server.url]);
        assert_eq!(drift.status.code(), Some(0), "{}", stderr(&drift));
        assert_eq!(notes(client).len(), before.len());
        assert_eq!(history::history(client).unwrap().len(), 1);
    }
    let again = reconcile(dir.path(), &["fleet", "drift", "--targets", "@members.txt"]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    // A server's change is rolled back as any other's.
    let back = reconcile(dir.path(), &["rollback", "--yes", "--allow-destructive", "--db", &servers[0].url]);
    assert_eq!(back.status.code(), Some(0), "{}", stderr(&back));
    assert_eq!(notes(&clients[0]), before);
}
