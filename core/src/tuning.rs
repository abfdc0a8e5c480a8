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

// ---- Network sync (see docs/PROTOCOL.md) ----

/// Largest WebSocket message either side accepts; a bigger one closes the
/// connection with a protocol error. Room for one maximal body plus its
/// history and framing.
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Requests from one peer served at the same time; past this the
/// connection stops reading, so a fast peer is slowed by TCP backpressure
/// instead of growing memory.
pub const MAX_CONCURRENT_REQUESTS: usize = 8;

/// Long-poll `wait_changes` requests one peer may have open at once.
pub const MAX_WAITING_REQUESTS: usize = 64;

/// Frames queued for sending on one connection before senders wait.
pub const OUTGOING_QUEUE_FRAMES: usize = 16;

/// Requests this side may have in flight on one connection before a new
/// one waits for a reply.
pub const MAX_IN_FLIGHT_REQUESTS: usize = 32;

/// Time allowed for TCP + TLS + WebSocket upgrade + hello.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Default time a frame may take to be written before the peer is taken
/// to have stopped reading and the connection is closed.
pub const DEFAULT_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Default interval of the replicator's WebSocket pings (Couchbase Lite's).
pub const DEFAULT_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);

/// A listener closes a connection it has heard nothing from for this long.
pub const LISTENER_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Default maximum of simultaneous connections to one listener.
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// Failed logins from one address within [`FAILED_LOGIN_WINDOW`] before it
/// is locked out.
pub const MAX_FAILED_LOGINS: u32 = 5;

/// How long failed logins are remembered.
pub const FAILED_LOGIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// First lockout after [`MAX_FAILED_LOGINS`]; each further failure doubles it.
pub const LOGIN_LOCKOUT_BASE: std::time::Duration = std::time::Duration::from_secs(1);

/// Longest lockout.
pub const LOGIN_LOCKOUT_MAX: std::time::Duration = std::time::Duration::from_secs(60);

// ---- Revision integrity and bounded revision trees (issue 10) ----

/// Highest revision generation stored or accepted: 2^53 - 1, the largest
/// integer JavaScript (PouchDB) holds exactly, and far below `u64`
/// overflow. An edit past it is refused with
/// [`crate::InvalidInput::GenerationLimit`]; a peer's revision past it is
/// refused as that document's error. No honest document gets near it (an
/// edit per millisecond for 285,000 years).
pub const MAX_REV_GENERATION: u64 = (1 << 53) - 1;

/// Live (non-deleted) leaves one document may have. A revision that would
/// add one more is refused as that document's error ([`crate::InvalidInput::TooManyLeaves`]).
/// Deleted leaves are not counted: resolution tombstones pile up
/// legitimately over a document's life; the byte cap below bounds them.
/// Conflicts are resolved after each pull, so honest documents rarely hold
/// more than a handful; 32 leaves room for a camp of devices that all
/// edited one record offline.
pub const MAX_LIVE_LEAVES: usize = 32;

/// Stored bytes of one document's revision tree (every leaf body, every
/// revision id) after a write. A write past it is refused as that
/// document's error ([`crate::InvalidInput::TreeTooLarge`]). Four maximal
/// bodies: a few conflicting versions of a large record fit; thirty
/// conflicting 7 MiB leaves (a 210 MB row) do not.
pub const MAX_DOC_TREE_BYTES: usize = 4 * MAX_BODY_BYTES;
