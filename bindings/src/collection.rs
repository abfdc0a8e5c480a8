//! `Collection`: documents (JSON bodies as strings), the changes feed,
//! change listeners and batch writes.

use std::sync::Arc;

use outpost_core::RevId;

use crate::blob::{parse_digest, BlobReader, BlobWriter, NamedBlob};
use crate::error::{OutpostError, Result};
use crate::listener::ListenerHandle;

/// A document as read: its winning revision.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct Document {
    /// Document id.
    pub id: String,
    /// Winning revision id (`GENERATION-HASH`); pass it to the next save.
    pub rev: String,
    /// JSON object body (`{}` for a deletion).
    pub body: String,
    /// Whether the winner is a deletion.
    pub deleted: bool,
    /// Revision ids of the losing live leaves, if the document is in conflict.
    pub conflicts: Vec<String>,
    /// Database sequence of the document's latest change.
    pub sequence: u64,
}

impl From<outpost_core::Document> for Document {
    fn from(d: outpost_core::Document) -> Self {
        Document {
            id: d.id,
            rev: d.rev.to_string(),
            body: d.body,
            deleted: d.deleted,
            conflicts: d.conflicts.iter().map(ToString::to_string).collect(),
            sequence: d.sequence,
        }
    }
}

/// One entry of the changes feed: a document at its latest change.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct DocumentChange {
    /// Sequence of the change.
    pub sequence: u64,
    /// Document id.
    pub id: String,
    /// Winning revision after the change.
    pub rev: String,
    /// Whether the document is now deleted.
    pub deleted: bool,
}

/// A page of the changes feed.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ChangesPage {
    /// Changes in sequence order, each document once.
    pub changes: Vec<DocumentChange>,
    /// Pass this as `since` to read the next page.
    pub last_sequence: u64,
}

/// What a [`ChangeListener`] is told after a committed write.
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Record)]
pub struct ChangeEvent {
    /// Collection name.
    pub collection: String,
    /// Ids of the documents the write changed.
    pub doc_ids: Vec<String>,
    /// Database sequence after the write.
    pub sequence: u64,
}

impl From<&outpost_core::ChangeEvent> for ChangeEvent {
    fn from(e: &outpost_core::ChangeEvent) -> Self {
        ChangeEvent {
            collection: e.collection.clone(),
            doc_ids: e.doc_ids.clone(),
            sequence: e.sequence,
        }
    }
}

/// One write of a [`Collection::batch`].
#[derive(Clone, Debug, PartialEq, Eq, uniffi::Enum)]
pub enum WriteOperation {
    /// Save `body` over `rev` (`None` to create).
    Save {
        /// Document id.
        id: String,
        /// Revision the edit is based on.
        rev: Option<String>,
        /// JSON object body.
        body: String,
    },
    /// Delete the document over `rev`.
    Delete {
        /// Document id.
        id: String,
        /// Current revision.
        rev: String,
    },
    /// Remove the document and its history from this database only.
    Purge {
        /// Document id.
        id: String,
    },
}

/// Told about committed writes. Called on the thread that wrote (for
/// replicated writes, a replication thread): return quickly.
#[uniffi::export(with_foreign)]
pub trait ChangeListener: Send + Sync {
    /// Documents changed. An error thrown here is ignored.
    fn on_change(&self, change: ChangeEvent) -> Result<()>;
}

/// A collection of JSON documents in a [`crate::Database`].
#[derive(Debug, uniffi::Object)]
pub struct Collection {
    pub(crate) inner: outpost_core::Collection,
}

impl Collection {
    pub(crate) fn new(inner: outpost_core::Collection) -> Arc<Self> {
        Arc::new(Collection { inner })
    }
}

fn parse_rev(rev: &str) -> Result<RevId> {
    rev.parse::<RevId>()
        .map_err(|e| OutpostError::from(outpost_core::Error::from(e)))
}

#[uniffi::export]
impl Collection {
    /// The collection's name.
    pub fn name(&self) -> String {
        self.inner.name().to_owned()
    }

    /// The document's winning revision (a deleted one too, with `deleted`
    /// set), or `None` if there is no such document.
    pub fn get(&self, id: String) -> Result<Option<Document>> {
        Ok(self.inner.get(&id)?.map(Into::into))
    }

    /// A given revision of the document (a deletion too), or `None`.
    pub fn get_revision(&self, id: String, rev: String) -> Result<Option<Document>> {
        Ok(self.inner.get_revision(&id, &parse_rev(&rev)?)?.map(Into::into))
    }

    /// Saves `body` (a JSON object) as a new revision over `rev` (`None`
    /// to create) and returns the new revision id.
    ///
    /// # Errors
    /// `Conflict` if `rev` is not the current revision: read the document
    /// again, merge, and save over the new revision. `InvalidInput` for a
    /// bad id, revision or body.
    pub fn save(&self, id: String, rev: Option<String>, body: String) -> Result<String> {
        let rev = rev.as_deref().map(parse_rev).transpose()?;
        Ok(self.inner.save(&id, rev.as_ref(), &body)?.to_string())
    }

    /// Deletes the document over `rev`; returns the tombstone's revision id.
    ///
    /// # Errors
    /// `NotFound` if there is no such document, `Conflict` if `rev` is stale.
    pub fn delete(&self, id: String, rev: String) -> Result<String> {
        Ok(self.inner.delete(&id, &parse_rev(&rev)?)?.to_string())
    }

    /// Removes the document and its history from this database only (not
    /// replicated). Returns whether it existed.
    pub fn purge(&self, id: String) -> Result<bool> {
        Ok(self.inner.purge(&id)?)
    }

    /// Starts storing a blob (a photo, a recording) in this collection's
    /// database: write its bytes in chunks, then finish to get the reference
    /// to put in a body. The same bytes are stored once. Save the document
    /// naming it soon: compaction removes blobs no document names.
    pub fn blob_writer(&self, content_type: Option<String>) -> Result<Arc<BlobWriter>> {
        BlobWriter::start(self.inner.clone(), content_type)
    }

    /// Opens the stored blob `digest` (`sha256-...`) for reading in chunks.
    ///
    /// # Errors
    /// `NotFound` if it is not stored, `InvalidInput` for a bad digest.
    pub fn open_blob(&self, digest: String) -> Result<Arc<BlobReader>> {
        Ok(BlobReader::new(self.inner.blob(&parse_digest(&digest)?)?))
    }

    /// The blobs the winning revision of document `id` names (empty for a
    /// missing or deleted document): top-level fields by name, nested ones
    /// by JSON pointer.
    pub fn blobs(&self, id: String) -> Result<Vec<NamedBlob>> {
        Ok(self.inner.blobs(&id)?.into_iter().map(Into::into).collect())
    }

    /// Number of live (not deleted) documents.
    pub fn count(&self) -> Result<u64> {
        Ok(self.inner.count()?)
    }

    /// Up to `limit` changes after sequence `since` (0 for all).
    pub fn changes(&self, since: u64, limit: u32) -> Result<ChangesPage> {
        let batch = self.inner.changes(since, limit as usize)?;
        Ok(ChangesPage {
            changes: batch
                .changes
                .into_iter()
                .map(|c| DocumentChange {
                    sequence: c.sequence,
                    id: c.id,
                    rev: c.rev.to_string(),
                    deleted: c.deleted,
                })
                .collect(),
            last_sequence: batch.last_sequence,
        })
    }

    /// Applies every write in one transaction: all or nothing. Returns, for
    /// each operation in order, the new revision id (`None` for a purge).
    ///
    /// # Errors
    /// The first failing operation's error; nothing is written then.
    pub fn batch(&self, operations: Vec<WriteOperation>) -> Result<Vec<Option<String>>> {
        let c = &self.inner;
        let results = c.database().batch(|b| {
            let mut revs = Vec::with_capacity(operations.len());
            for op in &operations {
                revs.push(match op {
                    WriteOperation::Save { id, rev, body } => {
                        let rev = rev.as_deref().map(str::parse::<RevId>).transpose()?;
                        Some(b.save(c, id, rev.as_ref(), body)?.to_string())
                    }
                    WriteOperation::Delete { id, rev } => Some(b.delete(c, id, &rev.parse()?)?.to_string()),
                    WriteOperation::Purge { id } => {
                        b.purge(c, id)?;
                        None
                    }
                });
            }
            Ok(revs)
        })?;
        Ok(results)
    }

    /// Calls `listener` after each committed write to this collection.
    pub fn add_change_listener(&self, listener: Arc<dyn ChangeListener>) -> Arc<ListenerHandle> {
        let token = self.inner.add_change_listener(move |e| {
            // A listener's error is its own business; the write succeeded.
            let _ = listener.on_change(e.into());
        });
        ListenerHandle::new(vec![token])
    }

    /// Calls `listener` after each committed write to the document `id`.
    pub fn add_document_listener(&self, id: String, listener: Arc<dyn ChangeListener>) -> Arc<ListenerHandle> {
        let token = self.inner.add_document_listener(&id, move |e| {
            let _ = listener.on_change(e.into());
        });
        ListenerHandle::new(vec![token])
    }
}
