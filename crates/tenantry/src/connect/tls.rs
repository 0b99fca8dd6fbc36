//! libpq's `sslmode` and certificate settings, turned into a rustls client configuration
//! (libpq manual, section 34.19 "SSL Support"; the `ring` provider).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use super::error::SettingsError;
use super::verify::{verifier, Check};

/// libpq's `sslmode`, with the same meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain only.
    Disable,
    /// Plain first; TLS if the server refuses the plain connection.
    Allow,
    /// TLS if the server offers it, else plain (libpq's default).
    Prefer,
    /// TLS or nothing; the certificate is checked only if a root certificate file exists.
    Require,
    /// TLS, the certificate signed by a root in `sslrootcert`; the host name is not checked.
    VerifyCa,
    /// TLS, the certificate signed by a root in `sslrootcert` and naming the host.
    VerifyFull,
}

impl SslMode {
    /// Every mode, as written.
    const ALL: [(&'static str, SslMode); 6] = [
        ("disable", SslMode::Disable),
        ("allow", SslMode::Allow),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ];

    pub(crate) fn parse(text: &str) -> Result<Self, SettingsError> {
        Self::ALL.iter().find(|(name, _)| *name == text).map(|(_, mode)| *mode).ok_or_else(|| SettingsError::Setting {
            key: "sslmode",
            problem: format!(
                "unknown value {text:?}; write one of disable, allow, prefer, require, verify-ca, verify-full"
            ),
        })
    }

    /// Whether the server's certificate must be signed by a known root.
    pub(crate) fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Self::ALL.iter().find(|(_, mode)| mode == self).map_or("prefer", |(name, _)| name);
        f.write_str(name)
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootCerts {
    /// No root certificate: the weaker modes do not check the server's certificate.
    None,
    /// `sslrootcert=system`: the platform's trusted roots.
    System,
    /// A PEM file: `sslrootcert`, or `~/.postgresql/root.crt` when present (`explicit` false).
    File {
        /// The file.
        path: PathBuf,
        /// Whether the user named it (a missing default file is not an error).
        explicit: bool,
    },
}

impl fmt::Display for RootCerts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RootCerts::None => f.write_str("no sslrootcert"),
            RootCerts::System => f.write_str("sslrootcert=system"),
            RootCerts::File { path, explicit: true } => write!(f, "sslrootcert={}", path.display()),
            RootCerts::File { path, explicit: false } => write!(f, "{} (the default sslrootcert)", path.display()),
        }
    }
}

/// The sslmode in force and the files it reads.
#[derive(Debug, Clone)]
pub(crate) struct TlsFiles {
    /// The mode.
    pub(crate) mode: SslMode,
    /// The trusted roots.
    pub(crate) roots: RootCerts,
    /// The client certificate.
    pub(crate) client_cert: Option<PathBuf>,
    /// The client certificate's key (used only with a certificate).
    pub(crate) client_key: Option<PathBuf>,
}

impl TlsFiles {
    /// The mode tokio-postgres negotiates with (`allow` makes its second attempt itself).
    pub(crate) fn driver_mode(&self, unix_sockets_only: bool) -> tokio_postgres::config::SslMode {
        use tokio_postgres::config::SslMode as Driver;
        match self.mode {
            _ if unix_sockets_only => Driver::Disable,
            SslMode::Disable | SslMode::Allow => Driver::Disable,
            SslMode::Prefer => Driver::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => Driver::Require,
        }
    }

    /// The root certificate file, when the roots come from one.
    pub(crate) fn root_file(&self) -> Option<&Path> {
        match &self.roots {
            RootCerts::File { path, .. } => Some(path),
            RootCerts::None | RootCerts::System => None,
        }
    }

    /// The rustls configuration: reads the root and client certificate files.
    pub(crate) fn client_config(&self) -> Result<ClientConfig, SettingsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = self.root_store()?;
        let check = match (self.mode, roots) {
            (SslMode::VerifyFull, Some(roots)) => Check::ChainAndName(roots),
            // libpq: a root certificate file makes every mode check the chain.
            (_, Some(roots)) => Check::Chain(roots),
            (mode, None) if mode.verifies() => {
                return Err(SettingsError::Setting {
                    key: "sslrootcert",
                    problem: format!(
                        "sslmode={mode} checks the server's certificate but there is no root \
                         certificate (~/.postgresql/root.crt does not exist); set sslrootcert to \
                         the CA file, or sslrootcert=system for the system's trusted roots, or \
                         use sslmode=require to encrypt without checking"
                    ),
                })
            }
            (_, None) => Check::Nothing,
        };
        let tls_error = |problem: String| SettingsError::Setting { key: "sslmode", problem };
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|err| tls_error(format!("no TLS version available: {err}")))?
            .dangerous()
            .with_custom_certificate_verifier(
                verifier(check, &provider).map_err(|err| tls_error(format!("cannot check certificates: {err}")))?,
            );
        match self.client_identity()? {
            Some((certs, key)) => {
                let path = self.client_cert.clone().unwrap_or_default();
                builder.with_client_auth_cert(certs, key).map_err(|err| SettingsError::File {
                    key: "sslcert",
                    path,
                    problem: format!("the certificate and sslkey do not go together: {err}"),
                })
            }
            None => Ok(builder.with_no_client_auth()),
        }
    }

    /// The trusted roots, if any.
    fn root_store(&self) -> Result<Option<RootCertStore>, SettingsError> {
        let mut store = RootCertStore::empty();
        match &self.roots {
            RootCerts::None => return Ok(None),
            RootCerts::System => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = store.add_parsable_certificates(found.certs);
                if added == 0 {
                    return Err(SettingsError::Setting {
                        key: "sslrootcert",
                        problem: format!(
                            "sslrootcert=system found no trusted roots on this machine ({}); install \
                             them (apt-get install ca-certificates) or set sslrootcert to the CA file",
                            found.errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
                        ),
                    });
                }
            }
            RootCerts::File { path, .. } => {
                for cert in read_certs("sslrootcert", path)? {
                    store.add(cert).map_err(|err| SettingsError::File {
                        key: "sslrootcert",
                        path: path.clone(),
                        problem: format!("a certificate in it is not a usable root: {err}"),
                    })?;
                }
            }
        }
        Ok(Some(store))
    }

    /// The client certificate chain and key, when a certificate is configured.
    fn client_identity(&self) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, SettingsError> {
        let Some(cert_path) = &self.client_cert else { return Ok(None) };
        let certs = read_certs("sslcert", cert_path)?;
        let Some(key_path) = &self.client_key else {
            return Err(SettingsError::File {
                key: "sslcert",
                path: cert_path.clone(),
                problem: "a client certificate needs its key; set sslkey".to_owned(),
            });
        };
        check_key_permissions(key_path)?;
        let key = PrivateKeyDer::from_pem_file(key_path).map_err(|err| SettingsError::File {
            key: "sslkey",
            path: key_path.clone(),
            problem: format!("no PEM private key in it ({err}); point sslkey at the client certificate's key"),
        })?;
        Ok(Some((certs, key)))
    }
}

/// The PEM certificates of `path` (at least one).
fn read_certs(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, SettingsError> {
    let file_error = |problem: String| SettingsError::File { key, path: path.to_path_buf(), problem };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| file_error(format!("cannot read it ({err}); check the path and its permissions")))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| file_error(format!("not a PEM certificate file ({err})")))?;
    if certs.is_empty() {
        return Err(file_error("it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".to_owned()));
    }
    Ok(certs)
}

/// libpq refuses a private key others can read: 0600 or stricter, or 0640 if owned by root.
#[cfg(unix)]
fn check_key_permissions(path: &Path) -> Result<(), SettingsError> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).map_err(|err| SettingsError::File {
        key: "sslkey",
        path: path.to_path_buf(),
        problem: format!("cannot read it ({err}); check the path"),
    })?;
    let mode = metadata.mode();
    let allowed = if metadata.uid() == 0 { 0o037 } else { 0o077 };
    if mode & allowed != 0 {
        return Err(SettingsError::File {
            key: "sslkey",
            path: path.to_path_buf(),
            problem: format!(
                "the key file has group or world access (mode {:o}); chmod 0600 it, as libpq requires",
                mode & 0o777
            ),
        });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_key_permissions(_: &Path) -> Result<(), SettingsError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_read_and_print_as_libpq_writes_them() {
        for (name, mode) in SslMode::ALL {
            assert_eq!(SslMode::parse(name).expect("known"), mode);
            assert_eq!(mode.to_string(), name);
        }
        assert!(SslMode::parse("verify_full").is_err());
    }

    #[test]
    fn verify_modes_need_a_root_certificate() {
        let files = TlsFiles { mode: SslMode::VerifyCa, roots: RootCerts::None, client_cert: None, client_key: None };
        let err = files.client_config().expect_err("no root").to_string();
        assert!(err.contains("sslrootcert=system") && err.contains("sslmode=require"), "{err}");
        let files = TlsFiles { mode: SslMode::Require, ..files };
        assert!(files.client_config().is_ok());
    }

    #[test]
    fn a_missing_root_file_names_the_setting() {
        let roots = RootCerts::File { path: "/nonexistent/ca.pem".into(), explicit: true };
        let files = TlsFiles { mode: SslMode::VerifyFull, roots, client_cert: None, client_key: None };
        let err = files.client_config().expect_err("missing").to_string();
        assert!(err.contains("sslrootcert=/nonexistent/ca.pem"), "{err}");
    }
}
