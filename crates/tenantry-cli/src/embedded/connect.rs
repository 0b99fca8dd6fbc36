//! Reaching the running cluster: its URL, a TCP check, and the database `tenantry`.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use tenantry::connect::ConnectionSettings;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use super::error::EmbeddedError;

/// The database the CLI works in, created on first start.
pub(crate) const DATABASE: &str = "tenantry";

/// How long a running server may take to accept TCP connections (it may be starting, by
/// another `tenantry` process).
pub(crate) const TCP_WAIT: Duration = Duration::from_secs(5);

/// `postgresql://postgres:{password}@127.0.0.1:{port}/tenantry`: TCP, understood by
/// tokio-postgres, sqlx and psql. The password is 48 hex digits (`auth.rs`): nothing to
/// percent-encode. Never print it: [`masked_url`] is for people.
pub(crate) fn url(port: u16, password: &str) -> String {
    format!("postgresql://postgres:{password}@127.0.0.1:{port}/{DATABASE}")
}

/// [`url`] with the password masked, for messages: `postgresql://postgres:********@…`.
pub(crate) fn masked_url(port: u16) -> String {
    tenantry::error::mask_password(&url(port, "x"))
}

/// Waits up to `within` until 127.0.0.1:`port` accepts a TCP connection; returns at once
/// when it does.
pub(crate) fn wait_for_tcp(port: u16, within: Duration, log: &Path) -> Result<(), EmbeddedError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Instant::now() + within;
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
            Ok(_) => return Ok(()),
            Err(source) if Instant::now() >= deadline => {
                return Err(EmbeddedError::Unreachable { port, log: log.to_path_buf(), source })
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Creates the database `tenantry` unless it exists (checked at every call: it is cheap, and a
/// developer may have dropped it).
pub(crate) fn ensure_database(port: u16, password: &str, log: &Path) -> Result<(), EmbeddedError> {
    on_own_runtime(port, password, create_if_missing)?.map_err(|source| EmbeddedError::Database {
        database: DATABASE,
        port,
        log: log.to_path_buf(),
        source,
    })
}

/// Connects to the database `postgres` of the cluster on `port` as `postgres` with `password`
/// and runs `work` with the client; the outer error is for the runtime, the inner one the
/// database's.
///
/// Callable from synchronous code inside or outside a tokio runtime: the connection runs on a
/// thread of its own with a current-thread runtime (`block_on` on a runtime thread panics).
pub(crate) fn on_own_runtime<T, F, Fut>(
    port: u16,
    password: &str,
    work: F,
) -> Result<Result<T, tokio_postgres::Error>, EmbeddedError>
where
    T: Send + 'static,
    F: FnOnce(Client) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, tokio_postgres::Error>>,
{
    // Through tenantry's one way to connect, but with fixed settings: the user's PG* variables
    // are for their own server, never for the embedded one (which has no TLS). The password is
    // 48 hex digits (`auth.rs`): nothing to quote.
    let conninfo = format!(
        "host=127.0.0.1 port={port} user=postgres password={password} dbname=postgres connect_timeout=10 sslmode=disable"
    );
    let settings = ConnectionSettings::from_url_with_env(&conninfo, |_| None)
        .map_err(|source| EmbeddedError::Settings { source })?;
    let worker = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|source| EmbeddedError::Runtime { source })?;
        Ok(runtime.block_on(async move {
            let (client, connection) = settings.connect().await?;
            let driver = tokio::spawn(connection);
            let result = work(client).await;
            // The connection ends once the client is gone; its own error adds nothing.
            let _ = driver.await;
            result
        }))
    });
    worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

async fn create_if_missing(client: Client) -> Result<(), tokio_postgres::Error> {
    let result = async {
        let exists = client.query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DATABASE]).await?.is_some();
        if exists {
            return Ok(());
        }
        // A fixed name, not input: nothing to quote.
        match client.batch_execute("CREATE DATABASE tenantry").await {
            Err(err) if created_meanwhile(&err) => Ok(()),
            other => other,
        }
    }
    .await;
    drop(client);
    result
}

/// Whether CREATE DATABASE failed because another `tenantry` process created it between our
/// check and our CREATE (two concurrent CREATE DATABASE can also collide on pg_database's
/// unique index).
fn created_meanwhile(err: &tokio_postgres::Error) -> bool {
    err.code().is_some_and(|code| *code == SqlState::DUPLICATE_DATABASE || *code == SqlState::UNIQUE_VIOLATION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_tcp_to_the_tenantry_database() {
        assert_eq!(url(54321, "ab12"), "postgresql://postgres:ab12@127.0.0.1:54321/tenantry");
        assert_eq!(masked_url(54321), "postgresql://postgres:********@127.0.0.1:54321/tenantry");
    }

    #[test]
    fn a_closed_port_is_unreachable() {
        // Bound but not listening: connections are refused at once.
        let socket = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a port");
        let port = socket.local_addr().expect("its address").port();
        drop(socket);
        let error =
            wait_for_tcp(port, Duration::from_millis(100), Path::new("/x/postgres.log")).expect_err("nothing listens");
        assert!(error.to_string().contains(&format!("127.0.0.1:{port} refuses connections")), "{error}");
    }
}
