//! Test helpers: temporary directories, databases, and the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rusqlite::Connection;

/// A fresh temporary directory, removed on drop.
pub struct Dir {
    pub tmp: tempfile::TempDir,
}

impl Dir {
    pub fn new() -> Dir {
        Dir { tmp: tempfile::tempdir().expect("temp dir") }
    }
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }
    pub fn join(&self, p: &str) -> PathBuf {
        self.tmp.path().join(p)
    }
    /// Writes a file (creating parent directories).
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(&p, text).expect("write");
        p
    }
    /// Creates a database file from SQL.
    pub fn db(&self, rel: &str, sql: &str) -> PathBuf {
        let p = self.join(rel);
        let c = Connection::open(&p).expect("open db");
        c.execute_batch(sql).expect("build db");
        p
    }
}

/// The real `reconcile` binary, with no RECONCILE_* settings and no CI from the environment.
pub fn reconcile(dir: &Path, args: &[&str]) -> Output {
    reconcile_env(dir, args, &[])
}

/// The real `reconcile` binary with these environment variables set (and no others of its own).
pub fn reconcile_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = command(dir, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run reconcile")
}

/// Every setting `reconcile` reads from its environment, after `RECONCILE_`.
const SETTINGS: &[&str] = &["DB", "SCHEMA", "PLANS", "CONFIG", "ENV", "BUSY_TIMEOUT", "COLOR", "ALLOW_LINTS"];

/// Clears what a test's environment could pass to `reconcile` without the test saying so: every
/// RECONCILE_* setting and `CI` (which changes `reset`'s rules). The one place this is done.
pub fn scrub(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("CI");
    for var in SETTINGS {
        cmd.env_remove(format!("RECONCILE_{var}"));
    }
    cmd
}

/// A command running the real `reconcile` binary in `dir`, with no RECONCILE_* settings and no CI
/// from the environment, for tests that start it and act while it runs.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reconcile"));
    scrub(cmd.current_dir(dir).args(args).env("NO_COLOR", "1"));
    cmd
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("dir entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("file type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// The real `reconcile` binary on a terminal (a pty from `script`), stdin closed, with
/// these environment variables set. Returns everything it printed (stdout and stderr
/// together, as a terminal shows them) and its exit code.
pub fn reconcile_on_terminal(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (String, Option<i32>) {
    let has_script = Command::new("script").arg("--version").output().is_ok();
    assert!(has_script, "this test needs `script` (util-linux) to give reconcile a terminal");
    let cmd =
        std::iter::once(env!("CARGO_BIN_EXE_reconcile")).chain(args.iter().copied()).collect::<Vec<_>>().join(" ");
    let mut c = Command::new("script");
    scrub(c.args(["-qec", &cmd, "/dev/null"]).current_dir(dir).env_remove("NO_COLOR"));
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.stdin(std::process::Stdio::null()).output().expect("run script");
    (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code())
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The sqldef corpus directory, if this machine has it.
pub fn corpus_dir() -> Option<PathBuf> {
    let p = std::env::var_os("RECONCILE_SQLDEF_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus/sqldef"));
    p.is_dir().then_some(p)
}

/// A fenced ```` ```sh ```` block of a doc page; `run` is false when an
/// `<!-- not run: why -->` comment stands right before it.
pub struct DocBlock {
    pub run: bool,
    pub body: String,
}

/// The `sh` blocks of a page under `docs/`, in order.
pub fn doc_blocks(page: &str) -> Vec<DocBlock> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(page))
        .unwrap_or_else(|e| panic!("read docs/{page}: {e}"));
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("```sh\n") {
        let before = rest[..at].trim_end();
        let skipped =
            before.ends_with("-->") && before.rfind("<!--").is_some_and(|m| before[m..].starts_with("<!-- not run"));
        let body = &rest[at + 6..];
        let end = body.find("\n```").expect("a closed block");
        out.push(DocBlock { run: !skipped, body: body[..end].to_string() });
        rest = &body[end + 4..];
    }
    out
}

/// A block as a bash script: a line `CMD  # exit N` checks that CMD exits with N.
pub fn doc_script(block: &str) -> String {
    let mut out = String::new();
    for line in block.lines() {
        let expected = line.split_once("# exit ").and_then(|(cmd, rest)| {
            Some((cmd.trim_end(), rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<i32>().ok()?))
        });
        match expected {
            Some((cmd, n)) => out.push_str(&format!(
                "if {cmd}; then rc=0; else rc=$?; fi; [ \"$rc\" -eq {n} ] || {{ echo \"expected exit {n}, got $rc: {}\" >&2; exit 99; }}\n",
                cmd.replace('"', "\\\"")
            )),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Runs a doc block with `bash -e` in `dir`, with the built `reconcile` first on `PATH`;
/// panics with what it printed unless it succeeds. Returns stdout and stderr.
pub fn run_doc_block(dir: &Path, block: &str) -> String {
    let bin = dir.join(".bin");
    if !bin.exists() {
        std::fs::create_dir_all(&bin).expect("mkdir");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_reconcile"), bin.join("reconcile")).expect("symlink");
    }
    let file = dir.join(".block.sh");
    std::fs::write(&file, doc_script(block)).expect("write");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("bash");
    scrub(cmd.arg("-e").arg(&file).current_dir(dir).env("PATH", path).env("NO_COLOR", "1"));
    let o = cmd.output().expect("run bash");
    let printed = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "this block failed ({:?}):\n{block}\n--- printed ---\n{printed}", o.status);
    printed
}
