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

/// A command running the real `reconcile` binary in `dir`, with no RECONCILE_* settings and no CI
/// from the environment, for tests that start it and act while it runs.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_reconcile"));
    cmd.current_dir(dir).args(args).env("NO_COLOR", "1").env_remove("CI");
    for var in ["DB", "SCHEMA", "PLANS", "CONFIG", "ENV", "BUSY_TIMEOUT"] {
        cmd.env_remove(format!("RECONCILE_{var}"));
    }
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
