//! Property tests of `RevTree`: merging revision histories is a set union
//! (order-independent, idempotent), never loses a leaf, picks the same winner
//! whatever the order, and pruning keeps leaves, the winner and each leaf's
//! newest ancestors.

use std::collections::{BTreeMap, BTreeSet};

use outpost_core::{RevId, RevTree};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

/// One revision of a generated document history.
#[derive(Clone, Debug)]
struct Rev {
    id: RevId,
    parent: Option<usize>,
    deleted: bool,
    body: String,
}

/// A revision history to merge: `revs[0]` is the revision, then its ancestors.
#[derive(Clone, Debug)]
struct History {
    revs: Vec<RevId>,
    deleted: bool,
    body: String,
}

/// A random revision forest (mostly one root, sometimes several, as after
/// two peers create the same id independently) and the histories a
/// replicator could deliver of it: every leaf, plus some inner revisions,
/// each possibly cut short (as `revs_limit` does on the sending side).
#[derive(Clone, Debug)]
struct Case {
    revs: Vec<Rev>,
    histories: Vec<History>,
}

/// Raw shape of a node: (new root?, parent selector, deleted?, hash mode).
type NodeShape = (bool, usize, bool, u8);

fn build_case(shape: Vec<NodeShape>, extra: Vec<(usize, usize)>, cuts: Vec<usize>) -> Case {
    let mut revs: Vec<Rev> = Vec::with_capacity(shape.len());
    for (i, (root, parent_sel, deleted, mode)) in shape.into_iter().enumerate() {
        let parent = if i == 0 || root { None } else { Some(parent_sel % i) };
        let body = format!(r#"{{"n":{i}}}"#);
        let parent_id = parent.map(|p| revs[p].id.clone());
        // Mostly deterministic ids as the store computes them; sometimes a
        // short hand-made hash, so that ids of one generation compare by
        // hash in interesting ways (no two nodes may share an id).
        let id = if mode % 4 == 0 {
            let generation = parent_id.as_ref().map_or(1, |p| p.generation() + 1);
            RevId::new(generation, &format!("h{i}")).expect("valid rev id")
        } else {
            RevId::compute(parent_id.as_ref(), deleted, &body, &[]).expect("generation in range")
        };
        revs.push(Rev {
            id,
            parent,
            deleted,
            body,
        });
    }
    let has_child: BTreeSet<usize> = revs.iter().filter_map(|r| r.parent).collect();
    let mut heads: Vec<usize> = (0..revs.len()).filter(|i| !has_child.contains(i)).collect();
    heads.extend(extra.iter().map(|(sel, _)| sel % revs.len()));
    let mut histories = Vec::new();
    for (k, head) in heads.into_iter().enumerate() {
        let mut chain = vec![head];
        while let Some(p) = revs[*chain.last().unwrap()].parent {
            chain.push(p);
        }
        // Most histories are complete; some are cut to a random length >= 1.
        let cut = cuts.get(k).copied().unwrap_or(0);
        if cut % 3 == 0 {
            chain.truncate(1 + cut / 3 % chain.len());
        }
        histories.push(History {
            revs: chain.iter().map(|&i| revs[i].id.clone()).collect(),
            deleted: revs[head].deleted,
            body: revs[head].body.clone(),
        });
    }
    Case { revs, histories }
}

fn case_strategy() -> impl Strategy<Value = Case> {
    let node = (
        prop::bool::weighted(0.08),
        any::<usize>(),
        prop::bool::weighted(0.3),
        any::<u8>(),
    );
    (
        prop::collection::vec(node, 1..40),
        prop::collection::vec((any::<usize>(), any::<usize>()), 0..12),
        prop::collection::vec(any::<usize>(), 0..60),
    )
        .prop_map(|(shape, extra, cuts)| build_case(shape, extra, cuts))
}

fn merge<'a>(histories: impl IntoIterator<Item = &'a History>) -> RevTree {
    let mut tree = RevTree::default();
    for h in histories {
        tree.insert(&h.revs, h.deleted, h.body.clone()).expect("valid history");
    }
    tree
}

fn shuffled(histories: &[History], seed: u64) -> Vec<History> {
    let mut out = histories.to_vec();
    out.shuffle(&mut StdRng::seed_from_u64(seed));
    out
}

/// What the merged tree must contain, worked out from the histories alone.
struct Expected {
    /// Every revision named, with the parent named for it (if any).
    parents: BTreeMap<RevId, Option<RevId>>,
    /// Revisions nobody descends from.
    leaves: BTreeSet<RevId>,
}

fn expected(case: &Case) -> Expected {
    let mut parents: BTreeMap<RevId, Option<RevId>> = BTreeMap::new();
    for h in &case.histories {
        for (i, rev) in h.revs.iter().enumerate() {
            let parent = h.revs.get(i + 1).cloned();
            let slot = parents.entry(rev.clone()).or_insert(None);
            if slot.is_none() {
                *slot = parent;
            }
        }
    }
    let named_parents: BTreeSet<&RevId> = parents.values().flatten().collect();
    let leaves = parents.keys().filter(|r| !named_parents.contains(r)).cloned().collect();
    Expected { parents, leaves }
}

fn rev_info<'a>(case: &'a Case, id: &RevId) -> &'a Rev {
    case.revs.iter().find(|r| &r.id == id).expect("generated revision")
}

/// The tree without the bodies kept above leaves (delta sync's bases):
/// which of those are kept depends on the order revisions arrived in.
fn shape(tree: &RevTree) -> Vec<(RevId, Option<RevId>, bool, Option<String>)> {
    tree.nodes()
        .iter()
        .map(|n| {
            let body = tree.is_leaf(&n.rev).then(|| n.body.clone()).flatten();
            (n.rev.clone(), n.parent.clone(), n.deleted, body)
        })
        .collect()
}

fn leaf_set(tree: &RevTree) -> BTreeSet<RevId> {
    tree.leaves().into_iter().map(|n| n.rev.clone()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn merge_is_order_independent(case in case_strategy(), seed_a in any::<u64>(), seed_b in any::<u64>()) {
        let in_order = merge(&case.histories);
        let a = merge(&shuffled(&case.histories, seed_a));
        let b = merge(shuffled(&case.histories, seed_b).iter().rev());
        prop_assert_eq!(shape(&a), shape(&in_order));
        prop_assert_eq!(shape(&b), shape(&in_order));
        prop_assert_eq!(a.winner(), in_order.winner());
        prop_assert_eq!(b.conflicts(), in_order.conflicts());
    }

    #[test]
    fn merge_is_idempotent(case in case_strategy(), seed in any::<u64>()) {
        let once = merge(&case.histories);
        let mut twice = once.clone();
        for h in shuffled(&case.histories, seed) {
            let added = twice.insert(&h.revs, h.deleted, h.body.clone()).expect("valid history");
            prop_assert!(!added, "{} reported as new on the second merge", h.revs[0]);
        }
        prop_assert_eq!(&twice, &once);
    }

    #[test]
    fn insert_reports_new_revisions(case in case_strategy(), seed in any::<u64>()) {
        let mut tree = RevTree::default();
        let mut seen: BTreeSet<RevId> = BTreeSet::new();
        for h in shuffled(&case.histories, seed) {
            let added = tree.insert(&h.revs, h.deleted, h.body.clone()).expect("valid history");
            prop_assert_eq!(added, !seen.contains(&h.revs[0]), "insert of {}", &h.revs[0]);
            seen.extend(h.revs.iter().cloned());
            prop_assert!(tree.get(&h.revs[0]).is_some());
        }
    }

    #[test]
    fn merge_holds_exactly_the_named_revisions_and_never_loses_a_leaf(
        case in case_strategy(),
        seed in any::<u64>(),
    ) {
        let tree = merge(&shuffled(&case.histories, seed));
        let want = expected(&case);
        let nodes: BTreeMap<RevId, Option<RevId>> =
            tree.nodes().iter().map(|n| (n.rev.clone(), n.parent.clone())).collect();
        prop_assert_eq!(&nodes, &want.parents);
        prop_assert!(tree.nodes().windows(2).all(|w| w[0].rev < w[1].rev), "nodes not sorted and unique");
        prop_assert_eq!(leaf_set(&tree), want.leaves.clone());
        for node in tree.nodes() {
            let info = rev_info(&case, &node.rev);
            if want.leaves.contains(&node.rev) {
                prop_assert!(tree.is_leaf(&node.rev));
                prop_assert_eq!(node.body.as_deref(), Some(info.body.as_str()), "leaf {} lost its body", &node.rev);
                prop_assert_eq!(node.deleted, info.deleted);
            } else {
                prop_assert!(!tree.is_leaf(&node.rev));
                // Only a leaf's parent may keep its body (a delta base),
                // and only the body that revision had.
                let parent_of_leaf = tree.leaves().iter().any(|l| l.parent.as_ref() == Some(&node.rev));
                if let Some(body) = &node.body {
                    prop_assert!(parent_of_leaf, "ancestor {} kept a body above the delta bases", &node.rev);
                    prop_assert_eq!(body, &info.body, "ancestor {} kept another body", &node.rev);
                }
                prop_assert!(!node.deleted, "ancestor {} kept its deleted flag", &node.rev);
            }
        }
        // Every generated leaf was delivered, so every one is a leaf of the tree.
        let has_child: BTreeSet<usize> = case.revs.iter().filter_map(|r| r.parent).collect();
        for (i, r) in case.revs.iter().enumerate() {
            if !has_child.contains(&i) {
                prop_assert!(tree.is_leaf(&r.id), "generated leaf {} is not a leaf", &r.id);
            }
        }
    }

    #[test]
    fn winner_follows_couchdb_rule_whatever_the_order(
        case in case_strategy(),
        seeds in prop::collection::vec(any::<u64>(), 1..4),
    ) {
        let want = expected(&case);
        let best = want
            .leaves
            .iter()
            .max_by_key(|r| (!rev_info(&case, r).deleted, (*r).clone()))
            .expect("at least one leaf")
            .clone();
        for seed in seeds {
            let tree = merge(&shuffled(&case.histories, seed));
            let winner = tree.winner().expect("non-empty tree");
            prop_assert_eq!(&winner.rev, &best);
            let conflicts = tree.conflicts();
            prop_assert!(!conflicts.contains(&best));
            prop_assert!(conflicts.windows(2).all(|w| w[0] > w[1]), "conflicts not highest first");
            let live_losers: BTreeSet<RevId> = want
                .leaves
                .iter()
                .filter(|r| **r != best && !rev_info(&case, r).deleted)
                .cloned()
                .collect();
            prop_assert_eq!(conflicts.into_iter().collect::<BTreeSet<_>>(), live_losers);
        }
    }

    #[test]
    fn prune_keeps_leaves_winner_and_newest_history(
        case in case_strategy(),
        seed in any::<u64>(),
        limit in 1u32..12,
    ) {
        let before = merge(&shuffled(&case.histories, seed));
        let mut after = before.clone();
        let removed = after.prune(limit);
        let limit = limit as usize;
        prop_assert_eq!(removed, before.nodes().len() - after.nodes().len());
        prop_assert_eq!(leaf_set(&after), leaf_set(&before));
        prop_assert_eq!(after.winner(), before.winner());
        prop_assert_eq!(after.conflicts(), before.conflicts());
        let mut reachable: BTreeSet<RevId> = BTreeSet::new();
        for leaf in before.leaves() {
            let depth = before.history(&leaf.rev, usize::MAX).len();
            let kept = after.history(&leaf.rev, limit);
            prop_assert_eq!(kept.len(), limit.min(depth), "history of {}", &leaf.rev);
            prop_assert_eq!(&kept, &before.history(&leaf.rev, limit));
            // Shared ancestors kept for another branch may extend a history
            // past `limit`, but never past what it was before.
            let full = after.history(&leaf.rev, usize::MAX).len();
            prop_assert!(full >= limit.min(depth) && full <= depth);
            prop_assert_eq!(after.get(&leaf.rev), before.get(&leaf.rev));
            reachable.extend(kept);
        }
        // Nothing else survives, unless the tree was already small enough.
        if before.nodes().len() > limit {
            let kept: BTreeSet<RevId> = after.nodes().iter().map(|n| n.rev.clone()).collect();
            prop_assert_eq!(kept, reachable);
        } else {
            prop_assert_eq!(&after, &before);
        }
        // Pruning again changes nothing.
        let mut again = after.clone();
        prop_assert_eq!(again.prune(limit as u32), 0);
        prop_assert_eq!(again, after);
    }
}

#[test]
fn insert_refuses_bad_histories_and_leaves_tree_unchanged() {
    let mut tree = RevTree::default();
    let first = tree.add_child(None, false, r#"{"a":1}"#.into()).unwrap();
    let snapshot = tree.clone();
    let r = |s: &str| s.parse::<RevId>().unwrap();
    assert!(tree.insert(&[], false, "{}".into()).is_err());
    assert!(tree.insert(&[r("3-a"), first.clone()], false, "{}".into()).is_err());
    assert!(tree.insert(&[r("2-a"), r("2-b")], false, "{}".into()).is_err());
    assert_eq!(tree, snapshot);
}
