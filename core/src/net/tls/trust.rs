//! `ServerTrust`: how a replicator decides to trust a listener's
//! certificate, and the rustls client configuration built from it.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::{CertificateError, ClientConfig, OtherError, RootCertStore};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::identity::{parse_fingerprint, sha256, TlsIdentity};
use super::{config_error, provider};
use crate::error::{InvalidInput, Result};

/// Which listener certificates a replicator accepts.
///
/// # Examples
/// ```
/// use outpost_core::net::ServerTrust;
/// // Trust exactly the listener whose fingerprint was shown on its screen.
/// let trust = ServerTrust::PinnedFingerprint("sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into());
/// # let _ = trust;
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum ServerTrust {
    /// Certificates issued for the URL's host by a public CA (Mozilla's
    /// root program, built in, so it behaves the same on every platform).
    #[default]
    SystemRoots,
    /// Certificates issued for the URL's host by one of these CA
    /// certificates (DER), e.g. a camp's own CA.
    CaCertificates(Vec<Vec<u8>>),
    /// Exactly the certificate with this SHA-256 fingerprint (`sha256:HEX`),
    /// whatever its names or issuer.
    PinnedFingerprint(String),
    /// Exactly this certificate (DER).
    PinnedCertificate(Vec<u8>),
    /// Any self-signed certificate (a listener's auto-generated identity),
    /// and nothing CA-issued. Protects against passive eavesdroppers only;
    /// pin the fingerprint to stop an active attacker.
    SelfSignedOnly,
    /// Any certificate at all. For development only: an active attacker can
    /// read everything. A warning is logged on every connection.
    InsecureAcceptAny,
}

impl fmt::Debug for ServerTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerTrust::SystemRoots => f.write_str("SystemRoots"),
            ServerTrust::CaCertificates(c) => write!(f, "CaCertificates({} certificates)", c.len()),
            ServerTrust::PinnedFingerprint(p) => write!(f, "PinnedFingerprint({p})"),
            ServerTrust::PinnedCertificate(c) => write!(f, "PinnedCertificate({})", super::fingerprint(c)),
            ServerTrust::SelfSignedOnly => f.write_str("SelfSignedOnly"),
            ServerTrust::InsecureAcceptAny => f.write_str("InsecureAcceptAny"),
        }
    }
}

/// Why a certificate was refused, carried inside rustls's error so the
/// replicator can report it precisely.
#[derive(Debug)]
pub(crate) struct Rejected(pub String);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rejected {}

fn rejected(why: String) -> rustls::Error {
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(Rejected(why)))))
}

/// The rustls client configuration for `trust`, presenting `identity` as a
/// client certificate if given.
pub(crate) fn client_config(trust: &ServerTrust, identity: Option<&TlsIdentity>) -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let algorithms = provider.signature_verification_algorithms;
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        ServerTrust::SystemRoots => {
            let roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| InvalidInput::BadConfig(format!("TLS roots: {e}")))?
        }
        ServerTrust::CaCertificates(cas) => {
            let mut roots = RootCertStore::empty();
            for ca in cas {
                roots.add(CertificateDer::from(ca.clone())).map_err(config_error)?;
            }
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| InvalidInput::BadConfig(format!("TLS roots: {e}")))?
        }
        ServerTrust::PinnedFingerprint(pin) => Arc::new(Verifier {
            rule: Rule::Pinned(parse_fingerprint(pin)?),
            algorithms,
        }),
        ServerTrust::PinnedCertificate(der) => Arc::new(Verifier {
            rule: Rule::Pinned(sha256(der)),
            algorithms,
        }),
        ServerTrust::SelfSignedOnly => Arc::new(Verifier {
            rule: Rule::SelfSigned,
            algorithms,
        }),
        ServerTrust::InsecureAcceptAny => Arc::new(Verifier {
            rule: Rule::Any,
            algorithms,
        }),
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(config_error)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match identity {
        Some(id) => builder
            .with_client_auth_cert(id.certificate_chain().to_vec(), id.key())
            .map_err(config_error)?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

#[derive(Debug)]
enum Rule {
    Pinned([u8; 32]),
    SelfSigned,
    Any,
}

/// The verifier for the trust modes webpki's name-and-CA check does not
/// cover. Handshake signatures are always verified, so the peer must hold
/// the certificate's private key.
#[derive(Debug)]
struct Verifier {
    rule: Rule,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match &self.rule {
            Rule::Pinned(pin) => {
                if &sha256(end_entity) == pin {
                    Ok(ServerCertVerified::assertion())
                } else {
                    Err(rejected(format!(
                        "pinned fingerprint mismatch: the listener presented {}",
                        super::fingerprint(end_entity)
                    )))
                }
            }
            Rule::SelfSigned => {
                // A self-signed certificate verifies with itself as the only
                // trust anchor; a CA-issued one does not. Its names are not
                // checked: peers are reached by changing local addresses.
                let mut roots = RootCertStore::empty();
                roots
                    .add(end_entity.clone().into_owned())
                    .map_err(|e| rejected(format!("unreadable certificate: {e}")))?;
                let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                    .build()
                    .map_err(|e| rejected(e.to_string()))?;
                match webpki.verify_server_cert(end_entity, &[], server_name, ocsp_response, now) {
                    Ok(v) => Ok(v),
                    Err(rustls::Error::InvalidCertificate(
                        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
                    )) => Ok(ServerCertVerified::assertion()),
                    Err(e) => Err(rejected(format!(
                        "the listener's certificate is not self-signed (only self-signed certificates are trusted): {e}"
                    ))),
                }
            }
            Rule::Any => {
                tracing::warn!(
                    fingerprint = %super::fingerprint(end_entity),
                    "accepting the listener's certificate WITHOUT checking it (InsecureAcceptAny): \
                     anyone on the network could be reading this replication"
                );
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    handshake_signatures_via_algorithms!();
}
