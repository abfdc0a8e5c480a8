//! Replicator configuration, checked when a [`super::Replicator`] is made.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use super::conflict::ConflictResolver;
use super::endpoint::Revision;
use crate::error::{InvalidInput, Result};
use crate::store::DEFAULT_COLLECTION;

/// Which way documents flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Local to remote.
    Push,
    /// Remote to local.
    Pull,
    /// Both, at the same time.
    PushAndPull,
}

impl Direction {
    pub(crate) fn pushes(self) -> bool {
        matches!(self, Direction::Push | Direction::PushAndPull)
    }

    pub(crate) fn pulls(self) -> bool {
        matches!(self, Direction::Pull | Direction::PushAndPull)
    }
}

/// Decides whether a revision is replicated: `true` to send (push) or
/// accept (pull) it.
pub type ReplicationFilter = Arc<dyn Fn(&Revision) -> bool + Send + Sync>;

/// What to replicate of one collection.
///
/// # Examples
/// ```
/// use std::sync::Arc;
/// use outpost_core::replication::CollectionConfig;
/// let children = CollectionConfig::new("children")
///     .with_doc_ids(["child-1", "child-2"])
///     .with_push_filter(Arc::new(|rev| !rev.body.contains("\"draft\":true")));
/// assert_eq!(children.name, "children");
/// ```
#[derive(Clone)]
pub struct CollectionConfig {
    /// Collection name (the same on both sides).
    pub name: String,
    /// Only these documents, if set.
    pub doc_ids: Option<HashSet<String>>,
    /// Filter applied to revisions before they are pushed.
    pub push_filter: Option<ReplicationFilter>,
    /// Filter applied to pulled revisions before they are stored.
    pub pull_filter: Option<ReplicationFilter>,
    /// Resolves conflicts found after a pull; the
    /// [`super::DefaultConflictResolver`] if `None`.
    pub conflict_resolver: Option<Arc<dyn ConflictResolver>>,
}

impl CollectionConfig {
    /// All documents of `name`, no filters, the default resolver.
    pub fn new(name: impl Into<String>) -> Self {
        CollectionConfig {
            name: name.into(),
            doc_ids: None,
            push_filter: None,
            pull_filter: None,
            conflict_resolver: None,
        }
    }

    /// Replicates only these document ids.
    pub fn with_doc_ids<I: IntoIterator<Item = S>, S: Into<String>>(mut self, ids: I) -> Self {
        self.doc_ids = Some(ids.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the push filter.
    pub fn with_push_filter(mut self, filter: ReplicationFilter) -> Self {
        self.push_filter = Some(filter);
        self
    }

    /// Sets the pull filter.
    pub fn with_pull_filter(mut self, filter: ReplicationFilter) -> Self {
        self.pull_filter = Some(filter);
        self
    }

    /// Sets the conflict resolver.
    pub fn with_conflict_resolver(mut self, resolver: Arc<dyn ConflictResolver>) -> Self {
        self.conflict_resolver = Some(resolver);
        self
    }

    /// What of this config changes which documents flow: part of the
    /// replication id, so changing it restarts from zero.
    pub(crate) fn identity(&self) -> String {
        let mut ids: Vec<&String> = self.doc_ids.iter().flatten().collect();
        ids.sort();
        format!(
            "{}|{:?}|push_filter={}|pull_filter={}",
            self.name,
            ids,
            self.push_filter.is_some(),
            self.pull_filter.is_some()
        )
    }
}

impl std::fmt::Debug for CollectionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectionConfig")
            .field("name", &self.name)
            .field("doc_ids", &self.doc_ids)
            .field("push_filter", &self.push_filter.is_some())
            .field("pull_filter", &self.pull_filter.is_some())
            .field("conflict_resolver", &self.conflict_resolver.is_some())
            .finish()
    }
}

/// How a [`super::Replicator`] runs.
///
/// # Examples
/// ```
/// use outpost_core::replication::{Direction, ReplicatorConfig};
/// let config = ReplicatorConfig { direction: Direction::Pull, continuous: true, ..Default::default() };
/// assert_eq!(config.collections[0].name, "_default");
/// ```
#[derive(Clone, Debug)]
pub struct ReplicatorConfig {
    /// Push, pull or both; both by default.
    pub direction: Direction,
    /// Keep running and replicate new changes as they happen; one-shot by
    /// default.
    pub continuous: bool,
    /// Collections to replicate; the default collection by default.
    pub collections: Vec<CollectionConfig>,
    /// Replicate every collection the peer serves instead, asked at each
    /// connection (made locally when missing), each with its settings in
    /// `collections` if named there, else the defaults. A peer that cannot
    /// say (a CouchDB-protocol server) gives the default collection.
    pub all_served_collections: bool,
    /// Attempts before a transient error stops the replicator; `None` means
    /// 10 for one-shot and unlimited for continuous.
    pub max_attempts: Option<u32>,
    /// Longest wait between attempts (backoff doubles up to this); 300 s.
    pub max_attempt_wait: Duration,
    /// Delta sync, off by default (as in Couchbase Lite): a revision whose
    /// ancestor the other side holds moves as the changes from that
    /// ancestor's body instead of the full body. Used only with a listener
    /// that allows it too (`ListenerConfig::delta_sync`, feature
    /// `delta_sync`); revisions with foreign ids always move in full.
    pub delta_sync: bool,
}

impl Default for ReplicatorConfig {
    fn default() -> Self {
        ReplicatorConfig {
            direction: Direction::PushAndPull,
            continuous: false,
            collections: vec![CollectionConfig::new(DEFAULT_COLLECTION)],
            all_served_collections: false,
            max_attempts: None,
            max_attempt_wait: Duration::from_secs(300),
            delta_sync: false,
        }
    }
}

impl ReplicatorConfig {
    /// Checks the fields against each other.
    ///
    /// # Errors
    /// [`InvalidInput::BadConfig`] for no collections, a repeated
    /// collection, `max_attempts` of 0 or a zero `max_attempt_wait`.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: &str| Err(InvalidInput::BadConfig(why.to_owned()).into());
        if self.collections.is_empty() && !self.all_served_collections {
            return bad("at least one collection must be replicated");
        }
        let names: HashSet<&str> = self.collections.iter().map(|c| c.name.as_str()).collect();
        if names.len() != self.collections.len() {
            return bad("a collection is listed twice");
        }
        if self.max_attempts == Some(0) {
            return bad("max_attempts must be at least 1");
        }
        if self.max_attempt_wait.is_zero() {
            return bad("max_attempt_wait must be more than zero");
        }
        Ok(())
    }

    /// Attempts allowed before giving up (`u32::MAX` for unlimited).
    pub(crate) fn attempts(&self) -> u32 {
        self.max_attempts.unwrap_or(if self.continuous { u32::MAX } else { 10 })
    }
}
