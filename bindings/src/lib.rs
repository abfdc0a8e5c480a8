//! # outpost-ffi
//!
//! The uniffi surface of Outpost for Kotlin and Swift. Wrappers only: each
//! object holds a core type, records and enums mirror core types, and the one
//! error enum [`OutpostError`] is built from [`outpost_core::Error`] in one
//! place. No sync logic lives here; the crate owns the one tokio runtime that
//! replication and async exports run on.
//!
//! - [`Database`], [`Collection`]: the local store; JSON bodies cross as strings.
//! - Queries ([`Collection::find`] with a Mango request as JSON, indexes, `search`,
//!   `live_query` with a [`LiveQueryListener`]): see the `query` module.
//! - Blobs stream in chunks: [`BlobWriter`] (from `Collection::blob_writer`) finishes into a
//!   [`BlobRef`]; [`BlobReader`] (from `Collection::open_blob`) reads by offset.
//! - [`Replicator`] with a [`ReplicatorTarget`]: another local database,
//!   or a listener's URL ([`RemoteTargetConfig`]: [`ClientAuthentication`],
//!   [`ServerTrust`]).
//! - [`Listener`]: serves a database to other devices ([`ListenerConfig`],
//!   [`ListenerAuthenticator`]); [`TlsIdentity`] for its certificate.
//! - Camp hubs: [`SystemUsers`] stored in the database (checked by
//!   `ListenerAuthenticator::system_users`) and [`ReplicationManager`]
//!   ([`ConfiguredServer`]s replicated continuously, [`ServerStatus`],
//!   [`ServerStatusListener`]).
//! - Foreign traits implemented in Kotlin or Swift: [`ConflictResolver`],
//!   [`ReplicationFilter`], [`ChangeListener`], [`ReplicatorStatusListener`],
//!   [`DocumentReplicationListener`], [`PasswordAuthenticator`]. Registering a listener returns a
//!   [`ListenerHandle`] that removes it when cancelled (releasing the handle does not).
//! - Logging: [`set_log_sink`] hands core's `tracing` events at a [`LogLevel`] to a
//!   [`LogSink`] (Logcat, `os_log` or the app's logger), credentials in URLs masked.
//!
//! The doc comments of exported items are copied into the generated Kotlin and
//! Swift, so they describe behaviour in language-neutral terms; Rust examples
//! live in module docs (here and at the top of each module), never on an item.
//!
//! # Examples
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use outpost_ffi::{Database, DatabaseConfig};
//! let db = Database::open(dir.path().join("camp.db").display().to_string(), DatabaseConfig::default()).unwrap();
//! let children = db.default_collection().unwrap();
//! let rev = children.save("child-1".into(), None, r#"{"name":"Amina"}"#.into()).unwrap();
//! assert_eq!(children.get("child-1".into()).unwrap().unwrap().rev, rev);
//! ```

mod blob;
mod collection;
mod database;
mod encryption;
mod error;
mod hub;
mod listener;
mod logging;
mod net_listener;
mod platform_keys;
mod query;
mod remote;
mod replicator;
mod runtime;
mod tls;

pub use blob::{BlobReader, BlobRef, BlobWriter, NamedBlob};
pub use collection::{ChangeEvent, ChangeListener, ChangesPage, Collection, Document, DocumentChange, WriteOperation};
pub use database::{Database, DatabaseConfig};
pub use encryption::DatabaseEncryption;
pub use error::{ErrorKind, Failure, OutpostError};
pub use hub::{
    ConfiguredServer, ReplicationManager, ServerState, ServerStatus, ServerStatusListener, SystemUser, SystemUserRole,
    SystemUsers,
};
pub use listener::ListenerHandle;
pub use logging::{set_log_sink, LogLevel, LogSink};
pub use net_listener::{ConnectionStatus, Listener, ListenerAuthenticator, ListenerConfig, PasswordAuthenticator};
pub use platform_keys::{delete_stored_identity, load_stored_identity, save_stored_identity};
pub use query::{IndexInfo, IndexKind, LiveQueryListener, QueryPlan, SearchHit};
pub use remote::{ClientAuthentication, RemoteTargetConfig};
pub use replicator::{
    ActivityLevel, CollectionReplication, Conflict, ConflictResolver, ConflictingRevision, Direction,
    DocumentReplication, DocumentReplicationListener, FilteredRevision, ReplicationFilter, Replicator,
    ReplicatorConfig, ReplicatorStatus, ReplicatorStatusListener, ReplicatorTarget, Resolution,
};

pub use tls::{certificate_fingerprint, ServerTrust, TlsIdentity};

uniffi::setup_scaffolding!();
