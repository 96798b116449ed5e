//! `sqlite_reconcile`: keep a SQLite database's schema equal to a schema declared in YAML.
//!
//! The pipeline: `load` (YAML → [`Schema`]) and `inspect` (database → [`Schema`]),
//! `normalize` (the desired schema built in a scratch database and inspected
//! back, so both sides are compared like with like), then diff, plan and apply.
//!
//! This file is the API boundary. The application's API is what is re-exported below
//! (`Reconciler`, `Policy`, `Report`, `Error`, `Refusal`, `Schema`, `Plan`, ...), with
//! `plan_for`, `json_schema` and `to_yaml`. The stage modules are public too, for the
//! command-line tool (a crate of its own), the tests and the benchmarks, which drive each
//! stage alone; the modules only they use within this crate are `pub(crate)`.

pub mod apply;
pub mod backup;
pub mod cascade;
pub mod diff;
pub mod engine;
pub(crate) mod error;
pub mod execute;
pub mod facts;
pub mod fleet;
pub mod history;
pub mod inspect;
pub mod lint;
pub mod load;
pub mod lock;
pub mod markdown;
pub mod migration;
pub mod model;
pub mod normalize;
pub mod one_request;
pub mod oslog;
pub mod plan;
pub(crate) mod reconciler;
pub mod remote;
pub mod render;
pub(crate) mod rollback;
pub mod rqlite;
pub mod sarif;
pub mod server;
pub mod sql;
pub mod store;
pub(crate) mod store_error;
pub mod target;

pub use apply::{Applied, ApplyError, ApplyOptions, Observer, Refusal};
pub use diff::{Change, Risk};
pub use error::Error;
pub use execute::Report;
pub use history::HistoryEntry;
pub use inspect::{inspect, InspectError, InspectOptions};
pub use lint::Lint;
pub use load::{LoadError, Loaded};
pub use migration::Prepared;
pub use model::Schema;
pub use plan::{Kept, KeptKind, Plan, PlanError, Step};
pub use reconciler::{Policy, Reconciler};
pub use store_error::StoreError;

/// The JSON Schema of the YAML format, generated from the model types.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(model::Schema);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The YAML text of a schema, headed by the editor schema line.
pub fn to_yaml(schema: &Schema) -> Result<String, serde_yaml::Error> {
    let mut schema = schema.clone();
    for c in schema.tables.values_mut().flat_map(|t| t.columns.iter_mut()) {
        c.ty = c.ty.as_deref().map(sql::type_for_yaml);
    }
    let body = serde_yaml::to_string(&schema)?;
    Ok(format!("# yaml-language-server: $schema=reconcile.schema.json\n{body}"))
}

/// Inspects `conn` and plans the steps to `desired` (a normalized schema, see [`load::desired`]).
pub fn plan_for(
    conn: &mut rusqlite::Connection,
    desired: &Schema,
    opts: &InspectOptions,
) -> Result<(Schema, Plan), Error> {
    let actual = inspect(conn, opts)?;
    let facts = facts::of(&actual, engine::sqlite_version(conn)?);
    let plan = plan::plan(&diff::compare(&actual, desired), &facts)?;
    Ok((actual, plan))
}
