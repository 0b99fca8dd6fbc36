//! Resolved settings: flags > environment > tenantry.toml > defaults.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use tenantry::Config;

use crate::cli::Cli;

/// The value of `database_url` that selects the project-local cluster.
pub(crate) const EMBEDDED: &str = "embedded";

/// The configuration, with flags applied, and the project directory it belongs to.
pub(crate) struct Settings {
    pub(crate) config: Config,
    pub(crate) project_dir: PathBuf,
}

impl Settings {
    /// Loads `--config` (or ./tenantry.toml), applies the environment, then the flags.
    pub(crate) fn load(cli: &Cli) -> anyhow::Result<Self> {
        if let Some(path) = &cli.config {
            if !path.is_file() {
                return Err(anyhow::Error::new(crate::exit::UsageError(format!(
                    "configuration file {} not found; run `tenantry init` or pass the right --config",
                    path.display()
                ))));
            }
        }
        let mut config = Config::load(cli.config.as_deref())?;
        if let Some(url) = &cli.database_url {
            config.database_url = Some(url.clone());
        }
        let project_dir = match cli.config.as_deref().or(config.file()).and_then(Path::parent) {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
            _ => std::env::current_dir().context("reading the current directory")?,
        };
        // Relative paths in the file are relative to the project, not to where tenantry runs.
        for path in [&mut config.migrations.directory, &mut config.migrations.dump_path] {
            if path.is_relative() {
                *path = project_dir.join(&*path);
            }
        }
        if let Some(seed) = config.migrations.seed_file.as_mut().filter(|p| p.is_relative()) {
            *seed = project_dir.join(&*seed);
        }
        Ok(Self { config, project_dir })
    }

    /// Whether the embedded cluster is configured.
    pub(crate) fn uses_embedded(&self) -> bool {
        self.config.database_url.as_deref() == Some(EMBEDDED)
    }
}
