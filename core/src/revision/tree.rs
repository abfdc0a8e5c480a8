//! `RevTree`: every known revision of one document and how they descend.
//!
//! The tree is a set of nodes, each naming its parent. Merging a revision
//! history adds the nodes and parent links it does not have yet, so merging is
//! a set union: order-independent and idempotent. Leaves (revisions nobody
//! descends from) keep their bodies, and so do their parents (the bases of
//! delta sync) while they are within `DELTA_BASE_DEPTH`; the winner is chosen among leaves by
//! CouchDB's rule, so every replica holding the same tree agrees on it.

use std::collections::HashSet;

use super::RevId;
use crate::error::InvalidInput;
use crate::tuning::DELTA_BASE_DEPTH;

/// Body of the tombstone that conflict resolution puts on a losing branch.
/// It tells a closed branch apart from a branch a user deleted, which still
/// takes part in conflict resolution ("deletion wins").
pub(crate) const RESOLVED_TOMBSTONE_BODY: &str = r#"{"resolved_conflict":true}"#;

/// One revision of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevNode {
    /// The revision id.
    pub rev: RevId,
    /// The parent revision id, if known. The parent node itself may have been
    /// pruned away.
    pub parent: Option<RevId>,
    /// Whether this revision is a deletion (tombstone). Known for leaves
    /// only: ancestors are always `false`, as whether an ancestor was learnt
    /// with its flag depends on the order histories arrived in.
    pub deleted: bool,
    /// Canonical JSON body; kept for leaves and for the revisions up to
    /// [`DELTA_BASE_DEPTH`] above a leaf (delta sync's bases), dropped for
    /// older ancestors.
    pub body: Option<String>,
    /// Whether the id is foreign: stored with
    /// [`RevisionTrust::Unverified`](super::RevisionTrust) (from CouchDB or
    /// PouchDB, or marked so by an Outpost peer), so it is not our hash of
    /// the content and cannot be checked. Known for leaves only.
    pub foreign: bool,
}

impl RevNode {
    /// Whether this is a tombstone written by conflict resolution.
    pub fn is_resolved_tombstone(&self) -> bool {
        self.deleted && self.body.as_deref() == Some(RESOLVED_TOMBSTONE_BODY)
    }

    /// Whether this tombstone closed its branch: one written by our
    /// conflict resolution, or a foreign one (CouchDB and PouchDB close a
    /// conflict by deleting the losing leaf, and a deleted leaf is never a
    /// conflict there). Such a leaf takes no part in conflict resolution,
    /// so "a deletion wins" applies to Outpost-made deletions only.
    pub fn closes_branch(&self) -> bool {
        self.is_resolved_tombstone() || (self.deleted && self.foreign)
    }
}

/// The revision tree of one document.
///
/// # Examples
/// ```
/// use outpost_core::{RevId, RevTree};
/// let mut tree = RevTree::default();
/// let first = tree.add_child(None, false, r#"{"n":1}"#.into()).unwrap();
/// let second = tree.add_child(Some(&first), false, r#"{"n":2}"#.into()).unwrap();
/// // A conflicting edit of `first` arrives from another peer:
/// let other = RevId::compute(Some(&first), false, r#"{"n":3}"#, &[]).unwrap();
/// tree.insert(&[other.clone(), first.clone()], false, r#"{"n":3}"#.into()).unwrap();
/// assert_eq!(tree.leaves().len(), 2);
/// let winner = tree.winner().unwrap().rev.clone();
/// assert_eq!(winner, second.clone().max(other));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevTree {
    /// Sorted by revision id, unique.
    nodes: Vec<RevNode>,
}

impl RevTree {
    /// Builds a tree from nodes already checked by the caller (sorted, unique).
    pub(crate) fn from_sorted_nodes(nodes: Vec<RevNode>) -> RevTree {
        RevTree { nodes }
    }

    /// All nodes, sorted by revision id.
    pub fn nodes(&self) -> &[RevNode] {
        &self.nodes
    }

    /// Whether the tree has no revision.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The node of `rev`, if present.
    pub fn get(&self, rev: &RevId) -> Option<&RevNode> {
        self.nodes
            .binary_search_by(|n| n.rev.cmp(rev))
            .ok()
            .map(|i| &self.nodes[i])
    }

    fn parents(&self) -> HashSet<&RevId> {
        self.nodes.iter().filter_map(|n| n.parent.as_ref()).collect()
    }

    /// Whether `rev` is present and nothing descends from it.
    pub fn is_leaf(&self, rev: &RevId) -> bool {
        self.get(rev).is_some() && !self.nodes.iter().any(|n| n.parent.as_ref() == Some(rev))
    }

    /// The leaves, sorted by revision id.
    pub fn leaves(&self) -> Vec<&RevNode> {
        let parents = self.parents();
        self.nodes.iter().filter(|n| !parents.contains(&n.rev)).collect()
    }

    /// The winning revision by CouchDB's rule: among leaves, non-deleted
    /// first, then the higher generation, then the higher hash.
    pub fn winner(&self) -> Option<&RevNode> {
        self.leaves().into_iter().max_by(|a, b| winner_order(a, b))
    }

    /// The losing live leaves (CouchDB's `_conflicts`), highest first.
    pub fn conflicts(&self) -> Vec<RevId> {
        let winner = self.winner().map(|w| w.rev.clone());
        let mut revs: Vec<RevId> = self
            .leaves()
            .into_iter()
            .filter(|n| !n.deleted && Some(&n.rev) != winner.as_ref())
            .map(|n| n.rev.clone())
            .collect();
        revs.sort_by(|a, b| b.cmp(a));
        revs
    }

    /// Leaves that take part in conflict resolution: every leaf except the
    /// tombstones that close their branch ([`RevNode::closes_branch`]).
    pub fn open_leaves(&self) -> Vec<&RevNode> {
        self.leaves().into_iter().filter(|n| !n.closes_branch()).collect()
    }

    /// Marks `rev` as foreign (its id cannot be checked). Returns whether
    /// it is in the tree.
    pub(crate) fn mark_foreign(&mut self, rev: &RevId) -> bool {
        match self.nodes.binary_search_by(|n| n.rev.cmp(rev)) {
            Ok(at) => {
                self.nodes[at].foreign = true;
                true
            }
            Err(_) => false,
        }
    }

    /// Merges a revision with its history (`history[0]` is the revision,
    /// `history[1]` its parent, and so on), as replication does: the revision
    /// is stored as given, never rejected as a conflict.
    ///
    /// Merging walks the whole history: new revisions are added, a known
    /// revision whose parent was unknown learns it, and a known revision
    /// whose parent the history contradicts ends the walk (the older
    /// entries are another peer's unverifiable claims). The work is linear
    /// in the history's length plus the tree's size: new nodes are merged in
    /// one pass.
    ///
    /// Returns whether `history[0]` was new.
    ///
    /// # Errors
    /// [`InvalidInput::BadHistory`] if the history is empty or its
    /// generations do not count down by one.
    pub fn insert(&mut self, history: &[RevId], deleted: bool, body: String) -> Result<bool, InvalidInput> {
        Ok(self.merge(history, deleted, body)?.added)
    }

    /// [`RevTree::insert`], also saying whether the tree changed at all (a
    /// known revision may have learnt its parent).
    pub(crate) fn merge(&mut self, history: &[RevId], deleted: bool, body: String) -> Result<Merged, InvalidInput> {
        check_history(history)?;
        let mut fresh: Vec<RevNode> = Vec::new();
        let mut linked: Vec<RevId> = Vec::new();
        let mut body = Some(body);
        for (i, rev) in history.iter().enumerate() {
            let parent = history.get(i + 1);
            match self.nodes.binary_search_by(|n| n.rev.cmp(rev)) {
                Ok(at) => {
                    let node = &mut self.nodes[at];
                    match (&node.parent, parent) {
                        (None, Some(p)) => {
                            node.parent = Some(p.clone());
                            linked.push(p.clone());
                        }
                        (Some(known), Some(p)) if known != p => break,
                        _ => {}
                    }
                }
                Err(_) => {
                    let leaf = i == 0;
                    linked.extend(parent.cloned());
                    fresh.push(RevNode {
                        rev: rev.clone(),
                        parent: parent.cloned(),
                        deleted: leaf && deleted,
                        body: if leaf { body.take() } else { None },
                        foreign: false,
                    });
                }
            }
        }
        let added = history
            .first()
            .is_some_and(|first| fresh.first().is_some_and(|n| &n.rev == first));
        let changed = !fresh.is_empty() || !linked.is_empty();
        // The history counts down, so the new nodes are in descending order.
        fresh.reverse();
        self.merge_sorted(fresh);
        for parent in &linked {
            if let Ok(at) = self.nodes.binary_search_by(|n| n.rev.cmp(parent)) {
                let node = &mut self.nodes[at];
                node.deleted = false;
                node.foreign = false;
            }
        }
        if changed {
            self.keep_bodies_near_leaves(DELTA_BASE_DEPTH);
        }
        Ok(Merged { added, changed })
    }

    /// Drops the bodies of revisions more than `depth` generations above
    /// every leaf. The bodies kept (a leaf's parent, for `depth` 1) are the
    /// bases of delta sync; a body once dropped is not learnt again.
    fn keep_bodies_near_leaves(&mut self, depth: usize) {
        let parents: HashSet<RevId> = self.parents().into_iter().cloned().collect();
        let mut near: HashSet<RevId> = HashSet::new();
        for leaf in self.nodes.iter().filter(|n| !parents.contains(&n.rev)) {
            let mut next = leaf.parent.as_ref();
            for _ in 0..depth {
                let Some(p) = next else { break };
                near.insert(p.clone());
                next = self.get(p).and_then(|n| n.parent.as_ref());
            }
        }
        for node in &mut self.nodes {
            if parents.contains(&node.rev) && !near.contains(&node.rev) {
                node.body = None;
            }
        }
    }

    /// Drops the body of every revision that is not a leaf (the delta
    /// bases); returns whether any was held. For a document that would
    /// otherwise pass its size bound: the bases are only a saving.
    pub(crate) fn drop_ancestor_bodies(&mut self) -> bool {
        let parents: HashSet<RevId> = self.parents().into_iter().cloned().collect();
        let mut dropped = false;
        for node in &mut self.nodes {
            if parents.contains(&node.rev) && node.body.is_some() {
                node.body = None;
                dropped = true;
            }
        }
        dropped
    }

    /// Revisions of this tree that hold a body, newest generation first,
    /// that a peer may write a delta against: live leaves and the kept
    /// bodies above them, at most `max`.
    pub fn delta_bases(&self, max: usize) -> Vec<RevId> {
        let mut bases: Vec<&RevNode> = self
            .nodes
            .iter()
            .filter(|n| n.body.is_some() && !n.deleted && !n.foreign)
            .collect();
        bases.sort_by(|a, b| {
            b.rev
                .generation()
                .cmp(&a.rev.generation())
                .then_with(|| b.rev.cmp(&a.rev))
        });
        bases.into_iter().take(max).map(|n| n.rev.clone()).collect()
    }

    /// Merges sorted nodes absent from the tree in one linear pass.
    fn merge_sorted(&mut self, fresh: Vec<RevNode>) {
        if fresh.is_empty() {
            return;
        }
        let old = std::mem::take(&mut self.nodes);
        let mut merged = Vec::with_capacity(old.len() + fresh.len());
        let (mut a, mut b) = (old.into_iter().peekable(), fresh.into_iter().peekable());
        loop {
            let next = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) if x.rev < y.rev => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => break,
            };
            merged.extend(next);
        }
        self.nodes = merged;
    }

    /// Adds a new local revision as a child of `parent` (a leaf, or `None`
    /// for a first revision) and returns its deterministic id.
    ///
    /// The id is [`RevId::compute`]'s, unless that id already names a
    /// revision of this tree: a parent that is a leaf has no child, so such
    /// a revision was planted (by a peer that predicted the id) with other
    /// or unknown content, and the edit takes the first free
    /// [`RevId::compute_variant`] rather than alias it.
    ///
    /// # Errors
    /// [`InvalidInput::BadHistory`] if `parent` is not in the tree;
    /// [`InvalidInput::GenerationLimit`] if `parent` is at the last
    /// generation.
    pub fn add_child(&mut self, parent: Option<&RevId>, deleted: bool, body: String) -> Result<RevId, InvalidInput> {
        if let Some(p) = parent {
            if self.get(p).is_none() {
                return Err(InvalidInput::BadHistory(format!(
                    "parent revision {p} is not in the tree"
                )));
            }
        }
        // The revision id covers the digests of the blobs the body names.
        let digests = crate::blob::reference::rev_digests(&body);
        let digest_refs: Vec<&str> = digests.iter().map(String::as_str).collect();
        let mut variant = 0u32;
        let rev = loop {
            let id = RevId::compute_variant(parent, deleted, &body, &digest_refs, variant)?;
            // Ends: each planted id is a node, and the tree is finite.
            if self.get(&id).is_none() {
                break id;
            }
            variant = variant
                .checked_add(1)
                .ok_or_else(|| InvalidInput::BadHistory("no free revision id".into()))?;
        };
        let mut history = vec![rev.clone()];
        history.extend(parent.cloned());
        self.insert(&history, deleted, body)?;
        Ok(rev)
    }

    /// The history of `rev`: itself, then its ancestors, at most `limit`
    /// ids. The last one may be a pruned ancestor, known by id only (each
    /// node keeps its parent's id), so a revision of generation > 1 always
    /// comes with its parent when `limit` is 2 or more: a receiver can
    /// check its id against its content.
    pub fn history(&self, rev: &RevId, limit: usize) -> Vec<RevId> {
        let mut out = Vec::new();
        let mut next = self.get(rev);
        while let Some(node) = next {
            if out.len() >= limit {
                break;
            }
            out.push(node.rev.clone());
            next = match &node.parent {
                Some(p) => match self.get(p) {
                    Some(parent) => Some(parent),
                    None => {
                        if out.len() < limit {
                            out.push(p.clone());
                        }
                        None
                    }
                },
                None => None,
            };
        }
        out
    }

    /// Whether the ancestry of `rev`, within `depth` revisions, reaches a
    /// revision of generation > 1 whose parent is unknown: one a peer named
    /// only as an unverifiable ancestor, so the checked link to its parent
    /// is still to come. (A parent pruned away is known by id and does not
    /// count.)
    pub fn lacks_parent_link(&self, rev: &RevId, depth: usize) -> bool {
        let mut next = self.get(rev);
        for _ in 0..depth {
            let Some(node) = next else { return false };
            match &node.parent {
                None => return node.rev.generation() > 1,
                Some(p) => next = self.get(p),
            }
        }
        false
    }

    /// Number of leaves that are not deletions.
    pub fn live_leaf_count(&self) -> usize {
        self.leaves().iter().filter(|n| !n.deleted).count()
    }

    /// Keeps, for every leaf, itself and its closest `limit - 1` ancestors and
    /// removes older revisions. Never removes a leaf, so never changes the
    /// winner. Returns how many nodes were removed.
    pub fn prune(&mut self, limit: u32) -> usize {
        let limit = limit.max(1) as usize;
        if self.nodes.len() <= limit {
            return 0;
        }
        let mut keep: HashSet<RevId> = HashSet::new();
        for leaf in self.leaves() {
            keep.extend(self.history(&leaf.rev, limit));
        }
        let before = self.nodes.len();
        self.nodes.retain(|n| keep.contains(&n.rev));
        before - self.nodes.len()
    }
}

/// What [`RevTree::merge`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Merged {
    /// The revision itself was new.
    pub(crate) added: bool,
    /// The tree changed (a new node, or a known one learnt its parent).
    pub(crate) changed: bool,
}

/// CouchDB's winner order: live beats deleted, then by revision id.
pub(crate) fn winner_order(a: &RevNode, b: &RevNode) -> std::cmp::Ordering {
    (!a.deleted).cmp(&!b.deleted).then_with(|| a.rev.cmp(&b.rev))
}

fn check_history(history: &[RevId]) -> Result<(), InvalidInput> {
    let Some(first) = history.first() else {
        return Err(InvalidInput::BadHistory("the history is empty".into()));
    };
    if history.len() as u64 > first.generation() {
        return Err(InvalidInput::BadHistory(format!(
            "{} ids for generation {}",
            history.len(),
            first.generation()
        )));
    }
    for (i, rev) in history.iter().enumerate() {
        if rev.generation() != first.generation() - i as u64 {
            return Err(InvalidInput::BadHistory(format!(
                "revision {rev} at position {i} should have generation {}",
                first.generation() - i as u64
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rev(s: &str) -> RevId {
        s.parse().unwrap()
    }

    #[test]
    fn winner_prefers_live_then_generation_then_hash() {
        let mut t = RevTree::default();
        t.insert(&[rev("1-a")], false, "{}".into()).unwrap();
        t.insert(&[rev("3-a"), rev("2-a"), rev("1-a")], true, "{}".into())
            .unwrap();
        t.insert(&[rev("2-b"), rev("1-a")], false, "{}".into()).unwrap();
        t.insert(&[rev("2-c"), rev("1-a")], false, "{}".into()).unwrap();
        assert_eq!(t.winner().unwrap().rev, rev("2-c"));
        assert_eq!(t.conflicts(), vec![rev("2-b")]);
        // 1-a lost its body when it became a grandparent (of 3-a); one
        // known only from a history never had one.
        assert!(t.get(&rev("1-a")).unwrap().body.is_none());
        assert!(t.get(&rev("2-a")).unwrap().body.is_none());
    }

    #[test]
    fn a_leaf_parent_keeps_its_body_until_it_is_a_grandparent() {
        let mut t = RevTree::default();
        let first = t.add_child(None, false, r#"{"n":1}"#.into()).unwrap();
        let second = t.add_child(Some(&first), false, r#"{"n":2}"#.into()).unwrap();
        assert_eq!(t.get(&first).unwrap().body.as_deref(), Some(r#"{"n":1}"#));
        assert_eq!(t.delta_bases(4), vec![second.clone(), first.clone()]);
        let third = t.add_child(Some(&second), false, r#"{"n":3}"#.into()).unwrap();
        assert!(t.get(&first).unwrap().body.is_none());
        assert_eq!(t.get(&second).unwrap().body.as_deref(), Some(r#"{"n":2}"#));
        assert!(t.drop_ancestor_bodies());
        assert!(t.get(&second).unwrap().body.is_none());
        assert_eq!(t.get(&third).unwrap().body.as_deref(), Some(r#"{"n":3}"#));
    }

    #[test]
    fn refuses_bad_histories() {
        let mut t = RevTree::default();
        assert!(t.insert(&[], false, "{}".into()).is_err());
        assert!(t.insert(&[rev("3-a"), rev("1-a")], false, "{}".into()).is_err());
        assert!(t.insert(&[rev("1-a"), rev("1-b")], false, "{}".into()).is_err());
        assert!(t.is_empty());
    }

    #[test]
    fn a_local_edit_never_aliases_a_planted_id() {
        let mut t = RevTree::default();
        let first = t.add_child(None, false, r#"{"a":1}"#.into()).unwrap();
        let predicted = RevId::compute(Some(&first), true, "{}", &[]).unwrap();
        let child = RevId::compute(Some(&predicted), false, r#"{"evil":1}"#, &[]).unwrap();
        t.insert(&[child, predicted.clone()], false, r#"{"evil":1}"#.into())
            .unwrap();
        let tombstone = t.add_child(Some(&first), true, "{}".into()).unwrap();
        assert_ne!(tombstone, predicted);
        assert!(tombstone.matches_content(Some(&first), true, "{}"));
        assert_eq!(t.get(&tombstone).unwrap().parent.as_ref(), Some(&first));
    }

    #[test]
    fn merge_is_linear_and_fills_unknown_parents() {
        let history: Vec<RevId> = (1..=5000u64).rev().map(|g| RevId::new(g, "a").unwrap()).collect();
        let mut t = RevTree::default();
        t.insert(&history[..2], false, "{}".into()).unwrap();
        assert_eq!(t.get(&history[1]).unwrap().parent, None);
        let merged = t.merge(&history[1..3], false, "{}".into()).unwrap();
        assert!(merged.changed && !merged.added);
        assert!(t.lacks_parent_link(&history[0], 5));
        assert!(!t.lacks_parent_link(&history[0], 2));
        // The rest of the history links the known revisions further down.
        assert!(t.merge(&history, false, "{}".into()).unwrap().changed);
        assert_eq!(t.nodes().len(), 5000);
        assert!(!t.lacks_parent_link(&history[0], 5000));
        // A history contradicting a known parent ends the walk there.
        let other = [history[0].clone(), history[1].clone(), RevId::new(4998, "b").unwrap()];
        assert!(!t.merge(&other, false, "{}".into()).unwrap().changed);
        let mut t = RevTree::default();
        assert!(t.insert(&history, false, "{}".into()).unwrap());
        assert_eq!(t.nodes().len(), 5000);
        assert_eq!(t.leaves().len(), 1);
        assert_eq!(t.history(&history[0], 3), history[..3].to_vec());
        t.prune(2);
        assert_eq!(t.history(&history[0], 5), history[..3].to_vec());
    }

    #[test]
    fn prune_keeps_leaves_and_recent_ancestors() {
        let mut t = RevTree::default();
        let mut parent = None;
        for i in 0..10 {
            parent = Some(t.add_child(parent.as_ref(), false, format!("{{\"i\":{i}}}")).unwrap());
        }
        let tip = parent.unwrap();
        assert_eq!(t.prune(3), 7);
        // The three kept, then the pruned parent known by id.
        assert_eq!(t.history(&tip, 100).len(), 4);
        assert_eq!(t.nodes().len(), 3);
        assert_eq!(t.winner().unwrap().rev, tip);
    }
}
