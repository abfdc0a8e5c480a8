//! `Replicator`: push, pull or both between a database and a
//! [`ReplicatorTarget`], with status, document events, filters and a
//! conflict resolver written in Kotlin or Swift.
//!
//! The target is an object with one constructor per kind: another local
//! database, or a listener's URL with its auth and trust settings.
//!
//! # Examples
//! ```
//! # let dir = tempfile::tempdir().unwrap();
//! use outpost_ffi::*;
//! let open = |name: &str| Database::open(dir.path().join(name).display().to_string(), DatabaseConfig::default()).unwrap();
//! let (phone, hub) = (open("phone.db"), open("hub.db"));
//! phone.default_collection().unwrap().save("child-1".into(), None, "{}".into()).unwrap();
//! let config = ReplicatorConfig {
//!     direction: Some(Direction::Push),
//!     continuous: false,
//!     collections: vec![],
//!     max_attempts: None,
//!     max_attempt_wait_ms: 300_000,
//!     delta_sync: false,
//! };
//! let replicator = Replicator::new(phone, ReplicatorTarget::local_database(hub.clone()), config).unwrap();
//! replicator.run_blocking().unwrap();
//! assert_eq!(hub.default_collection().unwrap().count().unwrap(), 1);
//! ```

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use outpost_core::net as core_net;
use outpost_core::replication::{self as core, Endpoint, LocalEndpoint};

use crate::database::Database;
use crate::error::{Failure, OutpostError, Result};
use crate::listener::ListenerHandle;
use crate::remote::RemoteTargetConfig;
use crate::runtime::{runtime, spawn};

/// Which way documents flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Direction {
    /// Both ways at once.
    PushAndPull,
    /// From this database to the target.
    Push,
    /// From the target to this database.
    Pull,
}

impl From<Direction> for core::Direction {
    fn from(d: Direction) -> Self {
        match d {
            Direction::PushAndPull => core::Direction::PushAndPull,
            Direction::Push => core::Direction::Push,
            Direction::Pull => core::Direction::Pull,
        }
    }
}

impl From<core::Direction> for Direction {
    fn from(d: core::Direction) -> Self {
        match d {
            core::Direction::PushAndPull => Direction::PushAndPull,
            core::Direction::Push => Direction::Push,
            core::Direction::Pull => Direction::Pull,
        }
    }
}

/// A revision offered to a [`ReplicationFilter`].
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct FilteredRevision {
    /// Document id.
    pub id: String,
    /// Revision id.
    pub rev: String,
    /// Whether it is a deletion.
    pub deleted: bool,
    /// JSON body.
    pub body: String,
}

/// Decides which revisions are pushed (push filter) or stored (pull
/// filter). If it throws, the revision is left out: nothing leaks because
/// of a failing filter.
#[uniffi::export(with_foreign)]
pub trait ReplicationFilter: Send + Sync {
    /// `true` to replicate the revision.
    fn include(&self, revision: FilteredRevision) -> Result<bool>;
}

/// One of the revisions in conflict.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ConflictingRevision {
    /// Revision id.
    pub rev: String,
    /// Whether it is a deletion.
    pub deleted: bool,
    /// JSON body.
    pub body: String,
}

/// A document in conflict after a pull.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Conflict {
    /// Collection name.
    pub collection: String,
    /// Document id.
    pub id: String,
    /// The conflicting revisions, the default winner first.
    pub revisions: Vec<ConflictingRevision>,
}

/// What a [`ConflictResolver`] decided.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum Resolution {
    /// Keep this revision (one of the conflict's) and close the others.
    Keep {
        /// The revision kept.
        rev: String,
    },
    /// Save this JSON object body as the merged document.
    Merge {
        /// The merged body.
        body: String,
    },
    /// Delete the document.
    Delete,
}

/// Resolves conflicts found after a pull. Must be deterministic: the same
/// conflict must give the same resolution on every device. If it throws,
/// the default resolution is used (a deletion wins, else the default winner).
#[uniffi::export(with_foreign)]
pub trait ConflictResolver: Send + Sync {
    /// Resolves one conflict.
    fn resolve(&self, conflict: Conflict) -> Result<Resolution>;
}

/// What to replicate of one collection.
#[derive(Clone, uniffi::Record)]
pub struct CollectionReplication {
    /// Collection name (the same on both sides).
    pub name: String,
    /// Only these documents, if set.
    #[uniffi(default = None)]
    pub doc_ids: Option<Vec<String>>,
    /// Applied to local revisions before they are pushed.
    #[uniffi(default = None)]
    pub push_filter: Option<Arc<dyn ReplicationFilter>>,
    /// Applied to pulled revisions before they are stored.
    #[uniffi(default = None)]
    pub pull_filter: Option<Arc<dyn ReplicationFilter>>,
    /// Resolves conflicts after a pull; the default resolver if unset.
    #[uniffi(default = None)]
    pub conflict_resolver: Option<Arc<dyn ConflictResolver>>,
}

/// How a [`Replicator`] runs; every field has a default.
#[derive(Clone, uniffi::Record)]
pub struct ReplicatorConfig {
    /// Push, pull or both; unset means both.
    #[uniffi(default = None)]
    pub direction: Option<Direction>,
    /// Keep running and replicate new changes as they happen.
    #[uniffi(default = false)]
    pub continuous: bool,
    /// Collections to replicate; empty means the default collection.
    #[uniffi(default = [])]
    pub collections: Vec<CollectionReplication>,
    /// Attempts before a transient error stops the replicator; unset means
    /// 10 for one-shot and unlimited for continuous.
    #[uniffi(default = None)]
    pub max_attempts: Option<u32>,
    /// Longest wait between attempts, in milliseconds (backoff doubles up to it).
    #[uniffi(default = 300000)]
    pub max_attempt_wait_ms: u64,
    /// Delta sync: an edited document moves as the changes from the
    /// revision the other side holds, when the listener allows it too
    /// (its `deltaSync`). Off by default, as in Couchbase Lite.
    #[uniffi(default = false)]
    pub delta_sync: bool,
}

/// What the replicator is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum ActivityLevel {
    /// Not running (never started, finished, or stopped by an error).
    Stopped,
    /// Waiting to retry after a transient error.
    Offline,
    /// Opening the connection and reading checkpoints.
    Connecting,
    /// Caught up, waiting for changes (continuous).
    Idle,
    /// Transferring changes.
    Busy,
}

/// A snapshot of a replicator's state.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ReplicatorStatus {
    /// Activity.
    pub activity: ActivityLevel,
    /// Changes processed so far.
    pub completed: u64,
    /// Changes known to need processing.
    pub total: u64,
    /// The last error, if any (kept when it stopped the replicator): the
    /// error `run` throws, as a value.
    pub error: Option<Failure>,
    /// Bytes sent to the remote on the wire (TLS and framing included)
    /// since the replicator was made.
    pub bytes_sent: u64,
    /// Bytes received from the remote on the wire since the replicator
    /// was made.
    pub bytes_received: u64,
}

impl From<&core::ReplicatorStatus> for ReplicatorStatus {
    fn from(s: &core::ReplicatorStatus) -> Self {
        ReplicatorStatus {
            activity: match s.activity {
                core::ActivityLevel::Stopped => ActivityLevel::Stopped,
                core::ActivityLevel::Offline => ActivityLevel::Offline,
                core::ActivityLevel::Connecting => ActivityLevel::Connecting,
                core::ActivityLevel::Idle => ActivityLevel::Idle,
                core::ActivityLevel::Busy => ActivityLevel::Busy,
            },
            completed: s.progress.completed,
            total: s.progress.total,
            error: s.error.as_ref().map(Failure::from),
            bytes_sent: s.wire.sent,
            bytes_received: s.wire.received,
        }
    }
}

/// One document replicated (or refused) in one direction.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DocumentReplication {
    /// Collection name.
    pub collection: String,
    /// Document id.
    pub id: String,
    /// The revision replicated.
    pub rev: String,
    /// `Push` or `Pull`.
    pub direction: Direction,
    /// Whether the revision is a deletion.
    pub deleted: bool,
    /// Whether the peer removed access to the document.
    pub access_removed: bool,
    /// Why it was not stored, if it was not.
    pub error: Option<Failure>,
}

impl From<&core::DocumentEvent> for DocumentReplication {
    fn from(e: &core::DocumentEvent) -> Self {
        DocumentReplication {
            collection: e.collection.clone(),
            id: e.id.clone(),
            rev: e.rev.to_string(),
            direction: e.direction.into(),
            deleted: e.deleted,
            access_removed: e.access_removed,
            error: e.error.as_ref().map(Failure::from),
        }
    }
}

/// Told about every status change, on a replication thread.
#[uniffi::export(with_foreign)]
pub trait ReplicatorStatusListener: Send + Sync {
    /// The status changed. An error thrown here is ignored.
    fn on_status(&self, status: ReplicatorStatus) -> Result<()>;
}

/// Told about each group of documents replicated, on a replication thread.
#[uniffi::export(with_foreign)]
pub trait DocumentReplicationListener: Send + Sync {
    /// Documents were replicated or refused. An error thrown here is ignored.
    fn on_documents(&self, documents: Vec<DocumentReplication>) -> Result<()>;
}

/// Where a [`Replicator`] replicates to. Made by one constructor per kind.
#[derive(uniffi::Object)]
pub struct ReplicatorTarget {
    kind: TargetKind,
}

enum TargetKind {
    Local(Arc<dyn Endpoint>),
    /// A listener: its endpoint is made with the replicator, which knows
    /// the local database and whether it pushes.
    Remote(core_net::RemoteConfig),
}

#[uniffi::export]
impl ReplicatorTarget {
    /// Another local database (like Couchbase Lite's `DatabaseEndpoint`):
    /// for tests, backups, or two stores in one app.
    #[uniffi::constructor]
    pub fn local_database(database: Arc<Database>) -> Arc<Self> {
        Arc::new(ReplicatorTarget {
            kind: TargetKind::Local(Arc::new(LocalEndpoint::new(database.inner.clone()))),
        })
    }

    /// A listener on another device (like Couchbase Lite's `URLEndpoint`),
    /// with the credentials to present and the certificates to trust.
    ///
    /// # Errors
    /// `InvalidInput` for unparsable CA certificates.
    #[uniffi::constructor]
    pub fn url(config: RemoteTargetConfig) -> Result<Arc<Self>> {
        Ok(Arc::new(ReplicatorTarget {
            kind: TargetKind::Remote(config.try_into()?),
        }))
    }
}

/// Replicates a database with a [`ReplicatorTarget`]: push, pull or both,
/// one-shot or continuous, resuming from checkpoints.
#[derive(uniffi::Object)]
pub struct Replicator {
    inner: core::Replicator,
}

fn collection_config(c: CollectionReplication) -> core::CollectionConfig {
    let mut config = core::CollectionConfig::new(c.name);
    if let Some(ids) = c.doc_ids {
        config = config.with_doc_ids(ids);
    }
    if let Some(filter) = c.push_filter {
        config = config.with_push_filter(filter_fn(filter));
    }
    if let Some(filter) = c.pull_filter {
        config = config.with_pull_filter(filter_fn(filter));
    }
    if let Some(resolver) = c.conflict_resolver {
        config = config.with_conflict_resolver(Arc::new(ForeignResolver(resolver)));
    }
    config
}

fn filter_fn(filter: Arc<dyn ReplicationFilter>) -> core::ReplicationFilter {
    Arc::new(move |r: &core::Revision| {
        let revision = FilteredRevision {
            id: r.id.clone(),
            rev: r.rev().map(ToString::to_string).unwrap_or_default(),
            deleted: r.deleted,
            body: r.body.clone(),
        };
        // Fail closed: a filter that throws keeps the revision back.
        filter.include(revision).unwrap_or(false)
    })
}

struct ForeignResolver(Arc<dyn ConflictResolver>);

impl core::ConflictResolver for ForeignResolver {
    fn resolve(&self, conflict: &core::Conflict) -> core::Resolution {
        let foreign = Conflict {
            collection: conflict.collection.clone(),
            id: conflict.id.clone(),
            revisions: conflict
                .revisions
                .iter()
                .map(|r| ConflictingRevision {
                    rev: r.rev.to_string(),
                    deleted: r.deleted,
                    body: r.body.clone(),
                })
                .collect(),
        };
        let fallback = || core::DefaultConflictResolver.resolve(conflict);
        match self.0.resolve(foreign) {
            Ok(Resolution::Keep { rev }) => match rev.parse() {
                Ok(rev) => core::Resolution::Keep(rev),
                Err(_) => fallback(),
            },
            Ok(Resolution::Merge { body }) => core::Resolution::Merge(body),
            Ok(Resolution::Delete) => core::Resolution::Delete,
            Err(_) => fallback(),
        }
    }
}

impl TryFrom<ReplicatorConfig> for core::ReplicatorConfig {
    type Error = OutpostError;

    fn try_from(c: ReplicatorConfig) -> Result<Self> {
        let mut config = core::ReplicatorConfig {
            direction: c.direction.unwrap_or(Direction::PushAndPull).into(),
            continuous: c.continuous,
            max_attempts: c.max_attempts,
            max_attempt_wait: Duration::from_millis(c.max_attempt_wait_ms),
            delta_sync: c.delta_sync,
            ..Default::default()
        };
        if !c.collections.is_empty() {
            config.collections = c.collections.into_iter().map(collection_config).collect();
        }
        config.validate()?;
        Ok(config)
    }
}

#[uniffi::export]
impl Replicator {
    /// A replicator between `database` and `target`.
    ///
    /// # Errors
    /// `InvalidInput` if the configuration is inconsistent (a collection
    /// listed twice, zero attempts or wait) or the target's URL, heartbeat
    /// or trust settings are bad.
    #[uniffi::constructor]
    pub fn new(database: Arc<Database>, target: Arc<ReplicatorTarget>, config: ReplicatorConfig) -> Result<Arc<Self>> {
        let db = database.inner.clone();
        let inner = match &target.kind {
            TargetKind::Local(endpoint) => core::Replicator::new(db, endpoint.clone(), config.try_into()?)?,
            TargetKind::Remote(remote) => core::Replicator::remote(db, remote.clone(), config.try_into()?)?,
        };
        Ok(Arc::new(Replicator { inner }))
    }

    /// Starts replicating in the background; follow it with the status.
    /// Does nothing if it is already running. While it runs the runtime
    /// keeps it: releasing the handle (or a garbage collection) does not
    /// stop it; `stop()` does, or the end of a one-shot run.
    pub fn start(self: Arc<Self>) -> Result<()> {
        let kept = self.clone();
        runtime()?.spawn(async move {
            // The outcome is in the status; `kept` is released when it stops.
            let _ = kept.inner.run().await;
        });
        Ok(())
    }

    /// Asks it to stop; the status goes to `Stopped` when it has.
    pub fn stop(&self) {
        self.inner.stop();
    }

    /// Runs to completion (one-shot) or until stopped (continuous).
    ///
    /// # Errors
    /// The error that stopped it.
    pub async fn run(&self) -> Result<()> {
        let inner = self.inner.clone();
        spawn(async move { Ok(inner.run().await?) }).await
    }

    /// The current status.
    pub fn status(&self) -> ReplicatorStatus {
        (&self.inner.status()).into()
    }

    /// Calls `listener` on every status change.
    pub fn add_status_listener(&self, listener: Arc<dyn ReplicatorStatusListener>) -> Arc<ListenerHandle> {
        let token = self.inner.add_status_listener(move |s| {
            let _ = listener.on_status(s.into());
        });
        ListenerHandle::new(vec![token])
    }

    /// Calls `listener` with each group of documents replicated or refused.
    pub fn add_document_listener(&self, listener: Arc<dyn DocumentReplicationListener>) -> Arc<ListenerHandle> {
        let token = self.inner.add_document_listener(move |events| {
            let _ = listener.on_documents(events.iter().map(Into::into).collect());
        });
        ListenerHandle::new(vec![token])
    }

    /// Ids of local documents of `collection` waiting to be pushed.
    ///
    /// # Errors
    /// `InvalidInput` if this replicator does not push that collection.
    pub async fn pending_document_ids(&self, collection: String) -> Result<Vec<String>> {
        let inner = self.inner.clone();
        spawn(async move {
            let ids: HashSet<String> = inner.pending_document_ids(&collection).await?;
            let mut ids: Vec<String> = ids.into_iter().collect();
            ids.sort();
            Ok(ids)
        })
        .await
    }

    /// Whether the local document `id` of `collection` is waiting to be pushed.
    pub async fn is_document_pending(&self, collection: String, id: String) -> Result<bool> {
        let inner = self.inner.clone();
        spawn(async move { Ok(inner.is_document_pending(&collection, &id).await?) }).await
    }
}

impl Replicator {
    /// Runs to completion on the shared runtime, blocking the calling thread
    /// (for Rust callers and tests; Kotlin and Swift use `run`).
    ///
    /// # Errors
    /// The error that stopped it.
    pub fn run_blocking(&self) -> Result<()> {
        runtime()?.block_on(self.run())
    }
}
