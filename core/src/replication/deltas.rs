//! Delta sync at a store's two ends: choosing a base and writing a delta
//! when a revision is fetched, rebuilding and checking a body when one
//! arrives as a delta. The format is `crate::delta`'s.

use super::endpoint::{Delta, Revision};
use crate::error::{Error, InvalidInput};
use crate::revision::{check_revision, RevId, RevNode, RevTree, RevisionTrust};

/// The delta to send for `node` (a revision of `tree` with a body) given
/// the revisions the receiver holds bodies of, when it is smaller than the
/// body: from the first base on `node`'s own ancestry whose body is held
/// here, else from the first other one held here. None for a revision
/// whose id is foreign (the receiver could not check what it rebuilds).
pub(crate) fn delta_for(tree: &RevTree, node: &RevNode, bases: &[RevId]) -> Option<Delta> {
    if node.foreign || bases.is_empty() {
        return None;
    }
    let body = node.body.as_deref()?;
    let held = |rev: &RevId| -> Option<(RevId, &str)> {
        let base = tree.get(rev).filter(|n| n.rev != node.rev)?;
        Some((base.rev.clone(), base.body.as_deref()?))
    };
    let ancestry = tree.history(&node.rev, crate::tuning::DELTA_BASE_DEPTH + 2);
    let (base, base_body) = bases
        .iter()
        .filter(|b| ancestry.contains(b))
        .chain(bases.iter())
        .find_map(held)?;
    let patch = crate::delta::encode(base_body, body)?;
    Some(Delta { base, patch })
}

/// Rebuilds `revision`'s body from its delta and the base's body in
/// `tree` (the stored tree of its document, if any) and checks it against
/// the revision id.
///
/// # Errors
/// [`InvalidInput::BadDelta`] when the base is not held here, the delta
/// does not apply, the result is no valid body, or it does not hash to the
/// revision id (a damaged or forged delta); `revision` is unchanged then.
pub(crate) fn rebuild(tree: Option<&RevTree>, revision: &mut Revision) -> Result<(), Error> {
    let Some(delta) = &revision.delta else {
        return Ok(());
    };
    let bad = |why: String| -> Error { InvalidInput::BadDelta(why).into() };
    if revision.foreign {
        return Err(bad("a revision with a foreign id cannot come as a delta".into()));
    }
    let base_body = tree
        .and_then(|t| t.get(&delta.base))
        .and_then(|n| n.body.as_deref())
        .ok_or_else(|| bad(format!("the base revision {} is not held here", delta.base)))?;
    let body = crate::delta::rebuild(base_body, &delta.patch)?;
    check_revision(RevisionTrust::Verified, &revision.history, revision.deleted, &body).map_err(|_| {
        let rev = revision.rev().map(ToString::to_string).unwrap_or_default();
        bad(format!("the body rebuilt for {rev} does not match its revision id"))
    })?;
    revision.body = body;
    revision.delta = None;
    Ok(())
}
