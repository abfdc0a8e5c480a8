//! One endpoint wrapper for tests that count or inject a fault:
//! [`Forwarding`] passes every [`Endpoint`] method to a real inner endpoint,
//! provided methods too (so wrapping changes nothing by itself), except the
//! few a test's [`EndpointHooks`] take over.

use std::sync::Arc;

use async_trait::async_trait;
use outpost_core::replication::{
    ChangesPage, Endpoint, FetchedBatch, InsertOutcome, MissingRevs, Revision, RevisionTrust, Sequence, WireBytes,
};
use outpost_core::{BlobDigest, BlobRef, Error, Result, RevId};

/// What a test changes of an endpoint: each method gets the inner endpoint
/// and by default forwards to it. A hook that overrides
/// [`EndpointHooks::missing_blobs`] overrides
/// [`EndpointHooks::missing_blobs_resuming`] too, which the replicator
/// calls instead.
#[async_trait]
pub trait EndpointHooks: Send + Sync {
    /// [`Endpoint::fetch`].
    async fn fetch(
        &self,
        inner: &dyn Endpoint,
        c: &str,
        wanted: &[(String, RevId)],
        max_history: usize,
        max_bytes: usize,
    ) -> Result<FetchedBatch> {
        inner.fetch(c, wanted, max_history, max_bytes).await
    }

    /// [`Endpoint::fetch_deltas`].
    async fn fetch_deltas(
        &self,
        inner: &dyn Endpoint,
        c: &str,
        wanted: &[(String, RevId)],
        bases: &[Vec<RevId>],
        max_history: usize,
        max_bytes: usize,
    ) -> Result<FetchedBatch> {
        inner.fetch_deltas(c, wanted, bases, max_history, max_bytes).await
    }

    /// [`Endpoint::insert`].
    async fn insert(&self, inner: &dyn Endpoint, c: &str, revisions: Vec<Revision>) -> Result<Vec<InsertOutcome>> {
        inner.insert(c, revisions).await
    }

    /// [`Endpoint::missing_blobs`].
    async fn missing_blobs(&self, inner: &dyn Endpoint, blobs: Vec<BlobRef>) -> Result<Vec<BlobRef>> {
        inner.missing_blobs(blobs).await
    }

    /// [`Endpoint::missing_blobs_resuming`].
    async fn missing_blobs_resuming(
        &self,
        inner: &dyn Endpoint,
        blobs: Vec<BlobRef>,
    ) -> Result<Vec<(BlobRef, Option<u64>)>> {
        inner.missing_blobs_resuming(blobs).await
    }

    /// [`Endpoint::read_blob`].
    async fn read_blob(&self, inner: &dyn Endpoint, digest: &BlobDigest, offset: u64, max: usize) -> Result<Vec<u8>> {
        inner.read_blob(digest, offset, max).await
    }

    /// [`Endpoint::blob_receive_offset`].
    async fn blob_receive_offset(&self, inner: &dyn Endpoint, blob: &BlobRef) -> Result<u64> {
        inner.blob_receive_offset(blob).await
    }

    /// [`Endpoint::append_blob`].
    async fn append_blob(&self, inner: &dyn Endpoint, blob: &BlobRef, offset: u64, bytes: Vec<u8>) -> Result<u64> {
        inner.append_blob(blob, offset, bytes).await
    }
}

/// A real endpoint `inner` seen through a test's `hooks`.
pub struct Forwarding<H> {
    /// The endpoint every call ends at (unless a hook stops it).
    pub inner: Arc<dyn Endpoint>,
    /// The test's hooks and whatever they count.
    pub hooks: H,
}

impl<H: EndpointHooks> Forwarding<H> {
    /// `inner` through `hooks`.
    pub fn new(inner: Arc<dyn Endpoint>, hooks: H) -> Arc<Self> {
        Arc::new(Forwarding { inner, hooks })
    }
}

#[async_trait]
impl<H: EndpointHooks> Endpoint for Forwarding<H> {
    async fn uuid(&self) -> Result<String> {
        self.inner.uuid().await
    }
    async fn served_collections(&self) -> Result<Option<Vec<String>>> {
        self.inner.served_collections().await
    }
    async fn changes(&self, c: &str, since: &Sequence, limit: usize) -> Result<ChangesPage> {
        self.inner.changes(c, since, limit).await
    }
    async fn count_changes(&self, c: &str, since: &Sequence) -> Result<u64> {
        self.inner.count_changes(c, since).await
    }
    async fn wait_for_changes(&self, c: &str, since: &Sequence) -> Result<()> {
        self.inner.wait_for_changes(c, since).await
    }
    fn revision_trust(&self) -> RevisionTrust {
        self.inner.revision_trust()
    }
    async fn revs_diff(&self, c: &str, revs: Vec<(String, Vec<RevId>)>) -> Result<Vec<MissingRevs>> {
        self.inner.revs_diff(c, revs).await
    }
    async fn fetch(
        &self,
        c: &str,
        wanted: &[(String, RevId)],
        max_history: usize,
        max_bytes: usize,
    ) -> Result<FetchedBatch> {
        self.hooks.fetch(&*self.inner, c, wanted, max_history, max_bytes).await
    }
    async fn fetch_deltas(
        &self,
        c: &str,
        wanted: &[(String, RevId)],
        bases: &[Vec<RevId>],
        max_history: usize,
        max_bytes: usize,
    ) -> Result<FetchedBatch> {
        self.hooks
            .fetch_deltas(&*self.inner, c, wanted, bases, max_history, max_bytes)
            .await
    }
    async fn apply_deltas(&self, c: &str, revisions: Vec<Revision>) -> Result<Vec<(Revision, Option<Error>)>> {
        self.inner.apply_deltas(c, revisions).await
    }
    async fn insert(&self, c: &str, revisions: Vec<Revision>) -> Result<Vec<InsertOutcome>> {
        self.hooks.insert(&*self.inner, c, revisions).await
    }
    async fn get_checkpoint(&self, c: &str, id: &str) -> Result<Option<String>> {
        self.inner.get_checkpoint(c, id).await
    }
    async fn put_checkpoint(&self, c: &str, id: &str, body: &str) -> Result<()> {
        self.inner.put_checkpoint(c, id, body).await
    }
    async fn missing_blobs(&self, blobs: Vec<BlobRef>) -> Result<Vec<BlobRef>> {
        self.hooks.missing_blobs(&*self.inner, blobs).await
    }
    async fn missing_blobs_resuming(&self, blobs: Vec<BlobRef>) -> Result<Vec<(BlobRef, Option<u64>)>> {
        self.hooks.missing_blobs_resuming(&*self.inner, blobs).await
    }
    async fn read_blob(&self, digest: &BlobDigest, offset: u64, max_len: usize) -> Result<Vec<u8>> {
        self.hooks.read_blob(&*self.inner, digest, offset, max_len).await
    }
    async fn blob_receive_offset(&self, blob: &BlobRef) -> Result<u64> {
        self.hooks.blob_receive_offset(&*self.inner, blob).await
    }
    async fn append_blob(&self, blob: &BlobRef, offset: u64, bytes: Vec<u8>) -> Result<u64> {
        self.hooks.append_blob(&*self.inner, blob, offset, bytes).await
    }
    fn overlaps_batches(&self) -> bool {
        self.inner.overlaps_batches()
    }
    fn wire_bytes(&self) -> WireBytes {
        self.inner.wire_bytes()
    }
    async fn close(&self) {
        self.inner.close().await
    }
    async fn begin_attempt(&self) {
        self.inner.begin_attempt().await
    }
}
