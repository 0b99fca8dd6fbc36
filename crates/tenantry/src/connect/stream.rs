//! tokio-postgres's TLS hooks over tokio-rustls, with handshake failures explained in terms of
//! the settings to change.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::ServerName;
use rustls::{CertificateError, ClientConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_postgres::tls::{ChannelBinding, MakeTlsConnect, TlsConnect};

use super::tls::{RootCerts, SslMode};

/// Makes a TLS connector per host, for tokio-postgres.
#[derive(Clone)]
pub(crate) struct MakeRustls {
    config: Arc<ClientConfig>,
    context: Arc<Explain>,
}

/// What a handshake error message names.
#[derive(Debug)]
pub(crate) struct Explain {
    /// The sslmode in force.
    pub(crate) mode: SslMode,
    /// Where the roots came from.
    pub(crate) roots: RootCerts,
}

impl MakeRustls {
    pub(crate) fn new(config: Arc<ClientConfig>, context: Explain) -> Self {
        Self { config, context: Arc::new(context) }
    }
}

impl<S> MakeTlsConnect<S> for MakeRustls
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type TlsConnect = RustlsConnect;
    type Error = HandshakeError;

    fn make_tls_connect(&mut self, domain: &str) -> Result<RustlsConnect, HandshakeError> {
        // The driver asks for a connector for every host before it knows whether TLS will be
        // used, a Unix socket's host being "" (tests/tls.rs,
        // `a_unix_socket_connects_without_tls_whatever_sslmode_says`): a name TLS cannot check is
        // an error only if a handshake is attempted.
        let name = ServerName::try_from(domain.to_owned()).map_err(|_| {
            HandshakeError(format!(
                "{domain:?} is not a host name or IP address TLS can check; connect by a DNS name or an IP address"
            ))
        });
        Ok(RustlsConnect {
            connector: tokio_rustls::TlsConnector::from(Arc::clone(&self.config)),
            name,
            host: domain.to_owned(),
            context: Arc::clone(&self.context),
        })
    }
}

/// Connects one stream to one host.
pub(crate) struct RustlsConnect {
    connector: tokio_rustls::TlsConnector,
    /// The name the certificate must carry, or why the host has none.
    name: Result<ServerName<'static>, HandshakeError>,
    host: String,
    context: Arc<Explain>,
}

impl<S> TlsConnect<S> for RustlsConnect
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Stream = TlsStream<S>;
    type Error = HandshakeError;
    type Future = Pin<Box<dyn Future<Output = Result<TlsStream<S>, HandshakeError>> + Send>>;

    fn connect(self, stream: S) -> Self::Future {
        Box::pin(async move {
            match self.connector.connect(self.name?, stream).await {
                Ok(stream) => Ok(TlsStream(stream)),
                Err(err) => Err(HandshakeError(explain(&err, &self.host, &self.context))),
            }
        })
    }
}

/// A failed TLS handshake, with the cause and the setting to change.
#[derive(Debug)]
pub struct HandshakeError(String);

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HandshakeError {}

/// The message for a handshake that failed with `err` against `host`.
fn explain(err: &io::Error, host: &str, context: &Explain) -> String {
    let Some(rustls_error) = err.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) else {
        return format!("the TLS handshake with {host} failed: {err}");
    };
    let roots = &context.roots;
    match rustls_error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => {
            match roots {
                RootCerts::System => "the server's certificate is not signed by any CA this system trusts \
                                       (sslrootcert=system); set sslrootcert to the file of the CA that \
                                       signed it"
                    .to_owned(),
                _ => format!(
                    "the server's certificate is not signed by the CA in {roots}; set sslrootcert to the CA \
                     that signed it"
                ),
            }
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { presented, .. }) => format!(
            "the server's certificate is for {} but tenantry connected to {host:?} (sslmode={}); connect \
             by a name the certificate holds, or use sslmode=verify-ca to check the CA only",
            if presented.is_empty() { "no host name".to_owned() } else { names(presented) },
            context.mode
        ),
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => format!(
            "the server's certificate does not name {host:?} (sslmode={}); connect by a name the \
             certificate holds, or use sslmode=verify-ca to check the CA only",
            context.mode
        ),
        rustls::Error::InvalidCertificate(CertificateError::Expired | CertificateError::ExpiredContext { .. }) => {
            format!("the server's certificate has expired; renew it on the server ({host})")
        }
        rustls::Error::AlertReceived(alert) => format!(
            "the server ({host}) ended the TLS handshake ({alert:?}); if it demands a client \
             certificate, set sslcert and sslkey to one signed by the CA in its ssl_ca_file"
        ),
        other => format!("the TLS handshake with {host} failed: {other} (sslmode={}, {roots})", context.mode),
    }
}

/// rustls's presented names (`DnsName("db.example")`, `IpAddress(…)`) as plain text.
fn names(presented: &[String]) -> String {
    presented
        .iter()
        .map(|name| {
            let inner = name.split_once('(').map_or(name.as_str(), |(_, rest)| rest.trim_end_matches(')'));
            inner.trim_matches('"').to_owned()
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A TLS connection to the server.
pub struct TlsStream<S>(tokio_rustls::client::TlsStream<S>);

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> tokio_postgres::tls::TlsStream for TlsStream<S> {
    fn channel_binding(&self) -> ChannelBinding {
        // No tls-server-end-point binding: SCRAM runs without channel binding (the default
        // `channel_binding=prefer` accepts that; `require` is refused by tokio-postgres).
        ChannelBinding::none()
    }
}
