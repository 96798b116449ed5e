//! Remote: a libSQL server (`sqld`, what Turso runs) reached over Hrana-over-HTTP, read through
//! [`Sql`] like a local file. Each read is one `POST /v2/pipeline` holding the statement and a
//! `close`, so reading needs no stream state; `inspect` takes three of them whatever the size of
//! the schema.
//!
//! Errors name the server and say what it said; the auth token is sent as a bearer token and
//! never appears in a message. Only `http://` is spoken yet (no TLS).

use std::cell::Cell;
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

impl Client {
    /// Connects to the libSQL server at `url` (`http://HOST:PORT`), with a JWT `token` if it needs
    /// one, and checks that it answers Hrana by asking its SQLite version.
    pub fn connect(url: &str, token: Option<&str>) -> Result<Client, RemoteError> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("libsql://") {
            return Err(RemoteError(format!(
                "{url}: only http:// libSQL servers are supported yet (TLS, and so https:// and libsql://, is not)"
            )));
        }
        let base = url.trim_end_matches('/').to_string();
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
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

    /// One pipeline request: `requests`, then the results or what went wrong.
    fn pipeline(&self, requests: Json) -> Result<Vec<Json>, String> {
        self.requests.set(self.requests.get() + 1);
        let url = format!("{}/v2/pipeline", self.base);
        let mut req = self.agent.post(&url).set("Content-Type", "application/json");
        if let Some(t) = &self.token {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        let body = json!({ "baton": null, "requests": requests }).to_string();
        let response = match req.send_string(&body) {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                let detail = r.into_string().unwrap_or_default();
                let detail = detail.trim();
                let why = match code {
                    401 | 403 => "refused the credentials (check the auth token)".to_string(),
                    404 => {
                        "has no Hrana pipeline at /v2/pipeline: not a libSQL server, or no such namespace".to_string()
                    }
                    _ => format!("answered HTTP {code}"),
                };
                let detail =
                    if detail.is_empty() || detail.len() > 200 { String::new() } else { format!(": {detail}") };
                return Err(format!("the server at {} {why}{detail}", self.base));
            }
            Err(e) => return Err(format!("cannot reach a libSQL server at {}: {}", self.base, transport(&e))),
        };
        let text =
            response.into_string().map_err(|e| format!("the server at {}: reading its answer: {e}", self.base))?;
        let parsed: Json = serde_json::from_str(&text).map_err(|_| {
            format!("the server at {} is not a libSQL server (its answer is not Hrana JSON)", self.base)
        })?;
        parsed
            .get("results")
            .and_then(Json::as_array)
            .cloned()
            .ok_or_else(|| format!("the server at {} is not a libSQL server (no results in its answer)", self.base))
    }
}

/// A transport error in words, without the request (whose headers hold the token).
fn transport(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Transport(t) => {
            let kind = t.kind().to_string();
            match t.message() {
                Some(m) => format!("{kind}: {m}"),
                None => kind,
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
        if first.get("type").and_then(Json::as_str) == Some("error") {
            let error = first.get("error");
            let message = error.and_then(|e| e.get("message")).and_then(Json::as_str).unwrap_or("an error");
            let code = error.and_then(|e| e.get("code")).and_then(Json::as_str).unwrap_or("SQLITE_ERROR");
            return Err(failure(Some(code), message.to_string()));
        }
        let rows = first
            .pointer("/response/result/rows")
            .and_then(Json::as_array)
            .ok_or_else(|| failure(Some(""), format!("the server at {} sent no rows", self.base)))?;
        rows.iter()
            .map(|r| {
                let cells = r.as_array().ok_or("a row that is not a list")?;
                cells.iter().map(from_hrana).collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<_, _>>()
            .map_err(|m: String| failure(Some(""), format!("the server at {} sent {m}", self.base)))
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
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

fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
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
}
