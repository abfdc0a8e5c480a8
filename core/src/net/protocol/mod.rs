//! The wire protocol, free of I/O: message types, the frame codec (and
//! its binary form for blob chunks, and compressed frames), the
//! handshake and the error codes. docs/PROTOCOL.md specifies it; the
//! connection module moves these frames over a WebSocket.

mod binary;
mod codec;
mod codes;
mod compress;
mod handshake;
mod limits;
mod message;

pub use binary::{binary_prefix, decode_message, encode_binary, BINARY_FRAME_TAG, BINARY_PREFIX_BYTES};
pub use codec::{decode_frame, encode_reply, encode_request, Frame, ProtocolError};
pub(crate) use codes::{cut_to, limit_exceeded};
pub use codes::{error_from_wire, error_to_wire, WireError, DOC_LIMIT, LIMIT_EXCEEDED};
pub use compress::{compress_message, inflate_message, is_compressed, COMPRESSED_FRAME_TAG, COMPRESS_MIN_BYTES};
pub use handshake::{
    common_features, negotiate, Hello, HelloAck, BLOBS_FEATURE, BLOB_BINARY_FEATURE, DEFLATE_FEATURE,
    DELTA_SYNC_FEATURE, FEATURES, FOREIGN_REVISIONS_FEATURE, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION,
};
pub use limits::{reply_bytes, serving_bytes, FetchLimits};
pub use message::{
    blob_from_wire, blob_to_wire, decode_chunk, encode_chunk, encoded_len, Request, WireBinaryChunk, WireBlob,
    WireBlobChunk, WireChange, WireChanges, WireDocRevs, WireFetched, WireInsertResult, WireInserted, WireMissing,
    WireRevision,
};
