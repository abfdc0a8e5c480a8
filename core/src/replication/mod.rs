//! Replication: CouchDB's algorithm between two [`Endpoint`]s.
//!
//! The algorithm is split into roles, one module each, run by the
//! [`Replicator`] for every collection and direction:
//!
//! - [`changes_feed`]: reads the source's changes after the checkpoint;
//! - [`rev_finder`]: asks the target which of those revisions it lacks;
//! - [`fetcher`]: fetches the missing revisions with their history, in
//!   batches bounded in bytes so memory stays flat;
//! - [`inserter`]: stores them in the target as they are ("no new edits"),
//!   and on pull hands conflicts to the [`conflict`] resolver;
//! - [`checkpoint`]: remembers on both sides how far the source was read.
//!
//! Endpoints: [`LocalEndpoint`] (a [`crate::Database`]); a remote peer over
//! WebSocket and a CouchDB-protocol server over HTTP implement the same
//! trait. Positions in a source's feed are opaque [`Sequence`]s.

pub mod changes_feed;
pub mod checkpoint;
mod config;
pub mod conflict;
mod deltas;
mod endpoint;
pub mod fetcher;
pub mod inserter;
mod local;
mod replicator;
pub mod rev_finder;
mod sequence;
mod status;

pub use crate::revision::RevisionTrust;
pub use config::{CollectionConfig, Direction, ReplicationFilter, ReplicatorConfig};
pub use conflict::{Conflict, ConflictResolver, DefaultConflictResolver, Resolution};
pub use endpoint::{ChangesPage, Delta, Endpoint, FetchedBatch, InsertOutcome, MissingRevs, Revision};
pub use local::LocalEndpoint;
pub use replicator::Replicator;
pub use sequence::Sequence;
pub use status::{ActivityLevel, DocumentEvent, Progress, ReplicatorStatus, WireBytes};
