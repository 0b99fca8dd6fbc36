//! Resolved connection settings and the one function that opens connections with them.

use std::sync::Arc;

use tokio_postgres::{Client, Socket};

use super::error::SettingsError;
use super::settings::{resolve, Resolved};
use super::stream::{Explain, MakeRustls, TlsStream};
use super::tls::{RootCerts, SslMode, TlsFiles};

/// The connection driver's half of a connection: spawn it (or poll it) for the client to work.
pub type Connection = tokio_postgres::Connection<Socket, TlsStream<Socket>>;

/// Connection settings resolved as libpq resolves them, ready to connect with.
///
/// Cheap to clone. Certificate files are read once, when the settings are resolved.
#[derive(Clone)]
pub struct ConnectionSettings {
    pg_config: tokio_postgres::Config,
    tls: TlsFiles,
    make_tls: MakeRustls,
    application_name_given: bool,
}

impl std::fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // tokio-postgres's Debug hides the password.
        f.debug_struct("ConnectionSettings")
            .field("pg_config", &self.pg_config)
            .field("sslmode", &self.tls.mode)
            .field("roots", &self.tls.roots)
            .field("client_cert", &self.tls.client_cert)
            .finish_non_exhaustive()
    }
}

impl ConnectionSettings {
    /// Resolves `url` (a `postgres://` URL or `key=value` pairs) with the process environment's
    /// `PG*` variables and `HOME` (for `~/.pgpass` and `~/.postgresql/`).
    ///
    /// # Errors
    /// [`SettingsError`] naming the setting that cannot be used.
    pub fn from_url(url: &str) -> Result<Self, SettingsError> {
        Self::from_url_with_env(url, |name| std::env::var(name).ok())
    }

    /// As [`from_url`](Self::from_url), with `env` standing for the environment (for tests).
    ///
    /// # Errors
    /// As [`from_url`](Self::from_url).
    pub fn from_url_with_env(url: &str, env: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let Resolved { pg_config, tls, application_name_given } = resolve(url, &env)?;
        let client_config = if tls.mode == SslMode::Disable {
            // Never used to connect; no file is read.
            TlsFiles { mode: SslMode::Disable, roots: RootCerts::None, client_cert: None, client_key: None }
                .client_config()?
        } else {
            tls.client_config()?
        };
        let make_tls = MakeRustls::new(Arc::new(client_config), Explain { mode: tls.mode, roots: tls.roots.clone() });
        let mut settings = Self { pg_config, tls, make_tls, application_name_given };
        settings = settings.with_default_application_name("tenantry");
        Ok(settings)
    }

    /// Sets `application_name` to `name` unless the user chose one (in the string or
    /// `PGAPPNAME`), so operators can tell tenantry's sessions apart in `pg_stat_activity`.
    #[must_use]
    pub fn with_default_application_name(mut self, name: &str) -> Self {
        if !self.application_name_given {
            self.pg_config.application_name(name);
        }
        self
    }

    /// The sslmode in force.
    pub fn ssl_mode(&self) -> SslMode {
        self.tls.mode
    }

    /// The settings tokio-postgres connects with (TLS aside).
    pub fn pg_config(&self) -> &tokio_postgres::Config {
        &self.pg_config
    }

    /// The resolved TLS files, for the sqlx adapter.
    #[cfg(feature = "sqlx")]
    pub(crate) fn tls_files(&self) -> &TlsFiles {
        &self.tls
    }

    /// The TLS settings as libpq's environment variables (`PGSSLMODE`, `PGSSLROOTCERT`,
    /// `PGSSLCERT`, `PGSSLKEY`), for programs built on libpq such as `pg_dump`.
    pub fn libpq_tls_env(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![("PGSSLMODE", self.tls.mode.to_string())];
        if self.tls.roots == RootCerts::System {
            env.push(("PGSSLROOTCERT", "system".to_owned()));
        } else if let Some(path) = self.tls.root_file() {
            env.push(("PGSSLROOTCERT", path.display().to_string()));
        }
        if let Some(cert) = &self.tls.client_cert {
            env.push(("PGSSLCERT", cert.display().to_string()));
            if let Some(key) = &self.tls.client_key {
                env.push(("PGSSLKEY", key.display().to_string()));
            }
        }
        env
    }

    /// Sends a cancel request for `token`'s session, over TLS when the session used it.
    ///
    /// # Errors
    /// tokio-postgres's error when the request cannot be sent.
    pub async fn cancel(&self, token: &tokio_postgres::CancelToken) -> Result<(), tokio_postgres::Error> {
        token.cancel_query(self.make_tls.clone()).await
    }

    /// Opens a connection. With `sslmode=allow`, a plain connection first and, if the server
    /// refuses it, one over TLS, as libpq.
    ///
    /// # Errors
    /// tokio-postgres's error; a TLS failure's message names its cause and the setting to change.
    pub async fn connect(&self) -> Result<(Client, Connection), tokio_postgres::Error> {
        // Boxed: the driver's connect future holds every host's TLS connector and is large, and
        // it would otherwise be inlined into every future that may open a connection (a pool
        // checkout, a scope), which overflowed a test thread's stack in nested scopes
        // (tests/context.rs, `scoped_transactions_see_the_tenant_then_shared_schemas`).
        let first = Box::pin(self.pg_config.connect(self.make_tls.clone())).await;
        match first {
            Err(err) if self.tls.mode == SslMode::Allow && err.as_db_error().is_some() => {
                let mut over_tls = self.pg_config.clone();
                over_tls.ssl_mode(tokio_postgres::config::SslMode::Require);
                Box::pin(over_tls.connect(self.make_tls.clone())).await
            }
            other => other,
        }
    }
}
