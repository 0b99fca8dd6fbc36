//! The connection pool: deadpool with a manager of our own, so connections carry state
//! (search path, statement cache) and are not pinged on every borrow.

use std::sync::Arc;
use std::time::Duration;

use deadpool::managed::{self, Metrics, RecycleError, RecycleResult};

use super::anchors::Anchors;
use super::connection::PgConnection;
use super::generations::Generations;
use crate::config::Config;
use crate::connect::ConnectionSettings;
use crate::error::{mask_password, Error};

/// The pool type.
pub(crate) type PgPool = managed::Pool<Manager>;

/// Creates connections and makes returned ones safe to hand out again.
pub(crate) struct Manager {
    connection: ConnectionSettings,
    statement_cache_capacity: usize,
    max_lifetime: Duration,
    max_tenants: usize,
    generations: Arc<Generations>,
    anchors: Arc<Anchors>,
}

impl Manager {
    /// Which tenant schemas have no anchor to lock (shared with tenantry's sqlx transactions).
    pub(crate) fn anchors(&self) -> &Arc<Anchors> {
        &self.anchors
    }

    /// How its connections are opened (and their statements cancelled).
    pub(crate) fn connection_settings(&self) -> &ConnectionSettings {
        &self.connection
    }
}

impl managed::Manager for Manager {
    type Type = PgConnection;
    type Error = tokio_postgres::Error;

    async fn create(&self) -> Result<PgConnection, tokio_postgres::Error> {
        let (client, connection) = self.connection.connect().await?;
        let task = tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!("connection closed: {err}");
            }
        });
        Ok(PgConnection::new(
            client,
            task.abort_handle(),
            self.statement_cache_capacity,
            Arc::clone(&self.generations),
            Arc::clone(&self.anchors),
        ))
    }

    async fn recycle(&self, conn: &mut PgConnection, _: &Metrics) -> RecycleResult<tokio_postgres::Error> {
        if conn.client.is_closed() {
            return Err(RecycleError::message("connection closed"));
        }
        // A backend's relation cache grows with every tenant it touched and never shrinks
        // (POSTGRES-NOTES.md: 0.7 MB to 69 MB after 2,000 tenants): retire old connections.
        if conn.created_at.elapsed() >= self.max_lifetime {
            return Err(RecycleError::message("connection reached its maximum lifetime"));
        }
        if conn.tenants_seen() >= self.max_tenants {
            return Err(RecycleError::message("connection served its maximum number of tenants"));
        }
        if conn.retire {
            return Err(RecycleError::message("its driver refers to statements its server connection lost"));
        }
        if conn.in_flight {
            // Abandoned mid-statement and dropped where no runtime could cancel it.
            return Err(RecycleError::message("a statement was abandoned mid-flight"));
        }
        if conn.needs_reset {
            // Session mode used it and the reset on release did not run (no runtime then).
            conn.reset_session().await.map_err(RecycleError::Backend)?;
        } else if conn.interrupted {
            // Whatever was interrupted may have left a transaction open; end it before anyone
            // else uses the connection. ROLLBACK outside a transaction only warns.
            conn.client.batch_execute("ROLLBACK").await.map_err(RecycleError::Backend)?;
            conn.interrupted = false;
            conn.temp_objects = super::connection::TempObjects::Unknown;
        }
        Ok(())
    }
}

/// Builds the pool from the configuration, without connecting yet.
pub(crate) fn build_pool(
    config: &Config,
    connection: ConnectionSettings,
    generations: Arc<Generations>,
) -> Result<PgPool, Error> {
    let manager = Manager {
        connection,
        statement_cache_capacity: config.statement_cache_capacity(),
        max_lifetime: Duration::from_secs(config.pool.max_connection_lifetime_secs),
        max_tenants: config.pool.max_tenants_per_connection.max(1),
        anchors: Arc::new(Anchors::new(Arc::clone(&generations))),
        generations,
    };
    managed::Pool::builder(manager)
        .max_size(config.pool.max_size)
        .wait_timeout(Some(config.acquire_timeout()))
        .create_timeout(Some(config.acquire_timeout()))
        .recycle_timeout(Some(config.acquire_timeout()))
        .runtime(deadpool::Runtime::Tokio1)
        .build()
        .map_err(|err| Error::Pool { source: Box::new(err) })
}

/// Converts a pool error, keeping connection failures recognisable.
pub(crate) fn pool_error(err: managed::PoolError<tokio_postgres::Error>, url: &str) -> Error {
    match err {
        managed::PoolError::Backend(source) => Error::Connect { url: mask_password(url), source },
        other => Error::Pool { source: Box::new(other) },
    }
}
