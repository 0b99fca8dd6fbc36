//! How tenantry connects: one place that reads the connection settings as libpq does and opens
//! every connection tenantry makes (the pool, the schema-change listener, the migrator's
//! coordinator and workers, status, the CLI), with TLS through rustls.
//!
//! Settings come from the connection string (a URL with a query string, or `key=value` pairs),
//! then libpq's environment variables (`PGHOST`, `PGSSLMODE`, …), then the password file, then
//! defaults; `sslmode` has libpq's meanings (`prefer` by default). See docs/configuration.md,
//! "Connection settings and TLS".
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use tenantry::connect::ConnectionSettings;
//!
//! let settings = ConnectionSettings::from_url(
//!     "postgres://app@db.example/app?sslmode=verify-full&sslrootcert=/etc/ssl/db-ca.pem",
//! )?;
//! let (client, connection) = settings.connect().await?;
//! tokio::spawn(connection);
//! client.simple_query("SELECT 1").await?;
//! # Ok(()) }
//! ```

mod error;
mod open;
mod parse;
mod pgpass;
mod settings;
mod stream;
mod tls;
mod verify;

pub use error::SettingsError;
pub use open::{Connection, ConnectionSettings};
pub use stream::{HandshakeError, TlsStream};
pub use tls::SslMode;
