//! What can be wrong with connection settings, found before any connection is made.

use std::path::PathBuf;

/// A connection string, an environment variable or a certificate file that cannot be used.
/// Messages name the setting and what to write instead, and never hold a password.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The connection string does not parse.
    #[error("{problem}")]
    Syntax {
        /// What is wrong, without repeating the string.
        problem: String,
    },

    /// A setting has a value tenantry cannot use.
    #[error("`{key}`: {problem}")]
    Setting {
        /// The libpq keyword (`sslmode`).
        key: &'static str,
        /// What is wrong and what to write instead.
        problem: String,
    },

    /// tokio-postgres refused the settings (an unknown keyword, a port that is not a number).
    // Without the key or character it quotes: it may be a piece of a password
    // (src/secret/guard.rs `describe_parse_error`).
    #[error(
        "{}; see the libpq keywords tenantry reads in docs/configuration.md",
        crate::secret::describe_parse_error(.source)
    )]
    Driver {
        /// Its error, which names the keyword.
        #[source]
        source: tokio_postgres::Error,
    },

    /// A certificate or key file cannot be read or holds nothing usable.
    #[error("cannot use {key}={}: {problem}", path.display())]
    File {
        /// The setting that named the file (`sslrootcert`, `sslcert`, `sslkey`).
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong and what to do.
        problem: String,
    },
}
