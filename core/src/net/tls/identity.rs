//! `TlsIdentity`: a certificate chain and its private key, generated
//! (self-signed, with rcgen) or loaded; and SHA-256 certificate
//! fingerprints, which peers pin.

use std::fmt;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{InvalidInput, Result};

/// A certificate chain (leaf first) and its private key.
///
/// `Debug` shows the fingerprint only; the key never appears in logs.
///
/// # Examples
/// ```
/// use outpost_core::net::TlsIdentity;
/// let identity = TlsIdentity::generate_self_signed(&["camp-hub.local".to_owned()]).unwrap();
/// assert!(identity.fingerprint().starts_with("sha256:"));
/// assert!(!format!("{identity:?}").contains("PRIVATE"));
/// ```
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> Self {
        TlsIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &self.fingerprint())
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// A new anonymous self-signed identity (ECDSA P-256) valid for the
    /// given host names or IP addresses (`localhost` and `127.0.0.1` are
    /// always included).
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] if a name is not a valid DNS name or IP.
    pub fn generate_self_signed(names: &[String]) -> Result<TlsIdentity> {
        let mut all = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        all.extend(names.iter().filter(|n| !all.contains(n)).cloned().collect::<Vec<_>>());
        let certified = rcgen::generate_simple_self_signed(all)
            .map_err(|e| InvalidInput::BadConfig(format!("cannot generate a TLS identity: {e}")))?;
        Ok(TlsIdentity {
            chain: vec![certified.cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()).into(),
        })
    }

    /// An identity from DER: the chain (leaf first) and a PKCS#8, PKCS#1 or
    /// SEC1 private key.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for an empty chain or an unrecognised key.
    pub fn from_der(chain: Vec<Vec<u8>>, key: Vec<u8>) -> Result<TlsIdentity> {
        if chain.is_empty() {
            return Err(InvalidInput::BadConfig("a TLS identity needs at least one certificate".into()).into());
        }
        let key = PrivateKeyDer::try_from(key)
            .map_err(|e| InvalidInput::BadConfig(format!("unrecognised private key: {e}")))?;
        Ok(TlsIdentity {
            chain: chain.into_iter().map(CertificateDer::from).collect(),
            key,
        })
    }

    /// An identity from PEM text: certificates (leaf first) and a key.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] if either cannot be parsed.
    pub fn from_pem(certificates: &str, key: &str) -> Result<TlsIdentity> {
        let bad = |what: &str, e: rustls_pki_types::pem::Error| InvalidInput::BadConfig(format!("{what}: {e}"));
        let chain = CertificateDer::pem_slice_iter(certificates.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad("bad certificate PEM", e))?;
        if chain.is_empty() {
            return Err(InvalidInput::BadConfig("no certificate found in the PEM text".into()).into());
        }
        let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| bad("bad private key PEM", e))?;
        Ok(TlsIdentity { chain, key })
    }

    /// The certificate chain in DER, leaf first.
    pub fn certificate_chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf certificate in DER.
    pub fn certificate(&self) -> &[u8] {
        &self.chain[0]
    }

    /// The private key in DER (for saving to a key store only).
    pub fn private_key_der(&self) -> &[u8] {
        self.key.secret_der()
    }

    /// `sha256:` and the lowercase hex SHA-256 of the leaf certificate.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.certificate())
    }

    /// The identity as bytes for a key store: a versioned header, then the
    /// chain and the key in PEM. Holds the private key: keep it secret (the
    /// buffer is wiped when dropped).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut text = Zeroizing::new(String::from(SERIAL_HEADER));
        for cert in &self.chain {
            pem_block(&mut text, "CERTIFICATE", cert);
        }
        let label = match &self.key {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        pem_block(&mut text, label, self.key.secret_der());
        Zeroizing::new(text.as_bytes().to_vec())
    }

    /// An identity from [`TlsIdentity::to_bytes`].
    ///
    /// # Errors
    /// A description of what is wrong (without key material).
    pub fn from_bytes(bytes: &[u8]) -> std::result::Result<TlsIdentity, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
        let Some(pem) = text.strip_prefix(SERIAL_HEADER) else {
            return Err("unknown format or version".into());
        };
        let chain = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| format!("bad certificate: {e}"))?;
        if chain.is_empty() {
            return Err("no certificate".into());
        }
        let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("bad private key: {e}"))?;
        Ok(TlsIdentity { chain, key })
    }

    pub(crate) fn key(&self) -> PrivateKeyDer<'static> {
        self.key.clone_key()
    }
}

/// First line of [`TlsIdentity::to_bytes`]; the number is the format version.
const SERIAL_HEADER: &str = "outpost-identity 1\n";

fn pem_block(out: &mut String, label: &str, der: &[u8]) {
    use base64::Engine;
    let encoded = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    out.push_str(&format!("-----BEGIN {label}-----\n"));
    for line in encoded.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
}

/// `sha256:` and the lowercase hex SHA-256 of a DER certificate.
///
/// # Examples
/// ```
/// assert_eq!(outpost_core::net::fingerprint(b"").len(), "sha256:".len() + 64);
/// ```
pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// The 32 bytes of a fingerprint given as `sha256:HEX` or bare hex, with or
/// without colons, in either case.
pub(crate) fn parse_fingerprint(text: &str) -> Result<[u8; 32]> {
    let trimmed = text.trim();
    let hex_part = trimmed
        .strip_prefix("sha256:")
        .or_else(|| trimmed.strip_prefix("SHA256:"))
        .unwrap_or(trimmed)
        .replace(':', "");
    let mut out = [0u8; 32];
    hex::decode_to_slice(&hex_part, &mut out).map_err(|_| {
        InvalidInput::BadConfig(format!(
            "{text:?} is not a SHA-256 fingerprint (expected sha256: followed by 64 hex digits)"
        ))
    })?;
    Ok(out)
}

pub(crate) fn sha256(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}
