//! The `sh` blocks of a page under `docs/`, run as written: each one a bash script in a
//! temporary directory with the built `reconcile` first on `PATH`, a `# exit N` comment checking
//! a command's exit code.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use super::command::scrub;

/// A fenced ```` ```sh ```` block of a doc page; `run` is false when an
/// `<!-- not run: why -->` comment stands right before it.
pub struct DocBlock {
    pub run: bool,
    pub body: String,
}

/// The `sh` blocks of a page under `docs/`, in order.
pub fn doc_blocks(page: &str) -> Vec<DocBlock> {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs").join(page))
        .unwrap_or_else(|e| panic!("read docs/{page}: {e}"));
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find("```sh\n") {
        let before = rest[..at].trim_end();
        let skipped =
            before.ends_with("-->") && before.rfind("<!--").is_some_and(|m| before[m..].starts_with("<!-- not run"));
        let body = &rest[at + 6..];
        let end = body.find("\n```").expect("a closed block");
        out.push(DocBlock { run: !skipped, body: body[..end].to_string() });
        rest = &body[end + 4..];
    }
    out
}

/// A block as a bash script: a line `CMD  # exit N` checks that CMD exits with N.
pub fn doc_script(block: &str) -> String {
    let mut out = String::new();
    for line in block.lines() {
        let expected = line.split_once("# exit ").and_then(|(cmd, rest)| {
            Some((cmd.trim_end(), rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<i32>().ok()?))
        });
        match expected {
            Some((cmd, n)) => out.push_str(&format!(
                "if {cmd}; then rc=0; else rc=$?; fi; [ \"$rc\" -eq {n} ] || {{ echo \"expected exit {n}, got $rc: {}\" >&2; exit 99; }}\n",
                cmd.replace('"', "\\\"")
            )),
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Runs a doc block with `bash -e` in `dir`, with the built `reconcile` first on `PATH`;
/// panics with what it printed unless it succeeds. Returns stdout and stderr.
pub fn run_doc_block(dir: &Path, block: &str) -> String {
    let bin = dir.join(".bin");
    if !bin.exists() {
        std::fs::create_dir_all(&bin).expect("mkdir");
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_reconcile"), bin.join("reconcile")).expect("symlink");
    }
    let file = dir.join(".block.sh");
    std::fs::write(&file, doc_script(block)).expect("write");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let mut cmd = Command::new("bash");
    scrub(cmd.arg("-e").arg(&file).current_dir(dir).env("PATH", path).env("NO_COLOR", "1"));
    let o = cmd.output().expect("run bash");
    let printed = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "this block failed ({:?}):\n{block}\n--- printed ---\n{printed}", o.status);
    printed
}
