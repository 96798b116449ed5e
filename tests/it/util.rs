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
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reconcile"));
    cmd.current_dir(dir).args(args).env("NO_COLOR", "1").env_remove("CI");
    for var in ["DB", "SCHEMA", "PLANS", "CONFIG", "ENV", "BUSY_TIMEOUT", "COLOR", "ALLOW_LINTS"] {
        cmd.env_remove(format!("RECONCILE_{var}"));
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run reconcile")
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
    c.args(["-qec", &cmd, "/dev/null"]).current_dir(dir).env_remove("NO_COLOR").env_remove("CI");
    for var in ["DB", "SCHEMA", "PLANS", "CONFIG", "ENV", "BUSY_TIMEOUT", "COLOR", "ALLOW_LINTS"] {
        c.env_remove(format!("RECONCILE_{var}"));
    }
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
