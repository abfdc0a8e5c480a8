//! Error codes on the wire, and the one place where errors are mapped to
//! and from them. The receiving replicator sorts them into transient
//! (`unavailable`, `internal`: back off and retry) and permanent (the rest).

use serde::{Deserialize, Serialize};

use super::handshake::PROTOCOL_VERSION;
use crate::error::{Error, ReplicationError};
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
        _ => ReplicationError::Refused {
            code: w.code,
            message: w.message,
        },
    };
    r.into()
}
