//! How many bytes serving a request may hold, known from the request alone
//! before it is served: the decoded request itself plus the largest reply
//! it can bring. A connection reserves this much of its byte budget before
//! it serves the request (see docs/PROTOCOL.md, "Limits").
//!
//! The bounds follow from the other limits: ids and revision ids have a
//! longest form, error messages are cut to [`MAX_WIRE_ERROR_MESSAGE_BYTES`]
//! without control characters, a fetch serves only as many revisions as
//! [`FetchLimits`] allows, an insert carries at most
//! [`MAX_INSERT_REVISIONS`], and what a reply echoes of the request (ids,
//! revision ids) is never longer than it was in the request's own JSON,
//! which escapes the same characters.

use super::binary::BINARY_PREFIX_BYTES;
use super::message::{encoded_len, Request};
use crate::tuning::{
    CHANGES_BATCH_SIZE, FETCH_BATCH_BYTES, FETCH_REPLY_METADATA_BYTES, MAX_BLOB_CHUNK_BYTES, MAX_BODY_BYTES,
    MAX_CHECKPOINT_BYTES, MAX_DOC_ID_BYTES, MAX_FETCH_HISTORY, MAX_INSERT_REVISIONS, MAX_REV_HASH_CHARS,
    MAX_WIRE_ERROR_MESSAGE_BYTES,
};

/// Longest JSON form of a revision id in a list: a 20-digit generation,
/// `-`, the longest hash, two quotes and a comma.
const REV_ID_JSON_BYTES: usize = 20 + 1 + MAX_REV_HASH_CHARS + 3;

/// Longest JSON form of a stored document id (no control characters, so
/// at most `"` and `\` double).
const STORED_ID_JSON_BYTES: usize = 2 * MAX_DOC_ID_BYTES + 2;

/// Field names, numbers and punctuation around one entry of a reply.
const ENTRY_FRAMING_BYTES: usize = 64;

/// Longest error reply: the code, the cut message (no control characters,
/// so at most `"` and `\` double when escaped), and framing.
const ERROR_REPLY_BYTES: usize = 2 * MAX_WIRE_ERROR_MESSAGE_BYTES + 128;

/// Leaves assumed per change when sizing a `changes` reply. Leaves per
/// document are not bounded here; a reply that comes out larger than its
/// reservation re-reserves its real size before it is queued.
const ASSUMED_LEAVES_PER_CHANGE: usize = 4;

/// What one `fetch` request is served with: its parameters clamped to the
/// listener's limits, and how many of the wanted revisions fit one reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FetchLimits {
    /// Most history entries per revision.
    pub max_history: usize,
    /// Body bytes after which no further revision is added.
    pub max_bytes: usize,
    /// How many of the wanted revisions this reply may serve (the rest are
    /// left unconsumed, and the replicator asks again).
    pub revisions: usize,
}

impl FetchLimits {
    /// The limits for a fetch of `wanted` revisions with the peer's
    /// `max_history` and `max_bytes`.
    ///
    /// # Examples
    /// ```
    /// use outpost_core::net::protocol::FetchLimits;
    /// let limits = FetchLimits::new(1000, 100, 4 << 20);
    /// assert!(limits.revisions >= 1 && limits.revisions < 1000);
    /// assert!(limits.reply_bytes() < 16 << 20);
    /// ```
    pub fn new(wanted: usize, max_history: usize, max_bytes: usize) -> Self {
        let max_history = max_history.clamp(1, MAX_FETCH_HISTORY);
        let revisions = wanted.min((FETCH_REPLY_METADATA_BYTES / Self::per_revision(max_history)).max(1));
        FetchLimits {
            max_history,
            max_bytes: max_bytes.clamp(1, FETCH_BATCH_BYTES),
            revisions,
        }
    }

    /// Most bytes of everything but a body, per revision.
    fn per_revision(max_history: usize) -> usize {
        STORED_ID_JSON_BYTES + ENTRY_FRAMING_BYTES + max_history * REV_ID_JSON_BYTES
    }

    /// The largest reply: bodies stop once `max_bytes` is reached, so they
    /// pass it by at most one body.
    pub fn reply_bytes(&self) -> usize {
        self.max_bytes + MAX_BODY_BYTES + self.revisions * Self::per_revision(self.max_history) + ENTRY_FRAMING_BYTES
    }
}

/// Most bytes the reply to `request`, which arrived as `frame_bytes` of
/// JSON, can take (for `changes`, an estimate that assumes
/// `ASSUMED_LEAVES_PER_CHANGE` leaves per document).
pub fn reply_bytes(request: &Request, frame_bytes: usize) -> usize {
    let ok = match request {
        Request::Hello(_) | Request::CountChanges { .. } | Request::WaitChanges { .. } => ENTRY_FRAMING_BYTES,
        Request::PutCheckpoint { .. } => ENTRY_FRAMING_BYTES,
        Request::GetCheckpoint { .. } => MAX_CHECKPOINT_BYTES + ENTRY_FRAMING_BYTES,
        Request::Changes { limit, .. } => {
            let per_change =
                STORED_ID_JSON_BYTES + ENTRY_FRAMING_BYTES + (1 + ASSUMED_LEAVES_PER_CHANGE) * REV_ID_JSON_BYTES;
            (*limit).clamp(1, CHANGES_BATCH_SIZE) * per_change + ENTRY_FRAMING_BYTES
        }
        // The missing ids and revisions, echoed: no more than the request.
        Request::RevsDiff { .. } => frame_bytes.saturating_add(ENTRY_FRAMING_BYTES),
        Request::Fetch {
            wanted,
            max_history,
            max_bytes,
            ..
        } => FetchLimits::new(wanted.len(), *max_history, *max_bytes).reply_bytes(),
        // Each revision's id echoed, with a result or an error (the session
        // refuses more revisions than the limit before serving any).
        Request::Insert { revisions, .. } => revisions
            .len()
            .min(MAX_INSERT_REVISIONS)
            .saturating_mul(ENTRY_FRAMING_BYTES + ERROR_REPLY_BYTES)
            .saturating_add(frame_bytes),
        // The missing blob objects, echoed: no more than the request.
        Request::MissingBlobs { .. } => frame_bytes.saturating_add(ENTRY_FRAMING_BYTES),
        // One chunk, clamped to the chunk limit as it is served: raw bytes
        // after a small JSON part in a binary frame, or base64.
        Request::ReadBlob { max_len, binary, .. } => {
            let chunk = (*max_len).clamp(1, MAX_BLOB_CHUNK_BYTES);
            match binary {
                true => chunk + BINARY_PREFIX_BYTES + ENTRY_FRAMING_BYTES,
                false => encoded_len(chunk) + ENTRY_FRAMING_BYTES,
            }
        }
        Request::BlobReceiveOffset { .. } | Request::AppendBlob { .. } => ENTRY_FRAMING_BYTES,
    };
    ok.max(ERROR_REPLY_BYTES)
}

/// Most bytes serving a request that arrived as `frame_bytes` may hold:
/// the request while it is served, and its reply until it is written.
pub fn serving_bytes(request: &Request, frame_bytes: usize) -> usize {
    frame_bytes.saturating_add(reply_bytes(request, frame_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fetch_reply_fits_a_frame_whatever_the_request_asks() {
        for (wanted, history, bytes) in [(1, 1, 1), (1_000_000, 1_000_000, usize::MAX), (500, 100, 4 << 20)] {
            let limits = FetchLimits::new(wanted, history, bytes);
            assert!(limits.revisions >= 1 && limits.revisions <= wanted);
            assert!(limits.reply_bytes() <= crate::tuning::MAX_FRAME_BYTES, "{limits:?}");
        }
    }

    #[test]
    fn a_read_blob_reply_is_one_chunk_whatever_the_request_asks() {
        for (max_len, binary) in [0, 1, MAX_BLOB_CHUNK_BYTES, usize::MAX]
            .into_iter()
            .flat_map(|n| [(n, false), (n, true)])
        {
            let request = Request::ReadBlob {
                digest: String::new(),
                offset: 0,
                max_len,
                binary,
            };
            let bytes = reply_bytes(&request, 100);
            assert!(
                bytes <= encoded_len(MAX_BLOB_CHUNK_BYTES) + ERROR_REPLY_BYTES,
                "{max_len}: {bytes}"
            );
            if binary {
                assert!(bytes <= MAX_BLOB_CHUNK_BYTES + ERROR_REPLY_BYTES, "{max_len}: {bytes}");
            }
            assert!(bytes < crate::tuning::MAX_FRAME_BYTES);
        }
    }

    #[test]
    fn small_requests_reserve_room_for_an_error() {
        let request = Request::WaitChanges { since: 0 };
        assert!(reply_bytes(&request, 10) >= ERROR_REPLY_BYTES);
        assert_eq!(serving_bytes(&request, 10), 10 + reply_bytes(&request, 10));
    }
}
