//! The GitHub Actions workflow of `examples/ci/github-drift.yml`: it parses,
//! has the shape GitHub expects, and its `run:` scripts do what docs/CI.md
//! says on real databases. Each job runs here as a runner would run it:
//! `bash -e` per step, in a copy of the repository, with the workflow's and
//! the step's `env`, `RUNNER_TEMP`, and the `GITHUB_ENV`, `GITHUB_PATH` and
//! `GITHUB_STEP_SUMMARY` files. `reconcile` is on `PATH` through a symlink to
//! the built binary, in place of the `install` step; `uses:` steps are skipped.

use std::path::{Path, PathBuf};
use std::process::Command;

use rusqlite::Connection;
use serde_yaml::Value;

use crate::harness::{reconcile, str_map, Dir};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn workflow() -> Value {
    let text = std::fs::read_to_string(root().join("examples/ci/github-drift.yml")).expect("read the workflow");
    serde_yaml::from_str(&text).expect("the workflow is valid YAML")
}

/// What one step did.
#[derive(Debug)]
struct Ran {
    name: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// A checkout of the repository as the workflow sees it, and the runner's files.
struct Runner {
    dir: Dir,
    work: PathBuf,
    temp: PathBuf,
    bin: PathBuf,
}

impl Runner {
    fn new() -> Runner {
        let dir = Dir::new();
        let work = dir.join("work");
        let temp = dir.join("runner-temp");
        let bin = dir.join("bin");
        for d in [&work, &temp, &bin] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_reconcile"), bin.join("reconcile")).expect("symlink");
        copy_dir(&root().join("schema"), &work.join("schema"));
        Runner { dir, work, temp, bin }
    }

    /// Runs `job` for `event` until a step fails, as GitHub does (`if: always()` steps still run).
    fn run(&self, job: &str, event: &str, extra_env: &[(&str, &str)]) -> Vec<Ran> {
        let wf = workflow();
        let mut env = str_map(&wf["env"]);
        for (k, v) in extra_env {
            env.insert(k.to_string(), v.to_string());
        }
        let files = ["GITHUB_ENV", "GITHUB_PATH", "GITHUB_STEP_SUMMARY"];
        for f in files {
            let p = self.temp.join(f.to_lowercase());
            std::fs::write(&p, "").expect("runner file");
            env.insert(f.to_string(), p.display().to_string());
        }
        env.insert("RUNNER_TEMP".into(), self.temp.display().to_string());
        env.insert("GITHUB_EVENT_NAME".into(), event.into());
        env.insert("CI".into(), "true".into());
        let path = format!("{}:{}", self.bin.display(), std::env::var("PATH").unwrap_or_default());
        env.insert("PATH".into(), path);

        let mut out: Vec<Ran> = Vec::new();
        let steps = wf["jobs"][job]["steps"].as_sequence().cloned().unwrap_or_default();
        for step in steps {
            let Some(script) = step["run"].as_str() else { continue };
            if step["id"].as_str() == Some("install") {
                continue;
            }
            let failed = out.iter().any(|r| r.code != Some(0));
            let run = match step["if"].as_str() {
                None => !failed,
                Some("always()") => true,
                Some("github.event_name == 'pull_request'") => !failed && event == "pull_request",
                Some(other) => panic!("the test does not know the condition `{other}`"),
            };
            if !run {
                continue;
            }
            // Variables a previous step exported.
            let exported = std::fs::read_to_string(&env["GITHUB_ENV"]).unwrap_or_default();
            let mut step_env = env.clone();
            for line in exported.lines() {
                if let Some((k, v)) = line.split_once('=') {
                    step_env.insert(k.to_string(), v.to_string());
                }
            }
            step_env.extend(str_map(&step["env"]));
            let file = self.temp.join("step.sh");
            std::fs::write(&file, script).expect("write the step");
            let o = Command::new("bash")
                .arg("-e")
                .arg(&file)
                .current_dir(&self.work)
                .env_clear()
                .envs(&step_env)
                .env("HOME", self.dir.path())
                .output()
                .expect("run bash");
            out.push(Ran {
                name: step["name"].as_str().unwrap_or("").to_string(),
                code: o.status.code(),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
            });
        }
        out
    }

    /// Builds the snapshot the workflow reads, from the repository's schema, then runs `sql` on it.
    fn snapshot(&self, sql: &str) {
        let snap = self.work.join("ci/schema-snapshot.db");
        std::fs::create_dir_all(snap.parent().expect("parent")).expect("mkdir");
        let o = reconcile(
            &self.work,
            &[
                "apply",
                "--yes",
                "--db",
                "ci/schema-snapshot.db",
                "--plans",
                self.temp.join("p").to_str().expect("utf-8"),
            ],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        Connection::open(&snap).expect("open").execute_batch(sql).expect("change the snapshot");
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir").flatten() {
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

fn step<'a>(ran: &'a [Ran], name: &str) -> &'a Ran {
    ran.iter().find(|r| r.name == name).unwrap_or_else(|| panic!("step `{name}` did not run: {ran:#?}"))
}

fn git(dir: &Path, args: &[&str]) {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "ci")
        .env("GIT_AUTHOR_EMAIL", "ci@example.com")
        .env("GIT_COMMITTER_NAME", "ci")
        .env("GIT_COMMITTER_EMAIL", "ci@example.com")
        .output()
        .expect("run git");
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn workflow_has_the_shape_github_expects() {
    let wf = workflow();
    assert!(wf["name"].as_str().is_some());
    let on = wf["on"].as_mapping().expect("`on:` is a map of events");
    for event in ["pull_request", "push", "schedule"] {
        assert!(on.contains_key(event), "on: {event}");
    }
    let jobs = wf["jobs"].as_mapping().expect("jobs");
    assert_eq!(jobs.len(), 2);
    for (name, job) in jobs {
        assert!(job["runs-on"].as_str().is_some(), "{name:?} runs-on");
        let steps = job["steps"].as_sequence().expect("steps");
        assert!(steps.iter().all(|s| s["run"].is_string() ^ s["uses"].is_string()), "{name:?}: each step runs or uses");
        assert_eq!(steps[0]["uses"].as_str(), Some("actions/checkout@v4"), "{name:?} checks out first");
        let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
        assert!(runs.iter().any(|r| r.contains("cargo install")), "{name:?} installs reconcile");
    }
    let drift = wf["jobs"]["drift"]["steps"].as_sequence().expect("steps");
    let check = drift.iter().find(|s| s["name"].as_str() == Some("Check for drift")).expect("a drift check");
    let script = check["run"].as_str().expect("run");
    assert!(script.contains("reconcile drift --format json"), "{script}");
    assert!(script.contains("::error"), "it annotates");
}

#[test]
fn build_job_builds_the_schema_from_nothing() {
    let r = Runner::new();
    let ran = r.run("build", "push", &[]);
    let s = step(&ran, "Build a database from the schema");
    assert_eq!(s.code, Some(0), "{s:#?}");
    assert!(r.temp.join("fresh.db").exists());
    assert!(s.stderr.contains("in sync"), "{}", s.stderr);
}

#[test]
fn drift_job_passes_on_an_in_sync_database() {
    let r = Runner::new();
    r.snapshot("");
    let ran = r.run("drift", "push", &[]);
    let s = step(&ran, "Check for drift");
    assert_eq!(s.code, Some(0), "{s:#?}");
    assert!(!s.stdout.contains("::error"), "{}", s.stdout);
    assert!(s.stdout.contains("0 differences between the deployed database and schema"), "{}", s.stdout);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.temp.join("drift.json")).expect("report")).expect("json");
    assert_eq!(report["in_sync"], true);
    assert_eq!(report["differences"], serde_json::json!([]));
}

#[test]
fn drift_job_fails_and_annotates_on_a_drifted_database() {
    let r = Runner::new();
    // Changes made by hand on the deployed database.
    r.snapshot("DROP INDEX ix_jobs_queue; ALTER TABLE jobs ADD COLUMN note TEXT;");
    let ran = r.run("drift", "push", &[]);
    let s = step(&ran, "Check for drift");
    assert_eq!(s.code, Some(2), "{s:#?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.temp.join("drift.json")).expect("report")).expect("json");
    assert_eq!(report["in_sync"], false);
    let differences = report["differences"].as_array().expect("differences");
    assert_eq!(differences.len(), 2, "{report}");
    let annotations: Vec<&str> = s.stdout.lines().filter(|l| l.starts_with("::error title=Schema drift")).collect();
    assert_eq!(annotations.len(), differences.len(), "one annotation per difference: {}", s.stdout);
    assert!(
        annotations.contains(&"::error title=Schema drift (safe)::index ix_jobs_queue: create on `jobs`"),
        "{annotations:?}"
    );
    assert!(
        annotations.contains(&"::error title=Schema drift (destructive)::column jobs.note: drop (its values are lost)"),
        "{annotations:?}"
    );
    assert!(ran.iter().all(|r| r.name != "Plan of this pull request"), "not a pull request");
}

#[test]
fn drift_job_on_a_pull_request_compares_with_the_base_branch_and_plans_the_change() {
    let r = Runner::new();
    r.snapshot("");
    // The repository: `main` has the example schema; the pull request changes it.
    let origin = r.dir.join("origin.git");
    git(r.dir.path(), &["init", "-q", "--bare", "-b", "main", origin.to_str().expect("utf-8")]);
    git(&r.work, &["init", "-q", "-b", "main"]);
    git(&r.work, &["add", "schema"]);
    git(&r.work, &["commit", "-q", "-m", "schema"]);
    git(&r.work, &["remote", "add", "origin", origin.to_str().expect("utf-8")]);
    git(&r.work, &["push", "-q", "origin", "main"]);
    git(&r.work, &["checkout", "-q", "-b", "change"]);
    copy_dir(&root().join("examples/next-schema"), &r.work.join("schema"));

    let ran = r.run("drift", "pull_request", &[("GITHUB_BASE_REF", "main")]);
    let s = step(&ran, "Check for drift");
    assert_eq!(s.code, Some(0), "the deployed database matches main: {ran:#?}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.temp.join("drift.json")).expect("report")).expect("json");
    assert!(report["schema"].as_str().is_some_and(|s| s.ends_with("base/schema")), "{report}");
    let p = step(&ran, "Plan of this pull request");
    assert_eq!(p.code, Some(0), "{p:#?}");
    assert!(p.stdout.contains("::notice title=Schema change::2 changes in 10 steps: 1 rebuild of projects (1 view, 3 triggers kept), 1 data-dependent step"), "{}", p.stdout);
    let summary = std::fs::read_to_string(r.temp.join("github_step_summary")).expect("summary");
    assert!(summary.contains("rebuild table `projects`"), "{summary}");
}
