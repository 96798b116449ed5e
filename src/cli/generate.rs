//! Shell completions and man pages, generated from the clap definitions so they
//! never disagree with `--help`.

use clap::Command;
use clap_complete::Shell;

use super::exit::Failure;

/// The completion script for `shell`.
pub fn completions(shell: Shell, mut cmd: Command) -> String {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "reconcile", &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The roff man page of `reconcile`, or of one of its commands (`reconcile-apply(1)`).
pub fn man(cmd: Command, command: Option<&str>) -> Result<String, Failure> {
    let mut cmd = cmd;
    cmd.build();
    let (page, title) = match command {
        None => (cmd, "reconcile".to_string()),
        Some(name) => {
            let names: Vec<String> =
                cmd.get_subcommands().map(|c| c.get_name().to_string()).filter(|n| n != "help").collect();
            let sub = cmd
                .find_subcommand(name)
                .filter(|_| name != "help")
                .ok_or_else(|| Failure::Error(format!("no command `{name}`; the commands are {}", names.join(", "))))?;
            let bin = format!("reconcile {}", sub.get_name());
            (sub.clone().bin_name(bin).version(env!("CARGO_PKG_VERSION")), format!("reconcile-{}", sub.get_name()))
        }
    };
    let mut buf = Vec::new();
    clap_mangen::Man::new(page)
        .title(title)
        .source(format!("reconcile {}", env!("CARGO_PKG_VERSION")))
        .render(&mut buf)
        .map_err(|e| Failure::Error(format!("writing the man page: {e}")))?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
