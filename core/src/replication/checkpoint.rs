//! Checkpoints: how far a replication has read the source, kept on both
//! sides so a restart resumes where it stopped.
//!
//! A checkpoint is a local (never replicated) document named after the
//! replication id, which hashes both databases' UUIDs, the collection, the
//! direction, the filters and the replication generation
//! ([`REPLICATION_GENERATION`]). Its body is versioned:
//! `{"version":1,"session":"<uuid>","sequence":N}`, where the sequence is a
//! number for Outpost sources and a string for CouchDB 3 ones (see
//! [`Sequence`]). Both sides must hold the
//! same session for it to be trusted; otherwise (a side was reset, or a
//! write was lost) replication safely restarts from zero, and revs-diff keeps
//! that from re-sending what the target already has.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::config::{CollectionConfig, Direction};
use super::endpoint::Endpoint;
use super::sequence::Sequence;
use crate::error::Result;

const VERSION: u32 = 1;

/// What this build's replication can carry. Raised when a build starts to
/// move what an older one refused per document (generation 2: blobs over
/// the network; 3: revisions refused at a document's live-leaf or byte
/// bound, offered again once there is room), so the first run after an
/// upgrade finds no checkpoint and compares every document again
/// (revs-diff keeps that cheap): documents an older build let the
/// checkpoint pass are sent then.
pub const REPLICATION_GENERATION: u32 = 3;

#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
struct Body {
    version: u32,
    session: String,
    sequence: Sequence,
}

/// Loads and saves the checkpoint of one collection in one direction.
pub struct Checkpointer {
    local: Arc<dyn Endpoint>,
    remote: Arc<dyn Endpoint>,
    collection: String,
    doc_id: String,
    session: String,
    saved: Option<Sequence>,
}

impl Checkpointer {
    /// A checkpointer for replicating `collection` in `direction` (`Push` or
    /// `Pull`) between two databases.
    pub async fn new(
        local: Arc<dyn Endpoint>,
        remote: Arc<dyn Endpoint>,
        collection: &CollectionConfig,
        direction: Direction,
    ) -> Result<Checkpointer> {
        let (local_uuid, remote_uuid) = (local.uuid().await?, remote.uuid().await?);
        let mut h = Sha256::new();
        for part in [
            local_uuid.as_str(),
            remote_uuid.as_str(),
            &collection.identity(),
            &format!("{direction:?}"),
            &format!("generation:{REPLICATION_GENERATION}"),
        ] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        Ok(Checkpointer {
            local,
            remote,
            collection: collection.name.clone(),
            doc_id: format!("checkpoint-{}", hex::encode(&h.finalize()[..16])),
            session: uuid::Uuid::new_v4().to_string(),
            saved: None,
        })
    }

    /// The id of the local documents that hold the checkpoint.
    pub fn doc_id(&self) -> &str {
        &self.doc_id
    }

    /// Reads both sides' checkpoints; returns the source sequence to resume
    /// from (the start when they disagree or are missing). Two different
    /// opaque sequences cannot be ordered, so they count as a disagreement.
    pub async fn load(&mut self) -> Result<Sequence> {
        let local = read(&*self.local, &self.collection, &self.doc_id).await?;
        let remote = read(&*self.remote, &self.collection, &self.doc_id).await?;
        let since = match (local, remote) {
            (Some(l), Some(r)) if l.session == r.session => {
                self.session = l.session;
                match (l.sequence.as_number(), r.sequence.as_number()) {
                    _ if l.sequence == r.sequence => l.sequence,
                    (Some(l), Some(r)) => Sequence::from(l.min(r)),
                    _ => Sequence::START,
                }
            }
            _ => Sequence::START,
        };
        self.saved = Some(since.clone());
        Ok(since)
    }

    /// The local side's sequence alone (for pending-document queries, which
    /// must work offline).
    pub async fn local_sequence(&self) -> Result<Sequence> {
        Ok(read(&*self.local, &self.collection, &self.doc_id)
            .await?
            .map_or(Sequence::START, |b| b.sequence))
    }

    /// Saves `sequence` on both sides (local first), unless already saved.
    pub async fn save(&mut self, sequence: Sequence) -> Result<()> {
        if self.saved.as_ref() == Some(&sequence) {
            return Ok(());
        }
        let body = Body {
            version: VERSION,
            session: self.session.clone(),
            sequence: sequence.clone(),
        };
        let json = serde_json::to_string(&body).unwrap_or_default();
        self.local.put_checkpoint(&self.collection, &self.doc_id, &json).await?;
        self.remote
            .put_checkpoint(&self.collection, &self.doc_id, &json)
            .await?;
        self.saved = Some(sequence);
        Ok(())
    }
}

/// A checkpoint from one side; unreadable or from another version counts as none.
async fn read(endpoint: &dyn Endpoint, collection: &str, id: &str) -> Result<Option<Body>> {
    let text = endpoint.get_checkpoint(collection, id).await?;
    Ok(text
        .and_then(|t| serde_json::from_str::<Body>(&t).ok())
        .filter(|b| b.version == VERSION))
}
