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

/// Time allowed for TCP + TLS + WebSocket upgrade + hello (the part before
/// authentication is bounded tighter by [`PRE_AUTH_TIMEOUT`]).
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Default time a frame may take to be written before the peer is taken
/// to have stopped reading and the connection is closed.
pub const DEFAULT_WRITE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// Default interval of the replicator's WebSocket pings (Couchbase Lite's).
pub const DEFAULT_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);

/// A listener closes a connection it has heard nothing from for this long.
pub const LISTENER_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Default maximum of simultaneous authenticated sessions on one listener
/// (connections still handshaking are bounded by [`MAX_HANDSHAKING`]).
pub const DEFAULT_MAX_CONNECTIONS: usize = 64;

/// Failed logins from one address (an IPv4 address, or an IPv6 /64)
/// within [`FAILED_LOGIN_WINDOW`] before it is locked out. Attempts being
/// checked count as failures until they succeed, so concurrent guesses
/// cannot get more checks than this.
pub const MAX_FAILED_LOGINS: u32 = 5;

/// How long failed logins are remembered.
pub const FAILED_LOGIN_WINDOW: std::time::Duration = std::time::Duration::from_secs(60);

/// First lockout after [`MAX_FAILED_LOGINS`]; each further failure doubles it.
pub const LOGIN_LOCKOUT_BASE: std::time::Duration = std::time::Duration::from_secs(1);

/// Longest lockout.
pub const LOGIN_LOCKOUT_MAX: std::time::Duration = std::time::Duration::from_secs(60);

// ---- Local files: database files and the key store (issue 10, item 9) ----

/// Permissions of the database file (and so of its `-wal`, `-shm` and
/// journal, which SQLite creates with the main file's mode) and of stored
/// identities: read and write for the owner only. Records of children must
/// not be readable by other users of a shared laptop.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Permissions of a key-store directory Outpost creates: owner only, so no
/// other user can list, plant or replace identity files.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Largest stored-identity file a [`crate::net::FileKeyStore`] reads. A
/// real one (certificate, PKCS#8 key, seal) is about 1 KiB; the bound keeps
/// a planted or damaged file from costing memory.
pub const MAX_IDENTITY_FILE_BYTES: u64 = 64 * 1024;

/// Random bytes in the name of a key store's temporary file, so that no
/// one can predict it and plant a file or symbolic link there first.
pub const TEMP_NAME_RANDOM_BYTES: usize = 16;

// ---- Connection memory and peer checkpoints (hostile peers, issue 10) ----

/// Bytes one connection may hold for requests being served, their replies
/// and this side's requests, from the moment a request is taken up until
/// its reply (or request) is written to the socket. A peer that stops
/// reading fills this and then stops being served: the connection stops
/// reading its requests and TCP pushes back. Room for two fetches in
/// service at once (see [`FETCH_REPLY_METADATA_BYTES`]: a fetch reserves
/// about 14 MiB before it runs).
pub const CONNECTION_BUFFER_BYTES: usize = 32 * 1024 * 1024;

/// Bytes all the connections of one listener may hold together, counted as
/// for [`CONNECTION_BUFFER_BYTES`], so that many peers that stop reading
/// cannot add up: four such peers fill it, after which every connection
/// waits for bytes until the write timeout closes them. Sized for a camp hub
/// on a laptop or a phone serving a few peers.
pub const LISTENER_BUFFER_BYTES: usize = 128 * 1024 * 1024;

/// Most history entries a peer may ask for per fetched revision.
pub const MAX_FETCH_HISTORY: usize = 1000;

/// Bytes of ids, histories and framing (not bodies) one fetch reply may
/// carry: a fetch serves only as many of the wanted revisions as fit this
/// at their worst case (the longest ids and full histories), so that
/// a reply's size is known before it is built. With the default history of
/// 100 entries that is about 200 revisions per reply; the replicator asks
/// again for the rest.
pub const FETCH_REPLY_METADATA_BYTES: usize = 2 * 1024 * 1024;

/// Most revisions one `insert` request may carry; more is refused as
/// `limit_exceeded` before any is stored. A replicator sends one fetched
/// batch per insert: far fewer (a fetch reply holds at most
/// [`FETCH_REPLY_METADATA_BYTES`] of ids and histories). Bounds the insert
/// reply, one result per revision.
pub const MAX_INSERT_REVISIONS: usize = 10_000;

/// Longest error message sent in a reply; longer ones (which may echo a
/// peer's own strings) are cut, so an error reply has a known size.
pub const MAX_WIRE_ERROR_MESSAGE_BYTES: usize = 512;

/// Largest checkpoint body a peer may store, in bytes. A replicator's
/// checkpoint is about 80 bytes (`{"version":1,"session":UUID,"sequence":N}`);
/// this leaves room for later versions and nothing else.
pub const MAX_CHECKPOINT_BYTES: usize = 1024;

/// Checkpoint ids one authenticated peer (one user name, client
/// certificate, or all anonymous peers together) may store on a listener
/// that accepts pushes. A replicator uses one per collection and direction,
/// per device, so a login shared by a whole camp's devices fits; at most
/// 256 KiB per peer.
pub const MAX_CHECKPOINTS_PER_PEER: usize = 256;

/// Checkpoint ids one peer may store on a read-only listener: only pull
/// replications save there (one per collection, per device), so fewer.
pub const MAX_CHECKPOINTS_PER_PEER_READ_ONLY: usize = 64;

// ---- Listener front door: handshakes, logins, logs (issue 10, items 3, 4, 10) ----

/// Connections still in the TLS handshake or HTTP upgrade (not yet
/// authenticated) one listener holds at once. Past it, a newcomer from an
/// address with fewer handshakes than the busiest address evicts that
/// address's oldest handshake; otherwise the newcomer is closed at once.
/// 128 is far more than the phones of one camp connecting together, and
/// costs at most ~128 TLS states (tens of KiB each).
pub const MAX_HANDSHAKING: usize = 128;

/// Connections still handshaking from one address (IPv4 address or IPv6
/// /64) at once; more are closed at once. A phone opens one connection per
/// replicator; 8 leaves room for a hub replicating several databases.
pub const MAX_HANDSHAKING_PER_ADDRESS: usize = 8;

/// Time from accepting a connection to authenticating it (TLS handshake,
/// HTTP upgrade request, password check). Shorter than
/// [`HANDSHAKE_TIMEOUT`] so a stranger holds a handshake slot briefly; a
/// phone on poor Wi-Fi finishes TLS in well under a second.
pub const PRE_AUTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Password checks (Argon2id: 19 MiB and ~50 ms of one core each) running
/// at once on one listener, whoever asks. Bounds the memory of hashing to
/// ~76 MiB and leaves cores for serving.
pub const MAX_CONCURRENT_PASSWORD_CHECKS: usize = 4;

/// Password checks allowed to wait for one of the
/// [`MAX_CONCURRENT_PASSWORD_CHECKS`] slots; past it a login is refused with
/// HTTP 503 and `Retry-After` without being checked. A camp's phones
/// reconnecting together after a hub restart fit.
pub const MAX_QUEUED_PASSWORD_CHECKS: usize = 32;

/// Failed logins for one user name, from any address, within
/// [`FAILED_LOGIN_WINDOW`] before that name is locked out for addresses
/// that have not logged in as it before. Higher than
/// [`MAX_FAILED_LOGINS`] (which is per address) so a few mistyping phones
/// do not lock a shared account, low enough that guessing from many
/// addresses gets ten tries a minute.
pub const MAX_FAILED_LOGINS_PER_USER: u32 = 10;

/// Addresses remembered per user name as having logged in as it; they are
/// exempt from that name's lockout (not from their own address's), so a
/// stranger guessing a worker's password does not lock the worker out.
pub const KNOWN_ADDRESSES_PER_USER: usize = 4;

/// Login-throttle records (per address and per user name, each) kept at
/// most; when full, expired records go first, then the least recently
/// used. Bounds the bookkeeping to well under 1 MiB whatever names and
/// addresses strangers send.
pub const MAX_LOGIN_RECORDS: usize = 4096;

/// Largest HTTP upgrade request head a listener reads, in bytes.
pub const MAX_UPGRADE_HEAD_BYTES: usize = 8 * 1024;

/// Characters of a peer-controlled string (a user name, an error quoting a
/// peer) written to a log line; the rest is cut and its size noted. Room
/// for any error message of ours, not for a flood.
pub const MAX_LOGGED_PEER_CHARS: usize = 200;

// ---- Revision integrity and bounded revision trees (issue 10) ----

/// Highest revision generation stored or accepted: 2^53 - 1, the largest
/// integer JavaScript (PouchDB) holds exactly, and far below `u64`
/// overflow. Only a tombstone may take this last generation (a live
/// revision stops one short), so a document can always be deleted. An edit
/// past it is refused with
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

// ---- Blobs (core/src/blob) ----

/// Largest blob, in bytes (256 MiB): larger writes and references are
/// refused.
pub const MAX_BLOB_BYTES: u64 = 256 * 1024 * 1024;

/// Most blobs one document body may name.
pub const MAX_BLOBS_PER_DOC: usize = 1000;

/// Longest `content_type` of a blob, in bytes.
pub const MAX_BLOB_CONTENT_TYPE_BYTES: usize = 255;

/// Buffer for streaming blob bytes to and from files.
pub const BLOB_IO_BUFFER_BYTES: usize = 64 * 1024;

/// Largest chunk one `read_blob` returns (and replication moves at once):
/// memory per transfer stays at this, whatever the blob's size.
pub const MAX_BLOB_CHUNK_BYTES: usize = 1024 * 1024;

/// Most blobs one `missing_blobs` request may name (a longer list is sent
/// as several requests).
pub const MAX_MISSING_BLOBS_PER_REQUEST: usize = 1000;

/// Blob digests a listener's session remembers as readable by its peer
/// (named by revisions it fetched); past it, a `read_blob` looks the
/// digest up among the served collections' current revisions instead.
pub const MAX_SESSION_READABLE_BLOBS: usize = 100_000;

/// Blob files written less than this long ago are never removed by
/// compaction: a blob saved for a revision not committed yet survives a
/// concurrent compaction.
pub const BLOB_COMPACT_GRACE: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// Partly received blobs untouched this long are removed by compaction
/// (younger ones are kept so a cut transfer resumes).
pub const BLOB_PARTIAL_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// Document rows compaction reads per page.
pub const COMPACT_PAGE_ROWS: usize = 500;

/// Candidate blobs compaction holds in memory at once (more are handled in
/// further rounds).
pub const COMPACT_MAX_CANDIDATES: usize = 100_000;

// ---- Blob transfer speed (issue 11 item 5: core/src/blob/receive.rs, replication/inserter.rs) ----

/// Blobs one replication pass moves at the same time. Each holds at most
/// one chunk ([`MAX_BLOB_CHUNK_BYTES`]) in memory on each side, so this
/// bounds the chunks held (8 x 1 MiB on each side, plus their frames and
/// TLS buffers while they cross); more than one lets one
/// blob's round trip and fsync overlap another's. For 200 KB photos on the
/// 2-core VM, 8 was as fast as 16 or 32 within the noise, with less memory
/// (docs/benchmarks.md, "Blobs").
pub const BLOBS_IN_FLIGHT: usize = 8;

/// Running SHA-256 states (each with its partial file open) one blob store
/// keeps between the chunks of blobs being received. Past it, idle ones
/// are dropped and their next chunk reads the partial file back once; it
/// bounds both memory (~200 bytes each) and open files.
pub const MAX_RECEIVING_HASH_STATES: usize = 64;

// ---------------------------------------------------------------------------
// CouchDB face (core/src/net/couch): limits on what CouchDB clients send.

/// Longest `reason` in a CouchDB error body, in bytes: reasons may quote
/// client input, so they are cut rather than echoed whole.
pub const MAX_COUCH_REASON_BYTES: usize = 512;

// ---- CouchDB-protocol client (core/src/net/couch/client) and opaque sequences ----

/// Longest changes sequence accepted from a peer, in bytes. CouchDB 3's
/// opaque sequences grow with the number of shards (about 60 bytes per
/// shard range, so some 500 bytes for the default q=8 and 2 KB for q=32);
/// 4 KB holds any sane cluster and keeps checkpoints and every request that
/// carries `since` small.
pub const MAX_PEER_SEQUENCE_BYTES: usize = 4 * 1024;

/// Time to open a connection to a CouchDB server, TCP and TLS handshake
/// (a server that never answers the handshake fails here, not after the
/// request's timeout).
pub const COUCH_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// Time one request to a CouchDB server may take, answer read in full.
/// Generous: a `_bulk_get` of a batch with photos over a camp's slow link
/// moves megabytes. A server that takes longer counts as unreachable and
/// the replicator retries with backoff.
pub const COUCH_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// How long a longpoll `_changes` asks the server to wait for a change
/// (its `timeout`); the request's own timeout adds
/// [`COUCH_REQUEST_TIMEOUT`] on top. One minute is CouchDB's default.
pub const COUCH_LONGPOLL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// `heartbeat` of a longpoll `_changes`: the server sends a newline this
/// often, so proxies keep the connection open.
pub const COUCH_LONGPOLL_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(10);

/// Largest answer to a small request (database info, `_changes` page,
/// `_revs_diff`, `_bulk_docs`, `_local`): a page of
/// [`CHANGES_BATCH_SIZE`] rows with a few conflicting leaves each is well
/// under 1 MB; 16 MiB leaves room for long ids and many leaves and still
/// bounds what a hostile server can make us hold.
pub const MAX_COUCH_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// Largest answer to a `_bulk_get` or `open_revs` fetch, attachments
/// inline in base64. A batch whose answer would be larger is asked again
/// in halves, down to one revision, so this also bounds the largest
/// document with its attachments (48 MiB of base64: 36 MiB of bytes).
pub const MAX_COUCH_FETCH_ANSWER_BYTES: usize = 48 * 1024 * 1024;

/// Revisions asked for in one `_bulk_get` (CouchDB's replicator asks for
/// up to 100 at a time too).
pub const COUCH_FETCH_BATCH: usize = 100;

/// `_bulk_get` requests one fetch sends at once: the server serves one
/// while this side parses another. Memory held is at most this many
/// answers of [`MAX_COUCH_FETCH_ANSWER_BYTES`].
pub const COUCH_FETCHES_IN_FLIGHT: usize = 4;

/// Attachment bytes a pull holds between receiving them in a `_bulk_get`
/// answer and storing them as blobs (the last few fetch batches: the
/// pipeline has at most three in flight).
pub const COUCH_PULLED_BATCHES_KEPT: usize = 3;

/// Revisions per `_bulk_docs` request on push: an insert batch of
/// [`CHANGES_BATCH_SIZE`] goes as a few requests sent at once.
pub const COUCH_PUSH_BATCH: usize = 250;

/// `_bulk_docs` requests one insert sends at once: the server stores one
/// while the next crosses the network.
pub const COUCH_PUSHES_IN_FLIGHT: usize = 4;

/// Largest push request body (a `_bulk_docs` with attachments inline):
/// revisions are sent in several requests when they would exceed it, and
/// one document alone past it is refused as that document's error.
pub const MAX_COUCH_PUSH_REQUEST_BYTES: usize = 32 * 1024 * 1024;

/// Blob bytes a push may hold staged before sending them inline in
/// `_bulk_docs` (the blobs of one insert batch); a blob that does not fit
/// is that document's error.
pub const MAX_COUCH_STAGED_BLOB_BYTES: u64 = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------
// Queries and indexes (core/src/query/). Everything a caller sends in a
// query is bounded here, so a query costs bounded memory to parse and
// compile whatever it holds.

/// Largest query or selector JSON accepted (bytes): room for a large `$in`
/// list, far below anything that would strain parsing.
pub const MAX_QUERY_BYTES: usize = 256 * 1024;

/// Deepest nesting of a selector (combinators, fields, `$elemMatch`): real
/// selectors are a few levels deep; this keeps compilation's recursion and
/// the SQL's nesting small (SQLite's parser has its own depth limit of
/// 1000).
pub const MAX_SELECTOR_DEPTH: usize = 32;

/// Most fields and operators in one selector: each becomes a few SQL terms,
/// and SQLite's statement size and parameter count (32766) must hold.
pub const MAX_SELECTOR_NODES: usize = 2_000;

/// Longest `$in`, `$nin` or `$all` list: each value is one bound parameter
/// and one SQL term.
pub const MAX_IN_VALUES: usize = 1_000;

/// Longest `$regex` pattern (bytes).
pub const MAX_REGEX_BYTES: usize = 1024;

/// Largest compiled `$regex` (NFA and lazy DFA, bytes each): matching is
/// linear in the text, and this bounds the memory a pattern like
/// `\w{1000}` would take.
pub const MAX_REGEX_COMPILED_BYTES: usize = 1024 * 1024;

/// Longest field path in a selector, sort, projection or index (bytes).
pub const MAX_FIELD_PATH_BYTES: usize = 512;

/// Most keys in a field path.
pub const MAX_FIELD_PATH_SEGMENTS: usize = 32;

/// Most sort fields in one query.
pub const MAX_SORT_FIELDS: usize = 8;

/// Results of a query when it sets no limit (CouchDB's default).
pub const DEFAULT_QUERY_LIMIT: usize = 25;

/// Largest `limit` of a query or search: results are held in memory, so a
/// caller pages (`skip`) past this.
pub const MAX_QUERY_LIMIT: usize = 10_000;

/// Most bytes of documents (bodies and ids) one query or search returns:
/// results are held in memory, and 10,000 large bodies could be gigabytes.
/// Past it the query fails (lower the limit, or project with `fields`).
pub const MAX_QUERY_RESULT_BYTES: usize = 64 * 1024 * 1024;

/// Most fields of one index (each is two columns of a SQLite index).
pub const MAX_INDEX_FIELDS: usize = 16;

/// Most indexes (value and text) per collection: each one costs time on
/// every write to the collection.
pub const MAX_INDEXES_PER_COLLECTION: usize = 32;

/// Longest index name (characters).
pub const MAX_INDEX_NAME_CHARS: usize = 64;

/// Longest full-text query (bytes).
pub const MAX_TEXT_QUERY_BYTES: usize = 1024;

/// Most words in a full-text query.
pub const MAX_TEXT_QUERY_TERMS: usize = 32;

/// Changed documents a live query checks one by one to decide whether a
/// change can affect it; past this (a large replicated batch) it simply
/// runs again.
pub const LIVE_QUERY_MAX_CHECKED_IDS: usize = 500;
/// Largest request body the CouchDB face reads (a `_bulk_docs` of a
/// PouchDB batch with inline base64 attachments): past it, 413 before a
/// byte of the body is read when `Content-Length` says so. The bytes are
/// held in the listener's byte budget while the request is served.
pub const MAX_FACE_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// Largest request head (request line and headers) the CouchDB face reads
/// (hyper's buffer; its minimum is 8 KiB).
pub const MAX_FACE_HEAD_BYTES: usize = 64 * 1024;

/// Longest query string the CouchDB face parses (`keys=[...]` and
/// `open_revs=[...]` can be long; longer lists go in a POST body).
pub const MAX_FACE_QUERY_BYTES: usize = 64 * 1024;

/// Most entries one CouchDB request may hold: documents of `_bulk_docs`,
/// entries of `_bulk_get`, revisions of `_revs_diff`, `keys` of
/// `_all_docs`, `open_revs`. PouchDB sends 100 at a time, CouchDB's
/// replicator up to 500; the bound keeps one request's work in check.
pub const MAX_FACE_ENTRIES: usize = 10_000;

/// Most ids a `_changes` `doc_ids` filter may list.
pub const MAX_FACE_DOC_IDS: usize = 10_000;

/// Most body bytes one `_bulk_get` reply gathers (ask for fewer at once
/// past it: 413).
pub const MAX_FACE_REPLY_BYTES: usize = 64 * 1024 * 1024;

/// How long a longpoll or continuous `_changes` waits when the client
/// gives no `timeout` (CouchDB's default).
pub const FACE_DEFAULT_FEED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The longest `timeout` of a longpoll or continuous `_changes`: a feed
/// then ends with its `last_seq` and the client asks again, so no request
/// holds a connection for ever.
pub const MAX_FACE_FEED_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The shortest heartbeat of a `_changes` feed: shorter ones are raised to
/// it, so a client cannot make the listener write a newline in a loop.
pub const MIN_FACE_HEARTBEAT: std::time::Duration = std::time::Duration::from_millis(1000);

/// How long a CouchDB-face connection may sit idle or take to send a
/// request head before it is closed.
pub const FACE_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long an `AuthSession` cookie from `POST /_session` is valid
/// (CouchDB's default session timeout).
pub const FACE_SESSION_COOKIE_TTL: std::time::Duration = std::time::Duration::from_secs(600);

/// Largest `POST /_session` body (a name and a password).
pub const MAX_FACE_SESSION_BODY_BYTES: usize = 4 * 1024;

/// How long Basic credentials that passed the password check are taken
/// without checking again (clients that open a connection per request
/// would otherwise pay a slow hash each time). A changed or removed
/// password stops working within this long.
pub const FACE_CREDENTIAL_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(300);

/// Most credentials the CouchDB face remembers as checked (one entry per
/// distinct user and password in use).
pub const MAX_FACE_CACHED_CREDENTIALS: usize = 1024;

/// Blob MD5 digests the CouchDB face keeps in memory (CouchDB names
/// attachments by MD5; ours are SHA-256). Past it the cache is emptied and
/// digests are computed again from the bytes as needed.
pub const MAX_FACE_MD5_CACHE: usize = 100_000;

/// Most parts a `multipart/related` document body may have: the document
/// and one per attachment it may name.
pub const MAX_FACE_MULTIPART_PARTS: usize = crate::tuning::MAX_BLOBS_PER_DOC + 1;

/// Collections whose live document count the CouchDB face remembers for
/// `GET /{db}` (until their next write; counting scans the collection and
/// PouchDB asks once per batch it pulls).
pub const MAX_FACE_CACHED_COUNTS: usize = 1024;

/// A normal `_changes` feed with a `limit` up to this many rows (a
/// replicator's batch; PouchDB asks for 100) is answered whole with a
/// `Content-Length` (clients read it faster than a chunked stream); a
/// longer or unlimited one streams page by page.
pub const MAX_FACE_BUFFERED_CHANGES: usize = 1000;
// ---- Hub administration (system users, configured servers) ----

/// How often a listener authenticating against stored system users checks
/// that each logged-in user still exists with the same password: a removed
/// user's (or a changed password's) open connections are closed within
/// this long. One small indexed read per tick; a second keeps "removed"
/// meaning "gone now" for an administrator without costing anything.
pub const SYSTEM_USER_RECHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Longest system user name, in bytes: names are shown in lists and logs
/// and keyed in the database; CouchDB's user names are far shorter in
/// practice.
pub const MAX_SYSTEM_USER_NAME_BYTES: usize = 128;

/// Longest system user password, in bytes: Argon2id hashes any length, but
/// a password read from stdin or a terminal must not grow without bound.
pub const MAX_SYSTEM_USER_PASSWORD_BYTES: usize = 1024;

/// How often a running hub reads its configured servers to start, restart
/// or stop replications added, changed or removed by another process
/// (`outpost servers add`): one small read per tick.
pub const SERVER_CONFIG_RECHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// First wait before a configured server stopped on an error (a wrong
/// password, a refused certificate) is tried again; it doubles at each
/// failure in a row. Long enough that a wrong password is never a tight
/// loop of refused logins (the peer's login throttle would lock it out).
pub const SERVER_ERROR_RETRY_FIRST: std::time::Duration = std::time::Duration::from_secs(30);

/// Longest wait between tries of a configured server stopped on an error
/// (CouchDB's replicator backs off crashed jobs to hours; a camp link that
/// an administrator fixes on the other side should recover within this).
pub const SERVER_ERROR_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Least time between two writes of a configured server's status when only
/// its progress changed (a state change is written at once): keeps a big
/// sync from writing its status thousands of times a second.
pub const SERVER_STATUS_WRITE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(250);
// ---- Encryption at rest (issue 15: core/src/encryption/) ----

/// Memory (KiB) Argon2id uses to turn a passphrase into a database key:
/// 64 MiB makes each guess of a stolen database's passphrase cost that much
/// memory on the attacker's side, and is still fine on a hub laptop or a
/// phone (it is spent once per open).
pub const PASSPHRASE_KDF_MEMORY_KIB: u32 = 64 * 1024;

/// Argon2id passes for a passphrase key: 3, OWASP's figure for 64 MiB;
/// about a third of a second on one core of the 2-core VM.
pub const PASSPHRASE_KDF_ITERATIONS: u32 = 3;

/// Plaintext bytes per sealed record of a blob file of an encrypted
/// database (one ChaCha20-Poly1305 seal each): 64 KiB keeps the 20 bytes
/// of overhead per record at 0.03% and a reader's memory at one record.
pub const BLOB_SEAL_RECORD_BYTES: usize = 64 * 1024;

/// SQLite page cache (KiB) of an encrypted database's connection (plain
/// ones keep SQLite's 2 MiB): a page read past the cache is decrypted and
/// its HMAC checked again (about 4 us against 1 us for a plain page read
/// from the OS), so a cache that holds a working database whole is what
/// keeps encryption's cost low on reads. With 16 MiB a replication of
/// 20,000 documents (a 28 MB file) re-read every page four to six times
/// (LRU thrash: the changes scan is larger than the cache) and took twice
/// the plain time; at 64 MiB nothing is decrypted twice. SQLite allocates
/// the cache as pages are read, so a smaller database never costs more
/// than its size, and 64 MiB of native memory is affordable on a current
/// phone and a hub.
pub const ENCRYPTED_PAGE_CACHE_KIB: u32 = 64 * 1024;

// ---------------------------------------------------------------------------
// Delta sync and compression (issue 17)
// ---------------------------------------------------------------------------

/// Smallest WebSocket message sent compressed (feature `deflate`): below
/// this, a message is a few TCP segments at most, so compressing saves
/// little on the wire and costs a DEFLATE stream's setup on both sides;
/// a typical `changes` or `revs_diff` page and any batch of bodies is
/// well above it.
pub const COMPRESS_MIN_BYTES: usize = 1024;

// ---------------------------------------------------------------------------
// CouchDB attachments moved only when missing (issue 13)
// ---------------------------------------------------------------------------

/// Ancestors of a pushed revision asked about in the `_revs_diff` that
/// finds the nearest one a CouchDB-protocol server holds (when it did not
/// name `possible_ancestors`): 10 ids cover a document edited ten times
/// between two pushes, and keep the request about 1 KB per document.
pub const COUCH_ANCESTOR_PROBE_DEPTH: usize = 10;

/// Documents whose `possible_ancestors` the CouchDB client keeps between a
/// `_revs_diff` and the `_bulk_docs` that follows (forgotten all at once
/// past it): a few push batches' worth, at most a few MB of ids.
pub const MAX_COUCH_ANCESTORS_KEPT: usize = 10_000;

// ---------------------------------------------------------------------------
// Camp hub administration, the missing pieces (issue 16)
// ---------------------------------------------------------------------------

/// How often a running hub confirms each configured server's status in the
/// database (its heartbeat): often enough that a status reader learns soon
/// that the hub is gone, rare enough to cost nothing (one small row write
/// per server every 5 s).
pub const SERVER_STATUS_HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(5);

/// A status not confirmed for this long is shown as `stopped` (the hub
/// that wrote it was killed): four missed heartbeats, so a hub whose
/// database is busy for a few seconds (a large batch holding the write
/// lock) is not taken for dead.
pub const SERVER_STATUS_STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(20);

/// Collections a replicator asked to replicate everything a peer serves
/// (a configured server without `--collection`) takes from one peer, at
/// most: a camp has a handful; a peer listing more is refused rather than
/// let create collections here without bound.
pub const MAX_SERVED_COLLECTIONS_REPLICATED: usize = 100;

// ---------------------------------------------------------------------------
// Encryption cost (issue 15 follow-up: core/src/encryption/sqlcipher.rs)
// ---------------------------------------------------------------------------

/// Page size (bytes) of an encrypted database file (SQLCipher's
/// `cipher_page_size`; plain files keep SQLite's 4096). Each page is sealed
/// and opened whole, with a fixed cost per page (about 2 us of OpenSSL set-up
/// besides the per-byte AES and HMAC), and 1 KB documents pack tighter in
/// larger pages: at 8192 the encrypted batched saves, replication and pull
/// ran at 0.6-0.95x the time of plain 4096-byte files on the shared VM,
/// where 4096 (with SHA-256 and the 64 MiB cache) ran 0.9-1.4x. Larger
/// pages make a one-document commit write more bytes
/// (about twice, for the few pages it dirties), which is why not 16384. A
/// file-format choice: it cannot change for existing files.
pub const ENCRYPTED_PAGE_BYTES: u32 = 8192;

// ---------------------------------------------------------------------------
// Delta sync (issue 17, deltas)
// ---------------------------------------------------------------------------

/// How many revisions above each leaf keep their bodies as delta bases
/// (feature `delta_sync`): 1 keeps the body of each leaf's parent, so a
/// peer one edit behind gets a delta. Each kept body costs its size on
/// disk (docs/ARCHITECTURE.md, "Ancestor bodies"); peers further behind
/// get full bodies.
pub const DELTA_BASE_DEPTH: usize = 1;

/// Most revisions a `revs_diff` answer names per document as possible
/// delta bases (the receiver's leaves and kept ancestors holding bodies,
/// newest first), and most a `fetch` request may name per revision: a
/// document rarely has more than a leaf and its parent, and the list is
/// sent per missing document.
pub const MAX_DELTA_BASES: usize = 4;

/// Deepest nesting of a delta's objects (docs/PROTOCOL.md, "Delta sync").
/// A change nested deeper is sent as its whole value instead; a peer's
/// delta nesting deeper is refused ([`crate::InvalidInput::BadDelta`]) and
/// the body fetched in full. Well under serde_json's parser limit of 128,
/// so the check, not the parser, is what refuses it.
pub const MAX_DELTA_DEPTH: usize = 32;

// ---------------------------------------------------------------------------
// CouchDB face feeds in the byte budget (core/src/net/couch/face/changes.rs)
// ---------------------------------------------------------------------------

/// Most bytes of rows a `_changes` page with `include_docs` gathers before
/// it is written (at least one row, whatever its size): a page of
/// [`CHANGES_BATCH_SIZE`] rows with large documents would otherwise be
/// tens of megabytes built before the byte budget sees it. Pages are held
/// in the connection's budget ([`CONNECTION_BUFFER_BYTES`]) until written,
/// so a feed whose client stops reading holds that budget plus one page
/// being built; 1 MiB keeps the latter small and is still hundreds of rows
/// of ordinary documents per write.
pub const FACE_FEED_PAGE_BYTES: usize = 1024 * 1024;

// ---------------------------------------------------------------------------
// Received blobs made durable a batch at a time (core/src/blob/pending.rs)
// ---------------------------------------------------------------------------

/// Most received blobs one blob store holds verified but not yet fsynced
/// nor renamed, waiting for a revision naming them; at it, the whole set
/// is published at once (one fsync wait for the set). Each keeps its
/// partial file open, so this bounds open files (with
/// [`MAX_RECEIVING_HASH_STATES`], well under the common limit of 1024);
/// 256 holds a whole insert batch of the 500-photo benchmark (212 photos
/// of 200 KB), so each batch waits on one journal commit, not hundreds.
pub const MAX_VERIFIED_BLOBS: usize = 256;

/// Most plaintext bytes of blobs one store holds verified but not yet
/// fsynced; at it, the set is published at once. It bounds how much data
/// the write transaction's fsync waits for (writeback of each file starts
/// when it is verified, so most of it is on disk by then) and how much a
/// crash leaves to be read back and hashed again before its revisions
/// commit. A blob larger than this (up to [`MAX_BLOB_BYTES`]) is
/// published as soon as it is verified.
pub const MAX_VERIFIED_BLOB_BYTES: u64 = 128 * 1024 * 1024;

/// Threads that fsync the files of a batch of verified blobs at once. On
/// a journalled file system the first fsync commits the journal for the
/// whole batch, but each later one still waits for a disk cache flush
/// (ext4 sends one per fsync of already committed data); flushes that wait
/// together are merged by the block layer. The threads only wait on the
/// disk, so more than the cores is fine: publishing 212 received photos on
/// the 2-core VM (journalled ext4 on a loop device) took ~36 ms on 1
/// thread, ~21 ms on 4 and ~17 ms on 8 (docs/benchmarks.md, "Blobs").
pub const PUBLISH_SYNC_THREADS: usize = 8;

// ---------------------------------------------------------------------------
// Blob chunks in memory (core/src/net/chunk_buffer.rs, core/src/blob/chunk_pool.rs)
// ---------------------------------------------------------------------------

/// Room a listener leaves before a blob chunk it reads, for the binary
/// frame's header (tag, length and the reply's JSON, about 50 bytes), so
/// the reply is framed in place; a header that does not fit is copied.
pub const CHUNK_HEADROOM_BYTES: usize = 64;

/// Bytes of blob chunk buffers a process keeps for reuse
/// (core/src/blob/chunk_pool.rs) once a chunk is sent or appended: one per
/// request a peer may have served at once ([`MAX_CONCURRENT_REQUESTS`]),
/// each at most a chunk ([`MAX_BLOB_CHUNK_BYTES`]) and its frame header,
/// which also covers the [`BLOBS_IN_FLIGHT`] chunks a puller holds. Held
/// while idle, so small; chunks in flight past it are allocated as before.
pub const CHUNK_POOL_BYTES: usize = MAX_CONCURRENT_REQUESTS * (MAX_BLOB_CHUNK_BYTES + CHUNK_HEADROOM_BYTES);

/// Smallest buffer the chunk pool keeps: with [`CHUNK_POOL_BYTES`] it
/// bounds the pool at 128 buffers (small ones are cheap to allocate, and
/// many would be many entries).
pub const CHUNK_POOL_MIN_BUFFER_BYTES: usize = 64 * 1024;
