//! A cluster with TLS: the server's certificate and key, the CA it checks client certificates
//! against, and `pg_hba.conf` lines that demand TLS or a client certificate.

use std::path::Path;

use crate::layout::Layout;
use crate::process::give_to_server_user;

/// TLS for a cluster started by [`Cluster::start_tls`](crate::Cluster::start_tls). Make the
/// PEM texts in the test (e.g. with `rcgen`).
#[derive(Debug, Clone, Default)]
pub struct ServerTls {
    /// The server's certificate chain, PEM (`ssl_cert_file`).
    pub cert_pem: String,
    /// The server's private key, PEM (`ssl_key_file`).
    pub key_pem: String,
    /// The CA that signs client certificates, PEM (`ssl_ca_file`), for `cert` authentication.
    pub client_ca_pem: Option<String>,
    /// `pg_hba.conf` lines placed before initdb's `trust` lines, so they win for what they
    /// match (e.g. `hostssl all cert_user 127.0.0.1/32 cert`).
    pub hba_lines: Vec<String>,
}

/// Writes the files into the data directory and turns `ssl` on (before the server starts).
pub(crate) fn configure(layout: &Layout, tls: &ServerTls) {
    let data = &layout.data;
    write(&data.join("server.crt"), &tls.cert_pem);
    write(&data.join("server.key"), &tls.key_pem);
    let mut settings = "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n".to_owned();
    if let Some(ca) = &tls.client_ca_pem {
        write(&data.join("client-ca.crt"), ca);
        settings.push_str("ssl_ca_file = 'client-ca.crt'\n");
    }
    write(&data.join("tenantry-tls.conf"), &settings);
    let conf = data.join("postgresql.conf");
    let text = read(&conf) + "include = 'tenantry-tls.conf'\n";
    write(&conf, &text);
    let hba = data.join("pg_hba.conf");
    let text = tls.hba_lines.iter().map(|line| format!("{line}\n")).collect::<String>() + &read(&hba);
    write(&hba, &text);
    give_to_server_user(data);
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("could not read {}: {err}; did initdb fail?", path.display()))
}

/// Writes `text` to `path`, readable by its owner only (the server refuses a key others can read).
fn write(path: &Path, text: &str) {
    std::fs::write(path, text)
        .unwrap_or_else(|err| panic!("could not write {}: {err}; check the disk", path.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|err| panic!("could not chmod {}: {err}", path.display()));
    }
}
