//! An application that reconciles its database at startup, then serves.
//!
//! Run: `cargo run --example startup -- app.db`

use std::process::ExitCode;

use rusqlite::Connection;
use sqlite_reconcile::apply::{apply, ApplyOptions};
use sqlite_reconcile::{load, plan_for, InspectOptions};

/// The schema travels inside the binary.
const SCHEMA: &[(&str, &str)] =
    &[("app.yaml", include_str!("../schema/app.yaml")), ("logic.yaml", include_str!("../schema/logic.yaml"))];

fn main() -> ExitCode {
    let path = std::env::args().nth(1).unwrap_or_else(|| "app.db".to_string());
    match start(&path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("startup failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn start(path: &str) -> Result<(), Box<dyn std::error::Error>> {
    let desired = load::desired(&load::load_sources(SCHEMA)?)?;
    let mut conn = Connection::open(path)?;
    let (_, plan) = plan_for(&mut conn, &desired, &InspectOptions::default())?;
    if plan.is_empty() {
        eprintln!("{path}: schema up to date");
    } else {
        // Safe and data-dependent changes apply; destructive ones are refused.
        let applied = apply(&mut conn, &plan, &desired, &ApplyOptions::default())?;
        eprintln!("{path}: applied {} steps in {:?}", applied.steps, applied.elapsed);
    }
    // ... serve requests with `conn` ...
    Ok(())
}
