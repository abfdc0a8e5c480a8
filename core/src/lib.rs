//! # outpost-core
//!
//! An offline-first document store with revision trees and CouchDB-style
//! replication, the core of Outpost. It knows nothing of uniffi or of any
//! platform API.
//!
//! - [`Database`] and [`Collection`]: JSON documents with revision trees in
//!   one SQLite file, a changes feed, change listeners, batches.
//! - [`RevId`] and [`RevTree`]: deterministic revision ids and CouchDB's
//!   winner rule, so replicas agree without talking.
//! - [`Query`]: Mango queries, value and full-text indexes, live queries
//!   ([`Collection::find`], [`Collection::search`]).
//! - [`replication`]: the transport-independent replication algorithm
//!   between two [`replication::Endpoint`]s.
//! - [`net::couch`]: the CouchDB replication protocol (PouchDB and CouchDB peers).
//! - [`hub`]: camp hub administration (stored system users).
//!
//! # Examples
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use outpost_core::{Database, DatabaseConfig};
//! let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
//! let docs = db.default_collection().unwrap();
//! let rev = docs.save("child-1", None, r#"{"name":"Amina"}"#).unwrap();
//! assert_eq!(docs.get("child-1").unwrap().unwrap().rev, rev);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod blob;
mod body;
mod delta;
mod encryption;
mod error;
pub mod hub;
mod listeners;
pub mod net;
mod private_files;
mod query;
pub mod replication;
mod revision;
mod store;
pub mod tuning;

pub use blob::{BlobDigest, BlobReader, BlobRef, CompactReport, NamedBlob};
pub use encryption::{EncryptionKey, PassphraseSalt};
pub use error::{BlobError, Error, InvalidInput, KeyStoreError, ReplicationError, Result};
pub use listeners::ListenerToken;
pub use query::{Explain, FieldPath, IndexInfo, IndexKind, LiveQuery, Query, QueryError, SearchHit};
pub use revision::{RevId, RevNode, RevTree};
pub use store::{
    Batch, Change, ChangeEvent, ChangesBatch, Collection, ConflictedDoc, Database, DatabaseConfig, Document,
    Durability, Page, DEFAULT_COLLECTION,
};
