//! The database URL: as configured, or the project-local cluster for `embedded`.

use crate::cli::EmbeddedAction;
use crate::commands::Context;
use crate::embedded::{Embedded, EmbeddedStatus};
use crate::exit::{Exit, Unavailable};
use crate::settings::Settings;

/// Replaces `embedded` by the URL of the project's cluster, starting it if needed. A real URL
/// is left alone: the embedded cluster is never used silently.
pub(crate) async fn resolve_database_url(settings: &mut Settings) -> anyhow::Result<()> {
    if !settings.uses_embedded() {
        return Ok(());
    }
    let embedded = Embedded::new(&settings.project_dir);
    let url = tokio::task::spawn_blocking(move || embedded.ensure_running())
        .await?
        .map_err(|err| anyhow::Error::new(Unavailable(format!("cannot start the embedded PostgreSQL: {err}"))))?;
    tracing::debug!("using the embedded cluster at {}", tenantry::error::mask_password(&url));
    settings.config.database_url = Some(url);
    Ok(())
}

/// `tenantry embedded start|stop|status`.
pub(crate) fn embedded(context: &Context, action: EmbeddedAction) -> anyhow::Result<Exit> {
    let embedded = Embedded::new(&context.settings.project_dir);
    let unavailable = |err: crate::embedded::EmbeddedError| anyhow::Error::new(Unavailable(err.to_string()));
    match action {
        EmbeddedAction::Start => {
            let url = embedded.ensure_running().map_err(unavailable)?;
            println!("running: {url}");
        }
        EmbeddedAction::Stop => {
            if embedded.stop().map_err(unavailable)? {
                println!("stopped");
            } else {
                println!("not running");
            }
        }
        EmbeddedAction::Status => match embedded.status().map_err(unavailable)? {
            EmbeddedStatus::NotInitialised => println!(
                "not initialised under {} (it starts the first time a command needs it)",
                embedded.root().display()
            ),
            EmbeddedStatus::Stopped { data_dir } => {
                println!("stopped (data in {}; log {})", data_dir.display(), embedded.log_file().display());
            }
            EmbeddedStatus::Running { url, data_dir, pid, .. } => println!(
                "running: {url} (pid {pid}; data in {}; socket in {}; log {})",
                data_dir.display(),
                embedded.socket_dir().display(),
                embedded.log_file().display()
            ),
        },
    }
    Ok(Exit::Success)
}
