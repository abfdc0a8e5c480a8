//! `BlobDigest`: the SHA-256 digest that names a blob, written
//! `sha256-<base64>` (standard alphabet, padded) like CouchDB's and
//! Couchbase Lite's digests, and as lowercase hex for file names.

use std::fmt;
use std::str::FromStr;

use base64::Engine;

use crate::error::InvalidInput;

/// The prefix of a digest's text form.
const PREFIX: &str = "sha256-";

/// The SHA-256 digest of a blob's bytes.
///
/// # Examples
/// ```
/// use outpost_core::BlobDigest;
/// let d = BlobDigest::of_bytes(b"photo");
/// let text = d.to_string();
/// assert!(text.starts_with("sha256-"));
/// assert_eq!(text.parse::<BlobDigest>().unwrap(), d);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobDigest([u8; 32]);

impl BlobDigest {
    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> BlobDigest {
        BlobDigest(bytes)
    }

    /// The digest of `bytes` (for small data and tests; the store hashes
    /// while it streams).
    pub fn of_bytes(bytes: &[u8]) -> BlobDigest {
        use sha2::Digest;
        BlobDigest(sha2::Sha256::digest(bytes).into())
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The lowercase hex form: the blob's file name in the store.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses the hex form (a file name of the store).
    pub(crate) fn from_hex(text: &str) -> Option<BlobDigest> {
        if text.len() != 64 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let bytes: [u8; 32] = hex::decode(text).ok()?.try_into().ok()?;
        Some(BlobDigest(bytes))
    }
}

impl FromStr for BlobDigest {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidInput::BadBlob(format!("{:?} is not a digest (expected sha256-<base64>)", short(s)));
        let encoded = s.strip_prefix(PREFIX).ok_or_else(bad)?;
        if encoded.len() != 44 {
            return Err(bad());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| bad())?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        let digest = BlobDigest(bytes);
        // One text per digest, so the revision id (which hashes the text) is
        // the same on every peer.
        if digest.to_string() != s {
            return Err(bad());
        }
        Ok(digest)
    }
}

fn short(s: &str) -> String {
    s.chars().take(100).collect()
}

impl fmt::Display for BlobDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD.encode(self.0)
        )
    }
}

impl fmt::Debug for BlobDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobDigest({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_hex_round_trip_and_refuse_variants() {
        let d = BlobDigest::of_bytes(b"x");
        assert_eq!(d.to_string().parse::<BlobDigest>().unwrap(), d);
        assert_eq!(BlobDigest::from_hex(&d.to_hex()), Some(d));
        let text = d.to_string();
        for bad in [
            "".to_owned(),
            text.replace("sha256-", "sha1-"),
            text.replace('=', ""),
            format!("{text}="),
            text.to_uppercase(),
        ] {
            assert!(bad.parse::<BlobDigest>().is_err(), "{bad} accepted");
        }
        assert_eq!(BlobDigest::from_hex(&d.to_hex().to_uppercase()), None);
    }
}
