//! `Collection`: reads and writes of the documents of one collection.

use std::io::Read;
use std::sync::Arc;

use rusqlite::{params, OptionalExtension};

use super::notify::{ChangeEvent, Notifier};
use super::schema;
use super::writer::{load_doc, warn_damaged};
use super::{Change, ChangesBatch, ConflictedDoc, Database, Document, Page};
use crate::blob::reference::blobs_in_body;
use crate::blob::{BlobDigest, BlobReader, BlobRef, NamedBlob};
use crate::body;
#[allow(unused_imports)] // named in docs
use crate::error::BlobError;
use crate::error::{Error, InvalidInput, Result};
use crate::listeners::ListenerToken;
use crate::revision::{decode_tree, RevId, RevTree};

/// A named set of documents inside a [`Database`].
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use outpost_core::{Database, DatabaseConfig, Error};
/// let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
/// let families = db.create_collection("families").unwrap();
/// let first = families.save("f-1", None, r#"{"members":2}"#).unwrap();
/// let second = families.save("f-1", Some(&first), r#"{"members":3}"#).unwrap();
/// // Saving over a stale revision is a conflict, never a silent overwrite:
/// let stale = families.save("f-1", Some(&first), r#"{"members":4}"#);
/// assert!(matches!(stale, Err(Error::Conflict { .. })));
/// families.delete("f-1", &second).unwrap();
/// assert!(families.get("f-1").unwrap().unwrap().deleted);
/// ```
#[derive(Clone)]
pub struct Collection {
    db: Database,
    pub(crate) id: i64,
    pub(crate) name: String,
}

impl std::fmt::Debug for Collection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collection").field("name", &self.name).finish()
    }
}

impl Collection {
    pub(crate) fn new(db: Database, id: i64, name: String) -> Collection {
        Collection { db, id, name }
    }

    pub(crate) fn notifier(&self) -> Arc<Notifier> {
        self.db.inner.notifier.clone()
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database it belongs to.
    pub fn database(&self) -> &Database {
        &self.db
    }

    /// The winning revision of a document (deleted ones too, with
    /// `deleted` set), or `None` if there is no such document.
    pub fn get(&self, id: &str) -> Result<Option<Document>> {
        self.db.read(|c| {
            let Some(doc) = load_doc(c, self.id, id)? else {
                return Ok(None);
            };
            let conflicts = doc.tree.conflicts();
            let winner = doc
                .tree
                .winner()
                .ok_or_else(|| Error::Corrupt(format!("document {id:?} is empty")))?;
            Ok(Some(Document {
                id: id.to_owned(),
                rev: winner.rev.clone(),
                body: winner.body.clone().unwrap_or_default(),
                deleted: winner.deleted,
                conflicts,
                sequence: doc.seq as u64,
            }))
        })
    }

    /// A given revision of a document, if it is a leaf (the bodies kept
    /// for older revisions, delta sync's bases, are not documents).
    pub fn get_revision(&self, id: &str, rev: &RevId) -> Result<Option<Document>> {
        let Some(doc) = self.db.read(|c| load_doc(c, self.id, id))? else {
            return Ok(None);
        };
        let sequence = doc.seq as u64;
        let leaf = doc.tree.is_leaf(rev);
        Ok(doc.tree.get(rev).filter(|_| leaf).and_then(|node| {
            Some(Document {
                id: id.to_owned(),
                rev: node.rev.clone(),
                body: node.body.clone()?,
                deleted: node.deleted,
                conflicts: Vec::new(),
                sequence,
            })
        }))
    }

    /// The whole revision tree of a document.
    pub fn revision_tree(&self, id: &str) -> Result<Option<RevTree>> {
        self.db.read(|c| Ok(load_doc(c, self.id, id)?.map(|d| d.tree)))
    }

    /// Saves a document. `rev` is the revision the edit is based on: `None`
    /// to create one (or recreate a deleted one). Returns the new revision.
    ///
    /// # Errors
    /// [`Error::Conflict`] if `rev` is not current; [`Error::InvalidInput`]
    /// for a bad id or body (nothing is written).
    pub fn save(&self, id: &str, rev: Option<&RevId>, body: &str) -> Result<RevId> {
        self.db.batch(|b| b.save(self, id, rev, body))
    }

    /// Deletes a document (writes a tombstone revision over `rev`).
    pub fn delete(&self, id: &str, rev: &RevId) -> Result<RevId> {
        self.db.batch(|b| b.delete(self, id, rev))
    }

    /// Removes a document and all its history from this database only.
    /// Returns whether it existed.
    pub fn purge(&self, id: &str) -> Result<bool> {
        self.db.batch(|b| b.purge(self, id))
    }

    /// Stores a blob (a photo, a recording), streaming `reader` into the
    /// database's blob store, and returns the reference to put in a body
    /// ([`BlobRef::to_json`]). The same bytes are stored once, however many
    /// documents name them. Save the document naming it soon: a blob no
    /// document names is removed by [`Database::compact`] once past its
    /// grace period.
    ///
    /// # Errors
    /// [`BlobError::TooLarge`] past [`crate::tuning::MAX_BLOB_BYTES`],
    /// [`BlobError::Io`]; nothing is stored on error.
    pub fn save_blob(&self, reader: impl Read, content_type: Option<&str>) -> Result<BlobRef> {
        let content_type = content_type.map(str::to_owned);
        let (digest, length) = self.db.blob_store().write(reader, None)?;
        let blob = BlobRef {
            digest,
            length,
            content_type,
        };
        // The same checks a body gets, so the reference can always be saved.
        let mut map = serde_json::Map::new();
        map.insert("blob".into(), blob.to_json());
        blobs_in_body(&map)?;
        Ok(blob)
    }

    /// Stores a blob whose digest and length are known (received, or
    /// re-imported), checking the bytes against them.
    ///
    /// # Errors
    /// [`BlobError::DigestMismatch`] or [`BlobError::LengthMismatch`] if
    /// the bytes are not those named; nothing is stored.
    pub fn save_blob_expecting(&self, reader: impl Read, expected: &BlobRef) -> Result<()> {
        self.db.blob_store().write(reader, Some(expected))?;
        Ok(())
    }

    /// Opens a stored blob for reading (streamed: [`Read`] + [`std::io::Seek`]).
    ///
    /// # Errors
    /// [`BlobError::Missing`] if it is not stored.
    pub fn blob(&self, digest: &BlobDigest) -> Result<BlobReader> {
        self.db.blob_store().open(digest)
    }

    /// The blobs the winning revision of document `id` names (empty for a
    /// missing or deleted document): top-level fields by name, nested ones
    /// by JSON pointer.
    ///
    /// # Errors
    /// [`Error::Corrupt`] if the stored body does not parse.
    pub fn blobs(&self, id: &str) -> Result<Vec<NamedBlob>> {
        let Some(doc) = self.get(id)? else {
            return Ok(Vec::new());
        };
        if doc.deleted {
            return Ok(Vec::new());
        }
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(&doc.body).map_err(|e| Error::Corrupt(format!("document {id:?}: {e}")))?;
        Ok(blobs_in_body(&map)?)
    }

    /// Number of live (not deleted) documents.
    pub fn count(&self) -> Result<u64> {
        self.db.read(|c| {
            let n: i64 = c
                .prepare_cached("SELECT count(*) FROM docs WHERE collection = ?1 AND deleted = 0")?
                .query_row([self.id], |r| r.get(0))?;
            Ok(n as u64)
        })
    }

    /// Changes after sequence `since`, oldest first, at most `limit`. Each
    /// document appears once, at its latest change; deletions are included.
    ///
    /// A damaged row (one whose revision does not parse or whose tree does
    /// not decode) is logged and skipped, never fatal for the feed; see
    /// [`Collection::changes_reporting`] for the skipped ids.
    pub fn changes(&self, since: u64, limit: usize) -> Result<ChangesBatch> {
        Ok(self.changes_reporting(since, limit)?.0)
    }

    /// [`Collection::changes`], with the ids of the damaged rows skipped.
    pub fn changes_reporting(&self, since: u64, limit: usize) -> Result<(ChangesBatch, Vec<String>)> {
        self.db.read(|c| {
            let last = schema::last_sequence(c)?;
            // `+collection` keeps SQLite on the rowid (sequence) order. No
            // LIMIT: damaged rows are skipped, and the cursor streams.
            let mut stmt = c.prepare_cached(
                "SELECT seq, id, rev, deleted, CASE WHEN branched THEN body END, CASE WHEN branched THEN tree END
                 FROM docs WHERE seq > ?1 AND +collection = ?2 ORDER BY seq",
            )?;
            let mut rows = stmt.query(params![since as i64, self.id])?;
            let (mut changes, mut damaged) = (Vec::new(), Vec::new());
            let mut read_up_to = None;
            while changes.len() < limit {
                let Some(row) = rows.next()? else { break };
                let sequence = row.get::<_, i64>(0)? as u64;
                let id: String = row.get(1)?;
                read_up_to = Some(sequence);
                match change_of_row(row, sequence, &id) {
                    Ok(change) => changes.push(change),
                    Err(why) => {
                        warn_damaged(&id, &why);
                        damaged.push(id);
                    }
                }
            }
            let last_sequence = match read_up_to {
                Some(seq) if changes.len() >= limit => seq,
                // Nothing was read: the feed is complete only up to `since`.
                None if limit == 0 => since,
                _ => last,
            };
            Ok((ChangesBatch { changes, last_sequence }, damaged))
        })
    }

    /// Live documents (winning revisions that are not deletions) in
    /// ascending id order, by UTF-8 bytes: at most `limit` of them, the
    /// first after `start_after` (`None` starts at the beginning). Each
    /// comes with its body and conflicts, like [`Collection::get`].
    /// Damaged rows are logged and skipped ([`Collection::live_docs`]
    /// names them).
    ///
    /// To walk a whole collection in bounded memory, page through it: pass
    /// the last id of one page as `start_after` of the next, and stop at a
    /// page shorter than `limit`. Each page is read in one snapshot; writes
    /// between pages are seen by later pages only if their id comes later.
    ///
    /// # Examples
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use outpost_core::{Database, DatabaseConfig};
    /// let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
    /// let docs = db.default_collection().unwrap();
    /// for id in ["c", "a", "b"] {
    ///     docs.save(id, None, "{}").unwrap();
    /// }
    /// let first = docs.all_docs(None, 2).unwrap();
    /// assert_eq!(first.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    /// let rest = docs.all_docs(Some("b"), 2).unwrap();
    /// assert_eq!(rest.len(), 1);
    /// assert_eq!(rest[0].id, "c");
    /// ```
    pub fn all_docs(&self, start_after: Option<&str>, limit: usize) -> Result<Vec<Document>> {
        Ok(self.live_docs(start_after, limit)?.items)
    }

    /// [`Collection::all_docs`] as a [`Page`] that names the damaged rows
    /// skipped.
    pub fn live_docs(&self, start_after: Option<&str>, limit: usize) -> Result<Page<Document>> {
        self.live_rows(
            "SELECT id, rev, body, seq, CASE WHEN branched THEN tree END
             FROM docs WHERE collection = ?1 AND id > ?2 AND deleted = 0 ORDER BY id",
            start_after,
            limit,
            |row, id| {
                let rev = parse_rev(row.get(1)?)?;
                let body: String = row.get(2)?;
                let conflicts = match row.get::<_, Option<Vec<u8>>>(4)? {
                    Some(blob) => decode_tree(&blob, &body)?.conflicts(),
                    None => Vec::new(),
                };
                Ok(Some(Document {
                    rev,
                    body,
                    deleted: false,
                    conflicts,
                    sequence: row.get::<_, i64>(3)? as u64,
                    id: id.to_owned(),
                }))
            },
        )
    }

    /// Live documents that have conflicts, in id order, without bodies: at
    /// most `limit`, the first after `start_after`. Only one document's
    /// tree is decoded at a time, so memory is bounded by
    /// [`crate::tuning::MAX_DOC_TREE_BYTES`] plus the ids of a page.
    pub fn conflicted_docs(&self, start_after: Option<&str>, limit: usize) -> Result<Page<ConflictedDoc>> {
        self.live_rows(
            "SELECT id, rev, body, tree FROM docs
             WHERE collection = ?1 AND id > ?2 AND deleted = 0 AND branched ORDER BY id",
            start_after,
            limit,
            |row, id| {
                let rev = parse_rev(row.get(1)?)?;
                let conflicts = decode_tree(&row.get::<_, Vec<u8>>(3)?, &row.get::<_, String>(2)?)?.conflicts();
                Ok((!conflicts.is_empty()).then(|| ConflictedDoc {
                    id: id.to_owned(),
                    rev,
                    conflicts,
                }))
            },
        )
    }

    /// Reads rows of `sql` (parameters: collection, start after; first
    /// column the id) into a [`Page`] of what `item` makes of them,
    /// skipping (and naming) the rows it finds damaged.
    fn live_rows<T>(
        &self,
        sql: &str,
        start_after: Option<&str>,
        limit: usize,
        item: impl Fn(&rusqlite::Row<'_>, &str) -> std::result::Result<Option<T>, RowError>,
    ) -> Result<Page<T>> {
        self.db.read(|c| {
            // Uses the (collection, id) index, so each page is a range scan.
            let mut stmt = c.prepare_cached(sql)?;
            let mut rows = stmt.query(params![self.id, start_after.unwrap_or("")])?;
            let mut page = Page {
                items: Vec::new(),
                damaged: Vec::new(),
                last_id: None,
            };
            while page.items.len() < limit {
                let Some(row) = rows.next()? else {
                    page.last_id = None;
                    return Ok(page);
                };
                let id: String = row.get(0)?;
                match item(row, &id) {
                    Ok(Some(doc)) => page.items.push(doc),
                    Ok(None) => {}
                    Err(RowError::Damaged(why)) => {
                        warn_damaged(&id, &why);
                        page.damaged.push(id.clone());
                    }
                    Err(RowError::Storage(e)) => return Err(e.into()),
                }
                page.last_id = Some(id);
            }
            Ok(page)
        })
    }

    /// How many documents of this collection changed after `since`.
    pub fn count_changes(&self, since: u64) -> Result<u64> {
        self.db.read(|c| {
            let n: i64 = c
                .prepare_cached("SELECT count(*) FROM docs WHERE seq > ?1 AND +collection = ?2")?
                .query_row(params![since as i64, self.id], |r| r.get(0))?;
            Ok(n as u64)
        })
    }

    /// Calls `listener` after each committed write that changed documents of
    /// this collection, on the writing thread. Dropping the token removes it.
    pub fn add_change_listener(&self, listener: impl Fn(&ChangeEvent) + Send + Sync + 'static) -> ListenerToken {
        self.db
            .inner
            .notifier
            .add_listener(&self.name, None, Arc::new(listener))
    }

    /// Calls `listener` after each committed write that changed the document
    /// `id`. Dropping the token removes it.
    pub fn add_document_listener(
        &self,
        id: &str,
        listener: impl Fn(&ChangeEvent) + Send + Sync + 'static,
    ) -> ListenerToken {
        self.db
            .inner
            .notifier
            .add_listener(&self.name, Some(id), Arc::new(listener))
    }

    /// A local document: stored here only, never replicated (checkpoints
    /// live here).
    pub fn get_local(&self, id: &str) -> Result<Option<String>> {
        self.db.read(|c| {
            Ok(
                c.prepare_cached("SELECT body FROM local_docs WHERE collection = ?1 AND id = ?2")?
                    .query_row(params![self.id, id], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    /// Writes a local document (a JSON object).
    pub fn put_local(&self, id: &str, body: &str) -> Result<()> {
        let canonical = body::canonicalize(body)?;
        self.db.batch(|b| b.put_local(self, id, Some(&canonical)))
    }

    /// Removes a local document.
    pub fn delete_local(&self, id: &str) -> Result<()> {
        self.db.batch(|b| b.put_local(self, id, None))
    }
}

/// Why a row could not be read.
enum RowError {
    /// The row fails its checks: skipped.
    Damaged(String),
    /// SQLite failed: the read fails.
    Storage(rusqlite::Error),
}

impl From<rusqlite::Error> for RowError {
    fn from(e: rusqlite::Error) -> Self {
        RowError::Storage(e)
    }
}

impl From<String> for RowError {
    fn from(why: String) -> Self {
        RowError::Damaged(why)
    }
}

fn parse_rev(text: String) -> std::result::Result<RevId, RowError> {
    text.parse().map_err(|e: InvalidInput| RowError::Damaged(e.to_string()))
}

/// One row of the changes feed as a [`Change`], or why it is damaged.
fn change_of_row(row: &rusqlite::Row<'_>, sequence: u64, id: &str) -> std::result::Result<Change, String> {
    let get = |e: rusqlite::Error| e.to_string();
    let rev: RevId = row
        .get::<_, String>(2)
        .map_err(get)?
        .parse()
        .map_err(|e: InvalidInput| e.to_string())?;
    let leaves = match (
        row.get::<_, Option<String>>(4).map_err(get)?,
        row.get::<_, Option<Vec<u8>>>(5).map_err(get)?,
    ) {
        (Some(body), Some(blob)) => {
            let tree = decode_tree(&blob, &body)?;
            let mut leaves: Vec<RevId> = tree
                .leaves()
                .into_iter()
                .map(|n| n.rev.clone())
                .filter(|r| r != &rev)
                .collect();
            leaves.insert(0, rev.clone());
            leaves
        }
        _ => vec![rev.clone()],
    };
    Ok(Change {
        sequence,
        id: id.to_owned(),
        rev,
        deleted: row.get(3).map_err(get)?,
        leaves,
    })
}
