//! The CouchDB replication protocol, so PouchDB apps and CouchDB servers
//! sync with Outpost:
//! - [`wire`]: CouchDB's JSON (histories, changes, `_revs_diff`,
//!   `_bulk_docs`, `_bulk_get`, `_local` documents, errors, sequences) as
//!   both the server face and the HTTP client need it;
//! - [`client`]: the HTTP client endpoint, replicating with any
//!   CouchDB-protocol server;
//! - [`attachments`]: `_attachments` and Outpost's in-body blob objects;
//! - `known_blobs`: MD5-named attachments matched with blobs held;
//! - [`multipart`]: `multipart/related` and `multipart/mixed` bodies;
//! - `face`: the server, CouchDB's HTTP API on a listener's port.

pub mod attachments;
pub mod client;
pub(crate) mod face;
pub(crate) mod known_blobs;
pub mod multipart;
pub mod wire;
