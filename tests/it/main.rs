//! Integration tests: one binary, modules by area. Every test works on real
//! SQLite files in temporary directories and, where it tests the CLI, runs the
//! real `reconcile` binary.

mod cli;
mod concurrent;
mod corpus;
mod crash;
mod golden;
mod hostile;
mod lifecycle;
mod roundtrip;
mod scenarios;
mod util;
