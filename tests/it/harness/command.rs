//! The real `reconcile` binary: temporary directories (`Dir`), a command with no RECONCILE_*
//! settings and no CI from the test's environment (`scrub`, the one place this is done), its
//! output as text (`stdout`, `stderr`) and as a snapshot (`snapshot`: exit code, stdout and
//! stderr together), and a run on a terminal.
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
const SETTINGS: &[&str] =
    &["DB", "SCHEMA", "PLANS", "CONFIG", "ENV", "BUSY_TIMEOUT", "COLOR", "ALLOW_LINTS", "AUTH_TOKEN"];

/// Clears what a test's environment could pass to `reconcile` without the test saying so: every
/// RECONCILE_* setting and `CI` (which changes `reset`'s rules). The one place this is done.
pub fn scrub(cmd: &mut Command) -> &mut Command {
    cmd.env_remove("CI").env_remove("LIBSQL_AUTH_TOKEN");
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

/// A run as its snapshot holds it, as uv's `uv_snapshot!` does: the exit code, then stdout and
/// stderr, each under its own header, so that a change in any of the three shows. `stdout_filter`
/// replaces what changes from run to run (the JSON's ids and times); `str::to_string` keeps all.
pub fn snapshot(o: &Output, stdout_filter: impl FnOnce(&str) -> String) -> String {
    let exit = o.status.code().map_or_else(|| o.status.to_string(), |c| c.to_string());
    format!("exit: {exit}\n--- stdout ---\n{}\n--- stderr ---\n{}", stdout_filter(&stdout(o)), stderr(o))
}
