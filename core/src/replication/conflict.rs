//! Conflict resolution after a pull.
//!
//! A document is in conflict when it has two or more *open* leaves: live
//! leaves, and tombstones a user wrote (not the tombstones that closed an
//! earlier conflict). A [`ConflictResolver`] picks the outcome; the store
//! then closes every other open leaf with a resolution tombstone, all with
//! deterministic revision ids, so two peers that resolve the same conflict
//! the same way write the same revisions and converge.

use std::sync::Arc;

use super::status::DocumentEvent;
use super::Direction;
use crate::body;
use crate::error::{Error, InvalidInput, ReplicationError, Result};
use crate::net::protocol::DOC_LIMIT;
use crate::revision::{RevId, RevTree, RESOLVED_TOMBSTONE_BODY};
use crate::store::{Batch, Collection};

/// One of the conflicting revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictingRevision {
    /// Revision id.
    pub rev: RevId,
    /// Whether it is a deletion.
    pub deleted: bool,
    /// Canonical JSON body.
    pub body: String,
}

/// A document in conflict, as handed to a [`ConflictResolver`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// Collection name.
    pub collection: String,
    /// Document id.
    pub id: String,
    /// The open leaves, in CouchDB winner order (best first).
    pub revisions: Vec<ConflictingRevision>,
}

/// What a resolver decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Keep this revision (one of [`Conflict::revisions`]) and close the
    /// others. Keeping a deletion deletes the document.
    Keep(RevId),
    /// Save this body (a JSON object) over the first revision and close the
    /// others.
    Merge(String),
    /// Delete the document: close every open leaf.
    Delete,
}

/// Decides the outcome of a conflict. Must be deterministic (the same
/// conflict gives the same resolution on every peer), or peers may keep
/// resolving each other's resolutions.
pub trait ConflictResolver: Send + Sync {
    /// Resolves one conflict.
    fn resolve(&self, conflict: &Conflict) -> Resolution;
}

impl<F: Fn(&Conflict) -> Resolution + Send + Sync> ConflictResolver for F {
    fn resolve(&self, conflict: &Conflict) -> Resolution {
        self(conflict)
    }
}

/// The default resolver: a deletion wins; otherwise the CouchDB winner
/// (highest generation, then highest hash) is kept. Only open leaves reach
/// it, so "a deletion" is an Outpost user's: a foreign (CouchDB or PouchDB)
/// tombstone closed its branch and is not part of the conflict
/// ([`crate::RevNode::closes_branch`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultConflictResolver;

impl ConflictResolver for DefaultConflictResolver {
    fn resolve(&self, conflict: &Conflict) -> Resolution {
        if conflict.revisions.iter().any(|r| r.deleted) {
            return Resolution::Delete;
        }
        match conflict.revisions.first() {
            Some(winner) => Resolution::Keep(winner.rev.clone()),
            None => Resolution::Delete,
        }
    }
}

/// Whether resolving the conflicts of a document that refused a revision
/// with `error` can make room for it: it was refused for the document's
/// live leaves or stored bytes, which closing branches reduces (a peer's
/// listener says so with the wire code `doc_limit`).
pub(crate) fn resolving_makes_room(error: &Error) -> bool {
    match error {
        Error::InvalidInput(InvalidInput::TooManyLeaves { .. } | InvalidInput::TreeTooLarge { .. }) => true,
        Error::Replication(ReplicationError::Refused { code, .. }) => code == DOC_LIMIT,
        _ => false,
    }
}

/// The conflict in `tree`, if it has two or more open leaves.
pub(crate) fn find_conflict(collection: &str, id: &str, tree: &RevTree) -> Option<Conflict> {
    let mut open = tree.open_leaves();
    if open.len() < 2 {
        return None;
    }
    open.sort_by(|a, b| crate::revision::winner_order(b, a));
    Some(Conflict {
        collection: collection.to_owned(),
        id: id.to_owned(),
        revisions: open
            .into_iter()
            .map(|n| ConflictingRevision {
                rev: n.rev.clone(),
                deleted: n.deleted,
                body: n.body.clone().unwrap_or_default(),
            })
            .collect(),
    })
}

/// Resolves the conflicts of the given documents (just pulled) and writes
/// the resolutions. The resolver runs with no lock held. Returns an event
/// for each document it could not resolve.
pub(crate) fn resolve_documents(
    collection: &Collection,
    ids: &[String],
    resolver: &Arc<dyn ConflictResolver>,
) -> Result<Vec<DocumentEvent>> {
    let mut decided = Vec::new();
    for id in ids {
        let Some(tree) = collection.revision_tree(id)? else {
            continue;
        };
        if let Some(conflict) = find_conflict(collection.name(), id, &tree) {
            let resolution = resolver.resolve(&conflict);
            decided.push((conflict, resolution));
        }
    }
    if decided.is_empty() {
        return Ok(Vec::new());
    }
    collection.database().batch(|b| {
        let mut failures = Vec::new();
        for (conflict, resolution) in &decided {
            if let Err(error) = apply(b, collection, conflict, resolution) {
                if !matches!(error, Error::InvalidInput(_)) {
                    return Err(error);
                }
                let first = &conflict.revisions[0];
                failures.push(DocumentEvent {
                    collection: collection.name().to_owned(),
                    id: conflict.id.clone(),
                    rev: first.rev.clone(),
                    direction: Direction::Pull,
                    deleted: first.deleted,
                    access_removed: false,
                    error: Some(error),
                });
            }
        }
        Ok(failures)
    })
}

/// Writes one resolution, if the conflict is still the same.
fn apply(b: &mut Batch<'_>, c: &Collection, conflict: &Conflict, resolution: &Resolution) -> Result<()> {
    let Some(stored) = b.load(c.id, &conflict.id)? else {
        return Ok(());
    };
    match find_conflict(c.name(), &conflict.id, &stored.tree) {
        Some(now) if now == *conflict => {}
        // Changed since the resolver ran: the next pull resolves it again.
        _ => return Ok(()),
    }
    let revs = &conflict.revisions;
    let (keep, merged): (Option<&RevId>, Option<String>) = match resolution {
        Resolution::Keep(rev) => {
            let kept = revs.iter().find(|r| &r.rev == rev).ok_or_else(|| {
                InvalidInput::BadConfig(format!(
                    "the resolver kept {rev}, which is not one of the conflicting revisions"
                ))
            })?;
            (if kept.deleted { None } else { Some(&kept.rev) }, None)
        }
        Resolution::Merge(json) => (Some(&revs[0].rev), Some(body::canonicalize(json)?)),
        Resolution::Delete => (None, None),
    };
    for r in revs.iter().filter(|r| Some(&r.rev) != keep) {
        b.add_revision(c, &conflict.id, &r.rev, true, RESOLVED_TOMBSTONE_BODY.to_owned())?;
    }
    if let (Some(base), Some(body)) = (keep, merged) {
        b.add_revision(c, &conflict.id, base, false, body)?;
    }
    Ok(())
}
