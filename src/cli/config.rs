//! `reconcile.toml`: project settings. Each value comes from the command-line
//! flag, else its `RECONCILE_*` environment variable, else this file, else the
//! built-in default. Paths in the file are relative to the file's directory.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The config file's default name, looked up in the current directory.
pub const DEFAULT_FILE: &str = "reconcile.toml";

/// The contents of `reconcile.toml`; unknown keys are an error.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The database file.
    pub db: Option<PathBuf>,
    /// The schema directory.
    pub schema: Option<PathBuf>,
    /// The plan directory.
    pub plans: Option<PathBuf>,
    /// `dev` allows `reset`.
    pub env: Option<String>,
    /// Objects to leave alone, as glob patterns.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Milliseconds to wait for the write lock.
    pub busy_timeout_ms: Option<u64>,
    /// Run destructive steps without `--allow-destructive`.
    pub allow_destructive: Option<bool>,
    /// An SQL file `reset` runs after building the schema.
    pub seed: Option<PathBuf>,
    /// Lints not to warn about, by name.
    pub allow_lints: Option<Vec<String>>,
    #[serde(skip)]
    base: PathBuf,
    /// The file read, if any.
    #[serde(skip)]
    file: Option<PathBuf>,
}

impl Config {
    /// Reads `path`; a missing file is an empty config unless it was asked for by name.
    pub fn load(path: Option<&Path>) -> Result<Config, String> {
        let (path, required) = match path {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_FILE), false),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => return Ok(Config::default()),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let mut config: Config = toml::from_str(&text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(":{line}")
                })
                .unwrap_or_default();
            format!("{}{at}: {}", path.display(), e.message())
        })?;
        config.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        config.file = Some(path);
        Ok(config)
    }

    /// The file the settings came from, for messages: its path, or that there was none.
    pub fn describe(&self) -> String {
        match &self.file {
            Some(f) => f.display().to_string(),
            None => format!("no {DEFAULT_FILE}"),
        }
    }

    /// A path from the file, resolved against the file's directory.
    pub fn path(&self, p: &Option<PathBuf>) -> Option<PathBuf> {
        p.as_ref().map(|p| if p.is_absolute() { p.clone() } else { self.base.join(p) })
    }
}
