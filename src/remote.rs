//! Remote: a libSQL server (`sqld`, what Turso runs) reached over Hrana-over-HTTP, read through
//! [`Sql`] like a local file. A read from the [`Client`] is one `POST /v2/pipeline` holding the
//! statement and a `close`, so it needs no stream state; `inspect` takes three of them whatever
//! the size of the schema.
//!
//! A change needs one server connection for all of its requests: `PRAGMA foreign_keys = OFF`
//! must still hold when a table is rebuilt, and the transaction spans the steps and the reads
//! between them. A [`Stream`] is that connection: it carries the server's baton from one request
//! to the next, runs several statements in one request ([`Stream::batch`]) and reads inside the
//! transaction (it is a [`Sql`] too). A stream that ends before its work is done (its baton
//! refused or expired, the connection broken, an HTTP error) is a [`StreamLost`]; the server
//! rolls back a transaction still open when its stream ends.
//!
//! Errors name the server and say what it said; the auth token is sent as a bearer token and
//! never appears in a message. `https://` and `libsql://` (read as `https://`) go over TLS
//! (rustls), trusting the public roots and the certificates `RECONCILE_CA_FILE` names.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::ffi;
use rusqlite::types::Value;
use serde_json::{json, Value as Json};

use crate::engine::{Engine, ForeignKeyHold, Sql, Transactions};

/// Whether `db` names a remote database rather than a file.
pub fn is_url(db: &str) -> bool {
    ["http://", "https://", "libsql://"].iter().any(|p| db.len() > p.len() && db[..p.len()].eq_ignore_ascii_case(p))
}

/// A libSQL server.
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
    /// Requests sent, for the benchmarks and tests that count round trips.
    requests: Cell<u64>,
    /// The server's SQLite version, asked once when connecting.
    version: (u32, u32, u32),
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is never shown.
        f.debug_struct("Client").field("base", &self.base).field("token", &self.token.as_ref().map(|_| "…")).finish()
    }
}

/// A server that cannot be used: unreachable, not libSQL, or refusing the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RemoteError(String);

impl RemoteError {
    /// An error in these words.
    pub fn new(message: impl Into<String>) -> RemoteError {
        RemoteError(message.into())
    }
}

impl Client {
    /// Connects to the libSQL server at `url` (`http://HOST:PORT`, `https://HOST`, or
    /// `libsql://HOST`, read as `https://HOST`), with a JWT `token` if it needs one, and checks
    /// that it answers Hrana by asking its SQLite version. Over TLS the server's certificate
    /// must chain to a public root (webpki's) or to a certificate of the PEM file that
    /// `RECONCILE_CA_FILE` names, when set.
    pub fn connect(url: &str, token: Option<&str>) -> Result<Client, RemoteError> {
        let ca_file = std::env::var_os("RECONCILE_CA_FILE").filter(|v| !v.is_empty()).map(PathBuf::from);
        Client::connect_trusting(url, token, ca_file.as_deref())
    }

    /// [`Client::connect`], trusting the certificates of the PEM file `ca_file` besides the public
    /// roots (a server with a private authority or a self-signed certificate).
    pub fn connect_trusting(url: &str, token: Option<&str>, ca_file: Option<&Path>) -> Result<Client, RemoteError> {
        let base = url.trim_end_matches('/');
        let base = match base.get(..9) {
            Some(scheme) if scheme.eq_ignore_ascii_case("libsql://") => format!("https://{}", &base[9..]),
            _ => base.to_string(),
        };
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .tls_config(Arc::new(tls_config(ca_file)?))
            .build();
        let token = token.filter(|t| !t.is_empty()).map(str::to_string);
        let mut client = Client { base, token, agent, requests: Cell::new(0), version: (0, 0, 0) };
        let asked = client.rows("SELECT sqlite_version()", &[]);
        let rows = asked.map_err(|e| RemoteError(crate::normalize::sqlite_message(&e)))?;
        client.version = match rows.first().and_then(|r| r.first()) {
            Some(Value::Text(v)) => crate::engine::parse_version(v),
            _ => return Err(RemoteError(format!("the server at {} did not say its SQLite version", client.base))),
        };
        Ok(client)
    }

    /// The server's address, for messages.
    pub fn url(&self) -> &str {
        &self.base
    }

    /// Requests sent so far.
    pub fn requests(&self) -> u64 {
        self.requests.get()
    }

    /// What the engine is: a libSQL server runs changes interactively over one stream, with
    /// foreign keys held off in the stream before BEGIN.
    pub fn engine(&self) -> Result<Engine, rusqlite::Error> {
        Ok(Engine {
            name: format!("libSQL server at {}", self.base),
            sqlite_version: self.version,
            transactions: Transactions::Interactive,
            foreign_keys: ForeignKeyHold::PerSession,
            attach: false,
            functions: false,
        })
    }

    /// A stream on this server: one server connection held across requests, for a change. Nothing
    /// is sent until its first request, which opens it.
    pub fn stream(&self) -> Stream<'_> {
        Stream { client: self, state: RefCell::new(State::New) }
    }

    /// Whether `PRAGMA foreign_keys = OFF` takes effect in a stream of this server: it is set,
    /// then read back, in one stream, in one request that closes the stream. A server that
    /// forces foreign keys on answers `false`, and a change that needs them off cannot run there.
    pub fn foreign_keys_off_in_stream(&self) -> Result<bool, StreamError> {
        let stream = self.stream();
        let done = stream.run(&["PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys"], true)?;
        Ok(done.get(1).and_then(|e| e.rows.first()).and_then(|r| r.first()) == Some(&Value::Integer(0)))
    }

    /// One pipeline request on a fresh stream that the request closes: the results or what went
    /// wrong, in words that name the server.
    fn pipeline(&self, requests: Json) -> Result<Vec<Json>, String> {
        match self.post(&self.base, None, requests, None) {
            Ok(answer) => Ok(answer.results),
            Err(Failure::Reach(m)) => Err(format!("cannot reach a libSQL server at {}: {m}", self.base)),
            Err(Failure::Read(m)) => Err(format!("the server at {}: reading its answer: {m}", self.base)),
            Err(Failure::Status(code, detail)) => {
                let why = match code {
                    401 | 403 => "refused the credentials (check the auth token)".to_string(),
                    404 => {
                        "has no Hrana pipeline at /v2/pipeline: not a libSQL server, or no such namespace".to_string()
                    }
                    _ => format!("answered HTTP {code}"),
                };
                let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
                Err(format!("the server at {} {why}{detail}", self.base))
            }
            Err(Failure::NotHrana(what)) => Err(format!("the server at {} is not a libSQL server ({what})", self.base)),
        }
    }

    /// One `POST {base}/v2/pipeline` with `baton` (`None` opens a new stream), counted in
    /// `requests`.
    fn post(
        &self,
        base: &str,
        baton: Option<&str>,
        requests: Json,
        timeout: Option<Duration>,
    ) -> Result<Answer, Failure> {
        self.requests.set(self.requests.get() + 1);
        let url = format!("{base}/v2/pipeline");
        let mut req = self.agent.post(&url).set("Content-Type", "application/json");
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        if let Some(t) = timeout {
            req = req.timeout(t);
        }
        let body = json!({ "baton": baton, "requests": requests }).to_string();
        let response = match req.send_string(&body) {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let text = r.into_string().unwrap_or_default();
                // sqld says why in plain text, or as `{"message": …, "code": …}`.
                let said = serde_json::from_str::<Json>(&text)
                    .ok()
                    .and_then(|j| j.get("message").and_then(Json::as_str).map(str::to_string))
                    .unwrap_or(text);
                let said = said.trim();
                let said = if said.len() > 200 { "" } else { said };
                return Err(Failure::Status(code, said.to_string()));
            }
            Err(e) => return Err(Failure::Reach(transport(&e))),
        };
        let text = response.into_string().map_err(|e| Failure::Read(e.to_string()))?;
        let parsed: Json =
            serde_json::from_str(&text).map_err(|_| Failure::NotHrana("its answer is not Hrana JSON"))?;
        let results = parsed
            .get("results")
            .and_then(Json::as_array)
            .cloned()
            .ok_or(Failure::NotHrana("no results in its answer"))?;
        let text_of = |key: &str| parsed.get(key).and_then(Json::as_str).map(str::to_string);
        Ok(Answer { baton: text_of("baton"), base_url: text_of("base_url"), results })
    }
}

/// A pipeline request's answer.
struct Answer {
    /// The baton for the stream's next request; `None` when the server closed the stream.
    baton: Option<String>,
    /// Where the stream's next requests go, when the server moves it.
    base_url: Option<String>,
    results: Vec<Json>,
}

/// How a pipeline request failed before giving results.
enum Failure {
    /// Nothing answered, or the connection broke while sending.
    Reach(String),
    /// The connection broke while reading the answer.
    Read(String),
    /// An HTTP error status, with what the server said (empty when it said nothing short).
    Status(u16, String),
    /// An answer that is not Hrana.
    NotHrana(&'static str),
}

impl Failure {
    /// What happened, for [`StreamLost::why`].
    fn why(&self) -> String {
        match self {
            Failure::Reach(m) => format!("the request failed ({m})"),
            Failure::Read(m) => format!("the connection broke before the answer ({m})"),
            Failure::Status(401 | 403, _) => "it refused the credentials (check the auth token)".to_string(),
            Failure::Status(code, said) if said.is_empty() => format!("it answered HTTP {code}"),
            Failure::Status(code, said) => format!("it answered HTTP {code}: {said}"),
            Failure::NotHrana(what) => format!("it is not a libSQL server ({what})"),
        }
    }
}

/// A stream that ended before its work was done: its baton refused (forged, reused, expired
/// after the server's idle limit), the connection broken mid-request, an HTTP error, or the
/// server closing it. Nothing more can be sent on it; the server rolls back a transaction still
/// open in it. A request whose answer was lost may or may not have run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the Hrana stream to the libSQL server at {server} was lost: {why}; the server rolls back a transaction still open when its stream ends"
)]
pub struct StreamLost {
    /// The server's address.
    pub server: String,
    /// What happened, in words.
    pub why: String,
}

impl StreamLost {
    /// The lost stream behind an error of [`Sql::rows`] on a [`Stream`], if that is what it is.
    pub fn of(e: &rusqlite::Error) -> Option<&StreamLost> {
        match e {
            rusqlite::Error::UserFunctionError(inner) => inner.downcast_ref(),
            _ => None,
        }
    }
}

impl From<StreamLost> for rusqlite::Error {
    /// Carried in the one `rusqlite` error that holds any error, so that [`StreamLost::of`] finds
    /// it again; its message is the lost stream's.
    fn from(lost: StreamLost) -> rusqlite::Error {
        rusqlite::Error::UserFunctionError(Box::new(lost))
    }
}

/// What went wrong in a [`Stream`].
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The stream ended: nothing more can be sent on it.
    #[error(transparent)]
    Lost(#[from] StreamLost),
    /// Statement `index` of a request failed (those after it were not run); the stream is still
    /// open, in whatever transaction state SQLite left it.
    #[error("statement {index} (`{sql}`): {}", crate::normalize::sqlite_message(.error))]
    Statement {
        /// The statement's position in the request, from 0.
        index: usize,
        /// Its SQL.
        sql: String,
        /// What the server said, with SQLite's code where it gave one.
        error: rusqlite::Error,
    },
}

impl From<StreamError> for rusqlite::Error {
    fn from(e: StreamError) -> rusqlite::Error {
        match e {
            StreamError::Lost(lost) => lost.into(),
            StreamError::Statement { error, .. } => error,
        }
    }
}

/// What one statement gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Executed {
    /// Its rows (none for most writes).
    pub rows: Vec<Vec<Value>>,
    /// The rows it inserted, updated or deleted.
    pub changed: u64,
}

/// A Hrana stream: one connection on the server, held across `/v2/pipeline` requests by the baton
/// each answer gives for the next request. Settings (`PRAGMA foreign_keys`) and an open
/// transaction last from one request to the next, as on a local connection. The first request
/// opens it; [`Stream::close`] ends it, and dropping it unclosed sends a `close` (best effort).
/// The server ends a stream left idle too long (sqld: 10 seconds between requests).
pub struct Stream<'c> {
    client: &'c Client,
    state: RefCell<State>,
}

/// Where a stream is.
enum State {
    /// Nothing sent yet.
    New,
    /// Open: the next request carries `baton` and goes to `base`.
    Open { baton: String, base: String },
    /// Closed by [`Stream::close`].
    Closed,
    /// Lost: every later call gives this again.
    Lost(StreamLost),
}

impl std::fmt::Debug for Stream<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &*self.state.borrow() {
            State::New => "new",
            State::Open { .. } => "open",
            State::Closed => "closed",
            State::Lost(_) => "lost",
        };
        f.debug_struct("Stream").field("server", &self.client.base).field("state", &state).finish()
    }
}

impl Stream<'_> {
    /// Runs `statements` in order in one request, each only if the one before it succeeded: what
    /// each gave, or the first that failed, with its index (the stream stays open). For a change:
    /// `["PRAGMA foreign_keys = OFF", "PRAGMA foreign_keys", "BEGIN IMMEDIATE"]` turns keys off,
    /// reads them back and opens the transaction in the same connection and request.
    pub fn batch(&self, statements: &[&str]) -> Result<Vec<Executed>, StreamError> {
        self.run(statements, false)
    }

    /// Runs one statement.
    pub fn execute(&self, sql: &str) -> Result<Executed, StreamError> {
        let mut done = self.run(&[sql], false)?;
        Ok(done.remove(0))
    }

    /// Runs `sql`, a script of any number of statements, in one `sequence` request: for a
    /// script that is not split into statements here (a seed). The first failure ends it, the
    /// stream staying open.
    pub fn sequence(&self, sql: &str) -> Result<(), StreamError> {
        let results = self.send(vec![json!({ "type": "sequence", "sql": sql })], false, None)?;
        match hrana_error(&results[0]) {
            Some((code, message)) => {
                Err(StreamError::Statement { index: 0, sql: sql.to_string(), error: failure(Some(code), message) })
            }
            None => Ok(()),
        }
    }

    /// Ends the stream: a `close` request, unless nothing was ever sent. The server rolls back a
    /// transaction still open.
    pub fn close(self) -> Result<(), StreamLost> {
        let open = matches!(&*self.state.borrow(), State::Open { .. });
        if open {
            self.send(vec![json!({ "type": "close" })], true, None)?;
        }
        let mut state = self.state.borrow_mut();
        match std::mem::replace(&mut *state, State::Closed) {
            State::Lost(lost) => Err(lost),
            _ => Ok(()),
        }
    }

    /// `statements` as one Hrana batch, each step on the condition that the one before succeeded,
    /// followed by a `close` when `close`.
    fn run(&self, statements: &[&str], close: bool) -> Result<Vec<Executed>, StreamError> {
        if statements.is_empty() && !close {
            return Ok(Vec::new());
        }
        let steps: Vec<Json> = statements
            .iter()
            .enumerate()
            .map(|(i, sql)| match i {
                0 => json!({ "stmt": { "sql": sql } }),
                _ => json!({ "stmt": { "sql": sql }, "condition": { "type": "ok", "step": i - 1 } }),
            })
            .collect();
        let mut requests = vec![json!({ "type": "batch", "batch": { "steps": steps } })];
        if close {
            requests.push(json!({ "type": "close" }));
        }
        let results = self.send(requests, close, None)?;
        let server = &self.client.base;
        let failed = |index: usize, code: Option<&str>, message: String| StreamError::Statement {
            index,
            sql: statements.get(index).copied().unwrap_or_default().to_string(),
            error: failure(code, message),
        };
        let result = &results[0];
        if let Some(error) = hrana_error(result) {
            let (code, message) = error;
            return Err(failed(0, Some(code), message));
        }
        let answer = result.pointer("/response/result");
        let step_results = answer.and_then(|a| a.get("step_results")).and_then(Json::as_array);
        let step_errors = answer.and_then(|a| a.get("step_errors")).and_then(Json::as_array);
        let (Some(step_results), Some(step_errors)) = (step_results, step_errors) else {
            return Err(failed(0, Some(""), format!("the server at {server} sent no batch result")));
        };
        let mut done = Vec::with_capacity(statements.len());
        for index in 0..statements.len() {
            if let Some(error) = step_errors.get(index).filter(|e| !e.is_null()) {
                let (code, message) = error_parts(error);
                return Err(failed(index, Some(code), message));
            }
            let executed = step_results
                .get(index)
                .filter(|r| !r.is_null())
                .ok_or_else(|| format!("the server at {server} sent no result"))
                .and_then(|r| executed(r).map_err(|m| format!("the server at {server} sent {m}")));
            done.push(executed.map_err(|m| failed(index, Some(""), m))?);
        }
        Ok(done)
    }

    /// One request on the stream: its results, one per request, or the stream lost.
    fn send(&self, requests: Vec<Json>, closing: bool, timeout: Option<Duration>) -> Result<Vec<Json>, StreamLost> {
        let (baton, base) = match &*self.state.borrow() {
            State::New => (None, self.client.base.clone()),
            State::Open { baton, base } => (Some(baton.clone()), base.clone()),
            State::Closed => {
                let why = "it was closed".to_string();
                return Err(StreamLost { server: self.client.base.clone(), why });
            }
            State::Lost(lost) => return Err(lost.clone()),
        };
        let sent = requests.len();
        let lost = |why: String| StreamLost { server: base.clone(), why };
        let answer = self.client.post(&base, baton.as_deref(), Json::Array(requests), timeout);
        let outcome = match answer {
            Err(f) => Err(lost(f.why())),
            Ok(a) if a.results.len() != sent => {
                Err(lost(format!("it answered {} results to {sent} requests", a.results.len())))
            }
            Ok(Answer { baton: Some(baton), base_url, results }) if !closing => {
                let moved = base_url.filter(|u| is_url(u) && !u.to_ascii_lowercase().starts_with("libsql://"));
                let base = moved.map(|u| u.trim_end_matches('/').to_string()).unwrap_or(base.clone());
                *self.state.borrow_mut() = State::Open { baton, base };
                return Ok(results);
            }
            Ok(a) if closing => Ok(a.results),
            Ok(_) => Err(lost("the server ended the stream".to_string())),
        };
        match outcome {
            Ok(results) => {
                *self.state.borrow_mut() = State::Closed;
                Ok(results)
            }
            Err(lost) => {
                *self.state.borrow_mut() = State::Lost(lost.clone());
                Err(lost)
            }
        }
    }
}

impl Drop for Stream<'_> {
    fn drop(&mut self) {
        if matches!(&*self.state.borrow(), State::Open { .. }) {
            // Best effort: a server that does not answer ends the stream itself when it expires.
            let _ = self.send(vec![json!({ "type": "close" })], true, Some(Duration::from_secs(5)));
        }
    }
}

impl Sql for Stream<'_> {
    fn sqlite_version(&self) -> Result<(u32, u32, u32), rusqlite::Error> {
        Ok(self.client.version)
    }

    fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
        let args: Vec<Json> = params.iter().map(to_hrana).collect();
        let results =
            self.send(vec![json!({ "type": "execute", "stmt": { "sql": sql, "args": args } })], false, None)?;
        statement_rows(&results[0], &self.client.base)
    }
}

impl crate::engine::Write for Stream<'_> {
    fn run(&self, sql: &str, params: &[Value]) -> Result<(), rusqlite::Error> {
        self.rows(sql, params).map(drop)
    }
}

/// What TLS trusts: webpki's public roots, and the certificates of `ca_file`.
fn tls_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, RemoteError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(file) = ca_file {
        let unusable = |why: String| RemoteError(format!("`{}` (RECONCILE_CA_FILE): {why}", file.display()));
        let certificates = CertificateDer::pem_file_iter(file)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| unusable(format!("cannot read its PEM certificates: {e}")))?;
        if certificates.is_empty() {
            return Err(unusable("holds no PEM certificate".to_string()));
        }
        for certificate in certificates {
            roots.add(certificate).map_err(|e| unusable(format!("a certificate that cannot be trusted: {e}")))?;
        }
    }
    // ring, because it builds with a C compiler alone; rustls marks its provider deprecated
    // because it offers no post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| RemoteError(format!("TLS cannot be set up: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// A transport error in words, without the request (whose headers hold the token).
fn transport(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Transport(t) => {
            let kind = t.kind().to_string();
            let text = match t.message() {
                Some(m) => format!("{kind}: {m}"),
                None => kind,
            };
            let source = std::error::Error::source(t).map(|s| s.to_string()).unwrap_or_default();
            if source.contains("UnknownIssuer") && !text.contains("UnknownIssuer") {
                format!("{text}: {source} (trust its authority with RECONCILE_CA_FILE)")
            } else if text.contains("UnknownIssuer") || source.contains("UnknownIssuer") {
                format!("{text} (trust its authority with RECONCILE_CA_FILE)")
            } else {
                text
            }
        }
        ureq::Error::Status(code, _) => format!("HTTP {code}"),
    }
}

/// A message as an SQLite error, with SQLite's code where the server gave one.
fn failure(code: Option<&str>, message: String) -> rusqlite::Error {
    let code = match code {
        Some("SQLITE_BUSY") => ffi::SQLITE_BUSY,
        Some("SQLITE_READONLY") => ffi::SQLITE_READONLY,
        Some("SQLITE_FULL") => ffi::SQLITE_FULL,
        Some("SQLITE_CONSTRAINT") => ffi::SQLITE_CONSTRAINT,
        Some(_) => ffi::SQLITE_ERROR,
        None => ffi::SQLITE_CANTOPEN,
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some(message))
}

fn to_hrana(v: &Value) -> Json {
    match v {
        Value::Null => json!({ "type": "null" }),
        Value::Integer(i) => json!({ "type": "integer", "value": i.to_string() }),
        Value::Real(f) => json!({ "type": "float", "value": f }),
        Value::Text(t) => json!({ "type": "text", "value": t }),
        Value::Blob(b) => json!({ "type": "blob", "base64": base64_encode(b) }),
    }
}

fn from_hrana(v: &Json) -> Result<Value, String> {
    let kind = v.get("type").and_then(Json::as_str).unwrap_or_default();
    Ok(match kind {
        "null" => Value::Null,
        "integer" => Value::Integer(
            v.get("value").and_then(Json::as_str).and_then(|s| s.parse().ok()).ok_or("an integer that is not one")?,
        ),
        "float" => Value::Real(v.get("value").and_then(Json::as_f64).ok_or("a float that is not one")?),
        "text" => Value::Text(v.get("value").and_then(Json::as_str).ok_or("a text that is not one")?.to_string()),
        "blob" => Value::Blob(base64_decode(v.get("base64").and_then(Json::as_str).unwrap_or_default())?),
        other => return Err(format!("a value of unknown type `{other}`")),
    })
}

impl Sql for Client {
    fn sqlite_version(&self) -> Result<(u32, u32, u32), rusqlite::Error> {
        Ok(self.version)
    }

    fn rows(&self, sql: &str, params: &[Value]) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
        let args: Vec<Json> = params.iter().map(to_hrana).collect();
        let requests = json!([{ "type": "execute", "stmt": { "sql": sql, "args": args } }, { "type": "close" }]);
        let results = self.pipeline(requests).map_err(|m| failure(None, m))?;
        let first = results.first().ok_or_else(|| failure(Some(""), format!("{}: no result", self.base)))?;
        statement_rows(first, &self.base)
    }
}

/// The code and message of a Hrana error.
fn error_parts(error: &Json) -> (&str, String) {
    let message = error.get("message").and_then(Json::as_str).unwrap_or("an error");
    (error.get("code").and_then(Json::as_str).unwrap_or("SQLITE_ERROR"), message.to_string())
}

/// The error of a failed stream result, if it failed.
fn hrana_error(result: &Json) -> Option<(&str, String)> {
    if result.get("type").and_then(Json::as_str) != Some("error") {
        return None;
    }
    Some(result.get("error").map(error_parts).unwrap_or(("SQLITE_ERROR", "an error".to_string())))
}

/// The rows of an `execute` request's result, or its error.
fn statement_rows(result: &Json, server: &str) -> Result<Vec<Vec<Value>>, rusqlite::Error> {
    if let Some((code, message)) = hrana_error(result) {
        return Err(failure(Some(code), message));
    }
    let answer = result.pointer("/response/result").ok_or_else(|| no_rows(server))?;
    executed(answer).map(|e| e.rows).map_err(|m| failure(Some(""), format!("the server at {server} sent {m}")))
}

fn no_rows(server: &str) -> rusqlite::Error {
    failure(Some(""), format!("the server at {server} sent no rows"))
}

/// A Hrana statement result as rows and a count of changed rows.
fn executed(result: &Json) -> Result<Executed, String> {
    let rows = result.get("rows").and_then(Json::as_array).ok_or("no rows")?;
    let rows = rows
        .iter()
        .map(|r| {
            let cells = r.as_array().ok_or("a row that is not a list")?;
            cells.iter().map(from_hrana).collect::<Result<Vec<_>, _>>()
        })
        .collect::<Result<_, String>>()?;
    let changed = result.get("affected_row_count").and_then(Json::as_u64).unwrap_or(0);
    Ok(Executed { rows, changed })
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(BASE64[((n >> shift) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = BASE64.iter().position(|b| *b == c).ok_or("a blob that is not base64")? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for bytes in [&b""[..], b"f", b"fo", b"foo", b"foob", b"\x00\xff\x10hello"] {
            assert_eq!(base64_decode(&base64_encode(bytes)).unwrap(), bytes);
        }
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn urls_are_told_from_paths() {
        assert!(is_url("http://127.0.0.1:8080"));
        assert!(is_url("LIBSQL://db.example"));
        assert!(!is_url("app.db"));
        assert!(!is_url("http://"));
    }

    #[test]
    fn nothing_listening_is_a_clear_error_without_the_token() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = Client::connect(&format!("http://127.0.0.1:{port}"), Some("secret-token-123")).unwrap_err();
        assert!(e.to_string().contains("cannot reach a libSQL server at http://127.0.0.1:"), "{e}");
        assert!(!e.to_string().contains("secret-token-123"), "{e}");
    }

    /// A loopback server answering each request with the next of `bodies` (as Hrana JSON) and
    /// sending what it received to the returned channel.
    fn answering(bodies: Vec<String>) -> (String, std::sync::mpsc::Receiver<String>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for (stream, body) in listener.incoming().zip(bodies) {
                let Ok(mut s) = stream else { continue };
                // The request's JSON body ends its message with `]}`.
                let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
                while !got.ends_with(b"]}") {
                    match s.read(&mut buf) {
                        Ok(n) if n > 0 => got.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                let _ = tx.send(String::from_utf8_lossy(&got).to_string());
                let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = s.write_all(format!("{head}{body}").as_bytes());
            }
        });
        (url, rx)
    }

    #[test]
    fn a_stream_follows_the_base_url_the_server_gives_and_closes_when_dropped() {
        let version = r#"{"baton":null,"base_url":null,"results":[{"type":"ok","response":{"type":"execute","result":{"cols":[],"rows":[[{"type":"text","value":"3.45.1"}]]}}},{"type":"ok","response":{"type":"close"}}]}"#;
        let (moved, at_moved) = answering(vec![
            r#"{"baton":"b2","base_url":null,"results":[{"type":"ok","response":{"type":"execute","result":{"cols":[],"rows":[[{"type":"integer","value":"7"}]]}}}]}"#.to_string(),
            r#"{"baton":null,"base_url":null,"results":[{"type":"ok","response":{"type":"close"}}]}"#.to_string(),
        ]);
        let first = format!(
            r#"{{"baton":"b1","base_url":"{moved}/","results":[{{"type":"ok","response":{{"type":"execute","result":{{"cols":[],"rows":[]}}}}}}]}}"#
        );
        let (url, at_first) = answering(vec![version.to_string(), first]);
        let client = Client::connect(&url, Some("secret-token-77")).unwrap();
        let stream = client.stream();
        assert_eq!(stream.rows("BEGIN", &[]).unwrap(), Vec::<Vec<Value>>::new());
        assert_eq!(stream.rows("SELECT 7", &[]).unwrap(), vec![vec![Value::Integer(7)]]);
        drop(stream);
        let sent: Vec<String> = at_first.try_iter().collect();
        assert_eq!(sent.len(), 2);
        assert!(sent[1].contains(r#""baton":null"#), "{}", sent[1]);
        let sent: Vec<String> = at_moved.try_iter().collect();
        assert_eq!(sent.len(), 2, "the stream's next requests go to its base_url");
        assert!(sent[0].contains(r#""baton":"b1""#) && sent[0].contains("SELECT 7"), "{}", sent[0]);
        assert!(sent[1].contains(r#""baton":"b2""#) && sent[1].contains(r#""type":"close""#), "{}", sent[1]);
        assert!(sent[0].to_ascii_lowercase().contains("authorization: bearer secret-token-77"));
        assert_eq!(client.requests(), 4);
    }

    #[test]
    fn a_lost_stream_is_found_again_in_a_sqlite_error() {
        let lost = StreamLost { server: "http://db:8080".to_string(), why: "it answered HTTP 400".to_string() };
        let e: rusqlite::Error = StreamError::Lost(lost.clone()).into();
        assert_eq!(StreamLost::of(&e), Some(&lost));
        assert_eq!(e.to_string(), lost.to_string());
        assert_eq!(crate::normalize::sqlite_message(&e), lost.to_string());
        assert_eq!(StreamLost::of(&failure(Some("SQLITE_ERROR"), "no".to_string())), None);
    }
}
