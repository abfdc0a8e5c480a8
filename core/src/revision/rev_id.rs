//! `RevId`: a revision id of the form `GENERATION-HASH`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::InvalidInput;
use crate::tuning::{MAX_REV_GENERATION, MAX_REV_HASH_CHARS};

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
/// let first = RevId::compute(None, false, r#"{"name":"Amina"}"#, &[]).unwrap();
/// let second = RevId::compute(Some(&first), false, r#"{"name":"Amina K."}"#, &[]).unwrap();
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
    ///
    /// # Errors
    /// [`InvalidInput::GenerationLimit`] if the child would pass
    /// [`MAX_REV_GENERATION`], or reach it without being a deletion: the
    /// last generation is kept for tombstones, so that a document can
    /// always be deleted.
    pub fn compute(
        parent: Option<&RevId>,
        deleted: bool,
        canonical_body: &str,
        attachment_digests: &[&str],
    ) -> Result<RevId, InvalidInput> {
        RevId::compute_variant(parent, deleted, canonical_body, attachment_digests, 0)
    }

    /// The id Outpost gives a revision of this content: [`RevId::compute`]
    /// with, as attachment digests, the distinct digests of the blobs the
    /// body names (`sha256-...` text), in ascending byte order.
    ///
    /// # Errors
    /// As [`RevId::compute`].
    pub fn for_body(parent: Option<&RevId>, deleted: bool, canonical_body: &str) -> Result<RevId, InvalidInput> {
        let digests = crate::blob::reference::rev_digests(canonical_body);
        let digests: Vec<&str> = digests.iter().map(String::as_str).collect();
        RevId::compute(parent, deleted, canonical_body, &digests)
    }

    /// Like [`RevId::compute`], numbered: variant 0 is the plain id, and
    /// variant `n > 0` hashes `n` in and ends the hash with `x{n}`, so a
    /// receiver can check it without guessing `n`. A local edit whose plain
    /// id already names a revision of the tree (one a peer planted with
    /// other content) takes the first free variant instead of aliasing it.
    ///
    /// # Errors
    /// [`InvalidInput::GenerationLimit`] as for [`RevId::compute`].
    pub fn compute_variant(
        parent: Option<&RevId>,
        deleted: bool,
        canonical_body: &str,
        attachment_digests: &[&str],
        variant: u32,
    ) -> Result<RevId, InvalidInput> {
        // The last generation is kept for tombstones, so that a document a
        // peer pushed to the cap can still be deleted.
        let limit = if deleted {
            MAX_REV_GENERATION
        } else {
            MAX_REV_GENERATION - 1
        };
        let generation = match parent {
            None => 1,
            Some(p) => p
                .generation
                .checked_add(1)
                .filter(|g| *g <= limit)
                .ok_or(InvalidInput::GenerationLimit {
                    generation: p.generation.saturating_add(1),
                    limit,
                })?,
        };
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
        if variant > 0 {
            h.update(b"\0variant\0");
            h.update(variant.to_be_bytes());
        }
        let digest = h.finalize();
        let mut hash = hex::encode(&digest[..16]);
        if variant > 0 {
            hash.push_str(&format!("x{variant}"));
        }
        Ok(RevId {
            generation,
            hash: hash.into_boxed_str(),
        })
    }

    /// Whether this id is the one [`RevId::compute_variant`] gives for this
    /// parent and content (with the variant its hash names, if any). The
    /// attachment digests are those of the blobs the body names (see
    /// [`RevId::for_body`]).
    pub fn matches_content(&self, parent: Option<&RevId>, deleted: bool, canonical_body: &str) -> bool {
        let variant = match self.hash.split_once('x') {
            None => 0,
            Some((_, n)) => match n.parse::<u32>() {
                Ok(v) if v > 0 && v.to_string() == n => v,
                _ => return false,
            },
        };
        let digests = crate::blob::reference::rev_digests(canonical_body);
        let digests: Vec<&str> = digests.iter().map(String::as_str).collect();
        RevId::compute_variant(parent, deleted, canonical_body, &digests, variant).is_ok_and(|id| &id == self)
    }

    /// Builds a revision id from its parts, checking them.
    ///
    /// # Errors
    /// [`InvalidInput::BadRevId`] if the generation is 0 or past
    /// [`MAX_REV_GENERATION`], or the hash is empty, too long or not
    /// alphanumeric.
    pub fn new(generation: u64, hash: &str) -> Result<RevId, InvalidInput> {
        let ok = generation > 0
            && generation <= MAX_REV_GENERATION
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
        // No sign, no leading zero: a revision id that parses prints back
        // as the same string.
        if generation.is_empty()
            || generation.len() > 19
            || generation.starts_with('0')
            || !generation.bytes().all(|b| b.is_ascii_digit())
        {
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
            "01-a",
            "00-a",
            "9007199254740992-a",
        ] {
            assert!(bad.parse::<RevId>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn compute_depends_on_every_input() {
        let c = |p: Option<&RevId>, d: bool, b: &str, a: &[&str]| RevId::compute(p, d, b, a).unwrap();
        let p = c(None, false, "{}", &[]);
        let base = c(Some(&p), false, r#"{"a":1}"#, &[]);
        assert_eq!(base, c(Some(&p), false, r#"{"a":1}"#, &[]));
        assert_ne!(base, c(None, false, r#"{"a":1}"#, &[]));
        assert_ne!(base, c(Some(&p), true, r#"{"a":1}"#, &[]));
        assert_ne!(base, c(Some(&p), false, r#"{"a":2}"#, &[]));
        assert_ne!(base, c(Some(&p), false, r#"{"a":1}"#, &["sha256-x"]));
        assert_eq!(base.hash().len(), 32);
        assert!(base.matches_content(Some(&p), false, r#"{"a":1}"#));
        assert!(!base.matches_content(Some(&p), true, r#"{"a":1}"#));
        let second = RevId::compute_variant(Some(&p), false, r#"{"a":1}"#, &[], 2).unwrap();
        assert!(second.hash().ends_with("x2"));
        assert!(second.matches_content(Some(&p), false, r#"{"a":1}"#));
        assert!(!second.matches_content(Some(&p), false, r#"{"a":2}"#));
    }

    #[test]
    fn generations_stop_at_the_cap_and_print_back() {
        let top = RevId::new(MAX_REV_GENERATION, "a").unwrap();
        assert!(matches!(
            RevId::compute(Some(&top), false, "{}", &[]),
            Err(InvalidInput::GenerationLimit { .. })
        ));
        assert!(RevId::new(MAX_REV_GENERATION + 1, "a").is_err());
        // The last generation is a tombstone's: a live child stops one short.
        let below = RevId::new(MAX_REV_GENERATION - 1, "a").unwrap();
        assert!(RevId::compute(Some(&below), false, "{}", &[]).is_err());
        let deletion = RevId::compute(Some(&below), true, "{}", &[]).unwrap();
        assert_eq!(deletion.generation(), MAX_REV_GENERATION);
        for text in ["1-a", "10-b", "9007199254740991-c"] {
            assert_eq!(text.parse::<RevId>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn orders_by_generation_as_integer() {
        let a: RevId = "9-z".parse().unwrap();
        let b: RevId = "10-a".parse().unwrap();
        assert!(a < b);
    }
}
