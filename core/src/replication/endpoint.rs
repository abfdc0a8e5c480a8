//! The `Endpoint` trait: the operations replication needs from each side.

use async_trait::async_trait;

use super::sequence::Sequence;
use super::status::WireBytes;
use crate::blob::{BlobDigest, BlobRef};
use crate::error::{Error, InvalidInput, Result};
use crate::revision::{RevId, RevisionTrust};
use crate::store::{Change, ChangesBatch};

/// A batch of a source's changes feed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangesPage {
    /// Changes in feed order, each listing every leaf revision.
    pub changes: Vec<Change>,
    /// The feed is complete up to this sequence: pass it as `since` to read
    /// on.
    pub last_sequence: Sequence,
}

impl ChangesPage {
    /// The page of an Outpost source, whose sequences are numbers.
    ///
    /// # Errors
    /// [`crate::ReplicationError::PeerMisbehaved`] if the last sequence is
    /// not a number.
    pub fn into_numbered(self) -> Result<ChangesBatch> {
        Ok(ChangesBatch {
            last_sequence: self.last_sequence.own_number()?,
            changes: self.changes,
        })
    }
}

impl From<ChangesBatch> for ChangesPage {
    fn from(batch: ChangesBatch) -> Self {
        ChangesPage {
            changes: batch.changes,
            last_sequence: Sequence::from(batch.last_sequence),
        }
    }
}

/// Which revisions of one document the target lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingRevs {
    /// Document id.
    pub id: String,
    /// Revisions the target does not have.
    pub missing: Vec<RevId>,
    /// Revisions of the document the target holds bodies of, newest
    /// first (at most [`crate::tuning::MAX_DELTA_BASES`]): the bases a
    /// sender may write a delta from (feature `delta_sync`). Empty when
    /// the target has none or does not say.
    pub ancestors: Vec<RevId>,
}

impl MissingRevs {
    /// Missing revisions, with no delta bases.
    pub fn new(id: String, missing: Vec<RevId>) -> Self {
        MissingRevs {
            id,
            missing,
            ancestors: Vec::new(),
        }
    }
}

/// A revision's body written as the changes from another revision's body
/// (feature `delta_sync`; the format is in docs/PROTOCOL.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delta {
    /// The revision whose body the delta applies to.
    pub base: RevId,
    /// The delta, JSON.
    pub patch: String,
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
    /// Whether the id is foreign (from CouchDB or PouchDB, not our hash):
    /// stored with [`RevisionTrust::Unverified`] when inserted.
    pub foreign: bool,
    /// The body as a delta, when one is smaller. A store fetching with
    /// delta bases ([`Endpoint::fetch_deltas`]) sets it beside the full
    /// `body`, and a remote endpoint sends it instead of the body. A
    /// revision received that way has an empty `body` until the target
    /// rebuilds it ([`Endpoint::apply_deltas`]).
    pub delta: Option<Delta>,
}

impl Revision {
    /// The revision id (`history[0]`).
    pub fn rev(&self) -> Option<&RevId> {
        self.history.first()
    }

    /// Whether the body is still to be rebuilt from [`Revision::delta`].
    pub fn needs_rebuild(&self) -> bool {
        self.delta.is_some() && self.body.is_empty()
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

    /// The collections this endpoint serves, asked of the peer (a listener
    /// says so in its hello); `None` when it cannot tell (a local database,
    /// a CouchDB-protocol server), which means the default collection only.
    async fn served_collections(&self) -> Result<Option<Vec<String>>> {
        Ok(None)
    }

    /// Changes of `collection` after `since`, at most `limit`, each listing
    /// every leaf revision.
    async fn changes(&self, collection: &str, since: &Sequence, limit: usize) -> Result<ChangesPage>;

    /// How many documents changed after `since` (for progress; an estimate
    /// where the source cannot count).
    async fn count_changes(&self, collection: &str, since: &Sequence) -> Result<u64>;

    /// Returns once the database (or, where the source can only tell per
    /// collection, `collection`) has a change after sequence `since`.
    async fn wait_for_changes(&self, collection: &str, since: &Sequence) -> Result<()>;

    /// How far revisions this endpoint serves as a source can be checked
    /// when stored: [`RevisionTrust::Verified`] for Outpost peers, whose
    /// revision ids are hashes of their content;
    /// [`RevisionTrust::Unverified`] for CouchDB-protocol servers, whose
    /// ids are of another scheme.
    fn revision_trust(&self) -> RevisionTrust {
        RevisionTrust::Verified
    }

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
    ) -> Result<FetchedBatch> {
        self.fetch_deltas(collection, wanted, &[], max_history, max_bytes).await
    }

    /// [`Endpoint::fetch`], where each wanted revision may name revisions
    /// the target holds bodies of (`bases[i]` for `wanted[i]`, possibly
    /// fewer entries than `wanted`): a revision may then come with a
    /// [`Revision::delta`] from one of them. Endpoints without delta sync
    /// ignore the bases. The one fetch an endpoint implements.
    async fn fetch_deltas(
        &self,
        collection: &str,
        wanted: &[(String, RevId)],
        bases: &[Vec<RevId>],
        max_history: usize,
        max_bytes: usize,
    ) -> Result<FetchedBatch>;

    /// Rebuilds, from the bodies held here, the revisions that arrived as
    /// deltas ([`Revision::needs_rebuild`]), and checks each against its
    /// revision id. Returns every revision in order: rebuilt ones with
    /// their body (and no delta), each paired with the error that keeps it
    /// from being stored (its full body must be fetched instead). Revisions
    /// with a body pass unchanged. An endpoint that stores nothing locally
    /// cannot rebuild.
    async fn apply_deltas(&self, collection: &str, revisions: Vec<Revision>) -> Result<Vec<(Revision, Option<Error>)>> {
        let _ = collection;
        Ok(revisions
            .into_iter()
            .map(|r| {
                let error = r
                    .needs_rebuild()
                    .then(|| InvalidInput::BadDelta("this endpoint cannot rebuild deltas".into()).into());
                (r, error)
            })
            .collect())
    }

    /// Stores revisions as given, merging them into revision trees.
    async fn insert(&self, collection: &str, revisions: Vec<Revision>) -> Result<Vec<InsertOutcome>>;

    /// A checkpoint saved under `id`, if any.
    async fn get_checkpoint(&self, collection: &str, id: &str) -> Result<Option<String>>;

    /// Saves a checkpoint (a JSON object) under `id`.
    async fn put_checkpoint(&self, collection: &str, id: &str, body: &str) -> Result<()>;

    /// Which of `blobs` are not stored here (in the order given). The
    /// replicator transfers only these.
    async fn missing_blobs(&self, blobs: Vec<BlobRef>) -> Result<Vec<BlobRef>>;

    /// [`Endpoint::missing_blobs`], each with where receiving it resumes
    /// when this endpoint can tell in the same call; `None` leaves that to
    /// [`Endpoint::blob_receive_offset`], one blob at a time (the default:
    /// for a remote peer that is one request per blob either way, and
    /// those run side by side). A local store answers both in one storage
    /// task, saving a task and a hop between threads per blob.
    async fn missing_blobs_resuming(&self, blobs: Vec<BlobRef>) -> Result<Vec<(BlobRef, Option<u64>)>> {
        let missing = self.missing_blobs(blobs).await?;
        Ok(missing.into_iter().map(|b| (b, None)).collect())
    }

    /// At most `max_len` bytes of a stored blob from `offset` (fewer at the
    /// end, none past it). A transfer is a series of these, so memory on
    /// both sides is one chunk whatever the blob's size, and it can resume
    /// from any offset.
    ///
    /// # Errors
    /// [`crate::BlobError::Missing`] if the blob is not stored;
    /// [`crate::BlobError::NotSupported`] from a peer without blobs.
    async fn read_blob(&self, digest: &BlobDigest, offset: u64, max_len: usize) -> Result<Vec<u8>>;

    /// Where receiving `blob` resumes: its length if it is stored already,
    /// the bytes a cut transfer left, or 0.
    async fn blob_receive_offset(&self, blob: &BlobRef) -> Result<u64>;

    /// Appends a chunk of `blob` at `offset` (where the bytes held end) and
    /// returns the bytes now held. When all `blob.length` bytes are there
    /// they are verified against the digest, and only then does the blob
    /// become visible (a revision naming it can be stored).
    ///
    /// # Errors
    /// [`crate::BlobError::BadOffset`], [`crate::BlobError::LengthMismatch`]
    /// or [`crate::BlobError::DigestMismatch`]: nothing becomes visible.
    async fn append_blob(&self, blob: &BlobRef, offset: u64, bytes: Vec<u8>) -> Result<u64>;

    /// Whether the replicator may bring the next batch's blobs to this
    /// endpoint (as a target) while it stores the batch before, so that a
    /// store's wait (a batch's fsyncs, a round trip) overlaps the
    /// transfer. An endpoint that holds a batch's blobs in memory until
    /// that batch is stored, within a bound, says no (the default): two
    /// batches' blobs could pass the bound.
    fn overlaps_batches(&self) -> bool {
        false
    }

    /// Bytes this endpoint's connections moved on the network so far
    /// (zero for an endpoint that is not remote).
    fn wire_bytes(&self) -> WireBytes {
        WireBytes::default()
    }

    /// Releases what the endpoint holds open (a network connection); the
    /// next call opens it again. Called when a replication run ends.
    async fn close(&self) {}

    /// A new replication attempt begins: an endpoint that remembers a
    /// failed connect (so that the requests of one attempt share one
    /// login, not one each) forgets it and connects again on next use.
    /// Called by the replicator before each attempt, after its backoff.
    async fn begin_attempt(&self) {}
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
