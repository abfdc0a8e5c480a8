//! `Sequence`: an opaque position in a source's changes feed.
//!
//! Outpost's own feeds count with integers; CouchDB 2 and 3 sequences are
//! opaque strings (`"12-g1AAAA..."`) and PouchDB's are integers again. The
//! replication engine never does arithmetic on a sequence: it passes the
//! last one a batch ended at back to the source, and saves it in the
//! checkpoint. So a sequence is either a number (our encoding, sent as a
//! JSON number so older peers keep working) or a short string from a peer,
//! bounded by [`MAX_PEER_SEQUENCE_BYTES`].

use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::{ReplicationError, Result};
use crate::tuning::MAX_PEER_SEQUENCE_BYTES;

/// A position in a changes feed: the feed is read "since" one.
///
/// # Examples
/// ```
/// use outpost_core::replication::Sequence;
/// let ours = Sequence::from(42);
/// assert_eq!(ours.as_number(), Some(42));
/// let couch = Sequence::from_peer_json(&serde_json::json!("12-g1AAAA")).unwrap();
/// assert_eq!(couch.to_string(), "12-g1AAAA");
/// assert!(Sequence::START.is_start());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sequence(Repr);

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Repr {
    Number(u64),
    Opaque(Box<str>),
}

impl Sequence {
    /// The start of every feed (`since=0`).
    pub const START: Sequence = Sequence(Repr::Number(0));

    /// The number, if this is one (Outpost's and PouchDB's feeds).
    pub fn as_number(&self) -> Option<u64> {
        match &self.0 {
            Repr::Number(n) => Some(*n),
            Repr::Opaque(_) => None,
        }
    }

    /// The number of an Outpost feed's sequence.
    ///
    /// # Errors
    /// [`ReplicationError::PeerMisbehaved`] for an opaque one: it came from
    /// another kind of source.
    pub(crate) fn own_number(&self) -> Result<u64> {
        self.as_number().ok_or_else(|| {
            ReplicationError::PeerMisbehaved(format!("{self:?} is not a sequence of an Outpost database")).into()
        })
    }

    /// Whether this is the start of the feed.
    pub fn is_start(&self) -> bool {
        matches!(self.0, Repr::Number(0))
    }

    /// A sequence as a peer sent it: a JSON number or a string of at most
    /// [`MAX_PEER_SEQUENCE_BYTES`]; a string of digits is read as a number.
    ///
    /// # Errors
    /// [`ReplicationError::PeerMisbehaved`] for anything else.
    pub fn from_peer_json(value: &Value) -> Result<Sequence> {
        match value {
            Value::Number(n) => n
                .as_u64()
                .map(Sequence::from)
                .ok_or_else(|| bad("a negative or fractional number")),
            Value::String(s) => Sequence::from_peer_str(s),
            _ => Err(bad("neither a number nor a string")),
        }
    }

    /// A sequence a peer sent as text (a number or an opaque string).
    ///
    /// # Errors
    /// [`ReplicationError::PeerMisbehaved`] if it is empty or longer than
    /// [`MAX_PEER_SEQUENCE_BYTES`].
    pub fn from_peer_str(text: &str) -> Result<Sequence> {
        if text.is_empty() {
            return Err(bad("an empty string"));
        }
        if text.len() > MAX_PEER_SEQUENCE_BYTES {
            return Err(bad(&format!(
                "{} bytes long (the limit is {MAX_PEER_SEQUENCE_BYTES})",
                text.len()
            )));
        }
        if let Ok(n) = text.parse::<u64>() {
            return Ok(Sequence(Repr::Number(n)));
        }
        Ok(Sequence(Repr::Opaque(text.into())))
    }

    /// The later of `self` and `other` when both are numbers; otherwise
    /// `other` (a peer's opaque sequences cannot be compared, and the feed
    /// only ever moves forward to what the source said).
    pub fn advanced_to(&self, other: Sequence) -> Sequence {
        match (&self.0, &other.0) {
            (Repr::Number(a), Repr::Number(b)) => Sequence(Repr::Number(*a.max(b))),
            _ => other,
        }
    }

    /// The JSON value: a number for numbers (what older peers read), a
    /// string otherwise.
    pub fn to_json(&self) -> Value {
        match &self.0 {
            Repr::Number(n) => Value::from(*n),
            Repr::Opaque(s) => Value::from(&**s),
        }
    }
}

impl Default for Sequence {
    fn default() -> Self {
        Sequence::START
    }
}

impl From<u64> for Sequence {
    fn from(n: u64) -> Self {
        Sequence(Repr::Number(n))
    }
}

impl fmt::Display for Sequence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Number(n) => write!(f, "{n}"),
            Repr::Opaque(s) => f.write_str(s),
        }
    }
}

impl Serialize for Sequence {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Number(n) => serializer.serialize_u64(*n),
            Repr::Opaque(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for Sequence {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Sequence::from_peer_json(&value).map_err(D::Error::custom)
    }
}

fn bad(what: &str) -> crate::error::Error {
    ReplicationError::PeerMisbehaved(format!("a changes sequence that is {what}")).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_numbers_and_strings_are_bounded() {
        let n: Sequence = serde_json::from_str("7").unwrap();
        assert_eq!(serde_json::to_string(&n).unwrap(), "7");
        let s: Sequence = serde_json::from_str(r#""3-abc""#).unwrap();
        assert_eq!(serde_json::to_string(&s).unwrap(), r#""3-abc""#);
        assert_eq!(Sequence::from_peer_str("12").unwrap(), Sequence::from(12));
        let long = "x".repeat(MAX_PEER_SEQUENCE_BYTES + 1);
        assert!(Sequence::from_peer_str(&long).is_err());
        assert!(Sequence::from_peer_json(&serde_json::json!(-1)).is_err());
        assert!(Sequence::from_peer_json(&serde_json::json!([1])).is_err());
        assert_eq!(Sequence::from(5).advanced_to(Sequence::from(3)), Sequence::from(5));
        assert_eq!(Sequence::from(5).advanced_to(s.clone()), s);
    }
}
