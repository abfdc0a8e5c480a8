//! TLS at the FFI boundary: [`TlsIdentity`] (what a listener or a
//! client-certificate replicator presents) and [`ServerTrust`] (which
//! listener certificates a replicator accepts).
//!
//! # Examples
//! ```
//! use outpost_ffi::TlsIdentity;
//! let identity = TlsIdentity::generate_self_signed(vec!["hub.local".into()]).unwrap();
//! assert!(identity.fingerprint().starts_with("sha256:"));
//! assert_eq!(outpost_ffi::certificate_fingerprint(identity.certificate()), identity.fingerprint());
//! ```

use std::sync::Arc;

use outpost_core::net::{self as core};
use outpost_core::InvalidInput;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;

use crate::error::Result;

/// A certificate and its private key. Opaque: the key never crosses the
/// FFI, and `toString`/`Debug` show only the fingerprint.
// Debug: the core type's, which shows no secret.
#[derive(Debug, uniffi::Object)]
pub struct TlsIdentity {
    pub(crate) inner: core::TlsIdentity,
}

#[uniffi::export]
impl TlsIdentity {
    /// A new self-signed identity (ECDSA P-256) valid for `names` (host
    /// names or IP addresses; `localhost` and `127.0.0.1` are always
    /// included).
    ///
    /// # Errors
    /// `InvalidInput` if a name is not a valid DNS name or IP address.
    #[uniffi::constructor]
    pub fn generate_self_signed(names: Vec<String>) -> Result<Arc<Self>> {
        Ok(Arc::new(TlsIdentity {
            inner: core::TlsIdentity::generate_self_signed(&names)?,
        }))
    }

    /// An identity from PEM text: the certificates (leaf first) and the
    /// private key (PKCS#8, PKCS#1 or SEC1).
    ///
    /// # Errors
    /// `InvalidInput` if either cannot be parsed.
    #[uniffi::constructor]
    pub fn from_pem(certificates: String, private_key: String) -> Result<Arc<Self>> {
        Ok(Arc::new(TlsIdentity {
            inner: core::TlsIdentity::from_pem(&certificates, &private_key)?,
        }))
    }

    /// `sha256:` and the lowercase hex SHA-256 of the certificate: what a
    /// peer pins.
    pub fn fingerprint(&self) -> String {
        self.inner.fingerprint()
    }

    /// The (leaf) certificate in DER, e.g. for [`ServerTrust::PinnedCertificate`].
    pub fn certificate(&self) -> Vec<u8> {
        self.inner.certificate().to_vec()
    }
}

/// `sha256:` and the lowercase hex SHA-256 of a DER certificate.
#[uniffi::export]
pub fn certificate_fingerprint(certificate: Vec<u8>) -> String {
    core::fingerprint(&certificate)
}

/// Which listener certificates a replicator accepts (`wss://` URLs only).
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum ServerTrust {
    /// Certificates issued for the URL's host by a public CA (built-in
    /// Mozilla roots, the same on every platform).
    SystemRoots,
    /// Certificates issued for the URL's host by one of these CA
    /// certificates (each DER, or PEM text as bytes), e.g. a camp's own CA.
    CaCertificates {
        /// The CA certificates.
        certificates: Vec<Vec<u8>>,
    },
    /// Exactly the certificate with this fingerprint (`sha256:HEX`, as
    /// shown by the listener), whatever its names or issuer.
    PinnedFingerprint {
        /// The fingerprint.
        fingerprint: String,
    },
    /// Exactly this certificate (DER).
    PinnedCertificate {
        /// The certificate.
        certificate: Vec<u8>,
    },
    /// Any self-signed certificate (a listener's generated identity), and
    /// nothing CA-issued. Stops passive eavesdroppers only; pin the
    /// fingerprint to stop an active attacker.
    SelfSignedOnly,
    /// Any certificate at all. Development only: an active attacker can read
    /// everything, and a warning is logged on every connection.
    InsecureAcceptAny,
}

impl TryFrom<ServerTrust> for core::ServerTrust {
    type Error = crate::error::OutpostError;

    fn try_from(trust: ServerTrust) -> Result<Self> {
        Ok(match trust {
            ServerTrust::SystemRoots => core::ServerTrust::SystemRoots,
            ServerTrust::CaCertificates { certificates } => core::ServerTrust::CaCertificates(
                certificates
                    .into_iter()
                    .map(der_or_pem)
                    .collect::<Result<Vec<_>>>()?
                    .concat(),
            ),
            ServerTrust::PinnedFingerprint { fingerprint } => core::ServerTrust::PinnedFingerprint(fingerprint),
            ServerTrust::PinnedCertificate { certificate } => core::ServerTrust::PinnedCertificate(certificate),
            ServerTrust::SelfSignedOnly => core::ServerTrust::SelfSignedOnly,
            ServerTrust::InsecureAcceptAny => core::ServerTrust::InsecureAcceptAny,
        })
    }
}

/// The DER certificates in `bytes`: PEM text (one or more certificates) or
/// one DER certificate as is.
fn der_or_pem(bytes: Vec<u8>) -> Result<Vec<Vec<u8>>> {
    if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Ok(vec![bytes]);
    }
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| outpost_core::Error::from(InvalidInput::BadConfig(format!("bad CA certificate PEM: {e}"))))?;
    if certificates.is_empty() {
        let none = InvalidInput::BadConfig("no certificate found in the CA certificate PEM".into());
        return Err(outpost_core::Error::from(none).into());
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn ca_certificates_accept_der_and_pem() {
        let identity = core::TlsIdentity::generate_self_signed(&[]).unwrap();
        let der = identity.certificate().to_vec();
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        assert_eq!(der_or_pem(der.clone()).unwrap(), vec![der.clone()]);
        assert_eq!(der_or_pem(pem.into_bytes()).unwrap(), vec![der]);
        assert!(der_or_pem(b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n".to_vec()).is_err());
    }
}
