//! The GitHub Action of `.github/actions/reconcile/` (docs/CI.md). `action.yml` has the shape
//! GitHub expects and hands `run.sh` every input it reads; `run.sh` runs here as the action's
//! `prepare` and `review` steps run it on a runner: in a shallow clone of a real Git repository
//! whose pull request drops a table and rebuilds another, with the step's `env` taken from
//! `action.yml`, the event file, `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`. It builds the
//! database from the base commit (fetched from the clone's origin), plans, posts one comment and
//! then updates it, sets the outputs and exits by policy. Only `curl` is replaced: a recorder
//! first on `PATH` that plays GitHub's comments API from a state file. `reconcile`, `git` and the
//! SQLite files are real, and nothing reaches the network.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;
use serde_yaml::Value;

use crate::harness::{reconcile, str_map, Dir};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn yaml(rel: &str) -> Value {
    let text = std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not valid YAML: {e}"))
}

fn action() -> Value {
    yaml(".github/actions/reconcile/action.yml")
}

fn script() -> PathBuf {
    root().join(".github/actions/reconcile/run.sh")
}

/// The base branch's schema: a table the pull request drops and one it rebuilds.
const BASE: &str = "\
tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: email, type: TEXT, not_null: true }
    indexes:
      ix_users_email:
        columns: [email]
  legacy:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: note, type: TEXT }
";

/// The pull request's schema: `legacy` dropped (destructive), `users.email` case-insensitive
/// (a rebuild, data-dependent).
const HEAD: &str = "\
tables:
  users:
    columns:
      - { name: id, type: INTEGER, primary_key: true }
      - { name: email, type: TEXT, not_null: true, collate: NOCASE }
    indexes:
      ix_users_email:
        columns: [email]
";

const HEAD_SUMMARY: &str =
    "2 changes in 3 steps: 1 rebuild of users (1 index kept), 1 destructive step, 1 data-dependent step";

const MARKER: &str = "<!-- reconcile:plan -->";
const TOKEN: &str = "dummy-secret";
const API: &str = "https://github.example/api/v3";

/// `curl` as the script sees it: records each call (arguments, the config read from stdin, the
/// request body) to `calls.jsonl` and answers as GitHub's issue-comments API would, from the
/// comments kept in `comments.json`; anything else fails as curl does on a bad URL.
const FAKE_CURL: &str = r#"#!/usr/bin/env python3
import json, os, re, sys

state = os.environ["FAKE_GITHUB_STATE"]
args = sys.argv[1:]
method, url, out, write_out, data, config = "GET", None, None, None, None, ""
i = 0
while i < len(args):
    a = args[i]
    if a in ("-X", "--request"):
        i += 1; method = args[i]
    elif a in ("-o", "--output"):
        i += 1; out = args[i]
    elif a in ("-w", "--write-out"):
        i += 1; write_out = args[i]
    elif a in ("-H", "--header"):
        i += 1
    elif a in ("-d", "--data", "--data-binary"):
        i += 1
        data = open(args[i][1:], encoding="utf-8").read() if args[i].startswith("@") else args[i]
    elif a in ("-K", "--config"):
        i += 1
        if args[i] == "-":
            config = sys.stdin.read()
    elif a.startswith(("http://", "https://")):
        url = a
    i += 1

path = os.path.join(state, "comments.json")
comments = json.load(open(path)) if os.path.exists(path) else []
with open(os.path.join(state, "calls.jsonl"), "a", encoding="utf-8") as log:
    log.write(json.dumps({"method": method, "url": url, "args": args, "config": config, "body": data}) + "\n")

listing = re.search(r"/repos/([^/]+/[^/]+)/issues/(\d+)/comments(\?.*)?$", url or "")
one = re.search(r"/repos/[^/]+/[^/]+/issues/comments/(\d+)$", url or "")
status, response = 404, {"message": "Not Found"}
if listing and method == "GET":
    status, response = 200, comments
elif listing and method == "POST":
    new = 1001 + len(comments)
    response = {"id": new, "body": json.loads(data)["body"],
                "html_url": f"https://github.example/{listing.group(1)}/pull/{listing.group(2)}#issuecomment-{new}"}
    comments.append(response)
    status = 201
elif one and method == "PATCH":
    for c in comments:
        if c["id"] == int(one.group(1)):
            c["body"] = json.loads(data)["body"]
            status, response = 200, c
else:
    sys.stderr.write(f"curl: (6) no such API in this test: {method} {url}\n")
    sys.exit(6)
json.dump(comments, open(path, "w"))
if out:
    json.dump(response, open(out, "w"))
else:
    sys.stdout.write(json.dumps(response))
if write_out:
    sys.stdout.write(write_out.replace("%{http_code}", str(status)))
"#;

/// One request the script made.
#[derive(Debug)]
struct Call {
    method: String,
    url: String,
    args: Vec<String>,
    config: String,
    body: Option<Json>,
}

/// One run of the action's steps.
#[derive(Debug)]
struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    outputs: BTreeMap<String, String>,
    summary: String,
    calls: Vec<Call>,
}

impl Ran {
    fn methods(&self) -> Vec<&str> {
        self.calls.iter().map(|c| c.method.as_str()).collect()
    }
    fn output(&self, name: &str) -> &str {
        self.outputs.get(name).map_or_else(|| panic!("no output `{name}`: {self:#?}"), String::as_str)
    }
    /// The token is never printed, and never a command-line argument of curl (where other
    /// processes could read it); it travels on curl's stdin.
    fn assert_token_kept(&self) {
        assert!(!self.stdout.contains(TOKEN) && !self.stderr.contains(TOKEN), "the token was printed: {self:#?}");
        for c in &self.calls {
            assert!(!c.args.iter().any(|a| a.contains(TOKEN)), "the token in curl's arguments: {c:#?}");
            assert!(c.config.contains(&format!("Authorization: Bearer {TOKEN}")), "no token sent: {c:#?}");
        }
    }
}

/// A pull request: the bare `origin`, with `main` at the base commit and `change` one commit
/// later, and `work`, a depth-1 clone of `change` as actions/checkout makes it.
struct Pr {
    dir: Dir,
    work: PathBuf,
    temp: PathBuf,
    state: PathBuf,
    fake_bin: PathBuf,
    event: PathBuf,
    base_sha: String,
    head_sha: String,
}

fn git(dir: &Path, home: &Path, args: &[&str]) -> String {
    let o = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .output()
        .expect("run git");
    assert!(o.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

impl Pr {
    /// `base` as `schema/app.yaml` on `main`; the pull request's commit writes `head` there
    /// (`None`: it changes only the README).
    fn new(base: &str, head: Option<&str>) -> Pr {
        let dir = Dir::new();
        let home = dir.path().to_path_buf();
        let dev = dir.join("dev");
        let origin = dir.join("origin.git");
        let url = format!("file://{}", origin.display());
        git(&home, &home, &["init", "-q", "--bare", "-b", "main", origin.to_str().expect("utf-8")]);
        git(&home, &home, &["init", "-q", "-b", "main", dev.to_str().expect("utf-8")]);
        dir.write("dev/schema/app.yaml", base);
        dir.write("dev/README.md", "app\n");
        git(&dev, &home, &["add", "."]);
        git(&dev, &home, &["commit", "-q", "-m", "base"]);
        let base_sha = git(&dev, &home, &["rev-parse", "HEAD"]);
        git(&dev, &home, &["checkout", "-q", "-b", "change"]);
        match head {
            Some(h) => dir.write("dev/schema/app.yaml", h),
            None => dir.write("dev/README.md", "app, described\n"),
        };
        git(&dev, &home, &["commit", "-q", "-am", "change"]);
        let head_sha = git(&dev, &home, &["rev-parse", "HEAD"]);
        git(&dev, &home, &["push", "-q", &url, "main", "change"]);
        git(&home, &home, &["clone", "-q", "--depth", "1", "--branch", "change", &url, "work"]);

        let work = dir.join("work");
        let temp = dir.join("runner-temp");
        let state = dir.join("github-state");
        let fake_bin = dir.join("fake-bin");
        for d in [&temp, &state, &fake_bin] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let curl = fake_bin.join("curl");
        std::fs::write(&curl, FAKE_CURL).expect("write the fake curl");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&curl, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let event = dir.write(
            "event.json",
            &serde_json::json!({
                "action": "synchronize",
                "number": 7,
                "pull_request": {
                    "number": 7,
                    "base": { "ref": "main", "sha": base_sha },
                    "head": { "ref": "change", "sha": head_sha },
                },
            })
            .to_string(),
        );
        let pr = Pr { dir, work, temp, state, fake_bin, event, base_sha, head_sha };
        assert!(
            Command::new("git")
                .args(["cat-file", "-e", &format!("{}^{{commit}}", pr.base_sha)])
                .current_dir(&pr.work)
                .output()
                .expect("git")
                .status
                .code()
                != Some(0),
            "the clone must lack the base commit, as a shallow checkout does, so that the script fetches it"
        );
        pr
    }

    /// The variables a runner sets for a step of a `pull_request` run.
    fn runner_env(&self, output: &Path, summary: &Path) -> BTreeMap<String, String> {
        let path = format!("{}:{}", self.fake_bin.display(), std::env::var("PATH").unwrap_or_default());
        let action_path = root().join(".github/actions/reconcile");
        [
            ("HOME", self.dir.path().display().to_string()),
            ("PATH", path),
            ("CI", "true".into()),
            ("GITHUB_ACTIONS", "true".into()),
            ("GITHUB_EVENT_NAME", "pull_request".into()),
            ("GITHUB_EVENT_PATH", self.event.display().to_string()),
            ("GITHUB_BASE_REF", "main".into()),
            ("GITHUB_HEAD_REF", "change".into()),
            ("GITHUB_REF", "refs/pull/7/merge".into()),
            ("GITHUB_REPOSITORY", "acme/app".into()),
            ("GITHUB_API_URL", API.into()),
            ("GITHUB_TOKEN", TOKEN.into()),
            ("GITHUB_WORKSPACE", self.work.display().to_string()),
            ("GITHUB_ACTION_PATH", action_path.display().to_string()),
            ("RUNNER_TEMP", self.temp.display().to_string()),
            ("RUNNER_OS", "Linux".into()),
            ("GITHUB_OUTPUT", output.display().to_string()),
            ("GITHUB_STEP_SUMMARY", summary.display().to_string()),
            ("FAKE_GITHUB_STATE", self.state.display().to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Runs the action's `prepare` step, then its `review` step, each with the `env` that
    /// action.yml gives it and these inputs (the others take their defaults). `prepare` is
    /// given the built binary as `reconcile-bin`, so the cache and install steps are skipped.
    fn run(&self, inputs: &[(&str, &str)]) -> Ran {
        let mut inputs: BTreeMap<&str, &str> = inputs.iter().copied().collect();
        inputs.insert("reconcile-bin", env!("CARGO_BIN_EXE_reconcile"));
        inputs.entry("github-token").or_insert(TOKEN);
        let _ = std::fs::remove_file(self.state.join("calls.jsonl"));
        let summary = self.temp.join("step-summary.md");
        std::fs::write(&summary, "").expect("summary file");

        let action = action();
        let mut step_outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut last = None;
        for id in ["prepare", "review"] {
            let step = step(&action, id);
            let output = self.temp.join(format!("output-{id}"));
            std::fs::write(&output, "").expect("output file");
            let mut env = self.runner_env(&output, &summary);
            for (k, v) in str_map(&step["env"]) {
                env.insert(k, evaluate(&v, &action, &inputs, &step_outputs));
            }
            let run = step["run"].as_str().expect("a run step");
            let o = Command::new("bash")
                .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", run])
                .current_dir(&self.work)
                .env_clear()
                .envs(&env)
                .output()
                .expect("run bash");
            let outputs = parse_outputs(&std::fs::read_to_string(&output).expect("read the outputs"));
            step_outputs.insert(id.to_string(), outputs.clone());
            let ran = Ran {
                code: o.status.code(),
                stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
                outputs,
                summary: String::new(),
                calls: Vec::new(),
            };
            if id == "prepare" {
                assert_eq!(ran.code, Some(0), "prepare: {ran:#?}");
                assert_eq!(ran.output("mode"), "none", "a given binary installs nothing");
                assert_eq!(ran.output("bin"), env!("CARGO_BIN_EXE_reconcile"));
            }
            last = Some(ran);
        }
        let mut ran = last.expect("the review step ran");
        ran.summary = std::fs::read_to_string(&summary).expect("read the summary");
        ran.calls = self.calls();
        ran.assert_token_kept();
        ran
    }

    fn calls(&self) -> Vec<Call> {
        let text = std::fs::read_to_string(self.state.join("calls.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: Json = serde_json::from_str(l).expect("a recorded call");
                Call {
                    method: v["method"].as_str().expect("method").to_string(),
                    url: v["url"].as_str().unwrap_or("").to_string(),
                    args: v["args"]
                        .as_array()
                        .expect("args")
                        .iter()
                        .map(|a| a.as_str().expect("an argument").to_string())
                        .collect(),
                    config: v["config"].as_str().unwrap_or("").to_string(),
                    body: v["body"].as_str().map(|b| serde_json::from_str(b).expect("the request body is JSON")),
                }
            })
            .collect()
    }

    /// The comments the fake API holds now.
    fn comments(&self) -> Vec<Json> {
        match std::fs::read_to_string(self.state.join("comments.json")) {
            Ok(t) => serde_json::from_str::<Vec<Json>>(&t).expect("comments"),
            Err(_) => Vec::new(),
        }
    }
}

fn step<'a>(action: &'a Value, id: &str) -> &'a Value {
    action["runs"]["steps"]
        .as_sequence()
        .expect("runs.steps")
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("action.yml has no step `{id}`"))
}

/// A step's `env` value as the runner gives it: `${{ inputs.NAME }}` (the input, else its
/// default) or `${{ steps.ID.outputs.NAME }}`; the test knows no other expression.
fn evaluate(
    value: &str,
    action: &Value,
    inputs: &BTreeMap<&str, &str>,
    steps: &BTreeMap<String, BTreeMap<String, String>>,
) -> String {
    let Some(expr) = value.strip_prefix("${{").and_then(|v| v.strip_suffix("}}")).map(str::trim) else {
        return value.to_string();
    };
    if let Some(name) = expr.strip_prefix("inputs.") {
        let declared = &action["inputs"][name];
        assert!(declared.is_mapping(), "`{value}`: action.yml declares no input `{name}`");
        if let Some(v) = inputs.get(name) {
            return v.to_string();
        }
        let default = declared["default"].as_str().unwrap_or("");
        assert!(!default.contains("${{"), "input `{name}`: the test must give it (its default is `{default}`)");
        return default.to_string();
    }
    if let Some(rest) = expr.strip_prefix("steps.") {
        let (id, name) = rest.split_once(".outputs.").unwrap_or_else(|| panic!("`{value}`"));
        return steps.get(id).and_then(|o| o.get(name)).cloned().unwrap_or_default();
    }
    panic!("the test does not know the expression `{value}`")
}

/// `GITHUB_OUTPUT` as the runner reads it: `name=value`, or `name<<DELIMITER`, the lines of the
/// value, and the delimiter alone on a line. A line of neither form fails the step on GitHub.
fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                out.insert(line[..e].to_string(), line[e + 1..].to_string());
            }
            (_, Some(h)) => {
                let (name, delim) = (&line[..h], &line[h + 2..]);
                assert!(!delim.is_empty(), "an empty delimiter: {line}");
                let mut value = Vec::new();
                loop {
                    let l = lines.next().unwrap_or_else(|| panic!("`{name}`: no closing `{delim}`"));
                    if l == delim {
                        break;
                    }
                    value.push(l);
                }
                out.insert(name.to_string(), value.join("\n"));
            }
            _ => panic!("GITHUB_OUTPUT has a line GitHub rejects: {line:?}"),
        }
    }
    out
}

fn plan_json(ran: &Ran) -> Json {
    serde_json::from_str(ran.output("json")).unwrap_or_else(|e| panic!("output `json` is not JSON ({e}): {ran:#?}"))
}

#[test]
fn a_pull_request_gets_one_comment_updated_in_place_and_fails_on_a_destructive_plan() {
    let pr = Pr::new(BASE, Some(HEAD));

    // First push: no comment yet, so one is posted; the plan drops a table, so the check fails.
    let first = pr.run(&[]);
    assert_eq!(first.code, Some(3), "fail-on: destructive (the default) fails a destructive plan: {first:#?}");
    assert!(
        first.stdout.contains("::error title=reconcile::the plan is destructive and fail-on is destructive"),
        "the verdict is an error annotation: {first:#?}"
    );
    assert_eq!(first.methods(), ["GET", "POST"], "{:#?}", first.calls);
    assert_eq!(first.calls[0].url, format!("{API}/repos/acme/app/issues/7/comments?per_page=100&page=1"));
    assert_eq!(first.calls[1].url, format!("{API}/repos/acme/app/issues/7/comments"));
    let body = first.calls[1].body.as_ref().expect("a body")["body"].as_str().expect("body.body").to_string();
    assert!(body.starts_with(&format!("{MARKER}\n")), "the comment starts with its marker: {body}");
    assert!(body.contains(HEAD_SUMMARY), "the comment has the plan's summary: {body}");
    assert!(body.contains("legacy"), "the comment names the dropped table: {body}");
    let temp = pr.temp.to_str().expect("utf-8");
    assert!(!body.contains(temp), "the scratch database's path is no name for a reviewer: {body}");
    let (head7, base7) = (&pr.head_sha[..7], &pr.base_sha[..7]);
    assert!(
        body.contains(&format!("Planned for {head7} against the schema of main at {base7}.")),
        "the comment says what was planned against what: {body}"
    );

    assert_eq!(first.output("has_changes"), "true");
    assert_eq!(first.output("destructive"), "true");
    assert_eq!(first.output("risk"), "destructive");
    assert_eq!(first.output("summary"), HEAD_SUMMARY);
    let json = plan_json(&first);
    assert_eq!(json["summary"], HEAD_SUMMARY, "{json}");
    assert_eq!(json["in_sync"], false);
    assert!(json["steps"].as_array().is_some_and(|s| s.iter().any(|s| s["kind"] == "rebuild_table")), "{json}");
    assert!(json["steps"].as_array().is_some_and(|s| s.iter().any(|s| s["kind"] == "drop_table")), "{json}");
    assert_eq!(first.output("comment-url"), "https://github.example/acme/app/pull/7#issuecomment-1001");
    assert!(first.summary.starts_with(MARKER) && first.summary.contains(HEAD_SUMMARY), "{}", first.summary);

    // Second push, reporting only: the same comment is updated, no second one posted.
    let second = pr.run(&[("fail-on", "never"), ("sarif", "true")]);
    assert_eq!(second.code, Some(0), "fail-on: never passes: {second:#?}");
    assert_eq!(second.methods(), ["GET", "PATCH"], "{:#?}", second.calls);
    assert_eq!(second.calls[1].url, format!("{API}/repos/acme/app/issues/comments/1001"));
    let patched = second.calls[1].body.as_ref().expect("a body")["body"].as_str().expect("body.body");
    assert!(patched.starts_with(MARKER) && patched.contains(HEAD_SUMMARY), "{patched}");
    let comments = pr.comments();
    assert_eq!(comments.len(), 1, "one comment on the pull request: {comments:#?}");
    assert_eq!(second.output("destructive"), "true");
    let sarif_file = second.output("sarif-file");
    let sarif: Json = serde_json::from_str(&std::fs::read_to_string(sarif_file).expect("the SARIF file"))
        .expect("the SARIF file is JSON");
    assert_eq!(sarif["version"], "2.1.0", "{sarif}");
}

#[test]
fn a_pull_request_that_leaves_the_schema_alone_passes_and_posts_nothing() {
    let pr = Pr::new(BASE, None);
    let ran = pr.run(&[]);
    assert_eq!(ran.code, Some(0), "{ran:#?}");
    assert_eq!(ran.output("has_changes"), "false");
    assert_eq!(ran.output("destructive"), "false");
    assert_eq!(plan_json(&ran)["in_sync"], true);
    // It looks for an earlier comment to update, finds none, and posts none.
    assert_eq!(ran.methods(), ["GET"], "{:#?}", ran.calls);
    assert!(pr.comments().is_empty());
    assert!(!ran.outputs.contains_key("comment-url"), "{:?}", ran.outputs);
}

#[test]
fn fail_on_data_dependent_fails_a_rebuild_that_destructive_lets_through() {
    let rebuild_only = BASE.replacen("not_null: true }", "not_null: true, collate: NOCASE }", 1);
    let pr = Pr::new(BASE, Some(&rebuild_only));

    let lenient = pr.run(&[("comment", "false")]);
    assert_eq!(lenient.code, Some(0), "{lenient:#?}");
    assert_eq!(lenient.output("risk"), "data_dependent");
    assert_eq!(lenient.output("destructive"), "false");
    assert_eq!(lenient.output("has_changes"), "true");
    assert!(lenient.calls.is_empty(), "comment: false makes no request: {:#?}", lenient.calls);

    let strict = pr.run(&[("comment", "false"), ("fail-on", "data-dependent")]);
    assert_eq!(strict.code, Some(3), "{strict:#?}");
    assert!(strict.stdout.contains("the plan is data_dependent and fail-on is data-dependent"), "{strict:#?}");

    let wrong = pr.run(&[("fail-on", "sometimes")]);
    assert_eq!(wrong.code, Some(1), "{wrong:#?}");
    assert!(wrong.stderr.contains("`fail-on`: expected destructive, data-dependent or never"), "{wrong:#?}");
    assert!(wrong.calls.is_empty() && wrong.outputs.is_empty(), "an input error stops it before anything: {wrong:#?}");
}

#[test]
fn with_a_database_given_it_plans_against_that_and_comments_the_drift() {
    let pr = Pr::new(BASE, Some(HEAD));
    // A snapshot of the deployed database: the base schema, and a column added there by hand.
    let snap = pr.dir.join("snapshot/deployed.db");
    std::fs::create_dir_all(snap.parent().expect("parent")).expect("mkdir");
    pr.dir.write("snapshot/schema/app.yaml", BASE);
    let o = reconcile(&pr.dir.join("snapshot"), &["apply", "--yes", "--db", "deployed.db", "--plans", "plans"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    rusqlite::Connection::open(&snap)
        .expect("open")
        .execute_batch("ALTER TABLE users ADD COLUMN nickname TEXT")
        .expect("change it by hand");

    let ran = pr.run(&[("db", snap.to_str().expect("utf-8")), ("command", "drift"), ("fail-on", "never")]);
    assert_eq!(ran.code, Some(0), "{ran:#?}");
    let json = plan_json(&ran);
    let changes = json["changes"].as_array().expect("changes");
    assert!(changes.iter().any(|c| c["object"] == "users.nickname"), "planned against the snapshot: {json}");
    assert_eq!(changes.len(), 3, "{json}");
    assert_eq!(ran.methods(), ["GET", "POST"], "{:#?}", ran.calls);
    let body = ran.calls[1].body.as_ref().expect("a body")["body"].as_str().expect("body.body");
    assert!(body.starts_with("<!-- reconcile:drift -->"), "{body}");
    assert!(body.contains("nickname"), "{body}");
    assert!(!body.contains(pr.temp.to_str().expect("utf-8")), "the snapshot's own path, not the copy's: {body}");
    assert!(std::fs::metadata(&snap).is_ok_and(|m| m.len() > 0), "the snapshot is left in place");
}

/// Every `INPUT_*` and `INSTALL_*` variable run.sh reads.
fn script_variables() -> Vec<String> {
    let text = std::fs::read_to_string(script()).expect("read run.sh");
    let mut names: Vec<String> = Vec::new();
    for prefix in ["INPUT_", "INSTALL_"] {
        for (at, _) in text.match_indices(prefix) {
            let name: String =
                text[at..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            if name.len() > prefix.len() && !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.sort();
    names
}

#[test]
fn action_yml_has_the_shape_github_expects_and_passes_every_input_run_sh_reads() {
    let action = action();
    assert!(action["name"].is_string() && action["description"].is_string());
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    let inputs = action["inputs"].as_mapping().expect("inputs");
    assert_eq!(action["inputs"]["fail-on"]["default"].as_str(), Some("destructive"));
    for name in ["schema", "fail-on", "comment", "sarif", "github-token", "version", "git", "path", "reconcile-bin"] {
        assert!(action["inputs"][name].is_mapping(), "input `{name}`");
    }
    for (name, input) in inputs {
        assert!(input["description"].is_string(), "input {name:?} has a description");
    }

    let steps = action["runs"]["steps"].as_sequence().expect("steps");
    let mut env_names: Vec<String> = Vec::new();
    for s in steps {
        assert!(s["run"].is_string() ^ s["uses"].is_string(), "each step runs or uses: {s:?}");
        if let Some(run) = s["run"].as_str() {
            assert_eq!(s["shell"].as_str(), Some("bash"), "a composite run step names its shell: {s:?}");
            assert!(run.starts_with("bash \"$GITHUB_ACTION_PATH/run.sh\""), "the logic stays in run.sh: {run}");
            env_names.extend(str_map(&s["env"]).into_keys());
        }
    }
    let uses: Vec<&str> = steps.iter().filter_map(|s| s["uses"].as_str()).collect();
    for action in ["actions/cache/restore@", "actions/cache/save@", "github/codeql-action/upload-sarif@"] {
        assert!(uses.iter().any(|u| u.starts_with(action)), "a step uses {action}: {uses:?}");
    }

    // Names match both ways: what run.sh reads is passed, and what is passed is read.
    let read = script_variables();
    for name in &read {
        assert!(env_names.contains(name), "run.sh reads {name}, which no step of action.yml sets");
    }
    for name in env_names.iter().filter(|n| n.starts_with("INPUT_") || n.starts_with("INSTALL_")) {
        assert!(read.contains(name), "action.yml sets {name}, which run.sh never reads");
    }
    // Every `inputs.X` an expression names is declared.
    let text = std::fs::read_to_string(root().join(".github/actions/reconcile/action.yml")).expect("read");
    for (at, _) in text.match_indices("inputs.") {
        let name: String =
            text[at + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
        assert!(action["inputs"][name.as_str()].is_mapping(), "action.yml names an undeclared input `{name}`");
    }

    // The outputs the issue asks for, each a review-step output that run.sh writes.
    let script = std::fs::read_to_string(script()).expect("read run.sh");
    let outputs = action["outputs"].as_mapping().expect("outputs");
    for name in ["has_changes", "destructive", "json"] {
        assert!(action["outputs"][name].is_mapping(), "output `{name}`");
    }
    for (name, output) in outputs {
        let name = name.as_str().expect("a name");
        assert_eq!(
            output["value"].as_str(),
            Some(format!("${{{{ steps.review.outputs.{name} }}}}").as_str()),
            "output `{name}`"
        );
        assert!(script.contains(&format!("set_output {name} ")), "run.sh never sets `{name}`");
    }
}

#[test]
fn the_example_workflow_runs_the_action_on_pull_requests_with_inputs_it_declares() {
    let wf = yaml("examples/ci/reconcile-review.yml");
    assert!(wf["on"].as_mapping().is_some_and(|m| m.contains_key("pull_request")), "on: pull_request");
    assert_eq!(wf["permissions"]["pull-requests"].as_str(), Some("write"), "the comment needs it");
    let jobs = wf["jobs"].as_mapping().expect("jobs");
    let action = action();
    let mut found = 0;
    for (name, job) in jobs {
        let steps = job["steps"].as_sequence().expect("steps");
        assert_eq!(steps[0]["uses"].as_str(), Some("actions/checkout@v4"), "{name:?} checks out first");
        for s in steps.iter().filter(|s| s["uses"].as_str() == Some("./.github/actions/reconcile")) {
            found += 1;
            for key in str_map(&s["with"]).keys() {
                assert!(action["inputs"][key.as_str()].is_mapping(), "`with: {key}` is no input of the action");
            }
        }
    }
    assert!(found > 0, "a step uses ./.github/actions/reconcile");
}
