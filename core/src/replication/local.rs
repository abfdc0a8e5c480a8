//! `LocalEndpoint`: a [`Database`] as one side of a replication.
//!
//! SQLite calls block, so each operation runs on tokio's blocking pool.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::deltas::{delta_for, rebuild};
use super::endpoint::{ChangesPage, Endpoint, FetchedBatch, InsertOutcome, MissingRevs, Revision};
use super::sequence::Sequence;
use crate::blob::{BlobDigest, BlobRef};
use crate::error::{Error, InvalidInput, Result};
use crate::revision::{RevId, RevisionTrust};
use crate::store::{load_doc_or_skip, Collection, Database};
use crate::tuning::MAX_DELTA_BASES;

/// A local database as a replication endpoint.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use std::sync::Arc;
/// use outpost_core::{Database, DatabaseConfig};
/// use outpost_core::replication::{Endpoint, LocalEndpoint};
/// let db = Database::open(dir.path().join("a.db"), DatabaseConfig::default()).unwrap();
/// let endpoint: Arc<dyn Endpoint> = Arc::new(LocalEndpoint::new(db));
/// ```
#[derive(Clone, Debug)]
pub struct LocalEndpoint {
    db: Database,
    /// How revisions handed to `insert` are checked.
    trust: RevisionTrust,
}

impl LocalEndpoint {
    /// Wraps a database; inserted revisions must pass
    /// [`RevisionTrust::Verified`].
    pub fn new(db: Database) -> LocalEndpoint {
        LocalEndpoint {
            db,
            trust: RevisionTrust::Verified,
        }
    }

    /// The same, checking inserted revisions with `trust` (the source's
    /// [`Endpoint::revision_trust`]).
    pub fn receiving(self, trust: RevisionTrust) -> LocalEndpoint {
        LocalEndpoint { trust, ..self }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.db
    }

    async fn blocking_db<T: Send + 'static>(
        &self,
        f: impl FnOnce(Database) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(db))
            .await
            .map_err(|e| Error::Corrupt(format!("a storage task failed: {e}")))?
    }

    async fn blocking<T: Send + 'static>(
        &self,
        collection: &str,
        f: impl FnOnce(Collection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = self.db.clone();
        let name = collection.to_owned();
        tokio::task::spawn_blocking(move || f(db.collection(&name)?))
            .await
            .map_err(|e| Error::Corrupt(format!("a storage task failed: {e}")))?
    }
}

#[async_trait]
impl Endpoint for LocalEndpoint {
    async fn uuid(&self) -> Result<String> {
        Ok(self.db.uuid().to_owned())
    }

    /// Received blobs wait verified on disk (bounded in bytes), published
    /// by the insert of whichever batch names them first.
    fn overlaps_batches(&self) -> bool {
        true
    }

    async fn changes(&self, collection: &str, since: &Sequence, limit: usize) -> Result<ChangesPage> {
        let since = since.own_number()?;
        let batch = self.blocking(collection, move |c| c.changes(since, limit)).await?;
        Ok(batch.into())
    }

    async fn count_changes(&self, collection: &str, since: &Sequence) -> Result<u64> {
        let since = since.own_number()?;
        self.blocking(collection, move |c| c.count_changes(since)).await
    }

    async fn wait_for_changes(&self, _collection: &str, since: &Sequence) -> Result<()> {
        let since = since.own_number()?;
        let mut rx = self.db.subscribe();
        rx.wait_for(|seq| *seq > since).await.map_err(|_| Error::Closed)?;
        Ok(())
    }

    async fn revs_diff(&self, collection: &str, revs: Vec<(String, Vec<RevId>)>) -> Result<Vec<MissingRevs>> {
        let link_depth = (self.db.config().revs_limit as usize).saturating_sub(1).max(1);
        self.blocking(collection, move |c| {
            c.database().read(|conn| {
                let mut out = Vec::new();
                let mut winner_of =
                    conn.prepare_cached("SELECT rev, branched FROM docs WHERE collection = ?1 AND id = ?2")?;
                for (id, revs) in revs {
                    let mut ancestors = Vec::new();
                    let winner: Option<(String, bool)> = winner_of
                        .query_row(params![c.id, id], |r| Ok((r.get(0)?, r.get(1)?)))
                        .optional()?;
                    let missing: Vec<RevId> = match winner {
                        None => revs,
                        // The common case: the only revision asked for is the
                        // winner of an unbranched document (a planted ancestor
                        // that matters leaves its real parent as a second leaf).
                        Some((w, false)) if revs.len() == 1 && revs[0].to_string() == w => Vec::new(),
                        Some(_) => {
                            // A damaged row is reported missing: the peer then
                            // gets that document's error on insert, and the
                            // rest of the batch goes on.
                            let tree = load_doc_or_skip(conn, c.id, &id)?.map(|d| d.tree).unwrap_or_default();
                            // A known revision whose ancestry reaches a revision
                            // with an unknown parent (a peer named it only as an
                            // unverifiable ancestor) is asked for again: its
                            // history brings the checked links. Honest trees cut
                            // at revs_limit lack a parent only at that depth.
                            let missing: Vec<RevId> = revs
                                .into_iter()
                                .filter(|r| tree.get(r).is_none() || tree.lacks_parent_link(r, link_depth))
                                .collect();
                            // The revisions held with bodies: a sender's
                            // delta bases (feature `delta_sync`).
                            let newest = missing.iter().map(RevId::generation).max().unwrap_or(0);
                            ancestors = tree
                                .delta_bases(MAX_DELTA_BASES)
                                .into_iter()
                                .filter(|b| b.generation() < newest)
                                .collect();
                            missing
                        }
                    };
                    if !missing.is_empty() {
                        out.push(MissingRevs {
                            id,
                            missing,
                            ancestors: std::mem::take(&mut ancestors),
                        });
                    }
                }
                Ok(out)
            })
        })
        .await
    }

    async fn fetch_deltas(
        &self,
        collection: &str,
        wanted: &[(String, RevId)],
        bases: &[Vec<RevId>],
        max_history: usize,
        max_bytes: usize,
    ) -> Result<FetchedBatch> {
        let wanted = wanted.to_vec();
        let bases = bases.to_vec();
        self.blocking(collection, move |c| {
            c.database().read(|conn| {
                let mut batch = FetchedBatch::default();
                let mut bytes = 0;
                let mut loaded: Option<(String, crate::RevTree)> = None;
                for (i, (id, rev)) in wanted.iter().enumerate() {
                    if bytes >= max_bytes {
                        break;
                    }
                    batch.consumed += 1;
                    if loaded.as_ref().map(|(l, _)| l) != Some(id) {
                        loaded = load_doc_or_skip(conn, c.id, id)?.map(|d| (id.clone(), d.tree));
                    }
                    let Some((_, tree)) = &loaded else { continue };
                    let Some(node) = tree.get(rev) else { continue };
                    // Leaves only: an ancestor's body kept as a delta base
                    // has lost its deleted flag.
                    let Some(body) = node.body.as_ref().filter(|_| tree.is_leaf(rev)) else {
                        continue;
                    };
                    bytes += body.len();
                    batch.revisions.push(Revision {
                        id: id.clone(),
                        // Always the parent too, so the receiver can check the id.
                        history: tree.history(rev, max_history.max(2)),
                        deleted: node.deleted,
                        body: body.clone(),
                        foreign: node.foreign,
                        delta: bases.get(i).and_then(|b| delta_for(tree, node, b)),
                    });
                }
                Ok(batch)
            })
        })
        .await
    }

    async fn apply_deltas(&self, collection: &str, revisions: Vec<Revision>) -> Result<Vec<(Revision, Option<Error>)>> {
        if !revisions.iter().any(Revision::needs_rebuild) {
            return Ok(revisions.into_iter().map(|r| (r, None)).collect());
        }
        self.blocking(collection, move |c| {
            c.database().read(|conn| {
                let mut out = Vec::with_capacity(revisions.len());
                for mut r in revisions {
                    if !r.needs_rebuild() {
                        out.push((r, None));
                        continue;
                    }
                    let tree = load_doc_or_skip(conn, c.id, &r.id)?.map(|d| d.tree);
                    let error = rebuild(tree.as_ref(), &mut r).err();
                    out.push((r, error));
                }
                Ok(out)
            })
        })
        .await
    }

    async fn insert(&self, collection: &str, revisions: Vec<Revision>) -> Result<Vec<InsertOutcome>> {
        let trust = self.trust;
        self.blocking(collection, move |c| {
            c.database().batch(|b| {
                let mut outcomes = Vec::with_capacity(revisions.len());
                for r in revisions {
                    // A revision marked foreign cannot be checked; every other
                    // rule (history, generations, bounds, no aliasing) holds.
                    let trust = if r.foreign { RevisionTrust::Unverified } else { trust };
                    if r.needs_rebuild() {
                        let unbuilt = InvalidInput::BadDelta("a delta was not rebuilt before insert".into());
                        outcomes.push(InsertOutcome {
                            id: r.id,
                            result: Err(unbuilt.into()),
                        });
                        continue;
                    }
                    let result = match b.insert_revision(&c, &r.id, &r.history, r.deleted, &r.body, trust) {
                        Ok(added) => Ok(added),
                        Err(e @ (Error::InvalidInput(_) | Error::Corrupt(_) | Error::Blob(_))) => Err(e),
                        Err(e) => return Err(e),
                    };
                    outcomes.push(InsertOutcome { id: r.id, result });
                }
                Ok(outcomes)
            })
        })
        .await
    }

    async fn missing_blobs(&self, blobs: Vec<BlobRef>) -> Result<Vec<BlobRef>> {
        let missing = self.missing_blobs_resuming(blobs).await?;
        Ok(missing.into_iter().map(|(b, _)| b).collect())
    }

    async fn missing_blobs_resuming(&self, blobs: Vec<BlobRef>) -> Result<Vec<(BlobRef, Option<u64>)>> {
        self.blocking_db(move |db| {
            let store = db.blob_store();
            let mut missing = Vec::new();
            for blob in blobs {
                if !store.contains(&blob)? {
                    // A blob refused here (too large) is refused again, as
                    // its document's error, when its offset is asked alone.
                    let offset = store.receive_offset(&blob).ok();
                    missing.push((blob, offset));
                }
            }
            Ok(missing)
        })
        .await
    }

    async fn read_blob(&self, digest: &BlobDigest, offset: u64, max_len: usize) -> Result<Vec<u8>> {
        let digest = *digest;
        self.blocking_db(move |db| db.blob_store().read_chunk(&digest, offset, max_len))
            .await
    }

    async fn blob_receive_offset(&self, blob: &BlobRef) -> Result<u64> {
        let blob = blob.clone();
        self.blocking_db(move |db| db.blob_store().receive_offset(&blob)).await
    }

    async fn append_blob(&self, blob: &BlobRef, offset: u64, bytes: Vec<u8>) -> Result<u64> {
        let blob = blob.clone();
        self.blocking_db(move |db| {
            let held = db.blob_store().append_chunk(&blob, offset, &bytes);
            crate::blob::chunk_pool::give_back(bytes);
            held
        })
        .await
    }

    async fn get_checkpoint(&self, collection: &str, id: &str) -> Result<Option<String>> {
        let id = id.to_owned();
        self.blocking(collection, move |c| c.get_local(&id)).await
    }

    async fn put_checkpoint(&self, collection: &str, id: &str, body: &str) -> Result<()> {
        let (id, body) = (id.to_owned(), body.to_owned());
        self.blocking(collection, move |c| c.put_local(&id, &body)).await
    }
}
