//! The README, followed as a new user would: in a fresh temporary directory
//! holding what a clone has (`schema/`, `examples/next-schema/`), run every
//! command of the README's `sh` blocks with the real binary, and check that
//! what each prints is what the README shows.
//!
//! How the README is read:
//! - Commands are the lines of ```` ```sh ```` blocks; `cargo run --release -- ARGS`
//!   and `reconcile ARGS` both mean the built binary with ARGS. `cargo test` and
//!   `cargo install` are not run (this is `cargo test`).
//! - A trailing comment `# exit N...` gives the expected exit code; otherwise 0.
//! - `<!-- output: COMMAND -->` (or `<!-- output (exit N): COMMAND -->`) before a
//!   ```` ```text ```` block marks a sample of what COMMAND prints (stderr, then
//!   stdout). COMMAND must be one of the commands above, by its arguments.
//! - Tolerant comparison: plan ids (`20261121-203310-0001-73b2b5b8`) and
//!   durations (`8.426452ms`) are masked on both sides, trailing spaces ignored.
//!   A sample line `...` stands for any number of output lines; between those,
//!   sample lines must match consecutive output lines, and a sample without a
//!   leading (trailing) `...` must match from the first (to the last) line.

use std::path::Path;

use crate::harness::{reconcile, stderr, stdout, Dir};

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).expect("read README.md")
}

/// The fenced blocks of `text` with the given info string, in order.
fn blocks<'a>(text: &'a str, info: &str) -> Vec<&'a str> {
    let fence = format!("```{info}\n");
    text.split(&fence).skip(1).filter_map(|rest| rest.split("\n```").next()).collect()
}

/// A command line of an `sh` block: its arguments to `reconcile` and the exit code it should have.
#[derive(Debug)]
struct Command {
    line: String,
    args: Option<Vec<String>>,
    exit: i32,
}

fn command(line: &str) -> Command {
    let (cmd, comment) = match line.split_once(" #") {
        Some((c, rest)) => (c.trim(), rest.trim()),
        None => (line.trim(), ""),
    };
    let exit = comment
        .strip_prefix("exit ")
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let args = ["cargo run --release -- ", "reconcile "]
        .iter()
        .find_map(|p| cmd.strip_prefix(p))
        .map(|rest| rest.split_whitespace().map(String::from).collect());
    Command { line: cmd.to_string(), args, exit }
}

fn commands(text: &str) -> Vec<Command> {
    blocks(text, "sh")
        .iter()
        .flat_map(|b| b.lines())
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(command)
        .collect()
}

/// A sample of output: the command's arguments, its exit code and the lines shown.
#[derive(Debug)]
struct Sample {
    args: Vec<String>,
    exit: i32,
    lines: Vec<String>,
}

fn samples(text: &str) -> Vec<Sample> {
    let mut out = Vec::new();
    for part in text.split("<!-- output").skip(1) {
        let (head, rest) = part.split_once("-->").expect("an output marker ends with -->");
        let (exit, cmd) = match head.trim().strip_prefix("(exit ") {
            Some(r) => {
                let (n, c) = r.split_once("):").expect("`(exit N):`");
                (n.trim().parse().expect("exit code"), c)
            }
            None => (0, head.trim().strip_prefix(':').expect("`output:`")),
        };
        let body = rest.trim_start().strip_prefix("```text\n").expect("a ```text block right after the marker");
        let body = body.split("\n```").next().unwrap_or("");
        let args = command(cmd.trim()).args.expect("a reconcile command");
        out.push(Sample { args, exit, lines: body.lines().map(String::from).collect() });
    }
    out
}

/// Masks plan ids and durations, and trailing spaces.
fn mask(line: &str) -> String {
    let chars: Vec<char> = line.trim_end().chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let boundary = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if boundary && chars[i].is_ascii_digit() {
            // A plan id: 8 digits, 6 digits, 4 digits, 8 hex digits, joined by `-`.
            let id: String = chars[i..].iter().take(29).collect();
            let shape = [8usize, 6, 4, 8];
            let parts: Vec<&str> = id.split('-').collect();
            if parts.len() == 4
                && parts.iter().zip(shape).all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
            {
                out.push_str("<id>");
                i += 29;
                continue;
            }
            // A duration: digits, optional fraction, then a time unit.
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            // The unit may follow a space ("31.8 ms").
            let mut k = if chars.get(j) == Some(&' ') { j + 1 } else { j };
            let unit_start = k;
            while k < chars.len() && chars[k].is_alphabetic() {
                k += 1;
            }
            let unit: String = chars[unit_start..k].iter().collect();
            if ["ns", "µs", "us", "ms", "s"].contains(&unit.as_str()) {
                out.push_str("<time>");
                i = k;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Checks `sample` against `output` by the rule in the module doc.
fn compare(sample: &[String], output: &str) -> Result<(), String> {
    let out: Vec<String> = output.lines().map(mask).collect();
    let want: Vec<String> = sample.iter().map(|l| mask(l)).collect();
    let segments: Vec<&[String]> = want.split(|l| l == "...").collect();
    let mut pos = 0;
    for (n, seg) in segments.iter().enumerate() {
        if seg.is_empty() {
            continue;
        }
        let anchored_start = n == 0;
        let found = (pos..=out.len().saturating_sub(seg.len()))
            .find(|&at| out.get(at..at + seg.len()).is_some_and(|w| w == *seg))
            .filter(|&at| !anchored_start || at == 0);
        match found {
            Some(at) => pos = at + seg.len(),
            None => {
                return Err(format!(
                    "these lines of the README are not in the output, in order:\n{}\n--- output ---\n{}",
                    seg.join("\n"),
                    out.join("\n")
                ))
            }
        }
    }
    if segments.last().is_some_and(|s| !s.is_empty()) && pos != out.len() {
        return Err(format!("the output goes on after the README's last line:\n{}", out[pos..].join("\n")));
    }
    Ok(())
}

#[test]
fn quick_start_is_the_two_commands() {
    let text = readme();
    let quick = text.split("## Quick start").nth(1).expect("a Quick start section");
    let first = blocks(quick, "sh").into_iter().next().expect("an sh block");
    let lines: Vec<String> = first.lines().map(|l| command(l).line).collect();
    assert_eq!(lines, ["cargo run --release -- apply --yes", "cargo test"]);
}

#[test]
fn readme_followed_in_a_fresh_directory() {
    let text = readme();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let d = Dir::new();
    // What a clone has that the commands read: the example schema and the next one.
    for dir in ["schema", "examples/next-schema"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("read dir").flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let body = std::fs::read_to_string(entry.path()).expect("read");
            d.write(&format!("{dir}/{name}"), &body);
        }
    }
    assert!(!root.join("reconcile.toml").exists(), "a reconcile.toml in the repository would change the commands");

    let samples = samples(&text);
    assert!(samples.len() >= 3, "the README shows the output of apply, drift and plan");
    let cmds = commands(&text);
    for s in &samples {
        assert!(
            cmds.iter().any(|c| c.args.as_ref() == Some(&s.args)),
            "the README shows output of `{}` but never gives that command",
            s.args.join(" ")
        );
    }
    let mut ran = 0;
    for c in &cmds {
        let Some(args) = &c.args else {
            assert!(c.line.starts_with("cargo test") || c.line.starts_with("cargo install"), "unknown command {c:?}");
            continue;
        };
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = reconcile(d.path(), &argv);
        let printed = format!("{}{}", stderr(&o), stdout(&o));
        assert_eq!(o.status.code(), Some(c.exit), "`{}` exit code\n{printed}", c.line);
        for s in samples.iter().filter(|s| &s.args == args) {
            assert_eq!(s.exit, c.exit, "the sample of `{}` names another exit code", c.line);
            if let Err(e) = compare(&s.lines, &printed) {
                panic!("`{}`: {e}", c.line);
            }
        }
        ran += 1;
        if args == &["apply", "--yes"] {
            // "Run it again and there is nothing to do."
            let again = reconcile(d.path(), &argv);
            assert!(again.status.success());
            assert!(stderr(&again).contains("nothing to do"), "{}", stderr(&again));
            assert!(d.join("app.db").exists(), "apply creates app.db in the current directory");
            assert!(
                d.join("plans").read_dir().map(|mut r| r.next().is_some()).unwrap_or(false),
                "plan files under plans/"
            );
        }
    }
    assert!(ran >= 4, "ran {ran} commands");
}

#[test]
fn masking_and_gaps() {
    assert_eq!(
        mask("applied 15 steps (15 statements) in 8.426452ms; verified"),
        "applied 15 steps (15 statements) in <time>; verified"
    );
    assert_eq!(mask("plan files: plans/20261121-203310-0001-73b2b5b8  "), "plan files: plans/<id>");
    assert_eq!(mask("DEFAULT 0,"), "DEFAULT 0,");
    assert_eq!(mask("copied 100 rows in 31.8 ms; 5 s"), "copied 100 rows in <time>; <time>");
    assert_eq!(mask("15 steps"), "15 steps");
    let s = |v: &[&str]| v.iter().map(|l| l.to_string()).collect::<Vec<_>>();
    assert!(compare(&s(&["a", "...", "d"]), "a\nb\nc\nd").is_ok());
    assert!(compare(&s(&["a", "c"]), "a\nb\nc").is_err(), "lines between must be marked ...");
    assert!(compare(&s(&["b", "..."]), "a\nb").is_err(), "no leading ...: must start at the first line");
    assert!(compare(&s(&["a"]), "a\nb").is_err(), "no trailing ...: must end at the last line");
}
