//! Error codes on the wire, and the one place where errors are mapped to
//! and from them. The receiving replicator sorts them into transient
//! (`unavailable`, `internal`: back off and retry) and permanent (the rest).

use serde::{Deserialize, Serialize};

use super::handshake::PROTOCOL_VERSION;
use crate::error::{BlobError, Error, InvalidInput, ReplicationError};
use crate::tuning::MAX_WIRE_ERROR_MESSAGE_BYTES;

/// An error as sent in a reply's `err`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WireError {
    /// One of the codes of docs/PROTOCOL.md.
    pub code: String,
    /// A human-readable explanation (never contains secrets).
    pub message: String,
    /// With `protocol_version`: the newest version the sender speaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<u32>,
}

/// The request is malformed or not allowed in this state (permanent).
pub const BAD_REQUEST: &str = "bad_request";
/// No common protocol version (permanent).
pub const PROTOCOL_VERSION_CODE: &str = "protocol_version";
/// Credentials refused (permanent).
pub const UNAUTHORIZED: &str = "unauthorized";
/// The listener is read-only and the request would write (permanent).
pub const READ_ONLY: &str = "read_only";
/// The collection is not served by this listener (permanent).
pub const NOT_SERVED: &str = "not_served";
/// A document was refused as invalid (per document, permanent).
pub const INVALID_INPUT: &str = "invalid_input";
/// The listener is stopping or busy (transient).
pub const UNAVAILABLE: &str = "unavailable";
/// The listener failed to do it, e.g. a storage error (transient).
pub const INTERNAL: &str = "internal";
/// A per-peer quota of the listener is used up, e.g. its checkpoints
/// (permanent for that request; the connection goes on).
pub const LIMIT_EXCEEDED: &str = "limit_exceeded";

/// A blob is not there, or not readable by this peer (per document).
pub const BLOB_MISSING: &str = "blob_missing";
/// Blob bytes that do not match their digest or length (per document).
pub const BLOB_MISMATCH: &str = "blob_mismatch";
/// A blob chunk at the wrong offset (per document; ask for the offset again).
pub const BLOB_BAD_OFFSET: &str = "blob_bad_offset";
/// A blob past the size limit (per document).
pub const BLOB_TOO_LARGE: &str = "blob_too_large";
/// A revision sent as a delta that could not be rebuilt or does not match
/// its id (per document; the sender sends the full body instead).
pub const DELTA_MISMATCH: &str = "delta_mismatch";
/// A revision that would take its document past a bound that resolving
/// the document's conflicts lowers: its live leaves or its stored bytes
/// (per document; the sender offers it again once there is room).
pub const DOC_LIMIT: &str = "doc_limit";

impl WireError {
    fn new(code: &str, message: impl Into<String>) -> Self {
        WireError {
            code: code.to_owned(),
            message: message.into(),
            protocol: None,
        }
    }

    /// A malformed or out-of-place request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(BAD_REQUEST, message)
    }

    /// No common version with a peer that speaks up to `theirs`.
    pub fn protocol_version(theirs: u32) -> Self {
        WireError {
            protocol: Some(PROTOCOL_VERSION),
            ..Self::new(
                PROTOCOL_VERSION_CODE,
                format!("this listener speaks protocol version {PROTOCOL_VERSION}, the client {theirs}"),
            )
        }
    }
}

/// The error for a request past a per-peer limit of this listener: sent
/// as [`LIMIT_EXCEEDED`], for that request only.
pub(crate) fn limit_exceeded(message: String) -> Error {
    ReplicationError::Refused {
        code: LIMIT_EXCEEDED.into(),
        message,
    }
    .into()
}

/// The wire form of an error raised while serving a request.
pub fn error_to_wire(e: &Error) -> WireError {
    let code = match e {
        Error::Blob(b) => match b {
            BlobError::Missing { .. } | BlobError::NotSupported => BLOB_MISSING,
            BlobError::DigestMismatch { .. } | BlobError::LengthMismatch { .. } => BLOB_MISMATCH,
            BlobError::BadOffset { .. } => BLOB_BAD_OFFSET,
            BlobError::TooLarge { .. } => BLOB_TOO_LARGE,
            BlobError::Io(_) => INTERNAL,
        },
        Error::InvalidInput(InvalidInput::BadDelta(_)) => DELTA_MISMATCH,
        Error::InvalidInput(InvalidInput::TooManyLeaves { .. } | InvalidInput::TreeTooLarge { .. }) => DOC_LIMIT,
        Error::InvalidInput(_) | Error::NotFound { .. } | Error::Conflict { .. } => INVALID_INPUT,
        Error::CollectionNotFound(_) | Error::Replication(ReplicationError::NotServed(_)) => NOT_SERVED,
        Error::Replication(ReplicationError::ReadOnly) => READ_ONLY,
        Error::Replication(ReplicationError::IncompatibleProtocol { theirs, .. }) => {
            return WireError::protocol_version(*theirs)
        }
        Error::Replication(ReplicationError::Unauthorized(_)) => UNAUTHORIZED,
        Error::Replication(ReplicationError::PeerMisbehaved(_)) => BAD_REQUEST,
        Error::Replication(ReplicationError::Refused { code, message }) => {
            return WireError::new(code, wire_message(message))
        }
        Error::Closed | Error::Replication(_) | Error::Network(_) => UNAVAILABLE,
        e if e.is_transient() => UNAVAILABLE,
        _ => INTERNAL,
    };
    // Storage errors say what failed, not the data; no secret reaches here.
    WireError::new(code, wire_message(&e.to_string()))
}

/// An error message as sent: it may echo a peer's strings, so it is cut to
/// [`MAX_WIRE_ERROR_MESSAGE_BYTES`] and its control characters blanked,
/// which keeps an error reply small and a log line one line.
fn wire_message(message: &str) -> String {
    cut_to(message, MAX_WIRE_ERROR_MESSAGE_BYTES)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary.
pub(crate) fn cut_to(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The error a peer's [`WireError`] means on this side.
pub fn error_from_wire(w: WireError) -> Error {
    if let Some(blob) = blob_error_from_wire(&w) {
        return blob.into();
    }
    let r = match w.code.as_str() {
        NOT_SERVED => ReplicationError::NotServed(w.message),
        READ_ONLY => ReplicationError::ReadOnly,
        PROTOCOL_VERSION_CODE => ReplicationError::IncompatibleProtocol {
            ours: PROTOCOL_VERSION,
            theirs: w.protocol.unwrap_or(0),
        },
        UNAUTHORIZED => ReplicationError::Unauthorized(w.message),
        BAD_REQUEST => {
            ReplicationError::PeerMisbehaved(format!("the peer refused a request as malformed: {}", w.message))
        }
        UNAVAILABLE | INTERNAL => ReplicationError::Unreachable(format!("the peer could not serve: {}", w.message)),
        DELTA_MISMATCH => return InvalidInput::BadDelta(w.message).into(),
        _ => ReplicationError::Refused {
            code: w.code,
            message: w.message,
        },
    };
    r.into()
}

/// A blob error from its code; the digests and numbers are read back from
/// the message (our own `Display` text), for the report only.
fn blob_error_from_wire(w: &WireError) -> Option<BlobError> {
    let words: Vec<&str> = w
        .message
        .split_whitespace()
        .map(|word| word.trim_end_matches([')', ',', ';', '.']))
        .collect();
    let mut digests = words
        .iter()
        .filter(|word| word.starts_with("sha256-"))
        .map(|d| (*d).to_owned());
    let mut numbers = words.iter().filter_map(|word| word.parse::<u64>().ok());
    let mut digest = || digests.next().unwrap_or_else(|| "(unnamed)".to_owned());
    Some(match w.code.as_str() {
        BLOB_MISSING => BlobError::Missing { digest: digest() },
        BLOB_MISMATCH if w.message.contains("hash to") => BlobError::DigestMismatch {
            expected: digest(),
            actual: digest(),
        },
        BLOB_MISMATCH => BlobError::LengthMismatch {
            digest: digest(),
            expected: numbers.next().unwrap_or(0),
            actual_at_least: numbers.next().unwrap_or(0),
        },
        BLOB_BAD_OFFSET => BlobError::BadOffset {
            digest: digest(),
            offset: numbers.next().unwrap_or(0),
            held: numbers.next().unwrap_or(0),
        },
        BLOB_TOO_LARGE => BlobError::TooLarge {
            limit: numbers.next().unwrap_or(0),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_errors_cross_the_wire_as_blob_errors() {
        let errors = [
            BlobError::Missing {
                digest: "sha256-AAAA".into(),
            },
            BlobError::DigestMismatch {
                expected: "sha256-AAAA".into(),
                actual: "sha256-BB+/=".into(),
            },
            BlobError::LengthMismatch {
                digest: "sha256-AAAA".into(),
                expected: 10,
                actual_at_least: 12,
            },
            BlobError::BadOffset {
                digest: "sha256-AAAA".into(),
                offset: 5,
                held: 3,
            },
            BlobError::TooLarge { limit: 99 },
        ];
        for e in errors {
            let back = error_from_wire(error_to_wire(&Error::Blob(e.clone())));
            assert!(
                matches!(&back, Error::Blob(b) if *b == e),
                "{e:?} came back as {back:?}"
            );
        }
    }
}
