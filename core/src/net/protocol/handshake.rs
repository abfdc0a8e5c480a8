//! The versioned handshake: the client's `hello` names the protocol
//! versions it speaks, its database UUID and features; the listener
//! answers with the version chosen and what it serves, or an error with
//! code `protocol_version`.

use serde::{Deserialize, Serialize};

use super::codes::WireError;

/// The protocol version this build speaks best.
pub const PROTOCOL_VERSION: u32 = 1;
/// The oldest version this build still speaks.
pub const MIN_PROTOCOL_VERSION: u32 = 1;
/// Blob transfer: `missing_blobs`, `read_blob`, `blob_receive_offset` and
/// `append_blob`. A peer without it still syncs documents that name no
/// blob; documents naming blobs wait for a peer that has it.
pub const BLOBS_FEATURE: &str = "blobs";
/// Blob chunks as raw bytes in binary frames (`read_blob` with
/// `binary`, `append_blob` without `data`), not base64 in text frames. A
/// peer without it gets base64.
pub const BLOB_BINARY_FEATURE: &str = "blob_binary";
/// Revisions whose ids are foreign (stored from CouchDB or PouchDB, so not
/// our hash of their content) cross marked `foreign` and are stored
/// unverified. A peer without it is never sent them: a listener leaves
/// them out of its `fetch` replies, a client leaves them out of its
/// `insert`s (see docs/PROTOCOL.md).
pub const FOREIGN_REVISIONS_FEATURE: &str = "foreign_revisions";
/// Compressed frames: a message of at least
/// [`COMPRESS_MIN_BYTES`](super::COMPRESS_MIN_BYTES) may go as raw
/// DEFLATE behind the tag [`COMPRESSED_FRAME_TAG`](super::COMPRESSED_FRAME_TAG).
/// A peer without it gets every frame as it is.
pub const DEFLATE_FEATURE: &str = "deflate";
/// Delta sync: `revs_diff` replies name the delta bases the answerer
/// holds (`ancestors`), `fetch` requests may name them (`bases`), and a
/// revision may cross as a delta from one (`delta_from`). A listener
/// offers it only when its `ListenerConfig::delta_sync` allows; a
/// replicator uses it only when its `ReplicatorConfig::delta_sync` does.
pub const DELTA_SYNC_FEATURE: &str = "delta_sync";
/// Optional capabilities this build offers (none are required).
pub const FEATURES: &[&str] = &[
    "long_poll",
    BLOBS_FEATURE,
    BLOB_BINARY_FEATURE,
    FOREIGN_REVISIONS_FEATURE,
    DEFLATE_FEATURE,
    DELTA_SYNC_FEATURE,
];

/// The client's opening request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Hello {
    /// Newest version the client speaks.
    pub protocol: u32,
    /// Oldest version the client speaks.
    pub min_protocol: u32,
    /// The client's database UUID.
    pub uuid: String,
    /// Optional capabilities the client offers.
    #[serde(default)]
    pub features: Vec<String>,
}

/// The listener's answer to [`Hello`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HelloAck {
    /// The version both will speak.
    pub protocol: u32,
    /// The listener's database UUID.
    pub uuid: String,
    /// Capabilities both offer.
    #[serde(default)]
    pub features: Vec<String>,
    /// Whether the listener refuses pushes.
    #[serde(default)]
    pub read_only: bool,
    /// Collections the listener serves.
    pub collections: Vec<String>,
}

impl Hello {
    /// This build's hello.
    pub fn new(uuid: String) -> Hello {
        Hello {
            protocol: PROTOCOL_VERSION,
            min_protocol: MIN_PROTOCOL_VERSION,
            uuid,
            features: FEATURES.iter().map(|f| (*f).to_owned()).collect(),
        }
    }
}

/// The version to speak with a client's `hello`: the highest both know.
///
/// # Errors
/// A `protocol_version` [`WireError`] when the ranges do not overlap.
///
/// # Examples
/// ```
/// use outpost_core::net::protocol::{negotiate, Hello};
/// let mut hello = Hello::new("uuid".into());
/// assert_eq!(negotiate(&hello).unwrap(), 1);
/// hello.protocol = 9;
/// hello.min_protocol = 9;
/// assert_eq!(negotiate(&hello).unwrap_err().code, "protocol_version");
/// ```
pub fn negotiate(hello: &Hello) -> Result<u32, WireError> {
    let chosen = hello.protocol.min(PROTOCOL_VERSION);
    if hello.min_protocol > hello.protocol || chosen < hello.min_protocol.max(MIN_PROTOCOL_VERSION) {
        return Err(WireError::protocol_version(hello.protocol));
    }
    Ok(chosen)
}

/// The features offered by both a peer (`theirs`) and this build.
pub fn common_features(theirs: &[String]) -> Vec<String> {
    theirs
        .iter()
        .filter(|f| FEATURES.contains(&f.as_str()))
        .cloned()
        .collect()
}
