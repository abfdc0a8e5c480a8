//! Writes inside one SQLite transaction: local edits, revisions inserted by
//! replication, purges and local documents. Every write of the store goes
//! through [`Batch`], so single writes and batches share one code path.

use std::collections::HashSet;
use std::sync::Arc;

use rusqlite::{params, OptionalExtension, Transaction};

use super::names::check_doc_id;
use super::notify::{ChangeEvent, Notifier};
use super::schema;
use super::Collection;
use crate::blob::reference::blobs_of_canonical;
use crate::blob::store::BlobStore;
use crate::body::{self, EMPTY_BODY};
use crate::error::BlobError;
use crate::error::{Error, InvalidInput, Result};
use crate::revision::{check_revision, decode_tree, encode_tree, RevId, RevTree, RevisionTrust};
use crate::tuning::{MAX_DOC_TREE_BYTES, MAX_LIVE_LEAVES, MAX_REV_GENERATION};

/// A group of writes committed together or not at all.
///
/// Obtained from [`crate::Database::batch`]; if the closure returns an error
/// nothing it wrote is kept.
///
/// # Examples
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// use outpost_core::{Database, DatabaseConfig};
/// let db = Database::open(dir.path().join("camp.db"), DatabaseConfig::default()).unwrap();
/// let people = db.default_collection().unwrap();
/// db.batch(|b| {
///     for i in 0..3 {
///         b.save(&people, &format!("child-{i}"), None, r#"{"registered":true}"#)?;
///     }
///     Ok(())
/// })
/// .unwrap();
/// assert_eq!(people.count().unwrap(), 3);
/// ```
pub struct Batch<'a> {
    tx: &'a Transaction<'a>,
    blobs: &'a BlobStore,
    notifier: &'a Arc<Notifier>,
    revs_limit: u32,
    last_seq: u64,
    live_collections: HashSet<i64>,
    events: Vec<ChangeEvent>,
}

/// A document row as stored.
pub(crate) struct StoredDoc {
    pub(crate) seq: i64,
    pub(crate) tree: RevTree,
}

impl<'a> Batch<'a> {
    pub(crate) fn begin(
        tx: &'a Transaction<'a>,
        blobs: &'a BlobStore,
        notifier: &'a Arc<Notifier>,
        revs_limit: u32,
    ) -> Result<Self> {
        Ok(Batch {
            tx,
            blobs,
            notifier,
            revs_limit,
            last_seq: schema::last_sequence(tx)?,
            live_collections: HashSet::new(),
            events: Vec::new(),
        })
    }

    /// Records the new last sequence and hands back what changed.
    pub(crate) fn finish(self) -> Result<(u64, Vec<ChangeEvent>)> {
        if !self.events.is_empty() {
            self.tx.execute(
                "UPDATE info SET value = ?1 WHERE key = 'last_seq'",
                [self.last_seq as i64],
            )?;
        }
        let mut events = self.events;
        for e in &mut events {
            e.sequence = self.last_seq;
        }
        Ok((self.last_seq, events))
    }

    /// Saves a new revision of a document with optimistic concurrency.
    ///
    /// `rev` is the revision the edit is based on: `None` to create a
    /// document (or recreate a deleted one), otherwise a current leaf.
    ///
    /// # Errors
    /// [`Error::Conflict`] if `rev` is stale; [`Error::InvalidInput`] for a
    /// bad id or body; [`BlobError::Missing`] if the body names a blob not
    /// stored here (save it with [`Collection::save_blob`] first);
    /// [`Error::CollectionNotFound`] if the collection was deleted.
    pub fn save(&mut self, collection: &Collection, id: &str, rev: Option<&RevId>, body: &str) -> Result<RevId> {
        let canonical = body::canonicalize(body)?;
        self.edit(collection, id, rev, false, canonical)
    }

    /// Deletes a document: adds a tombstone revision over `rev`.
    ///
    /// # Errors
    /// [`Error::NotFound`] if there is no such document; [`Error::Conflict`]
    /// if `rev` is not a live leaf.
    pub fn delete(&mut self, collection: &Collection, id: &str, rev: &RevId) -> Result<RevId> {
        self.edit(collection, id, Some(rev), true, EMPTY_BODY.to_owned())
    }

    /// Removes a document and its history from this database only (purges
    /// are not replicated). Returns whether there was such a document.
    pub fn purge(&mut self, collection: &Collection, id: &str) -> Result<bool> {
        self.check_collection(collection)?;
        let n = self
            .tx
            .prepare_cached("DELETE FROM docs WHERE collection = ?1 AND id = ?2")?
            .execute(params![collection.id, id])?;
        Ok(n > 0)
    }

    fn edit(&mut self, c: &Collection, id: &str, rev: Option<&RevId>, deleted: bool, body: String) -> Result<RevId> {
        check_doc_id(id)?;
        self.check_collection(c)?;
        let existing = self.load(c.id, id)?;
        let conflict = |tree: Option<&RevTree>| Error::Conflict {
            id: id.to_owned(),
            current: tree.and_then(|t| t.winner()).map(|w| w.rev.to_string()),
        };
        let (mut tree, old_seq) = match existing {
            Some(doc) => (doc.tree, Some(doc.seq)),
            None if deleted => {
                return Err(Error::NotFound {
                    id: id.to_owned(),
                    rev: None,
                })
            }
            None if rev.is_some() => return Err(conflict(None)),
            None => (RevTree::default(), None),
        };
        let parent = match rev {
            Some(r) => {
                let live_leaf = tree.is_leaf(r) && tree.get(r).is_some_and(|n| !n.deleted);
                // Deleting needs a live leaf; saving may also extend a deleted leaf.
                if !(live_leaf || (!deleted && tree.is_leaf(r))) {
                    return Err(conflict(Some(&tree)));
                }
                Some(r.clone())
            }
            None => match tree.winner() {
                None => None,
                // A tombstone at the last generation has no room for a
                // live child: the document is recreated as a new branch.
                Some(w) if w.deleted && w.rev.generation() == MAX_REV_GENERATION => None,
                Some(w) if w.deleted => Some(w.rev.clone()),
                Some(_) => return Err(conflict(Some(&tree))),
            },
        };
        self.check_blobs(&body)?;
        let live_before = tree.live_leaf_count();
        let new_rev = tree.add_child(parent.as_ref(), deleted, body)?;
        self.store(c, id, old_seq, &mut tree, live_before)?;
        Ok(new_rev)
    }

    /// Adds a local revision over `parent`, a leaf of the document (as
    /// conflict resolution does): its id is deterministic and never aliases
    /// a revision already in the tree (see [`RevTree::add_child`]).
    pub(crate) fn add_revision(
        &mut self,
        c: &Collection,
        id: &str,
        parent: &RevId,
        deleted: bool,
        canonical_body: String,
    ) -> Result<RevId> {
        self.check_collection(c)?;
        let Some(doc) = self.load(c.id, id)? else {
            return Err(Error::NotFound {
                id: id.to_owned(),
                rev: Some(parent.to_string()),
            });
        };
        self.check_blobs(&canonical_body)?;
        let mut tree = doc.tree;
        let live_before = tree.live_leaf_count();
        let rev = tree.add_child(Some(parent), deleted, canonical_body)?;
        self.store(c, id, Some(doc.seq), &mut tree, live_before)?;
        Ok(rev)
    }

    /// Merges a revision with its history as given (replication's "no new
    /// edits" mode). Returns whether the revision was new.
    ///
    /// The history is cut to the database's `revs_limit` (at least the
    /// revision and its parent) before merging, so the work done inside the
    /// transaction is bounded whatever a peer sends. Under
    /// [`RevisionTrust::Verified`] the revision's id must match its content.
    ///
    /// # Errors
    /// [`InvalidInput::RevIdMismatch`] for a forged or unverifiable id,
    /// [`InvalidInput::BadHistory`] or [`InvalidInput::BadRevId`] for a bad
    /// history, [`InvalidInput::TooManyLeaves`] or
    /// [`InvalidInput::TreeTooLarge`] past the document's bounds,
    /// [`BlobError::Missing`] if the body names a blob not stored here, the
    /// body's errors as for [`Batch::save`]. Nothing is written on error.
    pub fn insert_revision(
        &mut self,
        c: &Collection,
        id: &str,
        history: &[RevId],
        deleted: bool,
        body: &str,
        trust: RevisionTrust,
    ) -> Result<bool> {
        check_doc_id(id)?;
        let canonical = body::canonicalize(body)?;
        let keep = (self.revs_limit as usize).max(2).min(history.len());
        let history = &history[..keep];
        check_revision(trust, history, deleted, &canonical)?;
        self.check_collection(c)?;
        let (mut tree, old_seq) = match self.load(c.id, id)? {
            Some(doc) => (doc.tree, Some(doc.seq)),
            None => (RevTree::default(), None),
        };
        if trust == RevisionTrust::Unverified {
            check_no_alias(&tree, history, deleted, &canonical)?;
        }
        let live_before = tree.live_leaf_count();
        let merged = tree.merge(history, deleted, canonical.clone())?;
        if !merged.changed {
            return Ok(false);
        }
        if merged.added && trust == RevisionTrust::Unverified {
            tree.mark_foreign(&history[0]);
        }
        self.check_blobs(&canonical)?;
        self.store(c, id, old_seq, &mut tree, live_before)?;
        Ok(merged.added)
    }

    /// Refuses a body that names a blob this database does not hold: a
    /// revision is never stored while a blob it names is missing. Received
    /// blobs waiting to be published are made durable and visible first
    /// (all of them at once: one fsync wait per batch). Runs inside the
    /// write transaction, so compaction (which removes blobs under the same
    /// lock) cannot interleave.
    ///
    /// # Errors
    /// [`BlobError::Missing`] naming the first missing digest.
    fn check_blobs(&self, canonical_body: &str) -> Result<()> {
        let blobs = blobs_of_canonical(canonical_body)?;
        for blob in &blobs {
            if !self.blobs.publish_for_revision(blob)? {
                return Err(BlobError::Missing {
                    digest: blob.digest.to_string(),
                }
                .into());
            }
        }
        if !blobs.is_empty() {
            // Received blobs' names are durable before the revision that
            // names them can commit (one directory sync per batch at most).
            self.blobs.sync_published()?;
        }
        Ok(())
    }

    /// Loads a document's row, checking what was read.
    pub(crate) fn load(&self, collection: i64, id: &str) -> Result<Option<StoredDoc>> {
        load_doc(self.tx, collection, id)
    }

    /// Writes a tree as the document's row under a new sequence.
    ///
    /// Refuses a tree that would have more live leaves than
    /// [`MAX_LIVE_LEAVES`] (when the write added one) or store more than
    /// [`MAX_DOC_TREE_BYTES`].
    pub(crate) fn store(
        &mut self,
        c: &Collection,
        id: &str,
        old_seq: Option<i64>,
        tree: &mut RevTree,
        live_before: usize,
    ) -> Result<()> {
        tree.prune(self.revs_limit);
        let leaves = tree.leaves().len();
        let live = tree.live_leaf_count();
        if live > MAX_LIVE_LEAVES && live > live_before {
            return Err(InvalidInput::TooManyLeaves {
                id: id.to_owned(),
                leaves: live,
                limit: MAX_LIVE_LEAVES,
            }
            .into());
        }
        let mut encoded = encode_row(tree, id)?;
        // The bodies kept as delta bases are a saving only: they give way
        // before the document is refused.
        if encoded.0 > MAX_DOC_TREE_BYTES && tree.drop_ancestor_bodies() {
            encoded = encode_row(tree, id)?;
        }
        let (size, blob) = encoded;
        let winner = tree
            .winner()
            .ok_or_else(|| Error::Corrupt(format!("document {id:?} has no revision")))?;
        let body = winner.body.as_deref().unwrap_or(EMPTY_BODY);
        if size > MAX_DOC_TREE_BYTES {
            return Err(InvalidInput::TreeTooLarge {
                id: id.to_owned(),
                size,
                limit: MAX_DOC_TREE_BYTES,
            }
            .into());
        }
        self.last_seq += 1;
        let seq = self.last_seq as i64;
        let (rev, deleted, branched) = (winner.rev.to_string(), winner.deleted, leaves > 1);
        match old_seq {
            Some(old) => self
                .tx
                .prepare_cached(
                    "UPDATE docs SET seq = ?1, rev = ?2, deleted = ?3, branched = ?4, body = ?5, tree = ?6 WHERE seq = ?7",
                )?
                .execute(params![seq, rev, deleted, branched, body, blob, old])?,
            None => self
                .tx
                .prepare_cached(
                    "INSERT INTO docs (seq, rev, deleted, branched, body, tree, collection, id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![seq, rev, deleted, branched, body, blob, c.id, id])?,
        };
        match self.events.last_mut() {
            Some(e) if e.collection == c.name => e.doc_ids.push(id.to_owned()),
            _ => self.events.push(ChangeEvent {
                collection: c.name.clone(),
                doc_ids: vec![id.to_owned()],
                sequence: 0,
            }),
        }
        Ok(())
    }

    /// Writes (or with `None`, removes) a local document.
    pub(crate) fn put_local(&mut self, c: &Collection, id: &str, body: Option<&str>) -> Result<()> {
        self.check_collection(c)?;
        match body {
            Some(b) => self
                .tx
                .prepare_cached("INSERT OR REPLACE INTO local_docs (collection, id, body) VALUES (?1, ?2, ?3)")?
                .execute(params![c.id, id, b])?,
            None => self
                .tx
                .prepare_cached("DELETE FROM local_docs WHERE collection = ?1 AND id = ?2")?
                .execute(params![c.id, id])?,
        };
        Ok(())
    }

    fn check_collection(&mut self, c: &Collection) -> Result<()> {
        if !Arc::ptr_eq(&c.notifier(), self.notifier) {
            return Err(InvalidInput::BadConfig(format!("collection {:?} belongs to another database", c.name)).into());
        }
        if self.live_collections.contains(&c.id) {
            return Ok(());
        }
        let exists = self
            .tx
            // The name too: SQLite may give a deleted collection's id to the
            // next one created, and a stale handle must not write into it.
            .prepare_cached("SELECT 1 FROM collections WHERE id = ?1 AND name = ?2")?
            .query_row(params![c.id, c.name], |_| Ok(()))
            .optional()?
            .is_some();
        if !exists {
            return Err(Error::CollectionNotFound(c.name.clone()));
        }
        self.live_collections.insert(c.id);
        Ok(())
    }
}

/// [`load_doc`], but a damaged row (one that fails its checks) is logged and
/// read as absent, so one damaged document never fails a whole batch of
/// other documents. Storage errors still fail.
pub(crate) fn load_doc_or_skip(conn: &rusqlite::Connection, collection: i64, id: &str) -> Result<Option<StoredDoc>> {
    match load_doc(conn, collection, id) {
        Err(Error::Corrupt(why)) => {
            warn_damaged(id, &why);
            Ok(None)
        }
        other => other,
    }
}

/// Logs that a damaged document row was skipped.
pub(crate) fn warn_damaged(id: &str, why: &str) {
    tracing::warn!(id = %id.escape_debug(), why = %why.escape_debug(), "skipping a damaged document");
}

/// Reads a document row and decodes its tree, checking it against the row.
pub(crate) fn load_doc(conn: &rusqlite::Connection, collection: i64, id: &str) -> Result<Option<StoredDoc>> {
    let mut stmt = conn.prepare_cached("SELECT seq, rev, body, tree FROM docs WHERE collection = ?1 AND id = ?2")?;
    let row = stmt
        .query_row(params![collection, id], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Vec<u8>>(3)?,
            ))
        })
        .optional()?;
    let Some((seq, rev, body, blob)) = row else {
        return Ok(None);
    };
    let corrupt = |why: String| Error::Corrupt(format!("document {id:?}: {why}"));
    let tree = decode_tree(&blob, &body).map_err(corrupt)?;
    if tree.winner().map(|w| w.rev.to_string()) != Some(rev) {
        return Err(corrupt("the stored winner does not match the revision tree".into()));
    }
    Ok(Some(StoredDoc { seq, tree }))
}

/// Refuses an unverifiable revision whose id names a leaf already stored
/// here with other content: nothing may alias an existing id with
/// different content ("Trust in revisions"). Ancestors keep no body, so
/// only leaves can be compared.
///
/// # Errors
/// [`InvalidInput::RevIdMismatch`] naming the revision.
fn check_no_alias(tree: &RevTree, history: &[RevId], deleted: bool, canonical: &str) -> Result<()> {
    let Some(rev) = history.first() else { return Ok(()) };
    match tree.get(rev) {
        // Leaves only: an ancestor's body kept as a delta base has lost
        // its deleted flag.
        Some(node)
            if tree.is_leaf(rev)
                && node
                    .body
                    .as_deref()
                    .is_some_and(|b| b != canonical || node.deleted != deleted) =>
        {
            Err(InvalidInput::RevIdMismatch(rev.to_string()).into())
        }
        _ => Ok(()),
    }
}

/// The stored size of a document's row (tree and winner body) and its
/// encoded tree.
fn encode_row(tree: &RevTree, id: &str) -> Result<(usize, Vec<u8>)> {
    let winner = tree
        .winner()
        .ok_or_else(|| Error::Corrupt(format!("document {id:?} has no revision")))?;
    let body = winner.body.as_deref().unwrap_or(EMPTY_BODY);
    let blob = encode_tree(tree, &winner.rev);
    Ok((blob.len() + body.len(), blob))
}
