//! A cluster with TLS: the server's certificate and key, the CA it checks client certificates
//! against, and `pg_hba.conf` lines that demand TLS or a client certificate.

use std::path::Path;

use crate::layout::Layout;
use crate::pki::{write_private, Pki, CERT_USER};
use crate::process::give_to_server_user;

/// A user that [`Cluster::tls`](crate::Cluster::tls) accepts over TLS only (`hostnossl … reject`).
pub const TLS_ONLY_USER: &str = "tls_only";

/// Writes the server's files into the data directory, turns `ssl` on, and puts `pg_hba.conf`
/// lines before initdb's `trust` ones: [`CERT_USER`] needs a client certificate signed by the
/// test CA, [`TLS_ONLY_USER`] needs TLS. Before the server starts.
pub(crate) fn configure(layout: &Layout, pki: &Pki) {
    let data = &layout.data;
    write_private(data, "server.crt", &pki.server_cert_pem);
    write_private(data, "server.key", &pki.server_key_pem);
    write_private(data, "client-ca.crt", &pki.ca_pem);
    let settings =
        "ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\nssl_ca_file = 'client-ca.crt'\n";
    write_private(data, "tenantry-tls.conf", settings);
    let conf = data.join("postgresql.conf");
    write_private(data, "postgresql.conf", &(read(&conf) + "include = 'tenantry-tls.conf'\n"));
    let hba = data.join("pg_hba.conf");
    let lines =
        format!("hostssl all {CERT_USER} 127.0.0.1/32 cert\nhostnossl all {TLS_ONLY_USER} 127.0.0.1/32 reject\n");
    write_private(data, "pg_hba.conf", &(lines + &read(&hba)));
    give_to_server_user(data);
}

/// The roles the `pg_hba.conf` lines name, created once the server runs.
pub(crate) fn roles_sql() -> String {
    format!("CREATE ROLE {CERT_USER} LOGIN SUPERUSER; CREATE ROLE {TLS_ONLY_USER} LOGIN SUPERUSER;")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("could not read {}: {err}; did initdb fail?", path.display()))
}
