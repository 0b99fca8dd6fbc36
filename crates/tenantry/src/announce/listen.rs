//! The listening side: one connection per [`Tenantry`](crate::Tenantry), outside the pool,
//! `LISTEN`ing on [`CHANNEL`](super::CHANNEL) and handing each announcement to a handler.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_postgres::AsyncMessage;

use super::{SchemaChange, CHANNEL};
use crate::connect::ConnectionSettings;

/// Receives each announcement; returns `false` once nobody needs announcements any more (the
/// `Tenantry` is gone), which ends the listener.
pub(crate) type Handler = Arc<dyn Fn(&SchemaChange) -> bool + Send + Sync>;

/// The longest wait between two attempts to reconnect.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Spawns the listener. It reconnects with a growing backoff when its connection is lost, and
/// after each reconnection hands the handler [`SchemaChange::Resumed`]: announcements made while
/// it was away are lost, so the handler forgets everything it cached.
pub(crate) fn spawn_listener(connection: ConnectionSettings, handler: Handler) -> tokio::task::AbortHandle {
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        let mut connected_before = false;
        loop {
            match listen(&connection, &handler, connected_before).await {
                Ok(Listening::Ended) => return,
                Ok(Listening::Lost) => {
                    connected_before = true;
                    backoff = Duration::from_secs(1);
                    tracing::warn!("the schema-change listener lost its connection; reconnecting");
                }
                Err(err) => {
                    tracing::warn!("the schema-change listener cannot connect ({err}); retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    })
    .abort_handle()
}

enum Listening {
    /// The handler needs no more announcements.
    Ended,
    /// The connection was lost.
    Lost,
}

async fn listen(
    connection: &ConnectionSettings,
    handler: &Handler,
    resumed: bool,
) -> Result<Listening, tokio_postgres::Error> {
    let (client, mut connection) = connection.connect().await?;
    let (payloads, mut received) = mpsc::unbounded_channel();
    // tokio-postgres hands notifications to whoever drives the connection.
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let AsyncMessage::Notification(notification) = message {
                if payloads.send(notification.payload().to_owned()).is_err() {
                    return;
                }
            }
        }
    });
    let listening = client.batch_execute(&format!("LISTEN {}", crate::sql::quote_ident(CHANNEL))).await;
    if let Err(err) = listening {
        driver.abort();
        return Err(err);
    }
    if resumed && !handler(&SchemaChange::Resumed) {
        driver.abort();
        return Ok(Listening::Ended);
    }
    while let Some(payload) = received.recv().await {
        let Some(change) = SchemaChange::parse(&payload) else { continue };
        if !handler(&change) {
            driver.abort();
            return Ok(Listening::Ended);
        }
    }
    Ok(Listening::Lost)
}
