//! Integration tests: one binary, modules by area. Every test works on real
//! SQLite files in temporary directories and, where it tests the CLI, runs the
//! real `reconcile` binary.

mod action;
mod alembic;
mod cli;
mod concurrent;
mod corpus;
mod crash;
mod faults;
mod fleet;
mod fuzz_regressions;
mod getting_started;
mod golden;
mod harness;
mod histories;
mod hostile;
mod interface;
mod invariants;
mod libsql;
mod lifecycle;
mod lints;
mod props;
mod python;
mod readme;
mod reference;
mod remote_faults;
mod review;
mod roundtrip;
mod rqlite;
mod scenarios;
mod startup;
mod tidy;
mod workflow;
