//! How `pg_dump` reaches the database without the password in its argument list.
//!
//! Every user of the machine can read a process's arguments (`ps`, `/proc/<pid>/cmdline`), so
//! the connection goes through libpq's environment variables (`PGHOST`, `PGPORT`, `PGUSER`,
//! `PGDATABASE`, …) and the password through a temporary password file named by `PGPASSFILE`:
//! created with mode 0600, removed when the dump is done (issue 10, "Secrets never printed").
//!
//! A file rather than `PGPASSWORD`: PostgreSQL's manual advises against `PGPASSWORD` ("some
//! operating systems allow non-root users to see process environment variables via ps",
//! libpq's "Environment Variables" section), and an environment is inherited by whatever the
//! child starts. The password file is readable by the same user only, and exists only while
//! `pg_dump` runs. A password holding a line break cannot be written to a password file (it
//! is one entry per line); only then is `PGPASSWORD` used, in the child's environment alone.

use std::ffi::OsString;
use std::io::Write;
#[cfg(unix)]
use std::os::unix::ffi::OsStringExt;

use tokio_postgres::config::{ChannelBinding, Host, SslMode};

/// The environment of one `pg_dump` run; the password file lives as long as this value.
pub(crate) struct DumpConnection {
    /// Variables to set in the child's environment.
    env: Vec<(&'static str, OsString)>,
    /// Variables the child must not inherit (a `PGPASSWORD` would win over the password file).
    remove: Vec<&'static str>,
    /// The temporary password file, removed on drop.
    _pgpass: Option<tempfile::NamedTempFile>,
}

impl DumpConnection {
    /// Prepares the child's environment for `config`, writing the password file if there is a
    /// password.
    pub(crate) fn new(config: &tokio_postgres::Config) -> Result<Self, String> {
        let mut env = libpq_env(config);
        let mut remove = Vec::new();
        let mut pgpass = None;
        if let Some(password) = config.get_password() {
            remove.push("PGPASSWORD");
            if password.contains(&b'\n') || password.contains(&b'\r') {
                env.push(("PGPASSWORD", bytes_to_os(password.to_vec())));
            } else {
                let file = write_pgpass(password)?;
                env.push(("PGPASSFILE", file.path().as_os_str().to_owned()));
                pgpass = Some(file);
            }
        }
        Ok(Self { env, remove, _pgpass: pgpass })
    }

    /// Sets this environment on `command`.
    pub(crate) fn apply(&self, command: &mut tokio::process::Command) {
        for name in &self.remove {
            command.env_remove(name);
        }
        for (name, value) in &self.env {
            command.env(name, value);
        }
    }
}

/// libpq's variables for every setting of `config` except the password: the connection
/// `pg_dump` makes is the one tenantry makes. Settings `config` leaves out are not set, so
/// `pg_dump` falls back to its defaults as libpq does.
pub(crate) fn libpq_env(config: &tokio_postgres::Config) -> Vec<(&'static str, OsString)> {
    let mut env = Vec::new();
    let hosts: Vec<OsString> = config
        .get_hosts()
        .iter()
        .map(|host| match host {
            Host::Tcp(name) => OsString::from(name),
            #[cfg(unix)]
            Host::Unix(path) => path.as_os_str().to_owned(),
        })
        .collect();
    if !hosts.is_empty() {
        env.push(("PGHOST", join(hosts)));
    }
    let addresses: Vec<OsString> = config.get_hostaddrs().iter().map(|ip| OsString::from(ip.to_string())).collect();
    if !addresses.is_empty() {
        env.push(("PGHOSTADDR", join(addresses)));
    }
    let ports: Vec<OsString> = config.get_ports().iter().map(|port| OsString::from(port.to_string())).collect();
    if !ports.is_empty() {
        env.push(("PGPORT", join(ports)));
    }
    let text_settings = [
        ("PGUSER", config.get_user()),
        ("PGDATABASE", config.get_dbname()),
        ("PGOPTIONS", config.get_options()),
        ("PGAPPNAME", config.get_application_name()),
    ];
    for (name, value) in text_settings {
        if let Some(value) = value {
            env.push((name, OsString::from(value)));
        }
    }
    if let Some(mode) = ssl_mode(config.get_ssl_mode()) {
        env.push(("PGSSLMODE", OsString::from(mode)));
    }
    if let Some(binding) = channel_binding(config.get_channel_binding()) {
        env.push(("PGCHANNELBINDING", OsString::from(binding)));
    }
    if let Some(timeout) = config.get_connect_timeout() {
        // libpq takes whole seconds; round up so a short timeout does not become "wait forever" (0).
        let seconds = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        env.push(("PGCONNECT_TIMEOUT", OsString::from(seconds.to_string())));
    }
    env
}

fn ssl_mode(mode: SslMode) -> Option<&'static str> {
    match mode {
        SslMode::Disable => Some("disable"),
        SslMode::Prefer => Some("prefer"),
        SslMode::Require => Some("require"),
        _ => None,
    }
}

fn channel_binding(binding: ChannelBinding) -> Option<&'static str> {
    match binding {
        ChannelBinding::Disable => Some("disable"),
        ChannelBinding::Prefer => Some("prefer"),
        ChannelBinding::Require => Some("require"),
        _ => None,
    }
}

fn join(values: Vec<OsString>) -> OsString {
    let mut joined = OsString::new();
    for (index, value) in values.into_iter().enumerate() {
        if index > 0 {
            joined.push(",");
        }
        joined.push(value);
    }
    joined
}

/// One password-file entry matching any host, port, database and user (the file serves one
/// run only): `*:*:*:*:password`, with `\` and `:` escaped as libpq's "The Password File"
/// section describes.
pub(crate) fn pgpass_line(password: &[u8]) -> Vec<u8> {
    let mut line = b"*:*:*:*:".to_vec();
    for &byte in password {
        if byte == b'\\' || byte == b':' {
            line.push(b'\\');
        }
        line.push(byte);
    }
    line.push(b'\n');
    line
}

/// A new password file in the temporary directory, mode 0600 (tempfile creates it so, with a
/// random name, refusing to follow an existing path).
fn write_pgpass(password: &[u8]) -> Result<tempfile::NamedTempFile, String> {
    let mut file = tempfile::Builder::new().prefix("tenantry-pgpass-").tempfile().map_err(|err| {
        format!(
            "cannot create a temporary password file for pg_dump in {}: {err}; make the temporary \
             directory writable (or set TMPDIR)",
            std::env::temp_dir().display()
        )
    })?;
    file.write_all(&pgpass_line(password))
        .and_then(|()| file.flush())
        .map_err(|err| format!("cannot write the temporary password file for pg_dump: {err}; check the disk"))?;
    Ok(file)
}

#[cfg(unix)]
fn bytes_to_os(bytes: Vec<u8>) -> OsString {
    OsString::from_vec(bytes)
}

#[cfg(not(unix))]
fn bytes_to_os(bytes: Vec<u8>) -> OsString {
    OsString::from(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(url: &str) -> Vec<(&'static str, OsString)> {
        libpq_env(&url.parse().expect("valid URL"))
    }

    #[test]
    fn every_setting_but_the_password_becomes_a_variable() {
        let env = env_of("postgres://app:s3cret@db1:5433,db2:5434/shop?application_name=x&sslmode=require");
        let get = |name: &str| env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        assert_eq!(get("PGHOST"), Some("db1,db2".into()));
        assert_eq!(get("PGPORT"), Some("5433,5434".into()));
        assert_eq!(get("PGUSER"), Some("app".into()));
        assert_eq!(get("PGDATABASE"), Some("shop".into()));
        assert_eq!(get("PGAPPNAME"), Some("x".into()));
        assert_eq!(get("PGSSLMODE"), Some("require".into()));
        assert!(env.iter().all(|(name, value)| *name != "PGPASSWORD" && !value.to_string_lossy().contains("s3cret")));
    }

    #[test]
    fn unix_socket_hosts_pass_as_paths() {
        let env = env_of("host=/tmp/sock port=5432 user=u dbname=d");
        assert!(env.contains(&("PGHOST", "/tmp/sock".into())));
    }

    #[test]
    fn password_file_escapes_colons_and_backslashes() {
        assert_eq!(pgpass_line(br"a:b\c"), b"*:*:*:*:a\\:b\\\\c\n".to_vec());
    }

    #[cfg(unix)]
    #[test]
    fn password_file_is_private_and_removed_with_the_connection() {
        use std::os::unix::fs::PermissionsExt;

        let connection = DumpConnection::new(&"postgres://u:p%3Aw@h/d".parse().expect("valid URL")).expect("prepares");
        let (_, path) = connection.env.iter().find(|(name, _)| *name == "PGPASSFILE").expect("a password file");
        let path = std::path::PathBuf::from(path);
        let mode = std::fs::metadata(&path).expect("exists").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read(&path).expect("readable"), b"*:*:*:*:p\\:w\n");
        drop(connection);
        assert!(!path.exists(), "the password file outlived the dump");
    }
}
