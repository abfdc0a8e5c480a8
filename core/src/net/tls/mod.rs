//! TLS with rustls (ring provider; TLS 1.2 minimum, 1.3 preferred): the
//! identities a listener presents, how a replicator decides to trust one,
//! and how a listener checks client certificates.

/// The handshake-signature methods shared by every verifier here, checked
/// with the verifier's `algorithms` field, so a peer must hold the key of
/// the certificate it presents.
macro_rules! handshake_signatures_via_algorithms {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &rustls_pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls_pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
}

mod client_certs;
mod identity;
mod keystore;
mod trust;

pub use client_certs::ClientCertificates;
pub use identity::{fingerprint, TlsIdentity};
pub use keystore::{check_label, decode_stored_identity, FileKeyStore, KeyStore, StoredIdentity};
pub use trust::ServerTrust;

pub(crate) use client_certs::server_config;
pub(crate) use trust::client_config;

use std::sync::Arc;

use rustls::crypto::CryptoProvider;

use crate::error::{Error, InvalidInput};

/// The one crypto provider used everywhere.
pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A rustls configuration error, which only a bad certificate or key given
/// by the caller can cause.
pub(crate) fn config_error(e: rustls::Error) -> Error {
    InvalidInput::BadConfig(format!("TLS configuration: {e}")).into()
}
