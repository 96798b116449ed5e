//! `sqlite_reconcile`: keep a SQLite database's schema equal to a schema declared in YAML.
//!
//! The pipeline: `load` (YAML → [`Schema`]) and `inspect` (database → [`Schema`]),
//! `normalize` (the desired schema built in a scratch database and inspected
//! back, so both sides are compared like with like), then diff, plan and apply.
//!
//! This file is the API boundary: everything not re-exported here is internal.

pub mod inspect;
pub mod load;
pub mod model;
pub mod normalize;
pub mod sql;

pub use inspect::{inspect, InspectError, InspectOptions};
pub use load::{LoadError, Loaded};
pub use model::Schema;

/// The JSON Schema of the YAML format, generated from the model types.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(model::Schema);
    let mut s = serde_json::to_string_pretty(&schema).unwrap_or_default();
    s.push('\n');
    s
}

/// The YAML text of a schema, headed by the editor schema line.
pub fn to_yaml(schema: &Schema) -> Result<String, serde_yaml::Error> {
    let body = serde_yaml::to_string(schema)?;
    Ok(format!("# yaml-language-server: $schema=../schema/reconcile.schema.json\n{body}"))
}
