//! The certificates of a TLS test cluster, made with rcgen: a CA, a server certificate for
//! `localhost` signed by it, a client certificate for the user `cert_user`, a CA that signed
//! nothing, and a self-signed server certificate.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};

/// The user whose client certificate [`ClientPki::client_cert`] is (its CN).
pub const CERT_USER: &str = "cert_user";

/// The PEM texts, in memory.
pub(crate) struct Pki {
    pub(crate) ca_pem: String,
    pub(crate) other_ca_pem: String,
    pub(crate) server_cert_pem: String,
    pub(crate) server_key_pem: String,
    pub(crate) client_cert_pem: String,
    pub(crate) client_key_pem: String,
}

/// Makes a certificate chain; `self_signed` makes the server certificate sign itself.
pub(crate) fn generate(self_signed: bool) -> Pki {
    let (ca, ca_key) = make_ca("tenantry test CA");
    let (other_ca, _) = make_ca("an unrelated CA");
    let server_key = key();
    let server_params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap_or_else(|err| panic!("{err}"));
    let server = if self_signed {
        server_params.self_signed(&server_key)
    } else {
        server_params.signed_by(&server_key, &ca, &ca_key)
    }
    .unwrap_or_else(|err| panic!("could not sign the server's certificate: {err}"));
    let client_key = key();
    let mut client_params = CertificateParams::new(Vec::new()).unwrap_or_else(|err| panic!("{err}"));
    // `cert` authentication maps the certificate's CN to the user.
    client_params.distinguished_name.push(DnType::CommonName, CERT_USER);
    let client = client_params
        .signed_by(&client_key, &ca, &ca_key)
        .unwrap_or_else(|err| panic!("could not sign the client's certificate: {err}"));
    Pki {
        ca_pem: ca.pem(),
        other_ca_pem: other_ca.pem(),
        server_cert_pem: server.pem(),
        server_key_pem: server_key.serialize_pem(),
        client_cert_pem: client.pem(),
        client_key_pem: client_key.serialize_pem(),
    }
}

fn key() -> KeyPair {
    KeyPair::generate().unwrap_or_else(|err| panic!("could not generate a key pair: {err}"))
}

fn make_ca(name: &str) -> (rcgen::Certificate, KeyPair) {
    let key = key();
    let mut params = CertificateParams::new(Vec::new()).unwrap_or_else(|err| panic!("{err}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap_or_else(|err| panic!("could not make the CA: {err}"));
    (cert, key)
}

/// The files a client of a TLS test cluster reads, in the cluster's temporary directory.
#[derive(Debug, Clone)]
pub struct ClientPki {
    /// The CA that signed the server's certificate (unless self-signed) and the client's.
    pub ca: PathBuf,
    /// A CA that signed nothing: a wrong `sslrootcert`.
    pub other_ca: PathBuf,
    /// A client certificate for [`CERT_USER`], signed by [`ca`](Self::ca).
    pub client_cert: PathBuf,
    /// Its private key (mode 0600).
    pub client_key: PathBuf,
}

impl ClientPki {
    /// Writes the files of `pki` into `dir` (created).
    pub(crate) fn write(pki: &Pki, dir: &Path) -> Self {
        std::fs::create_dir_all(dir).unwrap_or_else(|err| panic!("could not create {}: {err}", dir.display()));
        Self {
            ca: write_private(dir, "ca.crt", &pki.ca_pem),
            other_ca: write_private(dir, "other-ca.crt", &pki.other_ca_pem),
            client_cert: write_private(dir, "client.crt", &pki.client_cert_pem),
            client_key: write_private(dir, "client.key", &pki.client_key_pem),
        }
    }
}

/// Writes `text` to `dir/name`, readable by its owner only (servers and clients refuse a key
/// others can read).
pub(crate) fn write_private(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text)
        .unwrap_or_else(|err| panic!("could not write {}: {err}; check the disk", path.display()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .unwrap_or_else(|err| panic!("could not chmod {}: {err}", path.display()));
    }
    path
}
