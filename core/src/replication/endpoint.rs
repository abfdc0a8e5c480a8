//! The `Endpoint` trait: the operations replication needs from each side.

use async_trait::async_trait;

use crate::error::Result;
use crate::revision::RevId;
use crate::store::ChangesBatch;

/// Which revisions of one document the target lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingRevs {
    /// Document id.
    pub id: String,
    /// Revisions the target does not have.
    pub missing: Vec<RevId>,
}

/// A revision with its history, as replication moves it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    /// Document id.
    pub id: String,
    /// `history[0]` is the revision itself, then its parent, and so on.
    pub history: Vec<RevId>,
    /// Whether it is a deletion.
    pub deleted: bool,
    /// Canonical JSON body.
    pub body: String,
}

impl Revision {
    /// The revision id (`history[0]`).
    pub fn rev(&self) -> Option<&RevId> {
        self.history.first()
    }
}

/// What happened to one revision handed to [`Endpoint::insert`].
#[derive(Clone, Debug)]
pub struct InsertOutcome {
    /// Document id.
    pub id: String,
    /// `Ok(true)` if stored, `Ok(false)` if already known, or why it was
    /// refused (nothing of it was written).
    pub result: Result<bool>,
}

/// One side of a replication: a local database or a remote peer.
///
/// Every method may be called concurrently. Implementations treat their
/// inputs as untrusted.
#[async_trait]
pub trait Endpoint: Send + Sync {
    /// The UUID of the database behind this endpoint (part of the
    /// replication id that keys checkpoints).
    async fn uuid(&self) -> Result<String>;

    /// Changes of `collection` after `since`, at most `limit`, each listing
    /// every leaf revision.
    async fn changes(&self, collection: &str, since: u64, limit: usize) -> Result<ChangesBatch>;

    /// How many documents changed after `since` (for progress).
    async fn count_changes(&self, collection: &str, since: u64) -> Result<u64>;

    /// Returns once the database has a change after sequence `since`.
    async fn wait_for_changes(&self, since: u64) -> Result<()>;

    /// Which of the given revisions are missing here.
    async fn revs_diff(&self, collection: &str, revs: Vec<(String, Vec<RevId>)>) -> Result<Vec<MissingRevs>>;

    /// The given revisions with bodies and histories (at most `max_history`
    /// ids each), in order, stopping once `max_bytes` of bodies are
    /// gathered (always at least one). Revisions no longer known are left out.
    async fn fetch(
        &self,
        collection: &str,
        wanted: &[(String, RevId)],
        max_history: usize,
        max_bytes: usize,
    ) -> Result<FetchedBatch>;

    /// Stores revisions as given, merging them into revision trees.
    async fn insert(&self, collection: &str, revisions: Vec<Revision>) -> Result<Vec<InsertOutcome>>;

    /// A checkpoint saved under `id`, if any.
    async fn get_checkpoint(&self, collection: &str, id: &str) -> Result<Option<String>>;

    /// Saves a checkpoint (a JSON object) under `id`.
    async fn put_checkpoint(&self, collection: &str, id: &str, body: &str) -> Result<()>;

    /// Releases what the endpoint holds open (a network connection); the
    /// next call opens it again. Called when a replication run ends.
    async fn close(&self) {}
}

/// The answer of [`Endpoint::fetch`].
#[derive(Clone, Debug, Default)]
pub struct FetchedBatch {
    /// The revisions found, in request order.
    pub revisions: Vec<Revision>,
    /// How many entries of the request were dealt with (found or gone);
    /// the caller asks again for the rest.
    pub consumed: usize,
}
