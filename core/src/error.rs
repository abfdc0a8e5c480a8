//! The one error type of outpost-core, built from smaller enums.
//!
//! Caller misuse ([`InvalidInput`]) is kept apart from storage failures and
//! from data that cannot be trusted ([`Error::Corrupt`]), so a caller (or the
//! FFI layer) can map each to a clear message with one exhaustive `match`.

use std::sync::Arc;

/// Result alias used throughout outpost-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in outpost-core.
#[non_exhaustive]
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The caller (or a peer) passed something invalid; nothing was written.
    #[error("invalid input: {0}")]
    InvalidInput(#[from] InvalidInput),
    /// The document (or the requested revision of it) does not exist.
    #[error("document {id:?} not found{}", rev.as_ref().map(|r| format!(" at revision {r}")).unwrap_or_default())]
    NotFound {
        /// Document id.
        id: String,
        /// Requested revision, if one was asked for.
        rev: Option<String>,
    },
    /// A save named a revision that is not the current one: someone else
    /// changed the document first. Read it again, merge, and save over the
    /// new revision.
    #[error("conflict: document {id:?} was changed (current revision {current:?}); fetch it again and save over the current revision")]
    Conflict {
        /// Document id.
        id: String,
        /// The current winning revision, if the document exists.
        current: Option<String>,
    },
    /// The named collection does not exist; create it first.
    #[error("collection {0:?} does not exist; create it with Database::create_collection")]
    CollectionNotFound(String),
    /// The database handle was closed; open the database again.
    #[error("the database is closed; open it again to use it")]
    Closed,
    /// The database file was written by a newer version of Outpost.
    #[error("the database schema version {found} is newer than this library supports ({supported}); upgrade Outpost")]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Highest version this library knows.
        supported: i64,
    },
    /// Stored data failed validation when read back.
    #[error("corrupt data in the database: {0}")]
    Corrupt(String),
    /// SQLite reported an error (disk full, I/O error, locked, ...).
    #[error("storage error: {0}")]
    Storage(#[source] Arc<rusqlite::Error>),
    /// A key store could not save or load a TLS identity.
    #[error("key store: {0}")]
    KeyStore(#[from] KeyStoreError),
    /// A listener could not start or serve (address in use, no such
    /// interface, ...).
    #[error("network error: {0}")]
    Network(String),
    /// A replication endpoint failed or misbehaved.
    #[error("replication error: {0}")]
    Replication(#[from] ReplicationError),
    /// A blob was refused, is missing or could not be read or written.
    #[error("blob: {0}")]
    Blob(#[from] BlobError),
    /// A query, index operation or search was refused.
    #[error("query: {0}")]
    Query(#[from] crate::query::QueryError),
    /// The database does not open with the key given: a wrong key, no key
    /// for an encrypted database, or a damaged first page. Nothing on disk
    /// was changed.
    #[error(
        "the database cannot be opened with this key (wrong key, no key for an encrypted database, or a damaged file)"
    )]
    WrongKey,
    /// Encrypting, decrypting or re-keying could not write its files (disk
    /// full, permissions); the database is left as it was.
    #[error("encryption: {0}")]
    Encryption(String),
}

/// Why a blob operation failed. Whatever was refused left nothing stored.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    /// A revision names a blob this database does not hold (save the
    /// bytes with `Collection::save_blob` first), or a blob asked for is
    /// not stored.
    #[error("the blob {digest} is not stored here; save its bytes first")]
    Missing {
        /// The digest (`sha256-...`).
        digest: String,
    },
    /// The bytes do not hash to the digest that names them.
    #[error("the bytes do not match the digest {expected} (they hash to {actual})")]
    DigestMismatch {
        /// The digest claimed.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// The bytes are not as long as the reference says.
    #[error("the blob {digest} should be {expected} bytes; got {actual_at_least}")]
    LengthMismatch {
        /// The digest.
        digest: String,
        /// The length claimed.
        expected: u64,
        /// The bytes received (at least this many).
        actual_at_least: u64,
    },
    /// The blob is larger than [`crate::tuning::MAX_BLOB_BYTES`].
    #[error("the blob is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// A chunk was offered at an offset other than where the bytes
    /// received so far end (ask for the offset again and resume there).
    #[error("a chunk of blob {digest} was offered at byte {offset}; {held} bytes are held")]
    BadOffset {
        /// The digest.
        digest: String,
        /// The offset offered.
        offset: u64,
        /// The bytes held.
        held: u64,
    },
    /// The peer cannot transfer blobs (it speaks a protocol without them);
    /// the documents naming blobs wait until it can, the others sync.
    #[error("this peer does not support blobs yet; documents with blobs are not synced with it")]
    NotSupported,
    /// Reading or writing a blob file failed (disk full, permissions).
    #[error("blob storage: {0}")]
    Io(String),
}

/// Why an input was refused. Nothing is written when one of these is returned.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    /// The body is not valid JSON.
    #[error("the body is not valid JSON: {0}")]
    InvalidJson(String),
    /// The body is valid JSON but not an object.
    #[error("the body must be a JSON object")]
    BodyNotObject,
    /// The body is larger than [`crate::tuning::MAX_BODY_BYTES`].
    #[error("the body is {size} bytes; the limit is {limit} bytes")]
    BodyTooLarge {
        /// Size of the body.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A top-level field starts with `_`, which is reserved for Outpost.
    #[error("the top-level field {0:?} starts with '_', which is reserved")]
    ReservedField(String),
    /// The document id is empty.
    #[error("the document id is empty")]
    EmptyId,
    /// The document id is longer than [`crate::tuning::MAX_DOC_ID_BYTES`].
    #[error("the document id is {size} bytes; the limit is {limit} bytes")]
    IdTooLong {
        /// Length in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// The document id starts with `_` or contains a control character.
    #[error("the document id {0:?} is not allowed: it must not start with '_' or contain control characters")]
    BadId(String),
    /// A revision id is not of the form `GENERATION-HASH`.
    #[error("{0:?} is not a revision id (expected GENERATION-HASH, e.g. 1-9af3c2)")]
    BadRevId(String),
    /// A revision history is empty, too long or not consecutive.
    #[error("bad revision history: {0}")]
    BadHistory(String),
    /// A collection name is empty, too long or has characters outside
    /// `A-Za-z0-9_-%` (the default collection `_default` is built in).
    #[error("{0:?} is not a valid collection name (1-251 characters of A-Z a-z 0-9 _ - %, not starting with _ or %)")]
    BadCollectionName(String),
    /// A configuration value is out of range.
    #[error("bad configuration: {0}")]
    BadConfig(String),
    /// A revision's id is not the hash of its parent, deleted flag and body
    /// (or its parent is not named, so it cannot be checked). A peer forged
    /// it or damaged it; nothing of it is stored.
    #[error("revision {0} does not match its content (its id must be the hash of its parent, deleted flag and body)")]
    RevIdMismatch(String),
    /// A revision's generation is past [`crate::tuning::MAX_REV_GENERATION`].
    #[error("revision generation {generation} is past the limit of {limit}")]
    GenerationLimit {
        /// The generation refused.
        generation: u64,
        /// The limit.
        limit: u64,
    },
    /// A write would give a document more live leaves (conflicts) than
    /// [`crate::tuning::MAX_LIVE_LEAVES`]; resolve its conflicts first.
    #[error("document {id:?} would have {leaves} live conflicting revisions; the limit is {limit}")]
    TooManyLeaves {
        /// Document id.
        id: String,
        /// Live leaves the write would leave.
        leaves: usize,
        /// The limit.
        limit: usize,
    },
    /// A write would make a document's revision tree larger than
    /// [`crate::tuning::MAX_DOC_TREE_BYTES`].
    #[error("document {id:?} would store {size} bytes of revisions; the limit is {limit} bytes")]
    TreeTooLarge {
        /// Document id.
        id: String,
        /// Stored bytes the write would leave.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A blob object in a body (`{"@type":"blob",...}`) or a digest is
    /// malformed.
    #[error("bad blob reference: {0}")]
    BadBlob(String),
    /// A revision sent as a delta (feature `delta_sync`) could not be
    /// rebuilt, or what it built does not match its revision id. Nothing
    /// of it is stored; the replicator fetches its full body instead.
    #[error("bad delta: {0}")]
    BadDelta(String),
}

/// Failures of a replication endpoint, sorted into what a replicator retries
/// and what stops it.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplicationError {
    /// The peer sent something that breaks the protocol.
    #[error("the peer misbehaved: {0}")]
    PeerMisbehaved(String),
    /// A transient failure: the peer is unreachable or went away. Retried.
    #[error("the peer is unreachable: {0}")]
    Unreachable(String),
    /// The replication was stopped.
    #[error("the replication was stopped")]
    Stopped,
    /// The peer refused the credentials (or their absence). Check the user
    /// name and password or the client certificate.
    #[error("the peer refused the credentials: {0}; check the user name and password or the client certificate")]
    Unauthorized(String),
    /// The peer's TLS certificate failed the configured trust check (pin
    /// mismatch, not self-signed, unknown CA, ...). Nothing was sent.
    #[error("the peer's certificate was rejected: {0}")]
    CertificateRejected(String),
    /// One side uses TLS and the other does not (`ws://` against a TLS
    /// listener or `wss://` against a plain one).
    #[error("TLS mismatch: {0}")]
    TlsMismatch(String),
    /// The peer is read-only and this replicator pushes. Pull only, or use
    /// a listener that accepts pushes.
    #[error("the peer is read-only; it refuses pushed documents (replicate with pull only)")]
    ReadOnly,
    /// The peers speak incompatible protocol versions; upgrade the older one.
    #[error("the peer speaks protocol version {theirs}, this side {ours}; upgrade the older peer")]
    IncompatibleProtocol {
        /// This side's version.
        ours: u32,
        /// The peer's version (or the newest it supports).
        theirs: u32,
    },
    /// The URL names a database (or collection) the peer does not serve.
    #[error("the peer does not serve {0}; check the URL's path and the collection names")]
    NotServed(String),
    /// The peer refused a request for a reason of its own.
    #[error("the peer refused ({code}): {message}")]
    Refused {
        /// Wire error code (see docs/PROTOCOL.md).
        code: String,
        /// The peer's explanation.
        message: String,
    },
}

/// Why a key store failed. Never contains key material.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyStoreError {
    /// The stored identity exists but cannot be read (damaged, or written by
    /// a newer version). It is left in place; delete it explicitly to start
    /// over with a new identity (peers that pinned the old one will refuse
    /// the new one).
    #[error("the stored identity {label:?} is unreadable: {reason}; delete it to create a new one (peers that pinned it must pin the new fingerprint)")]
    Unreadable {
        /// The identity's label.
        label: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The stored identity is sealed and the passphrase does not open it.
    #[error("the stored identity {label:?} does not open with this passphrase")]
    WrongPassphrase {
        /// The identity's label.
        label: String,
    },
    /// The key store cannot be used (I/O error, platform key store locked or
    /// not initialised).
    #[error("the key store is unavailable: {0}")]
    Unavailable(String),
    /// The key store's directory or file could be read or replaced by
    /// another local user (writable by others, owned by someone else, a
    /// symbolic link); the reason says how to fix it. Nothing was read or
    /// written.
    #[error("it is not private: {0}")]
    NotPrivate(String),
    /// A label is empty, too long or has characters outside `A-Za-z0-9._-`.
    #[error("{0:?} is not a valid identity label (1-128 characters of A-Z a-z 0-9 . _ -)")]
    BadLabel(String),
}

impl Error {
    /// Whether retrying the same operation later may succeed (a replicator
    /// backs off and retries on these, and stops on everything else).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Replication(ReplicationError::Unreachable(_)) => true,
            Error::Storage(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        Error::Storage(Arc::new(e))
    }
}
