//! Reads the source's changes after the checkpoint, batch by batch, keeping
//! only the documents the configuration asks for.

use std::collections::HashSet;
use std::sync::Arc;

use super::endpoint::{ChangesPage, Endpoint};
use super::sequence::Sequence;
use crate::error::Result;
use crate::store::Change;
use crate::tuning::CHANGES_BATCH_SIZE;

/// The source's changes feed for one collection.
pub struct ChangesFeed {
    source: Arc<dyn Endpoint>,
    collection: String,
    doc_ids: Option<HashSet<String>>,
    since: Sequence,
}

impl ChangesFeed {
    /// A feed of `collection` starting after `since`.
    pub fn new(source: Arc<dyn Endpoint>, collection: &str, doc_ids: Option<HashSet<String>>, since: Sequence) -> Self {
        ChangesFeed {
            source,
            collection: collection.to_owned(),
            doc_ids,
            since,
        }
    }

    /// The sequence read up to.
    pub fn since(&self) -> &Sequence {
        &self.since
    }

    /// How many changes are waiting after the current position (an upper
    /// bound when a doc-id filter is set).
    pub async fn pending(&self) -> Result<u64> {
        self.source.count_changes(&self.collection, &self.since).await
    }

    /// The next batch (empty when caught up). Its `last_sequence` is where
    /// the feed continues; the caller calls [`ChangesFeed::advance`] once the
    /// batch is safely stored.
    pub async fn next_batch(&self) -> Result<ChangesPage> {
        let mut batch = self
            .source
            .changes(&self.collection, &self.since, CHANGES_BATCH_SIZE)
            .await?;
        if let Some(ids) = &self.doc_ids {
            batch.changes.retain(|c: &Change| ids.contains(&c.id));
        }
        Ok(batch)
    }

    /// Moves past a processed batch.
    pub fn advance(&mut self, to: Sequence) {
        self.since = self.since.advanced_to(to);
    }

    /// Returns once the source has changes after the current position.
    pub async fn wait(&self) -> Result<()> {
        self.source.wait_for_changes(&self.collection, &self.since).await
    }
}
