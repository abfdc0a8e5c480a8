//! Fetches missing revisions from the source, with their histories, in
//! batches bounded in bytes.

use std::sync::Arc;

use super::endpoint::{Endpoint, MissingRevs, Revision};
use crate::error::{ReplicationError, Result};
use crate::revision::RevId;
use crate::tuning::FETCH_BATCH_BYTES;

/// Walks a list of missing revisions, a byte-bounded batch at a time.
pub struct Fetcher {
    source: Arc<dyn Endpoint>,
    collection: String,
    wanted: Vec<(String, RevId)>,
    /// Per wanted revision, the target's delta bases (empty unless delta
    /// sync is on).
    bases: Vec<Vec<RevId>>,
    next: usize,
    max_history: usize,
}

impl Fetcher {
    /// A fetcher of `missing`, sending at most `max_history` ancestor ids
    /// per revision (the target's `revs_limit`).
    pub fn new(source: Arc<dyn Endpoint>, collection: &str, missing: Vec<MissingRevs>, max_history: usize) -> Self {
        let wanted = missing
            .into_iter()
            .flat_map(|m| m.missing.into_iter().map(move |r| (m.id.clone(), r)))
            .collect();
        Fetcher {
            source,
            collection: collection.to_owned(),
            wanted,
            bases: Vec::new(),
            next: 0,
            max_history,
        }
    }

    /// A fetcher of `missing` that offers the source the target's delta
    /// bases ([`MissingRevs::ancestors`]), so revisions may come as deltas
    /// (delta sync).
    pub fn with_deltas(
        source: Arc<dyn Endpoint>,
        collection: &str,
        missing: Vec<MissingRevs>,
        max_history: usize,
    ) -> Self {
        let bases = missing
            .iter()
            .flat_map(|m| m.missing.iter().map(|_| m.ancestors.clone()))
            .collect();
        Fetcher {
            bases,
            ..Fetcher::new(source, collection, missing, max_history)
        }
    }

    /// How many revisions are wanted in all.
    pub fn len(&self) -> usize {
        self.wanted.len()
    }

    /// Whether nothing is wanted.
    pub fn is_empty(&self) -> bool {
        self.wanted.is_empty()
    }

    /// The next batch, or `None` when all were fetched.
    pub async fn next_batch(&mut self) -> Result<Option<Vec<Revision>>> {
        if self.next >= self.wanted.len() {
            return Ok(None);
        }
        let rest = &self.wanted[self.next..];
        let bases = self.bases.get(self.next..).unwrap_or_default();
        let batch = if bases.iter().all(Vec::is_empty) {
            self.source
                .fetch(&self.collection, rest, self.max_history, FETCH_BATCH_BYTES)
                .await?
        } else {
            self.source
                .fetch_deltas(&self.collection, rest, bases, self.max_history, FETCH_BATCH_BYTES)
                .await?
        };
        if batch.consumed == 0 || batch.consumed > rest.len() {
            return Err(ReplicationError::PeerMisbehaved(format!(
                "fetch consumed {} of {} requested revisions",
                batch.consumed,
                rest.len()
            ))
            .into());
        }
        self.next += batch.consumed;
        Ok(Some(batch.revisions))
    }
}
