//! The schema dump: the structure of the default schema and the template, after a fully
//! successful migrate, via `pg_dump --schema-only` (never from whichever tenant ran last).

use std::path::{Path, PathBuf};

use tokio::process::Command;

use crate::connect::ConnectionSettings;

/// Writes `pg_dump --schema-only` of `schemas` to `path`, connecting with `settings` (the
/// resolved URL, `PG*` variables, password file and TLS settings) so it connects as tenantry
/// does. Failures come back as a message: a dump that cannot be written is a warning, not a
/// failed run.
pub(crate) async fn write_dump(settings: &ConnectionSettings, schemas: &[&str], path: &Path) -> Result<(), String> {
    let pg_dump = find_pg_dump().ok_or_else(|| {
        "pg_dump not found on PATH or in /usr/lib/postgresql/*/bin; install the PostgreSQL client \
         (apt-get install postgresql-client) or set migrations.dump = false"
            .to_owned()
    })?;
    let pg_config = settings.pg_config();
    // The connection goes through the environment, never argv (dump_env.rs says why); the
    // password file it may write is removed when `connection` is dropped, after pg_dump exits.
    let connection = super::dump_env::DumpConnection::new(pg_config)?;
    let mut command = Command::new(&pg_dump);
    command.args(["--schema-only", "--no-owner", "--no-privileges"]);
    connection.apply(&mut command);
    // libpq's sslmode and certificate files as tenantry resolved them (tokio-postgres's
    // config above knows only disable/prefer/require).
    command.envs(settings.libpq_tls_env());
    for schema in schemas {
        // pg_dump's -n takes a pattern; quoting makes it match exactly this name.
        command.arg(format!("--schema={}", crate::sql::quote_ident(schema)));
    }
    let output = command.output().await.map_err(|err| format!("cannot run {}: {err}", pg_dump.display()))?;
    drop(connection);
    if !output.status.success() {
        return Err(format!("pg_dump failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim()));
    }
    let text = stable(&String::from_utf8_lossy(&output.stdout));
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(parent).await.map_err(|err| format!("cannot create {}: {err}", parent.display()))?;
    }
    tokio::fs::write(path, text).await.map_err(|err| format!("cannot write {}: {err}", path.display()))
}

impl super::migrator::Migrator {
    /// Writes `pg_dump --schema-only` of the default schema, the schema of the shared
    /// migrations and the template schema to `path` (`None`: `migrations.dump_path`), as a
    /// successful `migrate` does; returns the path. `pg_dump` connects to the migrator's URL
    /// (`migrations.database_url`, else `database_url`).
    ///
    /// # Errors
    /// [`Error::SchemaDump`](crate::Error::SchemaDump) when `pg_dump` is missing or fails.
    pub async fn dump(&self, path: Option<&Path>) -> Result<PathBuf, crate::Error> {
        let config = self.tenantry().config();
        let path = path.map_or_else(|| config.migrations.dump_path.clone(), Path::to_path_buf);
        write_dump(self.tenantry().migrations_connection_settings(), &dumped_schemas(config), &path)
            .await
            .map_err(|problem| crate::Error::SchemaDump { path: path.clone(), problem })?;
        Ok(path)
    }
}

/// The schemas a dump holds: the default schema, the shared migrations' schema when it is
/// another one, and the template.
pub(crate) fn dumped_schemas(config: &crate::Config) -> Vec<&str> {
    let mut schemas = vec![config.default_schema.as_str()];
    if config.shared_migrations_schema() != config.default_schema {
        schemas.push(config.shared_migrations_schema());
    }
    if config.migrations.template {
        schemas.push(config.migrations.template_schema.as_str());
    }
    schemas
}

/// Drops what changes between identical dumps: since PostgreSQL 15.14 pg_dump wraps its output
/// in `\restrict <random key>` / `\unrestrict <key>` lines.
pub(crate) fn stable(dump: &str) -> String {
    dump.lines()
        .filter(|line| !line.starts_with("\\restrict ") && !line.starts_with("\\unrestrict "))
        .map(|line| format!("{line}\n"))
        .collect()
}

/// `pg_dump` from PATH, else the newest /usr/lib/postgresql/<version>/bin.
pub(crate) fn find_pg_dump() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        if let Some(found) = std::env::split_paths(&path).map(|dir| dir.join("pg_dump")).find(|p| p.is_file()) {
            return Some(found);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let binary = entry.path().join("bin/pg_dump");
            binary.is_file().then_some((version, binary))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, path)| path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_drops_the_restrict_key_lines() {
        let dump = "--\n\\restrict abc123\nCREATE TABLE t ();\n\\unrestrict abc123\n";
        assert_eq!(stable(dump), "--\nCREATE TABLE t ();\n");
    }
}
