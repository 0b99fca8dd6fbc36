//! The two server-certificate checks rustls does not ship, for libpq's weaker modes:
//! `verify-ca` (the chain is checked, the host name is not) and no check at all (`require` and
//! `prefer` without a root certificate: the connection is encrypted but the server is not
//! authenticated, libpq manual, section 34.19.1 "Client Verification of Server Certificates").
//! Both still check the handshake signatures, so the server must hold the certificate's key.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_cert_signed_by_trust_anchor, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

/// What the server's certificate is checked for.
pub(crate) fn verifier(
    check: Check,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, rustls::client::VerifierBuilderError> {
    Ok(match check {
        Check::Nothing => Arc::new(Lenient { roots: None, provider: Arc::clone(provider) }),
        Check::Chain(roots) => Arc::new(Lenient { roots: Some(Arc::new(roots)), provider: Arc::clone(provider) }),
        Check::ChainAndName(roots) => {
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider)).build()?
        }
    })
}

/// The three levels of libpq's modes.
#[derive(Debug)]
pub(crate) enum Check {
    /// No check of the certificate (`require`, `prefer`, `allow` without a root certificate).
    Nothing,
    /// Signed by one of these roots (`verify-ca`, and the weaker modes when a root file exists).
    Chain(RootCertStore),
    /// Signed by one of these roots and naming the host (`verify-full`).
    ChainAndName(RootCertStore),
}

/// `verify-ca` (with `roots`: the chain up to one of them, not the name) and no check at all
/// (without: any certificate, as libpq's `require`).
#[derive(Debug)]
struct Lenient {
    roots: Option<Arc<RootCertStore>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            let algorithms = self.provider.signature_verification_algorithms.all;
            verify_server_cert_signed_by_trust_anchor(&cert, roots, intermediates, now, algorithms)?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
