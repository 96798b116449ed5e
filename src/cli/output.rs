//! Output for people: how much to say (`--quiet`, `-v`, `-vv`), whether to
//! color it (`--color`, `NO_COLOR`, a terminal on stderr), and the progress
//! bar and step log an apply shows while it runs. Machine output (JSON, SQL,
//! YAML on stdout) never passes through here and is never colored.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlite_reconcile::{Observer, Step};

/// `--color`: when the plan text on stderr is colored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    // On a terminal, unless NO_COLOR is set (to anything but empty) or TERM=dumb. (Plain
    // comments: doc comments here would turn every command's help into the long layout.)
    Auto,
    // Always, also in pipes and files; JSON, SQL and YAML output never.
    Always,
    Never,
}

/// Rebuilds copying fewer rows finish too fast for a progress bar to help.
pub const PROGRESS_MIN_ROWS: u64 = 100_000;

/// How much to print, and how.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    /// -1 quiet, 0 normal, 1 `-v`, 2 `-vv`.
    pub level: i8,
    /// Color the text on stderr.
    pub color: bool,
    /// Draw a progress bar for long rebuilds (stderr is a terminal and not `--quiet`).
    pub progress: bool,
}

impl Out {
    pub fn new(quiet: bool, verbose: u8, color: Option<ColorChoice>) -> Out {
        let tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match color.unwrap_or(ColorChoice::Auto) {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color && std::env::var_os("TERM").is_none_or(|t| t != "dumb"),
        };
        let level = if quiet { -1 } else { i8::try_from(verbose).unwrap_or(i8::MAX) };
        Out { level, color, progress: tty && !quiet }
    }

    /// Not `--quiet`.
    pub fn normal(&self) -> bool {
        self.level >= 0
    }

    /// At least `-v` (1) or `-vv` (2).
    pub fn verbose(&self, n: i8) -> bool {
        self.level >= n
    }

    /// `text` in bold `code` color when color is on.
    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    /// The observer an apply reports to: `None` under `--quiet`, when nothing would be shown, so
    /// the plan runs exactly as planned and with no extra work.
    pub fn observer(&self) -> Option<Arc<dyn Observer>> {
        self.normal().then(|| Arc::new(Watcher::new(*self)) as Arc<dyn Observer>)
    }
}

/// A duration for people: `850 µs`, `12.3 ms`, `4.20 s`, `3m05s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 0.001 {
        format!("{} µs", d.as_micros())
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1000.0)
    } else if s < 60.0 {
        format!("{s:.2} s")
    } else {
        format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60)
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Prints the steps as they run (`-v`) and draws the rebuild progress bar (terminal).
struct Watcher {
    out: Out,
    bar: Mutex<Bar>,
}

/// The progress bar's state for the copy in progress.
#[derive(Default)]
struct Bar {
    started: Option<Instant>,
    drawn: Option<Instant>,
    width: usize,
}

/// How often the bar is redrawn at most.
const REDRAW: Duration = Duration::from_millis(100);

impl Watcher {
    fn new(out: Out) -> Watcher {
        Watcher { out, bar: Mutex::new(Bar::default()) }
    }

    fn draw(&self, bar: &mut Bar, line: &str, end: bool) {
        let pad = bar.width.saturating_sub(line.chars().count());
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r{line}{:pad$}{}", "", if end { "\n" } else { "" });
        let _ = err.flush();
        bar.width = if end { 0 } else { line.chars().count() };
    }
}

/// The bar line: `  feed  [#######-------------]  350,000/1,000,000 rows  35%  ETA 2.10 s`.
fn bar_line(table: &str, done: u64, total: u64, elapsed: Duration) -> String {
    const CELLS: u64 = 24;
    let total = total.max(1);
    let done = done.min(total);
    let filled = (done * CELLS / total) as usize;
    let cells = format!("{}{}", "#".repeat(filled), "-".repeat(CELLS as usize - filled));
    let name: String = if table.chars().count() > 24 {
        table.chars().take(23).chain(std::iter::once('…')).collect()
    } else {
        table.to_string()
    };
    let eta = if done == 0 || elapsed < Duration::from_millis(200) {
        "ETA …".to_string()
    } else {
        let left = elapsed.as_secs_f64() * (total - done) as f64 / done as f64;
        format!("ETA {}", human(Duration::from_secs_f64(left)))
    };
    format!(
        "  copying {name}  [{cells}]  {}/{} rows  {}%  {eta}",
        thousands(done),
        thousands(total),
        done * 100 / total
    )
}

impl Observer for Watcher {
    fn waiting(&self, holder: &str) {
        eprintln!("waiting for the write lock held by {holder} (up to the busy timeout)");
    }

    fn step_started(&self, index: usize, total: usize, step: &Step) {
        if self.out.verbose(1) {
            eprintln!("{} {}", self.out.paint("1", &format!("step {}/{total}:", index + 1)), step.comment);
        }
    }

    fn statement(&self, sql: &str) {
        if self.out.verbose(1) {
            for line in sql.lines() {
                eprintln!("     {line}");
            }
        }
    }

    fn step_finished(&self, _index: usize, _step: &Step, elapsed: Duration) {
        if self.out.verbose(1) {
            eprintln!("   done in {}", human(elapsed));
        }
    }

    fn copy_threshold(&self) -> Option<u64> {
        self.out.progress.then_some(PROGRESS_MIN_ROWS)
    }

    fn copy_progress(&self, table: &str, done: u64, total: u64) {
        let Ok(mut bar) = self.bar.lock() else { return };
        let now = Instant::now();
        let started = *bar.started.get_or_insert(now);
        if bar.drawn.is_some_and(|t| now - t < REDRAW) {
            return;
        }
        bar.drawn = Some(now);
        let line = bar_line(table, done, total, now - started);
        self.draw(&mut bar, &line, false);
    }

    fn copy_finished(&self, table: &str, copied: u64, ok: bool) {
        let Ok(mut bar) = self.bar.lock() else { return };
        let took = bar.started.map(|t| t.elapsed()).unwrap_or_default();
        if ok {
            let line = format!("  copied {} rows of {table} in {}", thousands(copied), human(took));
            self.draw(&mut bar, &line, true);
        } else {
            // Leave the line empty for the error that follows.
            self.draw(&mut bar, "", false);
            eprint!("\r");
        }
        *bar = Bar::default();
    }

    fn verified(&self, elapsed: Duration) {
        if self.out.verbose(1) {
            eprintln!("verified the result against the schema in {}", human(elapsed));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_durations() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(human(Duration::from_micros(850)), "850 µs");
        assert_eq!(human(Duration::from_micros(12_340)), "12.3 ms");
        assert_eq!(human(Duration::from_millis(4_200)), "4.20 s");
        assert_eq!(human(Duration::from_secs(185)), "3m05s");
    }

    #[test]
    fn bar() {
        assert_eq!(
            bar_line("feed", 250_000, 1_000_000, Duration::from_secs(1)),
            "  copying feed  [######------------------]  250,000/1,000,000 rows  25%  ETA 3.00 s"
        );
        assert_eq!(
            bar_line("feed", 0, 1_000_000, Duration::ZERO),
            "  copying feed  [------------------------]  0/1,000,000 rows  0%  ETA …"
        );
    }
}
