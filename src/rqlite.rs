//! Rqlite: a node of an rqlite cluster (SQLite replicated over Raft) reached over its HTTP API,
//! as a [`Target`]: every command works on `--db rqlite://HOST:PORT` (`rqlites://` for HTTPS).
//! Every read is a `POST /db/query?level=strong`, answered by the leader (a follower forwards
//! it), so it sees every committed write; several queries go in one request, read in one
//! transaction.
//!
//! rqlite has no interactive transactions: a change is one `POST /db/execute?transaction` whose
//! statements commit or roll back together, compiled with its guards by [`crate::one_request`]
//! ([`Node::engine`] says [`Transactions::OneRequest`]). On a node started with `-fk` foreign
//! keys stay on, so its plans rebuild a referenced table with the tables that reference it.
//!
//! Credentials come from `RECONCILE_RQLITE_USER` and `RECONCILE_RQLITE_PASSWORD` (HTTP basic
//! auth); a URL that carries them is refused without being repeated, and the password is never
//! printed.

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration;

use rusqlite::types::Value;
use serde_json::{json, Value as Json};

use crate::apply::{ApplyError, ApplyOptions};
use crate::engine::{Engine, ForeignKeyHold, Sql, Transactions};
use crate::error::Error;
use crate::execute::{Report, Run};
use crate::history::HistoryEntry;
use crate::inspect::InspectOptions;
use crate::migration::{self, Prepared};
use crate::model::Schema;
use crate::one_request::{Sent, Statement};
use crate::remote::{base64_decode, base64_encode, RemoteError};
use crate::target::Target;

/// Whether `db` names an rqlite node: `rqlite://HOST:PORT` or `rqlites://HOST:PORT`.
pub fn is_url(db: &str) -> bool {
    let lower = db.get(..10).unwrap_or(db).to_ascii_lowercase();
    lower.starts_with("rqlite://") || lower.starts_with("rqlites://")
}

/// An rqlite node, connected and checked.
#[derive(Debug)]
pub struct Node {
    /// `http://HOST:PORT` or `https://HOST:PORT`.
    base: String,
    agent: ureq::Agent,
    /// The basic-auth header, when credentials were given.
    authorization: Option<String>,
    /// What the node is: its SQLite version, and whether it enforces foreign keys.
    engine: Engine,
    requests: Cell<u64>,
}

impl Node {
    /// Connects to the node `url` names, with the credentials of `RECONCILE_RQLITE_USER` and
    /// `RECONCILE_RQLITE_PASSWORD` when set, and checks that it answers rqlite's query API by
    /// asking its SQLite version and whether it enforces foreign keys (one request).
    pub fn connect(url: &str) -> Result<Node, RemoteError> {
        let user = std::env::var("RECONCILE_RQLITE_USER").ok().filter(|u| !u.is_empty());
        let password = std::env::var("RECONCILE_RQLITE_PASSWORD").ok();
        Node::connect_as(url, user.as_deref(), password.as_deref())
    }

    /// [`Node::connect`] with the credentials given.
    pub fn connect_as(url: &str, user: Option<&str>, password: Option<&str>) -> Result<Node, RemoteError> {
        if !is_url(url) {
            return Err(RemoteError::new(format!("{url}: not an rqlite URL (rqlite://HOST:PORT)")));
        }
        let (scheme, rest) = url.split_once("://").unwrap_or(("rqlite", url));
        let authority = rest.split('/').next().unwrap_or(rest);
        if authority.contains('@') {
            return Err(RemoteError::new(
                "an rqlite URL with credentials in it is not read (they would show in messages): \
                 give them in RECONCILE_RQLITE_USER and RECONCILE_RQLITE_PASSWORD",
            ));
        }
        let http = if scheme.eq_ignore_ascii_case("rqlites") { "https" } else { "http" };
        let base = format!("{http}://{authority}");
        let tls = rustls::ClientConfig::builder()
            .with_root_certificates(rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() })
            .with_no_client_auth();
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .tls_config(Arc::new(tls))
            .build();
        let authorization =
            user.map(|u| format!("Basic {}", base64_encode(format!("{u}:{}", password.unwrap_or("")).as_bytes())));
        let mut node =
            Node { engine: engine_of(&base, (0, 0, 0), false), base, agent, authorization, requests: Cell::new(0) };
        let asked = node
            .query(&[("SELECT sqlite_version()", &[]), ("PRAGMA foreign_keys", &[])])
            .map_err(|e| RemoteError::new(crate::normalize::sqlite_message(&e)))?;
        let version = match asked.first().and_then(|rows| rows.first()).and_then(|r| r.first()) {
            Some(Value::Text(v)) => crate::engine::parse_version(v),
            _ => return Err(RemoteError::new(format!("the node at {} did not say its SQLite version", node.base))),
        };
        let foreign_keys =
            matches!(asked.get(1).and_then(|rows| rows.first()).and_then(|r| r.first()), Some(Value::Integer(1)));
        node.engine = engine_of(&node.base, version, foreign_keys);
        Ok(node)
    }

    /// The node's address (`http://HOST:PORT`), for messages.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.get()
    }

    /// Whether the node enforces foreign keys (started with `-fk`): then `PRAGMA foreign_keys =
    /// OFF` in a request does nothing, and a rebuild must keep keys deferred instead.
    pub fn enforces_foreign_keys(&self) -> bool {
        self.engine.foreign_keys == ForeignKeyHold::DeferOnly
    }

    /// What the engine is: one request per change, foreign keys held off only where the node
    /// does not enforce them.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// A POST of `body` to `path`, with the credentials; the answer's JSON.
    fn post(&self, path: &str, body: &Json) -> Result<Json, Posted> {
        self.requests.set(self.requests.get() + 1);
        let url = format!("{}{path}", self.base);
        let mut req = self.agent.post(&url).set("Content-Type", "application/json");
        if let Some(a) = &self.authorization {
            req = req.set("Authorization", a);
        }
        let response = match req.send_string(&body.to_string()) {
            Ok(r) => r,
            Err(ureq::Error::Status(401 | 403, _)) => {
                return Err(Posted::Refused(format!("the rqlite node at {} refused the credentials", self.base)))
            }
            Err(ureq::Error::Status(code, r)) => {
                let said = r.into_string().unwrap_or_default();
                let said = said.trim();
                let said = if said.len() > 200 || said.starts_with('<') { "" } else { said };
                return Err(Posted::Refused(format!(
                    "the node at {} answered HTTP {code}{}{said}",
                    self.base,
                    if said.is_empty() { "" } else { ": " }
                )));
            }
            Err(ureq::Error::Transport(t))
                if matches!(t.kind(), ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Dns) =>
            {
                return Err(Posted::Refused(format!("cannot reach the rqlite node at {}: {t}", self.base)))
            }
            Err(e) => {
                return Err(Posted::Lost(format!("the answer of the rqlite node at {} was lost: {e}", self.base)))
            }
        };
        let text = response
            .into_string()
            .map_err(|e| Posted::Lost(format!("the answer of the rqlite node at {} was lost: {e}", self.base)))?;
        serde_json::from_str(&text).map_err(|_| {
            Posted::Refused(format!("the node at {} is not an rqlite node (its answer is not JSON)", self.base))
        })
    }

    /// The rows of each query, all in one request read by the leader.
    fn query(&self, queries: &[(&str, &[Value])]) -> Result<Vec<Vec<Vec<Value>>>, rusqlite::Error> {
        let body: Vec<Json> = queries
            .iter()
            .map(|(sql, params)| match params.is_empty() {
                true => json!(sql),
                false => {
                    let mut statement = vec![json!(sql)];
                    statement.extend(params.iter().map(to_json));
                    Json::Array(statement)
                }
            })
            .collect();
        let parsed = match self.post("/db/query?level=strong", &Json::Array(body)) {
            Ok(p) => p,
            Err(Posted::Refused(why) | Posted::Lost(why)) => {
                let why = if why.contains("answered HTTP") { format!("{why}: is it an rqlite node?") } else { why };
                return Err(failure(rusqlite::ffi::SQLITE_CANTOPEN, why));
            }
        };
        if let Some(error) = parsed.get("error").and_then(Json::as_str) {
            return Err(failure(rusqlite::ffi::SQLITE_ERROR, error.to_string()));
        }
        let unreachable = |why: String| failure(rusqlite::ffi::SQLITE_CANTOPEN, why);
        let results = parsed.get("results").and_then(Json::as_array).ok_or_else(|| {
            unreachable(format!("the node at {} is not an rqlite node (no results in its answer)", self.base))
        })?;
        if results.len() != queries.len() {
            return Err(unreachable(format!(
                "the node at {} answered {} results to {} queries",
                self.base,
                results.len(),
                queries.len()
            )));
        }
        results.iter().map(rows_of).collect()
    }
}

/// What the node at `base` is: one request per change; foreign keys held off only where the
/// node does not enforce them, otherwise only deferred.
fn engine_of(base: &str, version: (u32, u32, u32), foreign_keys: bool) -> Engine {
    Engine {
        name: format!("rqlite node at {base}"),
        sqlite_version: version,
        transactions: Transactions::OneRequest,
        foreign_keys: if foreign_keys { ForeignKeyHold::DeferOnly } else { ForeignKeyHold::PerSession },
        attach: false,
        functions: false,
    }
}

/// A POST that did not give an answer.
enum Posted {
    /// Refused or not delivered: nothing was run.
    Refused(String),
    /// Sent, and the answer lost.
    Lost(String),
}

impl crate::one_request::OneRequest for Node {
    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn place(&self) -> &str {
        &self.base
    }

    fn send(&self, statements: &[Statement]) -> Result<Sent, ApplyError> {
        let body: Vec<Json> = statements
            .iter()
            .map(|s| {
                let mut one = vec![json!(s.sql)];
                one.extend(s.params.iter().map(to_json));
                Json::Array(one)
            })
            .collect();
        let answer = match self.post("/db/execute?transaction", &Json::Array(body)) {
            Ok(a) => a,
            Err(Posted::Refused(why)) => return Err(ApplyError::Sqlite(format!("{why}; nothing was changed"))),
            Err(Posted::Lost(why)) => return Ok(Sent::Lost(why)),
        };
        if let Some(error) = answer.get("error").and_then(Json::as_str) {
            return Err(ApplyError::Sqlite(format!(
                "the node at {} answered: {error}; nothing was changed",
                self.base
            )));
        }
        let results = answer.get("results").and_then(Json::as_array).cloned().unwrap_or_default();
        if let Some((index, error)) =
            results.iter().enumerate().find_map(|(i, r)| r.get("error").and_then(Json::as_str).map(|e| (i, e)))
        {
            return Ok(Sent::Failed { index, message: error.to_string() });
        }
        if results.len() != statements.len() {
            return Ok(Sent::Lost(format!(
                "the node at {} answered {} results to {} statements",
                self.base,
                results.len(),
                statements.len()
            )));
        }
        Ok(Sent::Committed)
    }
}

impl Target for Node {
    fn engine(&self) -> &Engine {
        &self.engine
    }

    fn prepare(&mut self, desired: &Schema, opts: &InspectOptions) -> Result<Prepared, Error> {
        let before = crate::inspect::inspect(&*self, opts)?;
        migration::prepare_keys_on(before, desired, self.engine.sqlite_version, self.enforces_foreign_keys())
    }

    fn execute(&mut self, prepared: &Prepared, run: &Run) -> Result<Report, Error> {
        if prepared.is_empty() {
            return Ok(Report::nothing());
        }
        crate::one_request::change(&*self, prepared, run)
    }

    fn rollback(&mut self, changes: &[(HistoryEntry, Prepared)], options: ApplyOptions) -> Result<Report, Error> {
        crate::server::rollback_with_kept_tables(self, changes, options)
    }
}

/// The rows of one result, or its error.
fn rows_of(result: &Json) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
    if let Some(error) = result.get("error").and_then(Json::as_str) {
        return Err(failure(rusqlite::ffi::SQLITE_ERROR, error.to_string()));
    }
    let types: Vec<&str> = result
        .get("types")
        .and_then(Json::as_array)
        .map(|t| t.iter().map(|v| v.as_str().unwrap_or("")).collect())
        .unwrap_or_default();
    let Some(values) = result.get("values").and_then(Json::as_array) else { return Ok(Vec::new()) };
    Ok(values
        .iter()
        .map(|row| {
            row.as_array()
                .map(|cells| cells.iter().enumerate().map(|(i, v)| from_json(v, types.get(i).copied())).collect())
                .unwrap_or_default()
        })
        .collect())
}

/// A JSON value as SQLite's: numbers integer or real as written, text, NULL; a blob column's
/// value arrives base64-encoded.
fn from_json(v: &Json, declared: Option<&str>) -> Value {
    match v {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Integer(i64::from(*b)),
        Json::Number(n) => n.as_i64().map(Value::Integer).unwrap_or_else(|| Value::Real(n.as_f64().unwrap_or(0.0))),
        Json::String(s) if declared.is_some_and(|t| t.eq_ignore_ascii_case("blob")) => {
            base64_decode(s).map(Value::Blob).unwrap_or_else(|_| Value::Text(s.clone()))
        }
        Json::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}

fn to_json(v: &Value) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Integer(i) => json!(i),
        Value::Real(f) => json!(f),
        Value::Text(t) => json!(t),
        Value::Blob(b) => json!(b),
    }
}

fn failure(code: std::os::raw::c_int, message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), Some(message))
}

impl Sql for Node {
    fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
        Ok(self.query(&[(sql, params)])?.remove(0))
    }

    fn snapshot(&self, queries: &[&str]) -> Result<Vec<Vec<Vec<Value>>>, rusqlite::Error> {
        let all: Vec<(&str, &[Value])> = queries.iter().map(|q| (*q, &[] as &[Value])).collect();
        self.query(&all)
    }

    fn sqlite_version(&self) -> Result<(u32, u32, u32), rusqlite::Error> {
        Ok(self.engine.sqlite_version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_credentials_and_values() {
        assert!(is_url("rqlite://127.0.0.1:4001") && is_url("RQLITES://db.example:4001") && !is_url("http://x"));
        let e = Node::connect_as("rqlite://ann:s3cret@127.0.0.1:1", None, None).unwrap_err().to_string();
        assert!(!e.contains("s3cret") && e.contains("RECONCILE_RQLITE_USER"), "{e}");
        assert_eq!(from_json(&json!(3), Some("integer")), Value::Integer(3));
        assert_eq!(from_json(&json!(1.5), Some("real")), Value::Real(1.5));
        assert_eq!(from_json(&json!("AP8="), Some("blob")), Value::Blob(vec![0, 255]));
        assert_eq!(from_json(&json!("AP8="), Some("text")), Value::Text("AP8=".into()));
    }
}
