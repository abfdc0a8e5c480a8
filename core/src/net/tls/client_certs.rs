//! Client-certificate authentication on the listener: an allow-list of
//! fingerprints or a CA, and the rustls server configuration.

use std::sync::Arc;

use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, DistinguishedName, RootCertStore, ServerConfig};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::identity::{parse_fingerprint, sha256, TlsIdentity};
use super::{config_error, provider};
use crate::error::{InvalidInput, Result};

/// Which client certificates a listener accepts.
#[derive(Clone, Debug)]
pub enum ClientCertificates {
    /// Certificates whose SHA-256 fingerprint (`sha256:HEX`) is listed.
    Fingerprints(Vec<String>),
    /// Certificates issued by one of these CA certificates (DER).
    CaCertificates(Vec<Vec<u8>>),
}

/// The rustls server configuration presenting `identity`, asking for client
/// certificates when `clients` is given.
pub(crate) fn server_config(identity: &TlsIdentity, clients: Option<&ClientCertificates>) -> Result<Arc<ServerConfig>> {
    let provider = provider();
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(config_error)?;
    let builder = match clients {
        None => builder.with_no_client_auth(),
        Some(ClientCertificates::Fingerprints(list)) => {
            let allowed = list.iter().map(|f| parse_fingerprint(f)).collect::<Result<Vec<_>>>()?;
            if allowed.is_empty() {
                return Err(InvalidInput::BadConfig("the client certificate allow-list is empty".into()).into());
            }
            builder.with_client_cert_verifier(Arc::new(AllowList {
                allowed,
                algorithms: provider.signature_verification_algorithms,
            }))
        }
        Some(ClientCertificates::CaCertificates(cas)) => {
            let mut roots = RootCertStore::empty();
            for ca in cas {
                roots.add(CertificateDer::from(ca.clone())).map_err(config_error)?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| InvalidInput::BadConfig(format!("client CA certificates: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(identity.certificate_chain().to_vec(), identity.key())
        .map_err(config_error)?;
    Ok(Arc::new(config))
}

/// Accepts exactly the listed client certificates (the client must still
/// prove it holds the key: handshake signatures are verified).
#[derive(Debug)]
struct AllowList {
    allowed: Vec<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AllowList {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> std::result::Result<ClientCertVerified, rustls::Error> {
        if self.allowed.contains(&sha256(end_entity)) {
            Ok(ClientCertVerified::assertion())
        } else {
            tracing::info!(fingerprint = %super::fingerprint(end_entity), "refused an unknown client certificate");
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    handshake_signatures_via_algorithms!();
}
