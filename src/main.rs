//! The `reconcile` binary: a thin shell over the `sqlite_reconcile` library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
