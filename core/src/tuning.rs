//! Every limit and tuning constant of outpost-core, in one place.

/// Largest document id, in UTF-8 bytes.
pub const MAX_DOC_ID_BYTES: usize = 512;

/// Largest document body (canonical JSON), in bytes. Photos belong in blobs,
/// not in bodies.
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// Longest collection name (the same limit as Couchbase Lite).
pub const MAX_COLLECTION_NAME_CHARS: usize = 251;

/// Longest revision hash accepted from outside, in characters.
pub const MAX_REV_HASH_CHARS: usize = 64;

/// Revision ids kept per branch by default (CouchDB's `revs_limit`).
pub const DEFAULT_REVS_LIMIT: u32 = 100;

/// Changes read from the source per replication batch.
pub const CHANGES_BATCH_SIZE: usize = 1000;

/// Bytes of revision bodies fetched per replication batch; a batch is cut
/// when it would exceed this, so memory stays flat whatever the data size.
pub const FETCH_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// How long a connection waits for a lock held by another connection.
pub const BUSY_TIMEOUT_MS: u64 = 10_000;
