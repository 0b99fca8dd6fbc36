//! Resolving a connection string into what tenantry connects with, by libpq's precedence: a
//! setting written in the string wins over its `PG*` environment variable, which wins over the
//! default (libpq manual, sections 34.1.2 "Parameter Key Words" and 34.15 "Environment
//! Variables"). The environment comes in as a function, so tests never touch the process's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::SettingsError;
use super::parse::{parse, to_key_values};
use super::pgpass::{password_from_file, Lookup};
use super::tls::{RootCerts, SslMode, TlsFiles};

/// libpq's environment variables tenantry reads, with the keyword each one stands for.
pub(crate) const ENV_VARIABLES: &[(&str, &str)] = &[
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
];

/// Keywords tenantry handles itself rather than handing them to tokio-postgres.
const OWN_KEYWORDS: &[&str] = &["sslmode", "sslrootcert", "sslcert", "sslkey", "passfile", "sslsni", "gssencmode"];

/// libpq's default Unix socket directory on Debian and Ubuntu (`DEFAULT_PGSOCKET_DIR`).
pub(crate) const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// The outcome of resolving: the settings for tokio-postgres, and what TLS needs.
#[derive(Debug)]
pub(crate) struct Resolved {
    /// Every keyword tokio-postgres understands, from the string, the environment and defaults.
    pub(crate) pg_config: tokio_postgres::Config,
    /// The sslmode in force and the certificate files it uses.
    pub(crate) tls: TlsFiles,
    /// Whether the user chose an `application_name` (then tenantry keeps it).
    pub(crate) application_name_given: bool,
}

/// Resolves `input` with `env` standing for the process environment.
pub(crate) fn resolve(input: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Resolved, SettingsError> {
    let mut settings: BTreeMap<String, String> = parse(input)?.into_iter().collect();
    for (variable, key) in ENV_VARIABLES {
        if !settings.contains_key(*key) {
            // An empty variable counts as unset (libpq would use the empty value).
            if let Some(value) = env(variable).filter(|v| !v.is_empty()) {
                settings.insert((*key).to_owned(), value);
            }
        }
    }
    let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    if !settings.contains_key("host") && !settings.contains_key("hostaddr") {
        // libpq's default: the Unix socket directory, else localhost.
        let host = if Path::new(DEFAULT_SOCKET_DIR).is_dir() { DEFAULT_SOCKET_DIR } else { "localhost" };
        settings.insert("host".to_owned(), host.to_owned());
    }
    if !settings.contains_key("password") {
        if let Some(password) = password_from_pgpass(&settings, home.as_deref(), env) {
            settings.insert("password".to_owned(), password);
        }
    }
    check_ignored_keywords(&settings)?;
    let tls = TlsFiles::resolve(settings.get("sslmode").map(String::as_str), &settings, home.as_deref())?;
    let application_name_given = settings.contains_key("application_name");
    let for_driver = settings.iter().filter(|(key, _)| !OWN_KEYWORDS.contains(&key.as_str()));
    let mut pg_config: tokio_postgres::Config = to_key_values(for_driver.map(|(k, v)| (k.as_str(), v.as_str())))
        .parse()
        .map_err(|source| SettingsError::Driver { source })?;
    pg_config.ssl_mode(tls.driver_mode(all_unix_sockets(&pg_config)));
    Ok(Resolved { pg_config, tls, application_name_given })
}

/// Whether every host is a Unix socket: then, as libpq, no TLS is attempted whatever sslmode says.
fn all_unix_sockets(pg_config: &tokio_postgres::Config) -> bool {
    #[cfg(unix)]
    {
        pg_config.get_hostaddrs().is_empty()
            && !pg_config.get_hosts().is_empty()
            && pg_config.get_hosts().iter().all(|host| matches!(host, tokio_postgres::config::Host::Unix(_)))
    }
    #[cfg(not(unix))]
    {
        let _ = pg_config;
        false
    }
}

/// Keywords tenantry accepts but need nothing from it: `sslsni` (rustls always sends the
/// server name for a host name) and `gssencmode` (no GSSAPI: `prefer` falls back, as libpq
/// built without it does).
fn check_ignored_keywords(settings: &BTreeMap<String, String>) -> Result<(), SettingsError> {
    if let Some(mode) = settings.get("gssencmode") {
        if mode == "require" {
            return Err(SettingsError::Setting {
                key: "gssencmode",
                problem: "GSSAPI encryption is not supported; use TLS (sslmode=verify-full) instead".to_owned(),
            });
        }
    }
    Ok(())
}

/// The password from the password file for the first host, as libpq looks it up.
fn password_from_pgpass(
    settings: &BTreeMap<String, String>,
    home: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<String> {
    let path = match settings.get("passfile") {
        Some(path) => PathBuf::from(path),
        None => home?.join(".pgpass"),
    };
    let first = |key: &str| settings.get(key).and_then(|list| list.split(',').next()).unwrap_or_default().to_owned();
    let mut host = first("host");
    if host.is_empty() || host == DEFAULT_SOCKET_DIR {
        // libpq: the default socket directory matches `localhost` lines.
        host = "localhost".to_owned();
    }
    let port = Some(first("port")).filter(|p| !p.is_empty()).unwrap_or_else(|| "5432".to_owned());
    let user = settings.get("user").cloned().or_else(|| env("USER")).or_else(|| env("LOGNAME")).unwrap_or_default();
    let database = settings.get("dbname").cloned().unwrap_or_else(|| user.clone());
    password_from_file(&path, &Lookup { host: &host, port: &port, database: &database, user: &user })
}

impl TlsFiles {
    /// The sslmode and files from the settings, with libpq's defaults under `home`
    /// (`~/.postgresql/root.crt`, `postgresql.crt`, `postgresql.key`).
    fn resolve(
        mode: Option<&str>,
        settings: &BTreeMap<String, String>,
        home: Option<&Path>,
    ) -> Result<Self, SettingsError> {
        let dot_postgresql = home.map(|home| home.join(".postgresql"));
        let roots = match settings.get("sslrootcert").map(String::as_str) {
            Some("system") => RootCerts::System,
            Some(path) => RootCerts::File { path: PathBuf::from(path), explicit: true },
            None => match dot_postgresql.as_ref().map(|dir| dir.join("root.crt")) {
                Some(path) if path.is_file() => RootCerts::File { path, explicit: false },
                _ => RootCerts::None,
            },
        };
        let mode = match mode {
            Some(text) => SslMode::parse(text)?,
            // libpq 16: sslrootcert=system makes verify-full the default.
            None if roots == RootCerts::System => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        if roots == RootCerts::System && mode != SslMode::VerifyFull && mode != SslMode::Disable {
            return Err(SettingsError::Setting {
                key: "sslmode",
                problem: format!(
                    "sslmode={mode} may not be used with sslrootcert=system (the system's roots \
                     vouch for host names, so only verify-full makes sense); set sslmode=verify-full"
                ),
            });
        }
        let client_cert = match settings.get("sslcert") {
            Some(path) => Some(PathBuf::from(path)),
            None => dot_postgresql.as_ref().map(|dir| dir.join("postgresql.crt")).filter(|p| p.is_file()),
        };
        let client_key = match settings.get("sslkey") {
            Some(path) => Some(PathBuf::from(path)),
            None => dot_postgresql.as_ref().map(|dir| dir.join("postgresql.key")),
        };
        Ok(TlsFiles { mode, roots, client_cert, client_key })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |name| map.get(name).cloned()
    }

    fn resolved(input: &str, vars: &[(&str, &str)]) -> Resolved {
        resolve(input, &env_of(vars)).expect("resolves")
    }

    #[test]
    fn the_string_wins_over_the_environment() {
        let env = [("PGUSER", "env_user"), ("PGDATABASE", "env_db"), ("PGPORT", "7777"), ("PGSSLMODE", "require")];
        let r = resolved("postgres://alice@db.example/app?sslmode=disable", &env);
        assert_eq!(r.pg_config.get_user(), Some("alice"));
        assert_eq!(r.pg_config.get_dbname(), Some("app"));
        assert_eq!(r.pg_config.get_ports(), &[7777]);
        assert_eq!(r.tls.mode, SslMode::Disable);
        let r = resolved("host=db.example", &env);
        assert_eq!(r.pg_config.get_user(), Some("env_user"));
        assert_eq!(r.tls.mode, SslMode::Require);
    }

    #[test]
    fn the_environment_fills_in_everything() {
        let env = [
            ("PGHOST", "db.example"),
            ("PGPASSWORD", "pw"),
            ("PGAPPNAME", "billing"),
            ("PGSSLMODE", "verify-full"),
            ("PGSSLROOTCERT", "/etc/ca.pem"),
            ("PGSSLCERT", "/etc/client.crt"),
            ("PGSSLKEY", "/etc/client.key"),
        ];
        let r = resolved("", &env);
        assert_eq!(r.pg_config.get_password(), Some(&b"pw"[..]));
        assert_eq!(r.pg_config.get_application_name(), Some("billing"));
        assert!(r.application_name_given);
        assert_eq!(r.tls.mode, SslMode::VerifyFull);
        assert_eq!(r.tls.roots, RootCerts::File { path: "/etc/ca.pem".into(), explicit: true });
        assert_eq!(r.tls.client_cert, Some("/etc/client.crt".into()));
        assert_eq!(r.tls.client_key, Some("/etc/client.key".into()));
    }

    #[test]
    fn prefer_is_the_default_and_system_roots_mean_verify_full() {
        assert_eq!(resolved("host=h", &[]).tls.mode, SslMode::Prefer);
        assert!(!resolved("host=h", &[]).application_name_given);
        assert_eq!(resolved("host=h sslrootcert=system", &[]).tls.mode, SslMode::VerifyFull);
        let err = resolve("host=h sslrootcert=system sslmode=require", &env_of(&[])).expect_err("weak");
        assert!(err.to_string().contains("set sslmode=verify-full"), "{err}");
        let err = resolve("host=h sslmode=verify", &env_of(&[])).expect_err("unknown mode");
        assert!(err.to_string().contains("verify-full"), "{err}");
    }

    #[test]
    fn the_password_file_is_read_for_the_first_host() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join(".pgpass");
        std::fs::write(&path, "db.example:5432:app:alice:from-file\nlocalhost:*:*:*:local\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let home = dir.path().to_str().expect("utf-8 path");
        let r = resolved("postgres://alice@db.example/app", &[("HOME", home)]);
        assert_eq!(r.pg_config.get_password(), Some(&b"from-file"[..]));
        let r = resolved("postgres://alice:given@db.example/app", &[("HOME", home)]);
        assert_eq!(r.pg_config.get_password(), Some(&b"given"[..]));
        let passfile = path.to_str().expect("utf-8 path");
        let r = resolved("host=localhost user=bob", &[("PGPASSFILE", passfile)]);
        assert_eq!(r.pg_config.get_password(), Some(&b"local"[..]));
    }

    #[test]
    fn unknown_keywords_are_refused_without_quoting_them() {
        // A stray `word=` may be the rest of an unquoted password: the key is not repeated.
        let err = resolve("host=h password=two hunter2=x", &env_of(&[])).expect_err("unknown");
        assert!(err.to_string().contains("an unknown key") && !err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn unix_sockets_never_try_tls() {
        let r = resolved("host=/tmp sslmode=require", &[]);
        assert_eq!(r.pg_config.get_ssl_mode(), tokio_postgres::config::SslMode::Disable);
        let r = resolved("host=db.example sslmode=verify-ca", &[]);
        assert_eq!(r.pg_config.get_ssl_mode(), tokio_postgres::config::SslMode::Require);
    }
}
