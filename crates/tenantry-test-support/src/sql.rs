//! Running one administrative statement (CREATE/DROP DATABASE, readiness probes).

use tokio_postgres::NoTls;

/// Runs `sql` (simple protocol, may hold several statements) on a fresh connection.
///
/// Needs a tokio runtime: the connection is driven by a spawned task.
pub(crate) async fn execute(conninfo: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(conninfo, NoTls).await?;
    let driver = tokio::spawn(connection);
    let result = client.batch_execute(sql).await;
    drop(client);
    // The connection ends once the client is gone; its own error adds nothing to `result`.
    let _ = driver.await;
    result
}

/// [`execute`] from synchronous code, inside or outside a tokio runtime (e.g. in `Drop`).
///
/// Blocking inside a runtime with `block_on` panics, so this runs on a new thread with its own
/// current-thread runtime and waits for it.
pub(crate) fn execute_blocking(conninfo: String, sql: String) -> Result<(), String> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|err| format!("could not build a tokio runtime: {err}"))?;
        runtime.block_on(execute(&conninfo, &sql)).map_err(|err| err.to_string())
    })
    .join()
    .unwrap_or_else(|_| Err("the thread running the statement panicked".to_owned()))
}

/// A quoted SQL identifier: `"name"`, inner quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("t_a_1_0"), "\"t_a_1_0\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }
}
