//! `RevId`: a revision id of the form `GENERATION-HASH`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::InvalidInput;
use crate::tuning::MAX_REV_HASH_CHARS;

/// A revision id, `GENERATION-HASH` (for example `3-a9f0c2...`).
///
/// Ids made by Outpost are deterministic: the hash covers the parent
/// revision, the deleted flag, the canonical body and the attachment digests,
/// so the same edit made on two peers yields the same revision.
///
/// Revision ids order like CouchDB's: by generation as an integer, then by
/// hash as a string.
///
/// # Examples
/// ```
/// use outpost_core::RevId;
/// let first = RevId::compute(None, false, r#"{"name":"Amina"}"#, &[]);
/// let second = RevId::compute(Some(&first), false, r#"{"name":"Amina K."}"#, &[]);
/// assert_eq!(first.generation(), 1);
/// assert_eq!(second.generation(), 2);
/// assert_eq!(second.to_string().parse::<RevId>().unwrap(), second);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RevId {
    generation: u64,
    hash: Box<str>,
}

impl RevId {
    /// The deterministic id of a revision with this parent and content.
    pub fn compute(parent: Option<&RevId>, deleted: bool, canonical_body: &str, attachment_digests: &[&str]) -> RevId {
        let mut h = Sha256::new();
        h.update(b"outpost-rev-v1\0");
        if let Some(p) = parent {
            h.update(p.to_string().as_bytes());
        }
        h.update([0, u8::from(deleted), 0]);
        for digest in attachment_digests {
            h.update(digest.as_bytes());
            h.update([0]);
        }
        h.update([0]);
        h.update(canonical_body.as_bytes());
        let digest = h.finalize();
        RevId {
            generation: parent.map_or(1, |p| p.generation + 1),
            hash: hex::encode(&digest[..16]).into_boxed_str(),
        }
    }

    /// Builds a revision id from its parts, checking them.
    ///
    /// # Errors
    /// [`InvalidInput::BadRevId`] if the generation is 0 or the hash is empty,
    /// too long or not alphanumeric.
    pub fn new(generation: u64, hash: &str) -> Result<RevId, InvalidInput> {
        let ok = generation > 0
            && !hash.is_empty()
            && hash.len() <= MAX_REV_HASH_CHARS
            && hash.bytes().all(|b| b.is_ascii_alphanumeric());
        if !ok {
            return Err(InvalidInput::BadRevId(format!("{generation}-{hash}")));
        }
        Ok(RevId {
            generation,
            hash: hash.into(),
        })
    }

    /// The generation: 1 for a first revision, parent's + 1 after.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The hash part.
    pub fn hash(&self) -> &str {
        &self.hash
    }
}

impl FromStr for RevId {
    type Err = InvalidInput;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidInput::BadRevId(s.chars().take(100).collect());
        let (generation, hash) = s.split_once('-').ok_or_else(bad)?;
        if generation.is_empty() || generation.len() > 19 || !generation.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let generation: u64 = generation.parse().map_err(|_| bad())?;
        RevId::new(generation, hash).map_err(|_| bad())
    }
}

impl fmt::Display for RevId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.generation, self.hash)
    }
}

impl fmt::Debug for RevId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RevId({self})")
    }
}

impl Ord for RevId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.generation
            .cmp(&other.generation)
            .then_with(|| self.hash.cmp(&other.hash))
    }
}

impl PartialOrd for RevId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let r: RevId = "12-abc123".parse().unwrap();
        assert_eq!((r.generation(), r.hash()), (12, "abc123"));
        for bad in [
            "",
            "1",
            "-a",
            "0-a",
            "a-b",
            "1-",
            "1-a b",
            "+1-a",
            "99999999999999999999-a",
            "1-é",
        ] {
            assert!(bad.parse::<RevId>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn compute_depends_on_every_input() {
        let p = RevId::compute(None, false, "{}", &[]);
        let base = RevId::compute(Some(&p), false, r#"{"a":1}"#, &[]);
        assert_eq!(base, RevId::compute(Some(&p), false, r#"{"a":1}"#, &[]));
        assert_ne!(base, RevId::compute(None, false, r#"{"a":1}"#, &[]));
        assert_ne!(base, RevId::compute(Some(&p), true, r#"{"a":1}"#, &[]));
        assert_ne!(base, RevId::compute(Some(&p), false, r#"{"a":2}"#, &[]));
        assert_ne!(base, RevId::compute(Some(&p), false, r#"{"a":1}"#, &["sha256-x"]));
        assert_eq!(base.hash().len(), 32);
    }

    #[test]
    fn orders_by_generation_as_integer() {
        let a: RevId = "9-z".parse().unwrap();
        let b: RevId = "10-a".parse().unwrap();
        assert!(a < b);
    }
}
